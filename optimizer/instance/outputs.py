"""The data dictionary of the outputs: every table of a solution folder, as data.

Declared like the inputs (``optimizer.instance.columns``): each column once, with its
type, unit and meaning. The solution writer writes exactly these columns in this order
(``optimizer.results.write``), and docs/format.md's reference is generated from here.
"""

from __future__ import annotations

from optimizer.instance.columns import Column, Table


def _out(name: str, kind: str, unit: str, doc: str, ref: str | None = None) -> Column:
    return Column(name, kind, unit, doc, ref=ref)  # type: ignore[arg-type]


ALLOCATION = Table("allocation", (
    _out("stake", "ref", "", "The stake allocated.", "stakes"),
    _out("holder", "ref", "", "Its holder.", "holders"),
    _out("service", "ref", "", "The service it secures.", "services"),
    _out("asset", "ref", "", "The stake's asset.", "assets"),
    _out("fraction", "float", "fraction of stake",
         "x_{i,s}, as the solver returned it (unclipped; within HiGHS's feasibility "
         "tolerance of its bounds, checked by the evaluator)."),
    _out("amount", "float", "units of the asset", "fraction x the stake's amount."),
    _out("value", "float", "numeraire", "fraction x the stake's value."),
), None, "One row per (stake, service) pair whose fraction is not within 1e-9 of zero.")

STAKES_OUT = Table("stakes", (
    _out("stake", "id", "", "The stake."),
    _out("holder", "ref", "", "Its holder.", "holders"),
    _out("asset", "ref", "", "Its asset.", "assets"),
    _out("amount", "float", "units of the asset", "The stake's amount."),
    _out("value", "float", "numeraire", "amount x the asset's price."),
    _out("allocated_fraction", "float", "fraction of stake",
         "sum over services of x_{i,s} (at most max_restaking)."),
    _out("reward", "float", "numeraire per year",
         "Rewards earned by the stake: fixed-rate, plus its pro-rata part of each pool."),
    _out("expected_loss", "float", "numeraire per year",
         "Expected slashing loss, sum_s p_s f_s V_i x_{i,s}."),
    _out("worst_case_loss", "float", "numeraire",
         "The stake's loss if its own worst_case_k worst services slash at once."),
    _out("net_reward", "float", "numeraire per year", "reward - expected_loss."),
    _out("net_apr", "float", "fraction per year", "net_reward / value."),
), "stake", "One row per stake.")

SERVICES_OUT = Table("services", (
    _out("service", "id", "", "The service."),
    _out("security", "float", "numeraire", "X_s, the value this portfolio puts behind it."),
    _out("total_security", "float", "numeraire", "X_s + external_stake."),
    _out("reward", "float", "numeraire per year",
         "Rewards the portfolio earns from it (fixed-rate plus its pool share)."),
    _out("expected_loss", "float", "numeraire per year", "Expected slashing loss from it."),
    _out("holders", "int", "holders", "Holders with stake behind it."),
    _out("secured", "bool", "", "Whether X_s reaches its effective minimum security."),
    _out("cost_of_corruption", "float", "numeraire",
         "alpha_s f_s (E_s + X_s): what an attacker controlling alpha_s of it would lose."),
    _out("profit_from_corruption", "float", "numeraire", "The instance's pi_s."),
    _out("coverage", "float", "ratio", "cost_of_corruption / profit_from_corruption."),
), "service", "One row per service.")

HOLDERS_OUT = Table("holders", (
    _out("holder", "id", "", "The holder (operator or vault)."),
    _out("services", "int", "services", "Services it secures."),
    _out("condition", "float", "ratio",
         "Durvasula and Roughgarden's condition: the sum over its services of "
         "(1 + gamma) pi_s / (alpha_s f_s (E_s + X_s)); at most 1 means no profitable "
         "cascading attack."),
    _out("holds", "bool", "", "condition <= 1."),
    _out("worst_service", "ref", "", "The service of the largest term (empty when none).",
         "services"),
), "holder", "One row per holder: the restaking-graph security condition.")

