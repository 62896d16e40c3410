"""Families 2 and 3: a stake's expected-loss budget and its worst case of k slashings.

2. sum_s p_s f_s x_{i,s} <= b_i (fraction of stake value per year). With an
   ``uncertainty_budget`` that can move some p_s, family 12 (``robust_loss``) writes the
   budget's robust rows instead, which imply these: the nominal rows are left out.
3. The k largest f_s x_{i,s} sum to at most c_i (fraction of stake value).
   - k = 1: the largest is <= c_i iff every f_s x_{i,s} <= c_i, an exact variable
     bound x_{i,s} <= c_i / f_s (no row at all);
   - k >= the stake's number of slashable services: the Mesh Security invariant
     sum_s f_s x_{i,s} <= c_i, one row;
   - otherwise the LP form k t_i + sum_s v_{i,s} <= c_i, v_{i,s} >= f_s x_{i,s} - t_i,
     v, t >= 0 (Ogryczak and Tamir's linearization of the sum of the k largest).
"""

from __future__ import annotations

import numpy as np
import pyomo.core as pyo

from optimizer.instance import Instance
from optimizer.model.family import BuildContext, Describe, Family, ObjectiveTerm, RowBlock
from optimizer.model.in_flight import covered_stakes
from optimizer.model.rows import MatrixRows, rows_by_owner


def pair_slash_fraction(instance: Instance) -> np.ndarray:
    """f_s of each pair's service (fraction)."""
    return instance.services["slash_fraction"].to_numpy()[instance.pairs["service_pos"]]


def service_loss_rate(instance: Instance) -> np.ndarray:
    """p_s f_s of each service: expected loss per unit value per year."""
    services = instance.services
    return services["slash_probability"].to_numpy() * services["slash_fraction"].to_numpy()


def pair_loss_rate(instance: Instance) -> np.ndarray:
    """p_s f_s of each pair's service: expected loss per unit value per year."""
    return service_loss_rate(instance)[instance.pairs["service_pos"].to_numpy()]


def uncertainty_budget(instance: Instance) -> float:
    """Gamma, the services that may take p_s^high at once; 0 where none is set (nominal)."""
    gamma = instance.parameters.uncertainty_budget
    return 0.0 if gamma is None else float(gamma)


def service_loss_deviation(instance: Instance) -> np.ndarray:
    """(p_s^high - p_s) f_s of each service: 0 where no slash_probability_high is given."""
    services = instance.services
    high = services["slash_probability_high"].to_numpy(dtype=float)
    point = services["slash_probability"].to_numpy()
    deviation = np.where(np.isnan(high), 0.0, high - point)
    return np.maximum(deviation, 0.0) * services["slash_fraction"].to_numpy()


def robust_loss_active(instance: Instance) -> bool:
    """Whether family 12 (robust expected loss) changes the model.

    It does where Gamma > 0 and some service's loss rate can deviate; its rows then
    replace those of ``expected_loss_budget``.
    """
    return uncertainty_budget(instance) > 0 and bool(np.any(
        service_loss_deviation(instance) > 0))


def single_slash_bound(instance: Instance) -> np.ndarray:
    """With k = 1, the exact bound c_i / f_s on each x_{i,s} (inf where none applies)."""
    budget = instance.stakes["max_worst_case_loss"].to_numpy()[instance.pairs["stake_pos"]]
    slash = pair_slash_fraction(instance)
    bound = np.full(len(slash), np.inf)
    active = ~np.isnan(budget) & (slash > 0)
    bound[active] = budget[active] / slash[active]
    return bound


def add_expected_loss_budget(context: BuildContext) -> list[ObjectiveTerm]:
    """Add ``expected_loss_budget[i]`` where b_i is set and could bind."""
    model, instance, index = context.model, context.instance, context.index
    budget = instance.stakes["max_expected_loss"].to_numpy()
    count = len(budget)
    rate = pair_loss_rate(instance)
    reach = np.bincount(index.stake_pos, weights=rate * index.upper, minlength=count)
    has_pairs = np.bincount(index.stake_pos, minlength=count) > 0
    stakes = np.flatnonzero(has_pairs & ~np.isnan(budget)
                            & ((reach > budget) | context.keep_all_rows)
                            & ~covered_stakes(instance))  # family 11 writes those for w
    if robust_loss_active(instance):
        stakes = stakes[:0]  # the robust rows of ``robust_loss_budget`` imply these
    rows, pairs, rates = rows_by_owner(index.stake_pos, stakes, count, rate)
    model.expected_loss_budget = MatrixRows(
        stakes.tolist(), [model.x_alloc], rows, pairs, rates, lower=np.nan,
        upper=budget[stakes],
        doc="sum_s p_s f_s x_{i,s} <= b_i (fraction of stake value per year)")
    return []


