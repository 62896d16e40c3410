"""What a constraint family is, declared once: the record every consumer reads.

Each family module (``stake_limits``, ``loss_limits``...) declares one ``Family``: its
name, what it adds to the model, the row blocks it writes (each with what a row stands
for, its unit, the instance column that sets its limit, how to say a row in the
instance's own words and how its dual converts to the numeraire), its objective terms
and the evaluator checks that verify it. ``optimizer.model.families.FAMILIES`` lists them
in build order; dual scaling, the merge's dual split, the infeasibility explanation, the
frontier's risk rows and the docs' tables read the records, and no other list of family
or row names exists (PyPSA's component attribute tables and Calliope's constraint
metadata are the models).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    import pyomo.core as pyo

    from optimizer.instance import Instance
    from optimizer.instance.scenarios import ScenarioSet
    from optimizer.model.index import PairIndex

StandsFor = Literal["stake", "stake-group", "pair", "service", "holder-service", "holder",
                    "scenario", "pool-segment", "portfolio"]
"""What one row of a block stands for; its key is a position (or a tuple of positions)."""

Describe = Callable[["Instance", Any], str]
"""``describe(instance, key)``: a row in the instance's own words."""


@dataclass(frozen=True)
class Allocated:
    """Where an allocation puts value, for reading a limit at a solution.

    Attributes
    ----------
    security : numpy.ndarray
        X_s of each service position (numeraire).
    holder_service : dict
        The value each holder puts behind each service, by (holder position, service
        position), for the pairs in use (numeraire).
    pair_holder : numpy.ndarray
        The holder position of each pair of ``instance.pairs``.
    """

    security: np.ndarray
    holder_service: dict[tuple[int, int], float]
    pair_holder: np.ndarray


Slope = Callable[["Instance", Any, Allocated], float]
"""``slope(instance, key, allocated)``: how far row ``key``'s bound moves, in the row's
unit, per unit of its limit, at the allocation (see ``RowBlock.slope``)."""

MERGED_BY: dict[str, str] = {"stake": "stake", "stake-group": "stake", "pair": "pair"}
"""How a merged model's row duals split back (see ``optimizer.model.merge``): rows of a
stake split over the stakes merged into it, rows of a pair over its members' pairs; every
other row is the same in the original model."""


@dataclass(frozen=True)
class RowBlock:
    """One block of rows (one ``MatrixRows`` component) and how to read it.

    Attributes
    ----------
    name : str
        The component's name in the model (``restaking_degree``).
    stands_for : str
        What a row stands for (``StandsFor``): its key is that thing's position(s).
    unit : str
        The unit of the row's body and bounds, in the instance's numeraire terms.
    limit : str or None
        The instance column or parameter that sets the row's bound
        (``stakes.max_restaking``, ``parameters.cvar_limit``); ``None`` for a row that
        only defines an auxiliary variable.
    in_numeraire : bool
        Whether the row is in the numeraire. The model is built in units of ``scale``
        numeraire (``optimizer.model.scaling``): a numeraire row's dual is already
        numeraire per year per numeraire of its bound; any other row's dual is multiplied
        by ``scale`` to give numeraire per year per unit of its bound.
    describe : callable
        ``describe(instance, key)``: the row in the instance's own words
        (``max_restaking of stake lrt-a``); ``None`` for auxiliary rows.
    risk : str or None
        The risk measure the row limits, when a frontier can trace it (``cvar``...).
    bound_is_limit : bool
        Whether the row's bound is the limit itself (so its converted dual is per unit of
        ``limit``). False where the limit enters as a coefficient (``max_holder_share``:
        sum V x - q X <= q E; ``min_allocation``: sum V x - l y >= 0) or the bound is the
        limit less a constant (``turnover_limit``: T less the value stranded off the
        pairs): the dual is then per unit of the row's bound, in ``unit``.
    switched_by : str or None
        The binary variable component, keyed like the rows, that switches the limit on:
        the row limits only where that binary is 1 (``security_minimum``: X_s >= M_s u_s
        is no minimum where u_s = 0). A reader of duals names such a row only where it is
        switched on.
    slope : callable or None
        For a row whose limit is a coefficient (``bound_is_limit`` false),
        ``slope(instance, key, allocated)``: how far the row's bound moves, in ``unit``,
        per unit of ``limit`` at the allocation, the variables' values held
        (``max_holder_share``: E_s + X_s; ``min_allocation``: y_{h,s}); 0 where the
        limit does not act at that allocation (a switched-off row). The limit's shadow
        price is the row's dual times the slope. ``None``: 1.
    repeats_pair_bound : bool
        Whether the row, where ``slope`` says it is on, is a pair's upper bound again
        (opted in, x_{i,s} <= ub_{i,s} y_{h,s} is x_{i,s} <= ub_{i,s}): its dual is then
        part of the price of the limit that sets that bound.
    """

    name: str
    stands_for: StandsFor
    unit: str
    limit: str | None = None
    in_numeraire: bool = False
    describe: Describe | None = None
    risk: str | None = None
    bound_is_limit: bool = True
    switched_by: str | None = None
    slope: Slope | None = None
    repeats_pair_bound: bool = False

    def dual_factor(self, scale: float) -> float:
        """What turns the model's dual into numeraire per year per unit of the bound."""
        return 1.0 if self.in_numeraire else scale

    @property
    def merged_by(self) -> str | None:
        """``stake`` or ``pair`` when merged stakes split this block's duals (else None)."""
        return MERGED_BY.get(self.stands_for)


