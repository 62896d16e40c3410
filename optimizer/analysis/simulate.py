"""Monte Carlo slashing of an allocation: the distribution of realised losses.

Scenarios are drawn from the same common-shock model the optimizer samples for CVaR
(each service slashed with its probability p_s, a group's services failing together
through a shared draw), seeded and vectorized. Each scenario's loss is
L_w = sum_s xi_{w,s} X_s for the portfolio and sum_s xi_{w,s} X_{h,s} for each holder.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from optimizer.analysis.progress import progress
from optimizer.instance import Instance
from optimizer.instance.scenarios import ScenarioSet
from optimizer.results.evaluate import conditional_value_at_risk, evaluate

LEVELS = (0.9, 0.95, 0.99)
"""Confidence levels of the VaR and CVaR reported."""

THRESHOLDS = (0.001, 0.01, 0.05, 0.1)
"""Portfolio losses, as fractions of the allocated value, whose probability is reported."""


@dataclass
class Simulation:
    """The loss distribution of one allocation (numeraire per year of exposure).

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per measure: expected loss, VaR and CVaR at each level, the probability
        of losing more than each threshold (fractions of the value allocated).
    holders : pandas.DataFrame
        Per holder: expected loss, VaR and CVaR at 95%.
    contributions : pandas.DataFrame
        Per service: its share of the expected loss and of the 95% tail (the expected
        loss it causes in the worst 5% of scenarios, divided by their total).
    losses, probability : numpy.ndarray
        The distinct scenario losses and their probabilities (for a histogram).
    """

    summary: pd.DataFrame
    holders: pd.DataFrame
    contributions: pd.DataFrame
    losses: np.ndarray
    probability: np.ndarray
    runs: int
    seed: int


def simulate(instance: Instance, allocation: pd.DataFrame, runs: int = 100_000,
             seed: int = 0, show_progress: bool = False) -> Simulation:
    """Draw ``runs`` slashing scenarios and measure the allocation's losses.

    Holders are measured in batches (a scenarios x holders block of at most
    ``BATCH_CELLS`` losses each), with a progress line when ``show_progress``.
    """
    evaluation = evaluate(instance, allocation)
    services = instance.services
    security = evaluation.services.set_index("service")["security"].reindex(
        services.index).to_numpy()
    scenarios = instance.with_changes(
        parameters={"scenario_count": runs, "scenario_seed": seed},
        scenarios=instance.scenarios.iloc[0:0]).scenario_set()
    losses = scenarios.losses(security)
    probability = scenarios.probability
    allocated = float(security.sum())
    rows = [("expected_loss", float(probability @ losses))]
    for level in LEVELS:
        rows.append((f"var_{level:g}", _value_at_risk(losses, probability, level)))
        rows.append((f"cvar_{level:g}", conditional_value_at_risk(losses, probability, level)))
    for threshold in THRESHOLDS:
        rows.append((f"p_loss_over_{threshold:g}",
                     float(probability[losses > threshold * allocated].sum())))
    summary = pd.DataFrame(rows, columns=["measure", "value"])

    # Per-holder losses: value each holder puts behind each service.
    alloc = evaluation.allocation
    holder_ids = pd.Index(pd.unique(alloc["holder"]))
    service_pos = pd.Index(services.index).get_indexer(alloc["service"])
    exposure = np.zeros((len(holder_ids), len(services)))
    np.add.at(exposure, (holder_ids.get_indexer(alloc["holder"]), service_pos),
              alloc["value"].to_numpy())
    per_holder = []
    slashed = _scenario_matrix(scenarios, len(services))
    batches = _holder_batches(len(holder_ids), runs)
    for batch in progress(batches, len(batches), "simulation batches", show_progress):
        own = slashed @ exposure[batch].T
        for column, h in enumerate(batch):
            per_holder.append({
                "holder": holder_ids[h], "expected_loss": float(probability @ own[:, column]),
                "var_0.95": _value_at_risk(own[:, column], probability, 0.95),
                "cvar_0.95": conditional_value_at_risk(own[:, column], probability, 0.95)})

    # Contributions: each service's loss in every scenario, averaged over all and the tail.
    tail = _tail_weights(losses, probability, 0.95)
    per_term = scenarios.fractions * security[scenarios.services]
    expected = np.bincount(scenarios.services, weights=probability[scenarios.rows] * per_term,
                           minlength=len(services))
    in_tail = np.bincount(scenarios.services, weights=tail[scenarios.rows] * per_term,
                          minlength=len(services))
    contributions = pd.DataFrame({
        "service": services.index.to_numpy(),
        "expected_loss": expected,
        "share_of_expected_loss": expected / max(expected.sum(), 1e-300),
        "share_of_tail_loss": in_tail / max(in_tail.sum(), 1e-300),
    })
    return Simulation(summary, pd.DataFrame(per_holder), contributions, losses, probability,
                      runs, seed)


BATCH_CELLS = 4_000_000
"""Scenario-by-holder losses computed at once (32 MB of floats)."""


def _holder_batches(holders: int, runs: int) -> list[np.ndarray]:
    """Holder positions split so that each batch's loss block has <= ``BATCH_CELLS`` cells."""
    size = max(1, BATCH_CELLS // max(runs, 1))
    return [np.arange(start, min(start + size, holders)) for start in range(0, holders, size)]


def _scenario_matrix(scenarios: ScenarioSet, services: int) -> sparse.csr_matrix:
    """The slashed fractions xi_{w,s} as a sparse scenarios x services matrix."""
    return sparse.csr_matrix((scenarios.fractions, (scenarios.rows, scenarios.services)),
                             shape=(scenarios.count, services))


def _value_at_risk(losses: np.ndarray, probability: np.ndarray, level: float) -> float:
    """The smallest loss l with P(L <= l) >= level."""
    order = np.argsort(losses, kind="stable")
    cumulative = np.cumsum(probability[order])
    return float(losses[order][np.searchsorted(cumulative, level - 1e-12)])


def _tail_weights(losses: np.ndarray, probability: np.ndarray, level: float) -> np.ndarray:
    """Probability of each scenario within the worst (1 - level) mass (the last in part)."""
    order = np.argsort(-losses, kind="stable")
    mass = probability[order]
    before = np.concatenate(([0.0], np.cumsum(mass)[:-1]))
    weights = np.zeros(len(losses))
    weights[order] = np.clip((1 - level) - before, 0.0, mass)
    return weights
