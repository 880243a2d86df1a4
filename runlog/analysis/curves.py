"""Smoothing and downsampling of one run's curves (reward or an extras key over env steps).

Order matters and is fixed here: smooth the FULL series first, then downsample raw and
smoothed together (`downsample_many`), so what is drawn is the smoothed curve of every
episode, thinned for the screen, never a smoothing of a thinned curve.

    values (n episodes) --smooth--> smoothed (n) --downsample_many--> <= max_points of each

Downsampling is min/max per bucket: each bucket keeps the position of its first lowest and
its first highest finite value, plus the first and the last point of the series. Spikes
therefore survive, the global min and max always survive, and the result never holds more
than `max_points` points. Buckets are `2**e` wide in x, counted from the first x, with `e`
the smallest exponent that fits the whole x range into the buckets available (whole numbers
for integer x, such as env steps): between half and all of the point budget is used.

Both halves also work as points arrive (a live run), at a cost proportional to the new
points: `EmaState` continues the moving average from where it stopped (it is a recurrence),
and `Thinner` only touches the buckets the new points fall in, merging neighbours in pairs
when the range outgrows the buckets (the width doubles). Fed in any number of pieces, a
`Thinner` keeps exactly the points that one call over the whole series keeps.
(tsdownsample's MinMaxDownsampler was tried first; with an x axis it dropped the last
bucket's points, so the last point and a late global minimum could vanish.)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.int64]
SmoothMethod = Literal["ema", "window", "none"]

MIN_POINTS = 4
"""Smallest `max_points` for one series: first + last + one bucket's min and max."""
_LOOP_BELOW = 256
"""New values fewer than this continue an EMA one by one; more go through pandas."""


def _finite_or_nan(values: npt.ArrayLike) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"expected a 1-D series, got shape {array.shape}")
    return np.where(np.isfinite(array), array, np.nan)


def _check_weight(weight: float) -> None:
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"EMA weight must be in [0, 1), got {weight}")


def ema(values: npt.ArrayLike, weight: float) -> FloatArray:
    """TensorBoard's debiased exponential moving average with smoothing `weight` in [0, 1).

    Per finite value v: `last = last * w + (1 - w) * v; smoothed = last / (1 - w ** count)`,
    which is exactly pandas' `ewm(alpha=1 - w, adjust=True, ignore_na=True).mean()`.
    Non-finite values (null rewards) are skipped: their output is the previous smoothed
    value, or NaN before the first finite value. weight 0 returns the values unchanged.
    """
    _check_weight(weight)
    return _pandas_ema(_finite_or_nan(values), weight)


def _pandas_ema(values: FloatArray, weight: float) -> FloatArray:
    import pandas as pd  # imported when first needed: a listing never smooths

    smoothed = pd.Series(values).ewm(alpha=1.0 - weight, adjust=True, ignore_na=True).mean()
    return smoothed.to_numpy(dtype=np.float64)


class EmaState:
    """`ema` continued as values arrive: `extend(new)` returns the smoothed values of `new`,
    as if `ema` had been run over everything so far (equal up to float rounding)."""

    def __init__(self, weight: float) -> None:
        _check_weight(weight)
        self.weight = weight
        self._num = 0.0
        """Sum of w**age * value over the finite values so far."""
        self._den = 0.0
        """Sum of w**age over the finite values so far."""

    def extend(self, values: npt.ArrayLike) -> FloatArray:
        new = _finite_or_nan(values)
        w = self.weight
        if len(new) < _LOOP_BELOW:
            looped = np.empty(len(new), dtype=np.float64)
            num, den = self._num, self._den
            for i, value in enumerate(new.tolist()):
                if value == value:  # finite (NaN stands for every non-finite value)
                    num = num * w + value
                    den = den * w + 1.0
                looped[i] = num / den if den else math.nan
            self._num, self._den = num, den
            return looped
        # Many values: pandas smooths them on their own, then the state so far is folded in.
        # With c_j finite values among the first j+1 new ones, the new values weigh
        # W_j = (1 - w**c_j) / (1 - w) and the older ones decay by w**c_j.
        tail = _pandas_ema(new, w)
        if self._den == 0.0:
            # Nothing before them (a run opened): the result is pandas' own; only the state
            # at the end is needed, from the count of finite values.
            count = int(np.count_nonzero(np.isfinite(new)))
            if count:
                self._den = (1.0 - w**count) / (1.0 - w) if w > 0 else 1.0
                self._num = float(tail[-1]) * self._den
            return tail
        counts = np.cumsum(np.isfinite(new))
        decay = np.power(w, counts.astype(np.float64)) if w > 0 else (counts == 0) * 1.0
        tail_den = (1.0 - decay) / (1.0 - w)
        tail_num = np.where(counts > 0, tail * tail_den, 0.0)
        dens: FloatArray = decay * self._den + tail_den
        nums: FloatArray = decay * self._num + tail_num
        out: FloatArray = np.where(dens > 0, nums / np.where(dens > 0, dens, 1.0), math.nan)
        self._num, self._den = float(nums[-1]), float(dens[-1])
        return out


