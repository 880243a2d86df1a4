"""Statistics across runs: IQM, bootstrap confidence intervals, aggregate curves.

Follows rliable (Agarwal et al., "Deep RL at the Edge of the Statistical Precipice"):
- IQM, the interquartile mean, is the mean of the middle 50% of runs: sort the n values and
  drop int(0.25 * n) from each end (scipy.stats.trim_mean(values, 0.25), which rliable uses).
  So n <= 3 drops nothing, n = 4..7 drops one each side, IQM([1..8]) = mean(3, 4, 5, 6).
- Confidence intervals are percentile bootstraps over RUNS: each resample draws n runs with
  replacement from one version's n runs (versions are resampled independently), recomputes
  the statistic, and takes the (1 - c) / 2 and (1 + c) / 2 percentiles. The seed is fixed, so
  the same data always gives the same band. With fewer than 2 runs there is no interval.
- Curves are compared on a shared grid of env steps that covers only the range where EVERY
  included run has data (no extrapolation), by linear interpolation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import pandas as pd

FloatArray = npt.NDArray[np.float64]
Statistic = Literal["mean", "iqm"]
Curve = tuple[npt.ArrayLike, npt.ArrayLike]

_TRIM = 0.25
_CHUNK_ELEMENTS = 2_000_000  # bootstrap resamples held in memory at once (x 8 bytes)


def _finite(values: npt.ArrayLike) -> FloatArray:
    array = np.asarray(values, dtype=np.float64).ravel()
    return array[np.isfinite(array)]


def _iqm_along(values: FloatArray, axis: int) -> FloatArray:
    n = values.shape[axis]
    cut = int(_TRIM * n)
    ordered = np.sort(values, axis=axis)
    middle = np.take(ordered, np.arange(cut, n - cut), axis=axis)
    return np.asarray(middle.mean(axis=axis), dtype=np.float64)


def _statistic_along(values: FloatArray, statistic: Statistic, axis: int) -> FloatArray:
    if statistic == "iqm":
        return _iqm_along(values, axis)
    if statistic == "mean":
        return np.asarray(values.mean(axis=axis), dtype=np.float64)
    raise ValueError(f"unknown statistic {statistic!r}: use 'iqm' or 'mean'")


def iqm(values: npt.ArrayLike) -> float:
    """Interquartile mean of the finite values (see the module doc); NaN when there are none."""
    finite = _finite(values)
    if len(finite) == 0:
        return float("nan")
    return float(_iqm_along(finite, 0))


def mean(values: npt.ArrayLike) -> float:
    """Mean of the finite values; NaN when there are none."""
    finite = _finite(values)
    return float(finite.mean()) if len(finite) else float("nan")


def statistic_of(values: npt.ArrayLike, statistic: Statistic) -> float:
    """`iqm(values)` or `mean(values)` by name."""
    if statistic == "iqm":
        return iqm(values)
    if statistic == "mean":
        return mean(values)
    raise ValueError(f"unknown statistic {statistic!r}: use 'iqm' or 'mean'")


@dataclass(frozen=True)
class Interval:
    """A confidence interval [low, high]."""

    low: float
    high: float


@dataclass(frozen=True)
class Estimate:
    """A statistic over runs with its bootstrap interval (None with fewer than 2 runs)."""

    value: float
    interval: Interval | None
    n_runs: int
    statistic: Statistic
    confidence: float


def bootstrap_ci(
    samples: npt.ArrayLike,
    statistic: Statistic = "iqm",
    *,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(point, low, high) of `statistic` over runs, by percentile bootstrap over runs.

    `samples` is 1-D (one value per run) or 2-D (runs x points, e.g. `align_on_grid`'s
    matrix); the results have shape `samples.shape[1:]` (0-d arrays for 1-D input; use
    float()). Every point of one resample uses the same drawn runs. All values must be
    finite. With fewer than 2 runs, low and high are NaN.
    """
    data = np.asarray(samples, dtype=np.float64)
    if data.ndim not in (1, 2):
        raise ValueError(f"samples must be runs or runs x points, got shape {data.shape}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not bool(np.all(np.isfinite(data))):
        raise ValueError("bootstrap samples must be finite (drop runs without data first)")
    n_runs = data.shape[0]
    rest = data.shape[1:]
    nan = np.full(rest, np.nan)
    if n_runs == 0:
        return nan, nan.copy(), nan.copy()
    point = _statistic_along(data, statistic, 0)
    if n_runs < 2:
        return point, nan, nan.copy()
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_runs, size=(n_boot, n_runs))
    per_boot = max(1, _CHUNK_ELEMENTS // data.size)
    stats = np.concatenate(
        [
            _statistic_along(data[draws[start : start + per_boot]], statistic, 1)
            for start in range(0, n_boot, per_boot)
        ]
    )
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(stats, [tail, 100.0 - tail], axis=0)
    return point, np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)


