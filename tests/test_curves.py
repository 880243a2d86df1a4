"""Smoothing (EMA, trailing window) and min/max downsampling of one run's curves."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runlog.analysis.curves import (
    downsample,
    downsample_many,
    ema,
    minmax_indices,
    rolling_mean,
    smooth,
)

NAN = math.nan


def tensorboard_ema(values: list[float], weight: float) -> list[float]:
    """TensorBoard's loop, with non-finite values skipped (previous smoothed value kept)."""
    out: list[float] = []
    last = 0.0
    count = 0
    smoothed = NAN
    for value in values:
        if math.isfinite(value):
            last = last * weight + (1 - weight) * value
            count += 1
            smoothed = last / (1 - weight**count)
        out.append(smoothed)
    return out


# ---------------------------------------------------------------- ema


def test_ema_hand_computed() -> None:
    # w = 0.5: last 0.5 -> debias 0.5 -> 1; last 0.25 + 1.5 = 1.75, debias 0.75 -> 7/3
    assert ema(np.array([1.0, 3.0]), 0.5).tolist() == pytest.approx([1.0, 7.0 / 3.0])


def test_ema_weight_zero_is_raw() -> None:
    values = np.array([3.0, -1.0, 10.0, 2.5])
    assert ema(values, 0.0).tolist() == values.tolist()


def test_ema_skips_non_finite_values() -> None:
    values = np.array([NAN, 2.0, NAN, math.inf, 4.0, -math.inf])
    out = ema(values, 0.5)
    # leading NaN stays NaN; 2 -> 2; NaN, inf keep 2; then (0.5*1 + 2)/0.75 = 10/3; keep it.
    assert math.isnan(out[0])
    assert out[1:].tolist() == pytest.approx([2.0, 2.0, 2.0, 10.0 / 3.0, 10.0 / 3.0])


def test_ema_matches_tensorboard_loop() -> None:
    rng = np.random.default_rng(7)
    values = rng.normal(10.0, 5.0, size=2_000)
    values[rng.choice(2_000, size=100, replace=False)] = NAN
    values[0] = NAN
    for weight in (0.0, 0.3, 0.6, 0.9, 0.99, 0.999):
        expected = tensorboard_ema(values.tolist(), weight)
        np.testing.assert_allclose(ema(values, weight), expected, rtol=1e-10, equal_nan=True)


def test_ema_rejects_weight_outside_unit_interval() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        ema(np.array([1.0]), 1.0)
    with pytest.raises(ValueError):
        ema(np.array([1.0]), -0.1)


def test_ema_of_a_million_points_is_fast() -> None:
    import time

    values = np.random.default_rng(0).normal(size=1_000_000)
    start = time.perf_counter()
    out = ema(values, 0.99)
    assert time.perf_counter() - start < 2.0
    assert out.shape == (1_000_000,)
    assert out[0] == values[0]


# ---------------------------------------------------------------- rolling mean / smooth


def test_rolling_mean_trailing_window() -> None:
    out = rolling_mean(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), 3)
    assert out.tolist() == [1.0, 1.5, 2.0, 3.0, 4.0]


def test_rolling_mean_skips_nan() -> None:
    out = rolling_mean(np.array([1.0, NAN, 3.0, NAN, NAN, NAN]), 2)
    assert out[:4].tolist() == [1.0, 1.0, 3.0, 3.0]
    assert math.isnan(out[4]) and math.isnan(out[5])


def test_rolling_mean_rejects_empty_window() -> None:
    with pytest.raises(ValueError, match="window"):
        rolling_mean(np.array([1.0]), 0)


def test_smooth_dispatches() -> None:
    values = np.array([1.0, 3.0, 5.0])
    assert smooth(values, "none").tolist() == [1.0, 3.0, 5.0]
    assert smooth(values, "window", 2).tolist() == [1.0, 2.0, 4.0]
    assert smooth(values, "ema", 0.5).tolist() == pytest.approx(ema(values, 0.5).tolist())
    with pytest.raises(ValueError, match="unknown smoothing"):
        smooth(values, "median", 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="whole number"):
        smooth(values, "window", 2.5)


# ---------------------------------------------------------------- downsampling


def test_short_series_is_kept_whole() -> None:
    x = np.array([0, 10, 20])
    y = np.array([1.0, NAN, 3.0])
    result = downsample(x, y, 4)
    assert result.index.tolist() == [0, 1, 2]
    assert not result.is_downsampled
    assert result.label() == "all 3 points"


