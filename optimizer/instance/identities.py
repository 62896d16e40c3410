"""Protocol identities that cannot be right together: refused when the instance is read.

A plan addresses the chain by these identities, so two rows naming the same thing would
write two calls for one contract slot (the second reverts, or overrides the first), and a
budget checked per stake would not hold for the magnitude they share. Refused:

- one EigenLayer operator, or one Symbiotic vault, given to two holders;
- a holder that is both an operator and a vault;
- one operator set (AVS, id), or one subnetwork (network, identifier), given to two services,
  or a service that is both;
- half an identity: an AVS without its operator set id, a network without its identifier
  (and the other way round);
- two stakes of one operator whose assets are held by the same strategy.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optimizer.errors import Problem

if TYPE_CHECKING:
    import pandas as pd

    from optimizer.instance.instance import Instance


def identity_problems(instance: Instance) -> list[Problem]:
    """Every conflict among the instance's protocol identities (see the module docstring)."""
    holders, services, stakes, assets = (instance.holders, instance.services,
                                         instance.stakes, instance.assets)
    where = _places(instance)
    found: list[Problem] = []
    for column in ("eigenlayer_operator", "symbiotic_vault"):
        found += _repeated(where("holders", "holder"), column, holders[column].items())
    both = holders.index[holders["eigenlayer_operator"].map(given)
                         & holders["symbiotic_vault"].map(given)]
    found += [Problem(where("holders", "holder")(h), "symbiotic_vault", "is given with "
                      "eigenlayer_operator: a holder is an operator or a vault, not both")
              for h in both]
    pairs = (("eigenlayer_avs", "eigenlayer_operator_set", "an operator set"),
             ("symbiotic_network", "symbiotic_identifier", "a subnetwork"))
    for first, second, what in pairs:
        named = services[first].map(given)
        numbered = services[second].map(given)
        for service in services.index[named != numbered]:
            present, missing = (first, second) if named[service] else (second, first)
            found.append(Problem(where("services", "service")(service), missing,
                                 f"is missing: {present} is given, and {what} needs both"))
        keys = [(s, (str(services.loc[s, first]), int(services.loc[s, second])))
                for s in services.index[named & numbered]]
        found += _repeated(where("services", "service"), f"{first}, {second}", keys)
    dual = services.index[services["eigenlayer_avs"].map(given)
                          & services["symbiotic_network"].map(given)]
    found += [Problem(where("services", "service")(s), "symbiotic_network", "is given with "
                      "eigenlayer_avs: a service is an operator set or a subnetwork, not both")
              for s in dual]
    operators = holders["eigenlayer_operator"]
    strategy = stakes["asset"].map(assets["eigenlayer_strategy"])
    seen: dict[tuple[object, str], object] = {}
    for stake in stakes.index:
        holder = stakes.loc[stake, "holder"]
        if not (given(operators.get(holder)) and given(strategy[stake])):
            continue
        key = (holder, str(strategy[stake]).lower())
        if key in seen:
            found.append(Problem(where("stakes", "stake")(stake), "asset",
                                 f"is held by strategy {strategy[stake]}, like the asset of "
                                 f"stake {seen[key]} of the same operator: an operator has one "
                                 "magnitude per strategy, so they must be one stake"))
        else:
            seen[key] = stake
    return found


def _repeated(place: Any, column: str, items: Iterable[tuple[object, object]]) -> list[Problem]:
    """A problem for each row whose value an earlier row already has."""
    first: dict[object, object] = {}
    found = []
    for row, value in items:
        if not given(value):
            continue
        key = value.lower() if isinstance(value, str) else value
        if key in first:
            found.append(Problem(place(row), column, f"{_show(value)} is already used by "
                                 f"{place(first[key])}"))
        else:
            first[key] = row
    return found


def _show(value: object) -> str:
    if isinstance(value, tuple):
        return " / ".join(str(v) for v in value)
    return str(value)


def _places(instance: Instance) -> Any:
    origin = Path(instance.origin)

    def where(table: str, id_column: str) -> Any:
        file = f"{table}.csv" if origin.is_dir() else f"{origin.name} {table}"
        return lambda row: f"{file} ({id_column}={row})"

    return where


def given(value: object) -> bool:
    """Whether an optional cell holds a value (not None, not NaN)."""
    return value is not None and not (isinstance(value, float) and value != value)


def services_by_identity(services: pd.DataFrame, address: str, number: str
                         ) -> dict[tuple[str, int], str]:
    """Each service with an identity in the columns ``address`` and ``number``, by it.

    For example ``(avs, operator set id)`` or ``(network, identifier)``; reading the instance
    has made sure that no identity names two services.
    """
    return {(str(a), int(n)): s for s, a, n in zip(services.index, services[address],
                                                   services[number], strict=True)
            if given(a) and given(n)}
