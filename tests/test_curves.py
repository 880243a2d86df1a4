"""Smoothing (EMA, trailing window) and min/max downsampling of one run's curves."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from budget import examples
from hypothesis import example, given, settings
from hypothesis import strategies as st

from runlog.analysis.curves import (
    EmaState,
    Thinner,
    downsample,
    downsample_many,
    ema,
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


def test_ema_of_a_million_points_follows_the_recurrence_to_the_end() -> None:
    # Speed lives in benchmarks/; here: a long series stays exact at its far end, where
    # a vectorised or chunked form would show accumulated error.
    values = np.random.default_rng(0).normal(size=1_000_000)
    out = ema(values, 0.99)
    assert out.shape == (1_000_000,)
    assert out[0] == values[0]
    # The recurrence of the docstring, run by hand over the last 5,000 values from the
    # state the first 995,000 leave (num/den carried exactly as defined).
    w, num, den = 0.99, 0.0, 0.0
    for v in values[:995_000].tolist():
        num, den = num * w + v, den * w + 1.0
    expected = []
    for v in values[995_000:].tolist():
        num, den = num * w + v, den * w + 1.0
        expected.append(num / den)
    np.testing.assert_allclose(out[995_000:], expected, rtol=1e-9, atol=1e-12)


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


def test_a_window_of_one_episode_is_the_series_itself() -> None:
    assert rolling_mean([1.0, 5.0, -2.0], 1).tolist() == [1.0, 5.0, -2.0]


def test_whole_numbers_come_back_as_floats_and_a_table_is_refused() -> None:
    for out in (smooth([1, 2, 3], "none"), rolling_mean([1, 2, 3], 2), ema([1, 2, 3], 0.5)):
        assert out.dtype == np.float64
    with pytest.raises(ValueError, match=r"expected a 1-D series, got shape \(2, 2\)"):
        ema([[1.0, 2.0], [3.0, 4.0]], 0.5)


def test_smooth_dispatches() -> None:
    values = np.array([1.0, 3.0, 5.0])
    assert smooth(values, "ema").tolist() == [1.0, 3.0, 5.0]  # weight 0 by default: unsmoothed
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


def test_buckets_are_power_of_two_widths_of_x() -> None:
    # max_points 6 leaves (6 - 2) // 2 = 2 buckets; x spans 100, so each is 64 wide (the
    # smallest power of two with 100 < 2 * width): [0, 64) holds x 0..60, [64, 128) the rest.
    x = np.array([0, 10, 20, 30, 40, 50, 60, 70, 80, 100])
    y = np.array([5.0, 1.0, 7.0, 2.0, 3.0, 6.0, 9.0, 0.0, 4.0, 5.0])
    result = downsample(x, y, 6)
    # first (0), bucket 1's min 1.0 (1) and max 9.0 (6), bucket 2's min 0.0 (7) and max 5.0
    # (9, also the last point)
    assert result.index.tolist() == [0, 1, 6, 7, 9]


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


@settings(max_examples=examples(200), deadline=None)
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


@settings(max_examples=examples(100), deadline=None)
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


# ---------------------------------------------------------------- live: as points arrive


@st.composite
def pieces(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, list[int]]:
    x, y, max_points = draw(series())
    z = np.array(
        draw(
            st.lists(
                st.one_of(st.floats(-1e3, 1e3, allow_nan=False), st.just(NAN)),
                min_size=len(y),
                max_size=len(y),
            )
        )
    )
    cuts = sorted(draw(st.lists(st.integers(0, len(y)), max_size=6)))
    return x, y, z, max(max_points, 6), cuts


@settings(max_examples=examples(300), deadline=None)
@given(pieces())
def test_thinner_fed_in_pieces_keeps_what_one_call_keeps(
    case: tuple[np.ndarray, np.ndarray, np.ndarray, int, list[int]],
) -> None:
    x, y, z, max_points, cuts = case
    whole = downsample_many(x, {"a": y, "b": z}, max_points)
    thinner = Thinner(["a", "b"], max_points)
    bounds = [0, *cuts, len(y)]
    for lo, hi in itertools.pairwise(bounds):
        thinner.extend(x[lo:hi], {"a": y[lo:hi], "b": z[lo:hi]})
    live = thinner.result()
    assert live.index.tolist() == whole.index.tolist()
    assert live.x.tolist() == whole.x.tolist() == x[whole.index].tolist()
    for name, values in (("a", y), ("b", z)):
        np.testing.assert_array_equal(live.ys[name], values[whole.index])
    assert (live.shown, live.total) == (whole.shown, whole.total) == (len(whole.index), len(y))


def test_thinner_doubles_its_buckets_as_a_live_run_grows() -> None:
    # 6 points allow 2 buckets; after 0..7 they are 4 wide, once x reaches 8 they merge.
    thinner = Thinner(["y"], 6)
    thinner.extend(np.arange(8), {"y": np.array([5.0, 1, 2, 9, 3, 4, 0, 6])})
    assert thinner.result().index.tolist() == [0, 1, 3, 6, 7]
    thinner.extend(np.array([8, 9]), {"y": np.array([-1.0, 2.0])})
    # buckets [0, 8) (min 0.0 at 6, max 9.0 at 3) and [8, 16) (min -1.0 at 8, max 2.0 at 9)
    assert thinner.result().index.tolist() == [0, 3, 6, 8, 9]


@pytest.mark.parametrize("x0", [0, 1_000_000, 123_456_789])
@pytest.mark.parametrize("as_float", [False, True])
def test_thinner_uses_its_budget_wherever_x_starts(x0: int, as_float: bool) -> None:
    """A curve whose x starts far from 0 (env steps of a resumed run) is thinned as finely as
    one starting at 0: the bucket width comes from the span of x, not from its values."""
    xs = x0 + np.arange(0, 100_000, 7)
    ys = np.sin(np.arange(len(xs)) / 50.0)
    thinner = Thinner(["y"], 402)  # 200 buckets of min and max, plus the first and last point
    thinner.extend(xs + 0.5 if as_float else xs, {"y": ys})
    kept = len(thinner.result().index)
    assert 300 <= kept <= 402  # measured 392 at every x0; 4 to 16 with the span taken wrongly


@pytest.mark.parametrize("span", [1e-3, 10.0, 1e9])
def test_thinner_uses_its_budget_whatever_the_span_of_x(span: float) -> None:
    """Buckets narrower than 1 for a short float axis (seconds, a fraction of an epoch), wider
    for a long one: either way at least half the budget is used (bucket widths are powers of
    two, so between 100 and 200 of the 200 buckets hold points; measured 264, 321 and 240 kept
    here; 3 and 21 with the width fixed at 1)."""
    xs = np.linspace(0.0, span, 20_000)
    thinner = Thinner(["y"], 402)
    thinner.extend(xs, {"y": np.cos(np.arange(len(xs)) / 30.0)})
    assert 200 <= len(thinner.result().index) <= 402


@pytest.mark.parametrize("as_float", [False, True])
def test_thinner_last_point_exactly_on_a_bucket_edge(as_float: bool) -> None:
    """12 points allow 5 buckets; x = 0..20 spans exactly 5 buckets of width 4, so the point
    at 20 would start a sixth: the width must double to 8 (buckets [0, 8), [8, 16), [16, 24))."""
    xs = np.arange(21) + (0.0 if as_float else 0)
    ys = np.array([3.0, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4, 6])
    thinner = Thinner(["y"], 12)
    thinner.extend(xs, {"y": ys})
    expected = {0, 20}  # the first and the last point, then each bucket's first min and max
    for lo in (0, 8, 16):
        chunk = ys[lo : lo + 8]
        expected |= {lo + int(np.argmin(chunk)), lo + int(np.argmax(chunk))}
    kept = thinner.result()
    assert kept.index.tolist() == sorted(expected)  # [0, 1, 5, 9, 12, 16, 18, 20]
    assert kept.x.dtype == xs.dtype  # env steps stay integers
    assert kept.label() == "8 of 21 points"
    np.testing.assert_array_equal(kept.x, xs[kept.index])


def test_thinner_merging_buckets_keeps_the_earlier_of_two_equal_extremes() -> None:
    """6 points allow 2 buckets: 0..7 fill [0, 4) and [4, 8), each with a 9.0 (at 2 and 5)
    and a -1.0 (at 1 and 6); x = 8 merges them into [0, 8): the earlier of each tie stays."""
    thinner = Thinner(["y"], 6)
    thinner.extend(np.arange(8), {"y": np.array([0.0, -1, 9, 3, 4, 9, -1, 2])})
    assert thinner.result().index.tolist() == [0, 1, 2, 5, 6, 7]
    thinner.extend(np.array([8]), {"y": np.array([5.0])})
    assert thinner.result().index.tolist() == [0, 1, 2, 8]


def test_thinner_the_first_point_can_be_its_buckets_extreme() -> None:
    """The first point (position 0) is a bucket's max like any other: when [0, 4) and [4, 8)
    merge, 9.0 at 0 stays the max, the 7.0 at 7 of the other bucket does not replace it."""
    thinner = Thinner(["y"], 6)
    thinner.extend(np.arange(8), {"y": np.array([9.0, 1, 2, 3, 4, 5, 6, 7])})
    assert thinner.result().index.tolist() == [0, 1, 4, 7]
    thinner.extend(np.array([8]), {"y": np.array([5.0])})
    assert thinner.result().index.tolist() == [0, 1, 8]


def test_thinner_rejects_points_that_go_back_in_x() -> None:
    thinner = Thinner(["y"], 4)
    thinner.extend(np.array([0, 5]), {"y": np.zeros(2)})
    with pytest.raises(ValueError, match="non-decreasing"):
        thinner.extend(np.array([4]), {"y": np.zeros(1)})
    # within one call of two points
    with pytest.raises(ValueError, match=r"^x must be non-decreasing \(env steps\), with no NaN$"):
        Thinner(["y"], 4).extend(np.array([5, 4]), {"y": np.zeros(2)})


def test_thinner_says_what_is_wrong_with_its_input() -> None:
    thinner = Thinner(["y"], 4)
    with pytest.raises(ValueError, match=r"^x must be 1-D, got shape \(1, 2\)$"):
        thinner.extend(np.zeros((1, 2)), {"y": np.zeros(2)})
    with pytest.raises(ValueError, match=r"^expected the series \['y'\], got \['z'\]$"):
        thinner.extend(np.arange(2), {"z": np.zeros(2)})
    with pytest.raises(ValueError, match=r"^x must be non-decreasing \(env steps\), with no NaN$"):
        thinner.extend(np.array([np.nan]), {"y": np.zeros(1)})  # one point: no diff to see it
    thinner.extend(np.array([0, 5]), {"y": np.zeros(2)})
    with pytest.raises(
        ValueError, match=r"^x must be non-decreasing \(env steps\): new points start before"
    ):
        thinner.extend(np.array([4]), {"y": np.zeros(1)})
    # The same env step again is fine (an episode of length 0), and so are integer values.
    thinner.extend(np.array([5, 6]), {"y": np.array([1, 2])})
    kept = thinner.result()
    assert kept.index.tolist() == [0, 1, 2, 3] and kept.x.tolist() == [0, 5, 5, 6]
    assert kept.ys["y"].tolist() == [0.0, 0.0, 1.0, 2.0]
    whole = Thinner(["y"], 4)
    whole.extend(np.arange(2), {"y": [1, 2]})
    assert whole.result().ys["y"].dtype == np.float64


def test_thinner_with_nothing_yet_gives_empty_float_series() -> None:
    empty = Thinner(["raw", "smoothed"], 6).result()
    assert (empty.shown, empty.total, len(empty.x), len(empty.index)) == (0, 0, 0, 0)
    assert empty.label() == "all 0 points"
    for name in ("raw", "smoothed"):
        assert empty.ys[name].dtype == np.float64 and len(empty.ys[name]) == 0


_RAMP = [float(v) for v in range(300)]


@settings(max_examples=examples(200), deadline=None)
@given(
    st.lists(st.one_of(st.floats(-1e6, 1e6), st.just(NAN), st.just(math.inf)), max_size=700),
    st.sampled_from([0.0, 0.3, 0.6, 0.9, 0.999]),
    st.lists(st.integers(0, 700), max_size=5),
)
# Every branch of EmaState.extend, whatever the example budget: pieces of 256+ values are
# smoothed by pandas and folded into the state (with and without a state before them, with
# non-finite values leading, weight 0, a piece of nothing but NaN after a state and before one).
@example([1.0] * 300 + [5.0] * 300, 0.9, [300])
@example([NAN] * 10 + _RAMP + [math.inf] * 5 + _RAMP, 0.6, [0, 305])
@example(_RAMP * 2, 0.0, [100, 400])
@example([NAN] * 300 + _RAMP, 0.9, [300])
@example([3.0] * 10 + [NAN] * 300 + [7.0] * 5, 0.3, [10, 310])
@example([2.0] * 5 + _RAMP[:256], 0.999, [5])
# A state of exactly one finite value (its weight sum is 1.0), then non-finite values leading
# a long piece: they must show the value before them, not NaN.
@example([3.0, NAN, *_RAMP], 0.5, [1])
@example([3.0, NAN, *_RAMP], 0.0, [1])
# A long first piece (its state taken from the count of finite values), then more, at a weight
# whose memory outlasts the piece (0.999**300 = 0.74).
@example([*_RAMP, 1.0, 2.0, 3.0], 0.999, [300])
# A long piece folded into a state, then a short one that continues from the folded state.
@example(_RAMP * 2, 0.999, [50, 350])
def test_ema_state_fed_in_pieces_matches_ema(
    values: list[float], weight: float, cuts: list[int]
) -> None:
    array = np.array(values, dtype=np.float64)
    state = EmaState(weight)
    bounds = [0, *sorted(min(c, len(values)) for c in cuts), len(values)]
    parts = [state.extend(array[lo:hi]) for lo, hi in itertools.pairwise(bounds)]
    np.testing.assert_allclose(
        np.concatenate(parts), ema(array, weight), rtol=1e-9, atol=1e-9, equal_nan=True
    )