def rolling_mean(values: npt.ArrayLike, window: int) -> FloatArray:
    """Trailing mean over the last `window` episodes (this one included).

    The first episodes average what there is (min_periods=1); non-finite values are left
    out of each window, and a window with no finite value gives NaN.
    """
    if window < 1:
        raise ValueError(f"rolling window must be >= 1 episode, got {window}")
    import pandas as pd

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


# -- downsampling ---------------------------------------------------------------------------------


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


def _check_order(x: npt.NDArray[np.generic], after: object | None) -> None:
    if len(x) > 1 and not bool(np.all(np.diff(x) >= 0)):
        raise ValueError("x must be non-decreasing (env steps), with no NaN")
    if len(x) and (bool(np.isnan(x[0])) if x.dtype.kind == "f" else False):
        raise ValueError("x must be non-decreasing (env steps), with no NaN")
    if len(x) and after is not None and not x[0] >= after:
        raise ValueError("x must be non-decreasing (env steps): new points start before the last")


class Thinner:
    """Min/max downsampling of several series over one x, kept current as points arrive.

    `extend(x, ys)` appends points; `result()` gives the kept points, at most `max_points`.
    Every series gets an equal share of buckets, and the union of every series' bucket
    minima and maxima plus the first and the last point is kept (see the module doc).
    """

    def __init__(self, names: Sequence[str], max_points: int) -> None:
        self.names = tuple(names)
        k = max(1, len(self.names))
        needed = 2 + 2 * k
        if max_points < needed:
            raise ValueError(f"max_points must be >= {needed} for {k} series, got {max_points}")
        self.max_points = max_points
        self.buckets = (max_points - 2) // (2 * k)
        self.n = 0
        self._x: npt.NDArray[Any] | None = None  # every point, while n <= max_points
        self._ys: dict[str, FloatArray] = {}
        self._bucketed = False
        self._x0: Any = None
        self._e = 0
        self._integer = True
        self._last_x: Any = None
        # Per bucket, 2 slots per series (its min, its max): the point's position, x, and
        # every series' value there (-1: no finite value in the bucket yet).
        self._idx: npt.NDArray[np.int64] = np.empty((0, 0), dtype=np.int64)
        self._cx: npt.NDArray[Any] = np.empty((0, 0))
        self._cy: npt.NDArray[np.float64] = np.empty((0, 0, 0), dtype=np.float64)
        self._first: tuple[int, Any, FloatArray] | None = None
        self._last: tuple[int, Any, FloatArray] | None = None

    # -- taking points in ------------------------------------------------------------------

    def extend(self, x: npt.ArrayLike, ys: Mapping[str, npt.ArrayLike]) -> None:
        xs = np.asarray(x)
        if xs.ndim != 1:
            raise ValueError(f"x must be 1-D, got shape {xs.shape}")
        m = len(xs)
        if set(ys) != set(self.names):
            raise ValueError(f"expected the series {list(self.names)}, got {list(ys)}")
        columns = {name: np.asarray(ys[name], dtype=np.float64) for name in self.names}
        for name, values in columns.items():
            if values.shape != (m,):
                raise ValueError(f"series {name!r} has shape {values.shape}, x has length {m}")
        _check_order(xs, self._last_x)
        if m == 0:
            return
        if self.n == 0:
            self._integer = xs.dtype.kind in "iu"
            self._first = (0, xs[0], np.array([columns[s][0] for s in self.names]))
        self._last = (self.n + m - 1, xs[-1], np.array([columns[s][-1] for s in self.names]))
        self._last_x = xs[-1]
        if not self._bucketed:
            if self._x is None and m > self.max_points:
                self._x, self._ys = xs, columns  # straight to buckets: no copy
            elif self._x is None:
                self._x = xs.copy()
                self._ys = {s: v.copy() for s, v in columns.items()}
            else:
                self._x = np.concatenate([self._x, xs])
                self._ys = {s: np.concatenate([self._ys[s], columns[s]]) for s in self.names}
            self.n += m
            if self.n > self.max_points:
                self._start_buckets()
            return
        self._fit(xs[-1])
        self._absorb(xs, columns, self.n)
        self.n += m

    def _start_buckets(self) -> None:
        assert self._x is not None
        xs, columns = self._x, self._ys
        self._x, self._ys = None, {}
        self._bucketed = True
        self._x0 = xs[0]
        k2 = 2 * len(self.names)
        self._idx = np.full((self.buckets, k2), -1, dtype=np.int64)
        self._cx = np.zeros((self.buckets, k2), dtype=xs.dtype)
        self._cy = np.full((self.buckets, k2, len(self.names)), np.nan)
        self._e = self._exponent(xs[-1])
        self._absorb(xs, columns, 0)

    def _exponent(self, x_last: Any) -> int:
        """The smallest width exponent that puts `x_last` in one of the buckets."""
        span = float(x_last - self._x0)
        e = 0 if self._integer or span == 0 else math.floor(math.log2(span / self.buckets)) - 1
        while span >= self.buckets * 2.0**e:
            e += 1
        return e

    def _fit(self, x_last: Any) -> None:
        """Double the bucket width (merging neighbours) until `x_last` fits."""
        e = self._exponent(x_last)
        while self._e < e:
            self._halve()

    def _halve(self) -> None:
        b = self.buckets
        idx, cx, cy = self._idx, self._cx, self._cy
        pad = b % 2
        if pad:
            idx = np.concatenate([idx, np.full((1, idx.shape[1]), -1, dtype=np.int64)])
            cx = np.concatenate([cx, np.zeros((1, cx.shape[1]), dtype=cx.dtype)])
            cy = np.concatenate([cy, np.full((1, *cy.shape[1:]), np.nan)])
        left_i, right_i = idx[0::2], idx[1::2]
        left_x, right_x = cx[0::2], cx[1::2]
        left_y, right_y = cy[0::2], cy[1::2]
        take_right = self._better(right_i, right_y, left_i, left_y)
        half = (b + pad) // 2
        new_i = np.full((b, idx.shape[1]), -1, dtype=np.int64)
        new_x = np.zeros((b, idx.shape[1]), dtype=cx.dtype)
        new_y = np.full((b, *cy.shape[1:]), np.nan)
        new_i[:half] = np.where(take_right, right_i, left_i)
        new_x[:half] = np.where(take_right, right_x, left_x)
        new_y[:half] = np.where(take_right[:, :, None], right_y, left_y)
        self._idx, self._cx, self._cy = new_i, new_x, new_y
        self._e += 1

    def _better(
        self,
        a_i: IndexArray,
        a_y: FloatArray,
        b_i: IndexArray,
        b_y: FloatArray,
    ) -> npt.NDArray[np.bool_]:
        """Per slot: whether candidate a replaces candidate b (b empty, or a strictly lower
        for a min slot / higher for a max slot; on a tie the earlier point, b, stays)."""
        k = len(self.names)
        series = np.repeat(np.arange(k), 2)  # slot -> its series
        a_val = np.take_along_axis(a_y, series[None, :, None], axis=2)[:, :, 0]
        b_val = np.take_along_axis(b_y, series[None, :, None], axis=2)[:, :, 0]
        is_max = np.tile([False, True], k)[None, :]
        strictly = np.where(is_max, a_val > b_val, a_val < b_val)
        return (a_i >= 0) & ((b_i < 0) | strictly)

    def _absorb(self, xs: npt.NDArray[Any], columns: Mapping[str, FloatArray], start: int) -> None:
        """Fold points `xs` (positions `start`...) into their buckets."""
        m = len(xs)
        if self._integer:
            # Where each bucket begins: one search per bucket, not a division per point.
            first_id, last_id = self._bucket_of(xs[0]), self._bucket_of(xs[-1])
            edges = self._x0 + (2**self._e) * np.arange(first_id + 1, last_id + 1)
            cuts = np.searchsorted(xs, edges, side="left")
            starts = np.unique(np.concatenate(([0], cuts))).astype(np.int64)
            starts = starts[starts < m]
            ids = (np.asarray(xs[starts] - self._x0, dtype=np.int64) >> self._e).astype(np.int64)
        else:
            bucket = np.floor((xs - self._x0) / 2.0**self._e).astype(np.int64)
            starts = np.concatenate(([0], np.flatnonzero(bucket[1:] != bucket[:-1]) + 1))
            ids = bucket[starts]
        ends = np.append(starts[1:], m)
        k = len(self.names)
        new_i = np.full((len(starts), 2 * k), -1, dtype=np.int64)
        new_x = np.zeros((len(starts), 2 * k), dtype=self._cx.dtype)
        new_y = np.full((len(starts), 2 * k, k), np.nan)
        series = [columns[name] for name in self.names]
        counts = ends - starts
        for s, v in enumerate(series):
            finite = np.isfinite(v)
            all_finite = bool(finite.all())
            if not all_finite and not finite.any():
                continue
            for slot, (fill, reduce) in enumerate(((np.inf, np.minimum), (-np.inf, np.maximum))):
                filled = v if all_finite else np.where(finite, v, fill)
                extreme = reduce.reduceat(filled, starts)
                hit = filled == np.repeat(extreme, counts)
                if not all_finite:
                    hit &= finite  # an all-null bucket's extreme is +-inf: no hit there
                first = _first_in_segments(np.flatnonzero(hit), starts, ends)
                group = np.searchsorted(starts, first, side="right") - 1
                column = 2 * s + slot
                new_i[group, column] = first + start
                new_x[group, column] = xs[first]
                new_y[group, column] = np.stack([other[first] for other in series], axis=1)
        take = self._better(new_i, new_y, self._idx[ids], self._cy[ids])
        self._idx[ids] = np.where(take, new_i, self._idx[ids])
        self._cx[ids] = np.where(take, new_x, self._cx[ids])
        self._cy[ids] = np.where(take[:, :, None], new_y, self._cy[ids])

    def _bucket_of(self, x: Any) -> int:
        """The bucket of `x` on an integer axis (a float axis is bucketed in `_absorb`)."""
        return int(x - self._x0) >> self._e

    # -- the kept points -----------------------------------------------------------------

    def result(self) -> DownsampledMany:
        if not self._bucketed:
            x = self._x if self._x is not None else np.empty(0)
            n = len(x)
            ys = {s: self._ys.get(s, np.empty(0, dtype=np.float64)) for s in self.names}
            return DownsampledMany(
                x=x, ys=ys, index=np.arange(n, dtype=np.int64), shown=n, total=n
            )
        assert self._first is not None and self._last is not None
        used = self._idx >= 0
        idx = np.concatenate([[self._first[0], self._last[0]], self._idx[used]])
        xs = np.concatenate([np.array([self._first[1], self._last[1]]), self._cx[used]])
        values = np.concatenate([np.stack([self._first[2], self._last[2]]), self._cy[used]])
        index, where = np.unique(idx, return_index=True)
        return DownsampledMany(
            x=xs[where].astype(self._cx.dtype, copy=False),
            ys={s: values[where, i] for i, s in enumerate(self.names)},
            index=index.astype(np.int64),
            shown=len(index),
            total=self.n,
        )


