"""Draws and rounding shared by the generator's parts, and the ids of generated rows."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = [
    "as_str",
    "categorical",
    "choose",
    "kind_ids",
    "log_uniform",
    "round_significant",
    "zero_padded",
]


def choose(share: float, candidates: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Choose round(share x len(candidates)) of the True entries of ``candidates``.

    Parameters
    ----------
    share : float
        Fraction of all entries to choose (at most the True ones are chosen).
    candidates : numpy.ndarray of bool
        Entries that may be chosen.
    rng : numpy.random.Generator
        Stream to draw from.

    Returns
    -------
    numpy.ndarray of bool
        Mask of the chosen entries.
    """
    positions = np.flatnonzero(candidates)
    count = min(positions.size, round(share * candidates.size))
    mask = np.zeros(candidates.size, dtype=bool)
    mask[rng.choice(positions, size=count, replace=False)] = True
    return mask


def categorical(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw one category per row of ``weights`` (rows need not be normalised).

    Parameters
    ----------
    weights : numpy.ndarray, shape (rows, categories)
        Relative weights (unitless).
    rng : numpy.random.Generator
        Stream to draw from.

    Returns
    -------
    numpy.ndarray of int
        Category index per row.
    """
    cumulative = np.cumsum(weights, axis=1)
    draw = rng.random(weights.shape[0]) * cumulative[:, -1]
    return np.minimum((draw[:, None] >= cumulative).sum(axis=1), weights.shape[1] - 1)


def log_uniform(bounds: tuple[float, float], size: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``size`` values log-uniformly between ``bounds`` (in the unit of the bounds)."""
    low, high = bounds
    return np.exp(rng.uniform(np.log(low), np.log(high), size=size))


def round_significant(
    values: np.ndarray, digits: int, rounding: Callable[[np.ndarray], np.ndarray] = np.round
) -> np.ndarray:
    """Round positive values to ``digits`` significant digits.

    Parameters
    ----------
    values : numpy.ndarray
        Values in any unit; those <= 0 (and NaN) are returned as they are.
    digits : int
        Significant digits kept.
    rounding : callable, default numpy.round
        ``np.floor`` or ``np.ceil`` round down or up instead.

    Returns
    -------
    numpy.ndarray
        Rounded values, same unit.
    """
    values = np.asarray(values, dtype=float)
    positive = values > 0
    exponent = np.zeros_like(values)
    exponent[positive] = np.floor(np.log10(values[positive])) - (digits - 1)
    # Dividing by an exact power of ten (not multiplying by 10**-n) gives 19.7, not 19.700...03.
    up = 10.0 ** np.maximum(exponent, 0.0)
    down = 10.0 ** np.maximum(-exponent, 0.0)
    return np.where(positive, rounding(values * down / up) * up / down, values)


def kind_ids(kinds: tuple[str, ...], kind: np.ndarray, min_width: int,
             separator: str | None) -> np.ndarray:
    """Numbered ids such as ``da-007`` or ``op00012``: a kind, then the row number from 1.

    Parameters
    ----------
    kinds : tuple of str
        Kind names, the ids' prefixes.
    kind : numpy.ndarray of int
        Index into ``kinds`` of each row.
    min_width : int
        Fewest digits of the number (more when the row count needs them).
    separator : str or None
        Text between kind and number, or None for none.

    Returns
    -------
    numpy.ndarray of str
        One id per row, unique by number.
    """
    prefix = as_str(np.array(kinds))[kind]
    if separator is not None:
        prefix = np.strings.add(prefix, separator)
    return np.strings.add(
        prefix, zero_padded(np.arange(1, kind.size + 1), max(min_width, len(str(kind.size))))
    )


def zero_padded(numbers: np.ndarray, width: int) -> np.ndarray:
    """Numbers as zero-padded strings of at least ``width`` digits."""
    return np.strings.zfill(numbers.astype(np.str_), width)


def as_str(values: np.ndarray) -> np.ndarray:
    """Convert to fixed-width strings, the dtype the ``numpy.strings`` ufuncs take."""
    return values.astype(np.str_)