def estimate(
    values: npt.ArrayLike,
    statistic: Statistic = "iqm",
    *,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> Estimate:
    """`statistic` of one value per run (non-finite values dropped) with its bootstrap CI."""
    finite = _finite(values)
    point, low, high = bootstrap_ci(
        finite, statistic, confidence=confidence, n_boot=n_boot, seed=seed
    )
    interval = Interval(float(low), float(high)) if len(finite) >= 2 else None
    return Estimate(float(point), interval, len(finite), statistic, confidence)


def align_on_grid(curves: Sequence[Curve], n_points: int = 200) -> tuple[FloatArray, FloatArray]:
    """(grid, runs x grid matrix): curves linearly interpolated on a shared env-step grid.

    Each curve is (steps, values) with non-decreasing steps. Non-finite values are dropped
    first and curves left with no point are left out, so `matrix.shape[0]` is the number
    of runs included. The grid spans [latest first step, earliest last step], where every
    included run has data; it is empty when those ranges do not overlap and a single point
    when they touch.
    """
    if n_points < 2:
        raise ValueError(f"n_points must be >= 2, got {n_points}")
    kept: list[tuple[FloatArray, FloatArray]] = []
    for steps, values in curves:
        x = np.asarray(steps, dtype=np.float64)
        y = np.asarray(values, dtype=np.float64)
        if x.shape != y.shape or x.ndim != 1:
            raise ValueError(f"a curve needs steps and values of one length, got {x.shape}")
        ok = np.isfinite(x) & np.isfinite(y)
        if ok.any():
            kept.append((x[ok], y[ok]))
    if not kept:
        return np.empty(0), np.empty((0, 0))
    start = max(float(x[0]) for x, _ in kept)
    end = min(float(x[-1]) for x, _ in kept)
    if start > end:
        grid = np.empty(0)
    elif start == end:
        grid = np.array([start])
    else:
        grid = np.linspace(start, end, n_points)
    matrix = np.vstack([np.interp(grid, x, y) for x, y in kept])
    return grid, matrix


@dataclass(frozen=True, eq=False)
class AggregateCurve:
    """Center line (IQM or mean over runs) and its bootstrap band at each x."""

    x: FloatArray
    center: FloatArray
    low: FloatArray | None
    high: FloatArray | None
    n_runs: int
    statistic: Statistic
    confidence: float = 0.95

    @property
    def has_band(self) -> bool:
        return self.low is not None and self.high is not None

    def note(self) -> str:
        """What is drawn, in words for the chart caption."""
        name = "IQM" if self.statistic == "iqm" else "mean"
        if self.n_runs == 0:
            return "no runs with data"
        if self.n_runs == 1:
            return "1 run: no band"
        return f"{name} of {self.n_runs} runs, band = {self.confidence:.0%} bootstrap CI over runs"


def _aggregate_matrix(
    x: FloatArray,
    matrix: FloatArray,
    statistic: Statistic,
    confidence: float,
    n_boot: int,
    seed: int,
) -> AggregateCurve:
    n_runs = matrix.shape[0]
    if n_runs == 0 or matrix.shape[1] == 0:
        empty = np.empty(0)
        return AggregateCurve(empty, empty.copy(), None, None, n_runs, statistic, confidence)
    center, low, high = bootstrap_ci(
        matrix, statistic, confidence=confidence, n_boot=n_boot, seed=seed
    )
    if n_runs < 2:
        return AggregateCurve(x, center, None, None, n_runs, statistic, confidence)
    return AggregateCurve(x, center, low, high, n_runs, statistic, confidence)


def aggregate_curves(
    curves: Sequence[Curve],
    statistic: Statistic = "iqm",
    n_points: int = 200,
    *,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> AggregateCurve:
    """Aggregate several runs' (already smoothed) curves of one version on a shared grid."""
    grid, matrix = align_on_grid(curves, n_points)
    return _aggregate_matrix(grid, matrix, statistic, confidence, n_boot, seed)


def aggregate_eval(
    blocks_per_run: Sequence[pd.DataFrame],
    statistic: Statistic = "iqm",
    *,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> AggregateCurve:
    """Aggregate eval block means (`evals.eval_blocks` frames) at the steps every run has.

    A run's block with no finite mean counts as missing at that step. Runs with no block
    at all are left out (and not counted in n_runs).
    """
    import pandas as pd  # when first needed: a sweep of summaries needs none

    per_run: list[pd.Series] = []
    for blocks in blocks_per_run:
        means = pd.Series(
            blocks["mean"].to_numpy(dtype=np.float64),
            index=blocks["step"].to_numpy(dtype=np.int64),
        )
        means = means[np.isfinite(means.to_numpy())]
        if len(means):
            per_run.append(means[~means.index.duplicated(keep="first")])
    if not per_run:
        return _aggregate_matrix(np.empty(0), np.empty((0, 0)), statistic, confidence, 0, seed)
    common = per_run[0].index
    for means in per_run[1:]:
        common = common.intersection(means.index)
    steps = np.sort(common.to_numpy(dtype=np.int64))
    matrix = np.vstack(
        [means.reindex(pd.Index(steps)).to_numpy(dtype=np.float64) for means in per_run]
    )
    return _aggregate_matrix(steps.astype(np.float64), matrix, statistic, confidence, n_boot, seed)


def probability_of_improvement(a: Sequence[float], b: Sequence[float]) -> float:
    """P(A > B): the share of run pairs (i, j) with a_i > b_j, a tie counting 1/2.

    This is the Mann-Whitney U statistic divided by len(a) * len(b), as in rliable.
    Non-finite values are dropped; NaN when either side has no value.
    """
    xa, xb = _finite(a), _finite(b)
    if len(xa) == 0 or len(xb) == 0:
        return float("nan")
    wins = (xa[:, None] > xb[None, :]).sum()
    ties = (xa[:, None] == xb[None, :]).sum()
    return float((wins + 0.5 * ties) / (len(xa) * len(xb)))


def steps_to_threshold(
    steps: npt.ArrayLike, values: npt.ArrayLike, threshold: float
) -> float | None:
    """The first env step at which `values` (e.g. the smoothed reward) is >= threshold.

    None when it never is (NaN values never count).
    """
    x = np.asarray(steps, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"steps {x.shape} and values {y.shape} differ in length")
    hits = np.flatnonzero(y >= threshold)
    return float(x[hits[0]]) if len(hits) else None


def normalized_auc(steps: npt.ArrayLike, values: npt.ArrayLike) -> float:
    """Trapezoid area under the curve divided by its step span: the average value over
    training, in reward units, comparable between runs of different length.

    Non-finite points are dropped. One point gives its value; none gives NaN.
    """
    x = np.asarray(steps, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"steps {x.shape} and values {y.shape} differ in length")
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) == 0:
        return float("nan")
    span = float(x[-1] - x[0])
    if span <= 0.0:
        return float(y.mean())
    return float(np.trapezoid(y, x) / span)