def _first_in_segments(hits: IndexArray, starts: IndexArray, ends: IndexArray) -> IndexArray:
    """For each segment [start, end), the first position in sorted `hits`, if any."""
    pos = np.searchsorted(hits, starts, side="left")
    found = pos < len(hits)
    pos = pos[found]
    chosen = hits[pos]
    return np.asarray(chosen[chosen < ends[found]], dtype=np.int64)


def downsample_many(
    x: npt.ArrayLike, ys: Mapping[str, npt.ArrayLike], max_points: int
) -> DownsampledMany:
    """Thin several series over one x to at most `max_points` shared positions.

    Each series gets an equal share of buckets; the union of every series' bucket minima
    and maxima plus the first and last point is kept, so each series' global min and max
    survive. Needs max_points >= 2 + 2 * len(ys). Series are NOT smoothed here: pass the
    smoothed series (computed on the full data) alongside the raw one.
    """
    thinner = Thinner(list(ys), max_points)
    thinner.extend(x, ys)
    return thinner.result()


def downsample(x: npt.ArrayLike, y: npt.ArrayLike, max_points: int) -> Downsampled:
    """Thin one series to at most `max_points` (>= 4) points: bucket min/max + first + last."""
    many = downsample_many(x, {"y": y}, max_points)
    return Downsampled(
        x=many.x, y=many.ys["y"], index=many.index, shown=many.shown, total=many.total
    )
