"""Joint slashing scenarios: the instance's own, or sampled from the common-shock model.

The common-shock model keeps each service's marginal slash probability at p_s and makes
the services of a correlation group fail together. In every scenario each service draws
one uniform number and is slashed (by its slash_fraction f_s) when that number is below
p_s. With probability c_g (its group's ``correlation``) the group is shocked in that
scenario, and all its services take the group's shared draw instead of their own.
Whichever draw is used is uniform, so each service's marginal is p_s (in distribution: a
finite sample varies around it). Two services of equal p in a group fail with
correlation c_g. A service in several groups follows the group of highest correlation.
Draws are seeded, and vectorized with numpy.

Identical scenarios (most often "nothing slashed") are merged, their probabilities
added: the CVaR of the merged set equals that of the sampled one, with fewer rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class ScenarioSet:
    """Scenarios as a sparse matrix: ``fraction[w, s]`` is xi_{w,s}, slashed fraction.

    Attributes
    ----------
    probability : numpy.ndarray
        pi_w of each scenario; they sum to 1.
    rows, services, fractions : numpy.ndarray
        The nonzeros: scenario position, service position, slash fraction.
    ids : list of str
        Scenario ids, for the long-form table.
    """

    probability: np.ndarray
    rows: np.ndarray
    services: np.ndarray
    fractions: np.ndarray
    ids: list[str]

    @property
    def count(self) -> int:
        """Number of scenarios."""
        return len(self.probability)

    def losses(self, security: np.ndarray) -> np.ndarray:
        """L_w = sum_s xi_{w,s} X_s for every scenario, numeraire."""
        return np.bincount(self.rows, weights=self.fractions * security[self.services],
                           minlength=self.count)

    def table(self, service_ids: pd.Index) -> pd.DataFrame:
        """The long form of the format: scenario, probability, service, slash_fraction."""
        slashed = pd.DataFrame({
            "scenario": np.asarray(self.ids, dtype=object)[self.rows],
            "probability": self.probability[self.rows],
            "service": service_ids.to_numpy()[self.services],
            "slash_fraction": self.fractions,
        })
        quiet = np.setdiff1d(np.arange(self.count), self.rows)
        empty = pd.DataFrame({
            "scenario": np.asarray(self.ids, dtype=object)[quiet],
            "probability": self.probability[quiet],
            "service": [None] * len(quiet),
            "slash_fraction": np.zeros(len(quiet)),
        })
        frame = pd.concat([slashed, empty], ignore_index=True)
        order = np.argsort(pd.Index(self.ids).get_indexer(frame["scenario"]), kind="stable")
        return frame.iloc[order].reset_index(drop=True)


def from_table(table: pd.DataFrame, service_ids: pd.Index) -> ScenarioSet:
    """The scenarios an instance gives (validated long form)."""
    ids = list(pd.unique(table["scenario"]))
    row_of = pd.Index(ids).get_indexer(table["scenario"])
    probability = np.zeros(len(ids))
    probability[row_of] = table["probability"].to_numpy(dtype=float)
    named = table["service"].notna().to_numpy() & (table["slash_fraction"].to_numpy() > 0)
    return ScenarioSet(
        probability=probability,
        rows=row_of[named],
        services=service_ids.get_indexer(table["service"][named]),
        fractions=table["slash_fraction"].to_numpy(dtype=float)[named],
        ids=[str(i) for i in ids],
    )


def sample(probability: np.ndarray, fraction: np.ndarray, group_of: np.ndarray,
           correlation: np.ndarray, count: int, seed: int) -> ScenarioSet:
    """Sample ``count`` equally likely scenarios from the common-shock model.

    Parameters
    ----------
    probability, fraction : numpy.ndarray
        p_s and f_s of each service.
    group_of : numpy.ndarray
        Position of each service's group (highest correlation), -1 for none.
    correlation : numpy.ndarray
        c_g of each group.
    count, seed : int
        Number of scenarios and the seed.
    """
    rng = np.random.default_rng(seed)
    n_services = len(probability)
    own = rng.random((count, n_services), dtype=np.float64)
    if len(correlation):
        shared = rng.random((count, len(correlation)), dtype=np.float64)
        # One shock per group and scenario: with probability c_g every service of the group
        # takes the group's draw (two services of equal p then fail with correlation c_g).
        shock = rng.random((count, len(correlation))) < correlation
        grouped = group_of >= 0
        follows = shock[:, np.maximum(group_of, 0)] & grouped
        draw = np.where(follows, shared[:, np.maximum(group_of, 0)], own)
    else:
        draw = own
    slashed = draw < probability
    slashed &= fraction > 0
    # Merge identical scenarios: pack each row's failures into bytes and count.
    packed = np.packbits(slashed, axis=1)
    unique, first, counts = np.unique(packed, axis=0, return_index=True, return_counts=True)
    del unique
    order = np.argsort(first)
    first, counts = first[order], counts[order]
    rows, services = np.nonzero(slashed[first])
    return ScenarioSet(
        probability=counts / count,
        rows=rows,
        services=services,
        fractions=fraction[services],
        ids=[f"w{n + 1}" for n in range(len(first))],
    )