def add_worst_case_budget(context: BuildContext) -> list[ObjectiveTerm]:
    """Add the worst case of k simultaneous slashings, for k >= 2 (k = 1 is a bound)."""
    model, instance, index = context.model, context.instance, context.index
    k = instance.parameters.worst_case_k
    budget = instance.stakes["max_worst_case_loss"].to_numpy()
    count = len(budget)
    slash = pair_slash_fraction(instance)
    mesh: list[int] = []
    general: list[int] = []
    if k >= 2:
        covered = covered_stakes(instance)  # family 11 writes their rows for w
        for i, pairs in enumerate(index.by_stake):
            if np.isnan(budget[i]) or covered[i]:
                continue
            slashable = pairs[slash[pairs] > 0]
            if not len(slashable):
                continue  # nothing of it can be slashed
            loads = np.sort(slash[slashable] * index.upper[slashable])[::-1]
            if loads[:k].sum() <= budget[i] and not context.keep_all_rows:
                continue
            (mesh if len(slashable) <= k else general).append(i)
    mesh_stakes, general_stakes = np.asarray(mesh, dtype=np.int64), np.asarray(
        general, dtype=np.int64)

    rows, pairs, slashes = rows_by_owner(index.stake_pos, mesh_stakes, count, slash)
    model.worst_case_all = MatrixRows(
        mesh, [model.x_alloc], rows, pairs, slashes, lower=np.nan, upper=budget[mesh_stakes],
        doc="k >= slashable services: sum_s f_s x_{i,s} <= c_i (fraction of stake value)")

    # Pairs of the general stakes with f_s > 0, stake by stake: one v_{i,s} and one row each.
    owner, excess_pairs, excess_slash = rows_by_owner(index.stake_pos, general_stakes, count,
                                                      slash)
    order = np.argsort(owner, kind="stable")
    owner, excess_pairs, excess_slash = owner[order], excess_pairs[order], excess_slash[order]
    # Declared v before t: the matrix columns follow declaration order, and the dual
    # simplex was measured several times faster with this order (benchmarks/README.md).
    model.worst_case_excess = pyo.Var(
        excess_pairs.tolist(), domain=pyo.NonNegativeReals,
        doc="v_{i,s} >= f_s x_{i,s} - t_i (fraction of stake value)")
    model.worst_case_threshold = pyo.Var(
        general, domain=pyo.NonNegativeReals,
        doc="t_i, the k-th largest loss f_s x_{i,s} at the optimum (fraction of stake value)")
    # Columns: x (one per pair), then t (one per general stake), then v (one per row).
    n_pairs, n_general, n_excess = len(index.upper), len(general), len(excess_pairs)
    excess_rows = np.arange(n_excess)
    model.worst_case_excess_definition = MatrixRows(
        excess_pairs.tolist(), [model.x_alloc, model.worst_case_threshold,
                                model.worst_case_excess],
        rows=np.concatenate([excess_rows, excess_rows, excess_rows]),
        columns=np.concatenate([n_pairs + n_general + excess_rows, excess_pairs,
                                n_pairs + owner]),
        coefficients=np.concatenate([np.ones(n_excess), -excess_slash, np.ones(n_excess)]),
        lower=0.0, upper=np.nan,
        doc="v_{i,s} >= f_s x_{i,s} - t_i (fraction of stake value)")
    model.worst_case_budget = MatrixRows(
        general, [model.worst_case_threshold, model.worst_case_excess],
        rows=np.concatenate([np.arange(n_general), owner]),
        columns=np.concatenate([np.arange(n_general), n_general + excess_rows]),
        coefficients=np.concatenate([np.full(n_general, float(k)), np.ones(n_excess)]),
        lower=np.nan, upper=budget[general_stakes],
        doc="k t_i + sum_s v_{i,s} <= c_i: the k largest losses (fraction of stake value)")
    return []


def _stake_limit(column: str) -> Describe:
    return lambda instance, i: f"{column} of stake {instance.stakes.index[i]}"


EXPECTED_LOSS = Family(
    name="expected_loss_budget", number="2", title="expected-loss budget of a stake",
    add=add_expected_loss_budget,
    rows=(RowBlock("expected_loss_budget", "stake", "fraction of stake value per year",
                   "stakes.max_expected_loss", describe=_stake_limit("max_expected_loss")),),
    checks=("expected_loss_budget",))

WORST_CASE = Family(
    name="worst_case_budget", number="3",
    title="worst case of k simultaneous slashings of a stake", add=add_worst_case_budget,
    rows=(RowBlock("worst_case_all", "stake", "fraction of stake value",
                   "stakes.max_worst_case_loss", describe=_stake_limit("max_worst_case_loss")),
          RowBlock("worst_case_excess_definition", "pair", "fraction of stake value"),
          RowBlock("worst_case_budget", "stake", "fraction of stake value",
                   "stakes.max_worst_case_loss",
                   describe=_stake_limit("max_worst_case_loss"))),
    checks=("worst_case_budget",))
