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

Scenarios are drawn in chunks of rows and kept as bits (one per service), so that a
million scenarios of hundreds of services never make a dense scenario x service array
of numbers; each chunk reads the random stream from where its rows start, so the set
is the same whatever the chunk size. Sampling that would not fit in the memory
available is refused, with its estimate, before it starts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.random import PCG64, Generator

from optimizer.errors import ResourceError
from optimizer.resources import HEADROOM, shown

SAMPLE_CHUNK_CELLS = 2**21
"""Scenario x (service + group) draws made at once (the working set is ~40 bytes each)."""

SAMPLING_BYTES_PER_CELL = 40.0
"""Peak bytes per draw of a chunk: own, shared and shock draws, their comparisons."""

SAMPLING_BYTES_PER_SCENARIO = 64.0
"""Peak bytes per sampled scenario besides its bits: the merge's sort and index arrays."""

SCENARIO_BYTES_PER_TERM = 24.0
"""Bytes per (scenario, slashed service) term of a ScenarioSet: row, service, fraction."""

SCENARIO_BYTES_PER_SCENARIO = 100.0
"""Bytes per scenario of a ScenarioSet: probability and id."""

_BITS_SET = np.array([bin(byte).count("1") for byte in range(256)], dtype=np.uint8)
"""Number of bits set in each byte value."""

_BIT_POSITIONS = np.array([bit for byte in range(256) for bit in range(8)
                           if byte & (0x80 >> bit)], dtype=np.intp)
"""Positions (0 = the first, most significant bit) of the bits set, byte value by value."""

_BIT_POSITIONS_START = np.concatenate([[0], np.cumsum(_BITS_SET)[:-1]]).astype(np.intp)
"""Where each byte value's positions start in ``_BIT_POSITIONS``."""


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


def sampling_bytes(count: int, services: int, groups: int) -> float:
    """Estimated peak memory (bytes) of sampling ``count`` scenarios, before merging's output."""
    row_bytes = -(-services // 8)
    chunk = min(SAMPLE_CHUNK_CELLS, count * (services + groups))
    return (3.0 * count * row_bytes + SAMPLING_BYTES_PER_SCENARIO * count
            + SAMPLING_BYTES_PER_CELL * chunk)


def sample(probability: np.ndarray, fraction: np.ndarray, group_of: np.ndarray,
           correlation: np.ndarray, count: int, seed: int,
           memory_budget: float | None = None) -> ScenarioSet:
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
    memory_budget : float, optional
        Memory available (bytes); None checks nothing.

    Raises
    ------
    ResourceError
        When the sampling, or the merged set it makes, would not fit in the budget.
    """
    n_services = len(probability)
    _check_budget(sampling_bytes(count, n_services, len(correlation)), memory_budget,
                  f"sampling {count:,} scenarios of {n_services:,} services needs")
    packed = _draw_packed(probability, fraction, group_of, correlation, count, seed)
    first, counts = _distinct_rows(packed)
    distinct = packed[first]
    del packed
    terms = int(_BITS_SET[distinct].sum(dtype=np.int64))
    _check_budget(SCENARIO_BYTES_PER_TERM * terms + SCENARIO_BYTES_PER_SCENARIO * len(first),
                  memory_budget, f"the {len(first):,} distinct scenarios sampled (slashing "
                  f"{terms:,} scenario-service pairs) need")
    rows, services = _set_bits(distinct, n_services, terms)
    return ScenarioSet(
        probability=counts / count,
        rows=rows,
        services=services,
        fractions=fraction[services],
        ids=[f"w{n + 1}" for n in range(len(first))],
    )


def _check_budget(needed: float, budget: float | None, what: str) -> None:
    if budget is not None and needed > HEADROOM * budget:
        raise ResourceError(
            f"{what} an estimated {shown(needed)}, but only {shown(budget)} are available; "
            "lower scenario_count, give the scenarios as a table, or use a machine with more "
            "memory")


def _draw_packed(probability: np.ndarray, fraction: np.ndarray, group_of: np.ndarray,
                 correlation: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Each scenario's slashed services as bits: a count x ceil(n / 8) array of bytes.

    The draws are those of one generator seeded with ``seed`` filling in turn a count x n
    array of own draws, a count x groups array of shared draws and one of shock draws;
    each kind reads its own copy of the stream, advanced to where its array starts.
    """
    n_services, n_groups = len(probability), len(correlation)
    own = Generator(PCG64(seed))
    shared = Generator(PCG64(seed).advance(count * n_services))
    shock = Generator(PCG64(seed).advance(count * (n_services + n_groups)))
    grouped = group_of >= 0
    group = np.maximum(group_of, 0)
    # A draw in [0, 1) is never below 0: a service that slashes nothing is never slashed.
    threshold = np.where(fraction > 0, probability, 0.0)
    packed = np.empty((count, -(-n_services // 8)), dtype=np.uint8)
    step = min(count, max(1, SAMPLE_CHUNK_CELLS // (n_services + n_groups)))
    # Buffers reused by every chunk (fresh arrays would cost a page fault per page).
    draw_buffer = np.empty((step, n_services))
    taken_buffer = np.empty((step, n_services))
    follows_buffer = np.empty((step, n_services), dtype=bool)
    slashed_buffer = np.empty((step, n_services), dtype=bool)
    for start in range(0, count, step):
        rows = min(step, count - start)
        draw = own.random(out=draw_buffer[:rows])
        if n_groups:
            shared_draw = shared.random((rows, n_groups))
            # One shock per group and scenario: with probability c_g every service of the
            # group takes the group's draw (two services of equal p then fail with
            # correlation c_g).
            # (mode="clip" skips a bounds check: every position is a group's)
            follows = np.take(shock.random((rows, n_groups)) < correlation, group, axis=1,
                              out=follows_buffer[:rows], mode="clip")
            follows &= grouped
            np.copyto(draw, np.take(shared_draw, group, axis=1, out=taken_buffer[:rows],
                                    mode="clip"), where=follows)
        slashed = np.less(draw, threshold, out=slashed_buffer[:rows])
        packed[start:start + rows] = np.packbits(slashed, axis=1)
    return packed


def _distinct_rows(packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First position and number of each distinct row, in order of first appearance."""
    as_bytes = np.ascontiguousarray(packed).view(np.dtype((np.void, packed.shape[1]))).ravel()
    _, first, counts = np.unique(as_bytes, return_index=True, return_counts=True)
    order = np.argsort(first)
    return first[order], counts[order]


def _set_bits(packed: np.ndarray, n_services: int, terms: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and service positions of the ``terms`` bits set, row by row, in chunks.

    Only the nonzero bytes are expanded (most are zero): each byte's set bits come from
    a table of the positions set in every byte value, first bit first as ``packbits``
    writes them.
    """
    rows = np.empty(terms, dtype=np.intp)
    services = np.empty(terms, dtype=np.intp)
    step = max(1, SAMPLE_CHUNK_CELLS // packed.shape[1])
    done = 0
    for start in range(0, len(packed), step):
        block = packed[start:start + step]
        row, column = np.nonzero(block)
        value = block[row, column]
        bits = _BITS_SET[value].astype(np.intp)
        count = int(bits.sum())
        within = np.arange(count) - np.repeat(np.cumsum(bits) - bits, bits)
        position = _BIT_POSITIONS[np.repeat(_BIT_POSITIONS_START[value], bits) + within]
        rows[done:done + count] = np.repeat(row, bits) + start
        services[done:done + count] = np.repeat(column * 8, bits) + position
        done += count
    return rows, services