@dataclass
class BuildContext:
    """What a family's ``add`` may read while the model is built.

    Attributes
    ----------
    model : pyomo.core.ConcreteModel
        The model so far (``x_alloc`` and the families added before this one).
    instance : Instance
        The instance in model units (scaled, merged).
    index : PairIndex
        The eligible pairs, grouped.
    scenarios : ScenarioSet or None
        The CVaR scenarios, when the instance uses CVaR.
    pool_error : float
        Largest chord error of each pool-reward segment, as a fraction of its pool.
    needed : numpy.ndarray
        Boolean mask of the services whose total X_s some family needs.
    elastic : bool
        Build the elastic model of the infeasibility explanation: the limits that the
        empty allocation can break (required minimum securities, the CVaR and turnover
        limits) get a priced slack, and the objective is their total relative size.
    risk_limit : tuple or None
        ``(measure, limit)``: a row limiting a portfolio risk measure to ``limit``
        (numeraire, model units), for the frontier.
    pool_errors : dict
        Filled by the pool family: each pool's chord error (model units per year).
    keep_all_rows : bool
        Keep the rows a family would leave out because they cannot bind (a stake whose
        pair bounds sum to at most its ``max_restaking``...): the model whose pair
        bounds the binding table moves, where such a row may come to bind.
    """

    model: pyo.ConcreteModel
    instance: Instance
    index: PairIndex
    scenarios: ScenarioSet | None
    pool_error: float
    needed: np.ndarray
    elastic: bool = False
    risk_limit: tuple[str, float] | None = None
    pool_errors: dict[int, float] = field(default_factory=dict)
    keep_all_rows: bool = False


@dataclass(frozen=True)
class ObjectiveTerm:
    """Part of the objective: ``coefficient[j]`` times the j-th variable of ``variable``.

    Attributes
    ----------
    name : str
        What the term is (``fixed-rate rewards less expected loss``).
    variable : pyomo Var component
        The variables the term is over (``x_alloc``, ``opted_in``...).
    coefficient : numpy.ndarray
        One coefficient per variable of the component, in its order (model units: scaled
        numeraire per year per unit of the variable).
    constant : float
        A constant part (model units per year).
    """

    name: str
    variable: pyo.Var
    coefficient: np.ndarray
    constant: float = 0.0


@dataclass(frozen=True)
class Family:
    """A constraint family of the model, declared once (see the module docstring).

    Attributes
    ----------
    name : str
        The family's name (``restaking_degree``), as in docs/model.md.
    number : str
        Its number in the model's contract (``1``..``10``; ``-`` for rows that are not a
        family of the contract, such as the frontier's risk rows).
    title : str
        A few words saying what it limits.
    add : callable
        ``add(context)``: adds the family's variables and rows to ``context.model`` and
        returns its objective terms (an empty list when it has none).
    rows : tuple of RowBlock
        Every row block it may add, in the order it adds them.
    objective : tuple of str
        What its objective terms are, in words (for the docs).
    checks : tuple of str
        The evaluator checks that verify it (keys of ``optimizer.results.checks.CHECKS``).
    binaries : tuple of str
        The names of its binary variable components (the model is a MILP when any of
        them has a variable).
    """

    name: str
    number: str
    title: str
    add: Callable[[BuildContext], list[ObjectiveTerm]]
    rows: tuple[RowBlock, ...] = ()
    objective: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()
    binaries: tuple[str, ...] = ()
