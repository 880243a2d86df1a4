"""Smoothing and downsampling of one run's curves (reward or an extras key over env steps).

Order matters and is fixed here: smooth the FULL series first, then downsample raw and
smoothed together (`downsample_many`), so what is drawn is the smoothed curve of every
episode, thinned for the screen, never a smoothing of a thinned curve.

    values (n episodes) --smooth--> smoothed (n) --downsample_many--> <= max_points of each

Downsampling is min/max per bucket: the x range is cut into equal-width buckets and each
bucket keeps the index of its lowest and its highest finite value, plus the first and the
last point of the series. Spikes therefore survive, the global min and max always survive,
and the result never holds more than `max_points` points. (tsdownsample's MinMaxDownsampler
was tried first; with an x axis it dropped the last bucket's points, so the last point and a
late global minimum could vanish. This module does the same idea in plain numpy.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.int64]
SmoothMethod = Literal["ema", "window", "none"]

MIN_POINTS = 4
"""Smallest `max_points` for one series: first + last + one bucket's min and max."""


def _finite_or_nan(values: npt.ArrayLike) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"expected a 1-D series, got shape {array.shape}")
    return np.where(np.isfinite(array), array, np.nan)


def ema(values: npt.ArrayLike, weight: float) -> FloatArray:
    """TensorBoard's debiased exponential moving average with smoothing `weight` in [0, 1).

    Per finite value v: `last = last * w + (1 - w) * v; smoothed = last / (1 - w ** count)`,
    which is exactly pandas' `ewm(alpha=1 - w, adjust=True, ignore_na=True).mean()`.
    Non-finite values (null rewards) are skipped: their output is the previous smoothed
    value, or NaN before the first finite value. weight 0 returns the values unchanged.
    """
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"EMA weight must be in [0, 1), got {weight}")
    series = pd.Series(_finite_or_nan(values))
    smoothed = series.ewm(alpha=1.0 - weight, adjust=True, ignore_na=True).mean()
    return smoothed.to_numpy(dtype=np.float64)


def rolling_mean(values: npt.ArrayLike, window: int) -> FloatArray:
    """Trailing mean over the last `window` episodes (this one included).

    The first episodes average what there is (min_periods=1); non-finite values are left
    out of each window, and a window with no finite value gives NaN.
    """
    if window < 1:
        raise ValueError(f"rolling window must be >= 1 episode, got {window}")
    series = pd.Series(_finite_or_nan(values))
    return series.rolling(window, min_periods=1).mean().to_numpy(dtype=np.float64)


def smooth(values: npt.ArrayLike, method: SmoothMethod, param: float = 0.0) -> FloatArray:
    """Smooth a full series: "ema" (param = weight), "window" (param = episodes) or "none"."""
    if method == "ema":
        return ema(values, float(param))
    if method == "window":
        if param != int(param):
            raise ValueError(f"window must be a whole number of episodes, got {param}")
        return rolling_mean(values, int(param))
    if method == "none":
        return np.asarray(values, dtype=np.float64).copy()
    raise ValueError(f"unknown smoothing method {method!r}: use 'ema', 'window' or 'none'")


def _points_label(shown: int, total: int) -> str:
    if shown == total:
        return f"all {total:,} points"
    return f"{shown:,} of {total:,} points"


@dataclass(frozen=True, eq=False)
class Downsampled:
    """Points of one series kept for drawing; `index` are their positions in the full series."""

    x: npt.NDArray[np.generic]
    y: FloatArray
    index: IndexArray
    shown: int
    total: int

    @property
    def is_downsampled(self) -> bool:
        return self.shown < self.total

    def label(self) -> str:
        """E.g. "2,000 of 1,000,000 points", or "all 800 points" when nothing was dropped."""
        return _points_label(self.shown, self.total)


@dataclass(frozen=True, eq=False)
class DownsampledMany:
    """Several series over one x, thinned to one shared set of positions `index`."""

    x: npt.NDArray[np.generic]
    ys: Mapping[str, FloatArray]
    index: IndexArray
    shown: int
    total: int

    @property
    def is_downsampled(self) -> bool:
        return self.shown < self.total

    def label(self) -> str:
        return _points_label(self.shown, self.total)


def _check_x(x: npt.NDArray[np.generic], n: int) -> None:
    if x.ndim != 1 or len(x) != n:
        raise ValueError(f"x must be 1-D with the same length as y ({n}), got shape {x.shape}")
    if n > 1 and not bool(np.all(np.diff(x) >= 0)):
        raise ValueError("x must be non-decreasing (env steps), with no NaN")


def _first_in_segments(hits: IndexArray, starts: IndexArray, ends: IndexArray) -> IndexArray:
    """For each segment [start, end), the first position in sorted `hits`, if any."""
    pos = np.searchsorted(hits, starts, side="left")
    found = pos < len(hits)
    pos = pos[found]
    chosen = hits[pos]
    return chosen[chosen < ends[found]]


