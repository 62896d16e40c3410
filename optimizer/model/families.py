"""The model's families in build order: the one list of them (see ``family``)."""

from __future__ import annotations

from optimizer.model import (
    concentration,
    groups,
    loss_limits,
    objective,
    opt_in,
    rewards,
    risk_rows,
    robust_loss,
    services,
    stake_limits,
    tail_risk,
    transition,
    turnover,
)
from optimizer.model.family import Family, RowBlock

FAMILIES: tuple[Family, ...] = (
    objective.FAMILY,
    stake_limits.FAMILY,
    loss_limits.EXPECTED_LOSS,
    loss_limits.WORST_CASE,
    groups.FAMILY,
    services.FAMILY,
    rewards.FAMILY,
    concentration.FAMILY,
    opt_in.FAMILY,
    tail_risk.FAMILY,
    turnover.FAMILY,
    transition.FAMILY,
    robust_loss.FAMILY,
    risk_rows.FAMILY,
)
"""Every family, in the order the model is built (later ones read earlier variables)."""

ROW_BLOCKS: dict[str, RowBlock] = {block.name: block for family in FAMILIES
                                   for block in family.rows}
"""Every row block of every family, by its component name."""

FAMILY_OF_ROWS: dict[str, Family] = {block.name: family for family in FAMILIES
                                     for block in family.rows}
"""The family that writes each row block."""


def risk_row(measure: str) -> RowBlock:
    """The row block that limits the risk measure ``measure`` (for the frontier)."""
    for block in ROW_BLOCKS.values():
        if block.risk == measure:
            return block
    raise ValueError(f"no row limits the risk measure {measure!r}")


def binary_components() -> tuple[str, ...]:
    """The names of every family's binary variable components."""
    return tuple(name for family in FAMILIES for name in family.binaries)


def markdown_table() -> str:
    """The families and their row blocks as Markdown tables (docs/architecture.md)."""
    lines = ["| family | contract | limits | objective terms | evaluator checks |",
             "|---|---|---|---|---|"]
    for family in FAMILIES:
        lines.append(f"| `{family.name}` | {family.number} | {family.title} | "
                     f"{'; '.join(family.objective) or '-'} | "
                     f"{', '.join(f'`{c}`' for c in family.checks) or '-'} |")
    lines += ["", "| row block | family | a row stands for | unit | limit set by | dual |",
              "|---|---|---|---|---|---|"]
    for name, block in ROW_BLOCKS.items():
        dual = ("the pair's upper bound again where its binary is 1: priced with that bound"
                if block.repeats_pair_bound
                else "numeraire per year per unit of the limit"
                if block.limit and block.bound_is_limit
                else f"numeraire per year per {block.unit} of the row's bound (the limit is a "
                "coefficient)" if block.limit else "(defines an auxiliary variable)")
        lines.append(f"| `{name}` | `{FAMILY_OF_ROWS[name].name}` | {block.stands_for} | "
                     f"{block.unit} | {f'`{block.limit}`' if block.limit else '-'} | {dual} |")
    return "\n".join(lines) + "\n"