BINDING_OUT = Table("binding", (
    _out("limit", "str", "", "The limit in the instance's words (``max_expected_loss of "
         "stake lrt-a``), with the number of model rows or bounds it sets when several."),
    _out("family", "str", "", "The constraint family of its rows (docs/architecture.md)."),
    _out("column", "str", "", "The instance column that sets it (``stakes.max_expected_loss``, "
         "``parameters.cvar_limit``)."),
    _out("id", "str", "", "The row of that table (a stake, service, holder or group id; "
         "empty for a parameter)."),
    _out("value", "float", "unit", "The limit's value in the instance."),
    _out("unit", "str", "", "The unit of ``value`` and ``slack``, as in docs/format.md."),
    _out("slack", "float", "unit", "How far the value could move against the user (a "
         "maximum down, a minimum up) before the tightest of its rows binds; 0 when binding."),
    _out("shadow_price", "float", "numeraire per year per unit",
         "The rate at which relaxing the limit alone raises the optimal expected net reward, "
         "per unit of the column: d(optimum) / d(value), negative for a minimum."),
    _out("gain_of_1pct", "float", "numeraire per year",
         "What relaxing the limit by 1% of its value earns (a maximum up, a minimum down): "
         "re-solved where ``measured``, else shadow_price x 1% x value."),
    _out("measured", "bool", "", "Whether shadow_price and gain_of_1pct were measured by "
         "re-solving with the limit relaxed (else the LP dual, and the dual times the step)."),
    _out("basis", "str", "", "What the prices are of: ``lp``; for a MILP ``lp with binaries "
         "fixed`` (the LP with every opt-in and switch fixed at the optimum), or ``milp`` for "
         "a count of opt-ins (``max_services``), priced by the MILP with one more."),
), "limit", "One row per limit the model carries, the largest gain of relaxing it first "
   "(see docs/model.md, \"What binds\").")

OUTPUT_TABLES: dict[str, Table] = {"allocation.csv": ALLOCATION, "stakes.csv": STAKES_OUT,
                                   "services.csv": SERVICES_OUT, "holders.csv": HOLDERS_OUT,
                                   "binding.csv": BINDING_OUT}
"""The tables of a solution folder, by file name."""

PLAN_OUT = Table("plan", (
    _out("holder", "ref", "", "The holder whose transactions these are.", "holders"),
    _out("protocol", "str", "", "``eigenlayer`` or ``symbiotic``."),
    _out("stake", "ref", "", "The stake moved.", "stakes"),
    _out("service", "ref", "", "The service (operator set or subnetwork).", "services"),
    _out("stage", "int", "", "1: sent now; 2: sent once what frees its magnitude completes "
         "(stage 1's decreases, or decreases pending on chain: see takes_effect)."),
    _out("from_fraction", "float", "fraction of stake", "Allocated on chain now."),
    _out("to_fraction", "float", "fraction of stake", "Allocated once the move lands (the "
         "target after rounding: to_value / scale)."),
    _out("change", "float", "fraction of stake", "to_fraction - from_fraction."),
    _out("from_value", "uint", "see unit", "On chain now: magnitude (wad) or the vault's stake in "
         "the subnetwork (base units)."),
    _out("to_value", "uint", "see unit", "The target written into the calls."),
    _out("scale", "uint", "see unit", "The max magnitude or the vault's active stake: "
         "value / scale is the fraction."),
    _out("unit", "str", "", "``magnitude (wad)`` or ``base units``."),
    _out("takes_effect", "str", "", "When the move is in force, and how long a decrease "
         "stays slashable."),
), None, "One row per (stake, service) pair a plan changes, in the order of the calls.")

EXPOSURE_OUT = Table("exposure", (
    _out("period", "str", "", "``now``, ``stage 1 in flight``, ``stage 2 in flight`` or "
         "``final``."),
    _out("expected_loss", "float", "numeraire per year", "Expected slashing loss of what is "
         "slashable in the period: per pair max(before, after) while a move is in flight."),
    _out("worst_case_loss", "float", "numeraire", "Sum over stakes of the loss if the "
         "worst_case_k worst services slash at once."),
    _out("cvar", "float", "numeraire", "CVaR of the portfolio loss, when the instance uses it."),
    _out("limits_broken", "int", "", "How many limits of the instance the exposure breaks."),
    _out("broken", "str", "", "The first of them, in the instance's words."),
), None, "The in-flight exposure of a plan, measured by the evaluator with the solve's risk "
   "measures.")

PLAN_TABLES: dict[str, Table] = {"plan.csv": PLAN_OUT, "exposure.csv": EXPOSURE_OUT}
"""The tables of a plan folder (``restake plan``), by file name."""


def markdown_outputs() -> str:
    """The solution and plan folders' tables as Markdown (appended to docs/format.md)."""
    lines = ["## Solution files", ""]
    for file, table in [*OUTPUT_TABLES.items(), ("## Plan files (restake plan)", None),
                        *PLAN_TABLES.items()]:
        if table is None:
            lines += [file, ""]
            continue
        lines += [f"### `{file}`", "", table.doc, "", "| column | type | unit | meaning |",
                  "|---|---|---|---|"]
        for column in table.columns:
            ref = f" (ids of `{column.ref}`)" if column.ref else ""
            lines.append(f"| `{column.name}` | {column.kind}{ref} | {column.unit or '-'} "
                         f"| {column.doc} |")
        lines.append("")
    return "\n".join(lines)