def _bucket_starts(xs: npt.NDArray[np.generic], n_buckets: int) -> IndexArray:
    """First position of each non-empty bucket of [x[0], x[-1]] cut into `n_buckets` equal
    widths (x non-decreasing, non-empty); equal x values share a bucket."""
    n = len(xs)
    lo, hi = float(xs[0]), float(xs[-1])
    if n_buckets <= 1 or hi == lo:
        return np.zeros(1, dtype=np.int64)
    edges = lo + (hi - lo) * np.arange(1, n_buckets, dtype=np.float64) / n_buckets
    # Integer x is searched as integers (the edge rounded up: x >= edge <=> x >= ceil(edge)),
    # which spares a float copy of a million-point x per call.
    keys = np.ceil(edges).astype(xs.dtype) if xs.dtype.kind in "iu" else edges
    cuts = np.searchsorted(xs, keys, side="left").astype(np.int64)
    starts = np.unique(np.concatenate([np.zeros(1, dtype=np.int64), cuts]))
    return starts[starts < n]


def _minmax_in_buckets(ys: FloatArray, starts: IndexArray) -> IndexArray:
    """Positions of each bucket's first minimum and first maximum among finite `ys`, sorted
    (`starts` from `_bucket_starts`)."""
    n = len(ys)
    finite = np.isfinite(ys)
    all_finite = bool(finite.all())
    if not all_finite and not finite.any():
        return np.empty(0, dtype=np.int64)
    ends = np.append(starts[1:], n).astype(np.int64)
    counts = ends - starts
    if all_finite:
        y_hi = y_lo = ys
    else:
        y_hi = np.where(finite, ys, -np.inf)
        y_lo = np.where(finite, ys, np.inf)
    found: list[IndexArray] = []
    for values, reduce in ((y_hi, np.maximum), (y_lo, np.minimum)):
        extreme = reduce.reduceat(values, starts)
        hit = values == np.repeat(extreme, counts)
        if not all_finite:
            hit &= finite  # an all-null bucket's extreme is +-inf: no hit there
        found.append(_first_in_segments(np.flatnonzero(hit).astype(np.int64), starts, ends))
    return np.union1d(found[0], found[1]).astype(np.int64)


def minmax_indices(x: npt.ArrayLike, y: npt.ArrayLike, n_buckets: int) -> IndexArray:
    """Positions of each bucket's first minimum and first maximum among finite y, sorted.

    Buckets cut [x[0], x[-1]] into `n_buckets` equal widths; equal x values share a bucket.
    """
    xs = np.asarray(x)
    ys = np.asarray(y, dtype=np.float64)
    _check_x(xs, len(ys))
    if len(ys) == 0:
        return np.empty(0, dtype=np.int64)
    return _minmax_in_buckets(ys, _bucket_starts(xs, n_buckets))


def downsample_many(
    x: npt.ArrayLike, ys: Mapping[str, npt.ArrayLike], max_points: int
) -> DownsampledMany:
    """Thin several series over one x to at most `max_points` shared positions.

    Each series gets an equal share of buckets; the union of every series' bucket minima
    and maxima plus the first and last point is kept, so each series' global min and max
    survive. Needs max_points >= 2 + 2 * len(ys). Series are NOT smoothed here: pass the
    smoothed series (computed on the full data) alongside the raw one.
    """
    xs = np.asarray(x)
    columns = {name: np.asarray(values, dtype=np.float64) for name, values in ys.items()}
    n = len(xs)
    for name, values in columns.items():
        if values.shape != (n,):
            raise ValueError(f"series {name!r} has shape {values.shape}, x has length {n}")
    _check_x(xs, n)
    needed = 2 + 2 * max(1, len(columns))
    if max_points < needed:
        raise ValueError(
            f"max_points must be >= {needed} for {len(columns)} series, got {max_points}"
        )
    if n <= max_points:
        index = np.arange(n, dtype=np.int64)
    else:
        n_buckets = (max_points - 2) // (2 * max(1, len(columns)))
        starts = _bucket_starts(xs, n_buckets)  # x is shared: bucket it once
        parts = [np.array([0, n - 1], dtype=np.int64)]
        parts += [_minmax_in_buckets(values, starts) for values in columns.values()]
        index = np.unique(np.concatenate(parts)).astype(np.int64)
    return DownsampledMany(
        x=xs[index],
        ys={name: values[index] for name, values in columns.items()},
        index=index,
        shown=len(index),
        total=n,
    )


def downsample(x: npt.ArrayLike, y: npt.ArrayLike, max_points: int) -> Downsampled:
    """Thin one series to at most `max_points` (>= 4) points: bucket min/max + first + last."""
    many = downsample_many(x, {"y": y}, max_points)
    return Downsampled(
        x=many.x, y=many.ys["y"], index=many.index, shown=many.shown, total=many.total
    )