def test_one_bucket_keeps_min_max_first_last() -> None:
    x = np.array([0, 1, 1, 1, 2, 2, 3, 8, 9, 9])
    y = np.array([1.0, 5.0, 2.0, NAN, 3.0, 9.0, 0.0, 4.0, 7.0, 2.0])
    result = downsample(x, y, 4)
    # max 9 at 5, min 0 at 6, plus first (0) and last (9)
    assert result.index.tolist() == [0, 5, 6, 9]
    assert result.x.tolist() == [0, 2, 3, 9]
    assert result.y.tolist() == [1.0, 9.0, 0.0, 2.0]
    assert (result.shown, result.total) == (4, 10)
    assert result.label() == "4 of 10 points"


def test_buckets_are_equal_widths_of_x() -> None:
    # x spans [0, 100]; 2 buckets: [0, 50) and [50, 100]
    x = np.array([0, 10, 20, 30, 40, 50, 60, 70, 80, 100])
    y = np.array([5.0, 1.0, 7.0, 2.0, 3.0, 6.0, 9.0, 0.0, 4.0, 5.0])
    assert minmax_indices(x, y, 2).tolist() == [1, 2, 6, 7]
    result = downsample(x, y, 6)
    assert result.index.tolist() == [0, 1, 2, 6, 7, 9]


def test_spike_survives_a_million_points() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=1_000_000)
    y[654_321] = 1e6
    x = np.cumsum(rng.integers(1, 500, size=y.size))
    result = downsample(x, y, 2_000)
    assert 654_321 in result.index
    assert result.shown <= 2_000
    assert result.label() == f"{result.shown:,} of 1,000,000 points"


def test_all_nan_series_keeps_first_and_last() -> None:
    result = downsample(np.arange(10), np.full(10, NAN), 4)
    assert result.index.tolist() == [0, 9]


def test_downsample_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match=">= 4"):
        downsample(np.arange(10), np.zeros(10), 3)
    with pytest.raises(ValueError, match="non-decreasing"):
        downsample(np.array([0, 2, 1, 3, 4, 5]), np.zeros(6), 4)
    with pytest.raises(ValueError, match="x has length 5"):
        downsample(np.arange(5), np.zeros(6), 4)


def test_downsample_many_shares_one_index_and_keeps_each_extreme() -> None:
    rng = np.random.default_rng(3)
    raw = rng.normal(size=50_000)
    raw[100] = NAN
    smoothed = ema(raw, 0.99)
    x = np.arange(50_000) * 10
    result = downsample_many(x, {"raw": raw, "smoothed": smoothed}, 1_000)
    assert result.shown <= 1_000
    assert result.ys["raw"].tolist() == pytest.approx(raw[result.index].tolist(), nan_ok=True)
    assert result.ys["smoothed"].tolist() == smoothed[result.index].tolist()
    assert np.nanmax(raw) in result.ys["raw"]
    assert np.nanmin(raw) in result.ys["raw"]
    assert smoothed.max() in result.ys["smoothed"]
    assert smoothed.min() in result.ys["smoothed"]
    with pytest.raises(ValueError, match=">= 6"):
        downsample_many(x, {"raw": raw, "smoothed": smoothed}, 5)


@st.composite
def series(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int]:
    n = draw(st.integers(min_value=0, max_value=300))
    gaps = draw(st.lists(st.integers(0, 1_000), min_size=n, max_size=n))
    values = draw(
        st.lists(
            st.one_of(
                st.floats(-1e9, 1e9, allow_nan=False),
                st.just(NAN),
                st.just(math.inf),
            ),
            min_size=n,
            max_size=n,
        )
    )
    max_points = draw(st.integers(min_value=4, max_value=64))
    return np.cumsum(np.array(gaps, dtype=np.int64)), np.array(values), max_points


@settings(max_examples=200, deadline=None, derandomize=True)
@given(series())
def test_downsample_properties(case: tuple[np.ndarray, np.ndarray, int]) -> None:
    x, y, max_points = case
    result = downsample(x, y, max_points)
    index = result.index
    assert len(index) <= max_points
    assert result.shown == len(index) and result.total == len(y)
    assert bool(np.all(np.diff(index) > 0))
    assert result.x.tolist() == x[index].tolist()
    if len(y) == 0:
        assert len(index) == 0
        return
    assert index[0] == 0 and index[-1] == len(y) - 1
    finite = y[np.isfinite(y)]
    kept = result.y[np.isfinite(result.y)]
    if len(finite):
        assert finite.max() in kept
        assert finite.min() in kept


@settings(max_examples=100, deadline=None, derandomize=True)
@given(series())
def test_integer_x_buckets_like_the_same_x_as_floats(
    case: tuple[np.ndarray, np.ndarray, int],
) -> None:
    # Integer x (env steps) is bucketed without a float copy; the buckets must not move.
    x, y, max_points = case
    assert (
        downsample(x, y, max_points).index.tolist()
        == downsample(x.astype(np.float64), y, max_points).index.tolist()
    )
