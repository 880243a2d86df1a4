"""Statistics across runs: IQM, bootstrap CIs, grids, aggregate curves, pair probabilities."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from runlog.analysis.stats import (
    Interval,
    aggregate_curves,
    aggregate_eval,
    align_on_grid,
    bootstrap_ci,
    estimate,
    iqm,
    mean,
    normalized_auc,
    probability_of_improvement,
    statistic_of,
    steps_to_threshold,
)

NAN = math.nan


# ---------------------------------------------------------------- iqm / mean


def test_iqm_of_one_to_eight_is_mean_of_middle_four() -> None:
    assert iqm(np.arange(1, 9)) == 4.5  # mean(3, 4, 5, 6)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([7.0], 7.0),  # n <= 3 trims nothing
        ([1.0, 10.0], 5.5),
        ([1.0, 2.0, 30.0], 11.0),
        ([100.0, 1.0, 2.0, 3.0], 2.5),  # n = 4 trims one each side: mean(2, 3)
        ([1.0, 2.0, 3.0, 4.0, 100.0], 3.0),  # mean(2, 3, 4)
        ([-50.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 900.0], 3.5),  # mean(2, 3, 4, 5)
        (list(range(10)), 4.5),  # int(2.5) = 2 trimmed each side: mean(2..7)
    ],
)
def test_iqm_small_samples(values: list[float], expected: float) -> None:
    assert iqm(values) == pytest.approx(expected)


def test_iqm_and_mean_drop_non_finite() -> None:
    assert iqm([NAN, 1.0, 2.0, math.inf]) == 1.5
    assert mean([NAN, 1.0, 2.0, 6.0]) == 3.0
    assert math.isnan(iqm([NAN]))
    assert math.isnan(mean([]))
    assert statistic_of([1.0, 2.0, 3.0, 10.0], "iqm") == 2.5
    assert statistic_of([1.0, 2.0, 3.0, 10.0], "mean") == 4.0


# ---------------------------------------------------------------- bootstrap


def test_bootstrap_point_is_the_statistic_and_interval_brackets_it() -> None:
    values = np.array([3.0, 5.0, 4.0, 6.0, 5.5, 4.5])
    point, low, high = bootstrap_ci(values, "mean", n_boot=500, seed=1)
    assert float(point) == pytest.approx(values.mean())
    assert float(values.min()) <= float(low) < float(point) < float(high) <= float(values.max())


def test_bootstrap_is_deterministic_for_a_seed() -> None:
    values = np.random.default_rng(5).normal(size=12)
    first = bootstrap_ci(values, "iqm", n_boot=300, seed=11)
    second = bootstrap_ci(values, "iqm", n_boot=300, seed=11)
    other = bootstrap_ci(values, "iqm", n_boot=300, seed=12)
    assert [float(v) for v in first] == [float(v) for v in second]
    assert float(first[1]) != float(other[1])


def test_bootstrap_of_identical_runs_has_zero_width() -> None:
    point, low, high = bootstrap_ci([2.0, 2.0, 2.0], "iqm", n_boot=100)
    assert (float(point), float(low), float(high)) == (2.0, 2.0, 2.0)


def test_bootstrap_single_run_has_no_interval() -> None:
    point, low, high = bootstrap_ci([4.0], "mean")
    assert float(point) == 4.0
    assert math.isnan(float(low)) and math.isnan(float(high))


def test_bootstrap_matrix_equals_column_by_column() -> None:
    matrix = np.random.default_rng(2).normal(size=(7, 5))
    point, low, high = bootstrap_ci(matrix, "iqm", n_boot=400, seed=3)
    assert point.shape == low.shape == high.shape == (5,)
    for j in range(5):
        p, lo, hi = bootstrap_ci(matrix[:, j], "iqm", n_boot=400, seed=3)
        assert (point[j], low[j], high[j]) == pytest.approx((float(p), float(lo), float(hi)))


def test_bootstrap_rejects_non_finite_and_bad_arguments() -> None:
    with pytest.raises(ValueError, match="finite"):
        bootstrap_ci([1.0, NAN])
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci([1.0, 2.0], confidence=1.0)
    with pytest.raises(ValueError, match="statistic"):
        bootstrap_ci([1.0, 2.0], "median")  # type: ignore[arg-type]


@pytest.mark.parametrize("statistic", ["mean", "iqm"])
def test_bootstrap_ci_covers_the_true_center(statistic: str) -> None:
    # 200 experiments of 10 runs from N(5, 1): the 95% percentile bootstrap is a little
    # narrow for n = 10, so coverage lands near 0.9; a broken CI lands far outside.
    rng = np.random.default_rng(2024)
    covered = 0
    for k in range(200):
        runs = rng.normal(5.0, 1.0, size=10)
        _, low, high = bootstrap_ci(runs, statistic, n_boot=1000, seed=k)  # type: ignore[arg-type]
        covered += int(float(low) <= 5.0 <= float(high))
    assert 0.85 <= covered / 200 <= 0.99


def test_estimate_drops_non_finite_and_reports_run_count() -> None:
    result = estimate([1.0, NAN, 3.0, 2.0], "mean", n_boot=200)
    assert result.value == 2.0
    assert result.n_runs == 3
    assert result.interval is not None
    assert 1.0 <= result.interval.low <= 2.0 <= result.interval.high <= 3.0
    single = estimate([5.0, NAN], "iqm")
    assert (single.value, single.interval, single.n_runs) == (5.0, None, 1)


# ---------------------------------------------------------------- grids and aggregates


def test_align_on_grid_covers_only_the_shared_range() -> None:
    a = (np.array([0, 10, 20, 30]), np.array([0.0, 10.0, 20.0, 30.0]))
    b = (np.array([5, 25]), np.array([1.0, 3.0]))
    grid, matrix = align_on_grid([a, b], n_points=5)
    assert grid.tolist() == [5.0, 10.0, 15.0, 20.0, 25.0]
    assert matrix.shape == (2, 5)
    assert matrix[0].tolist() == [5.0, 10.0, 15.0, 20.0, 25.0]
    assert matrix[1].tolist() == [1.0, 1.5, 2.0, 2.5, 3.0]


def test_align_on_grid_drops_nan_points_and_empty_runs() -> None:
    a = (np.array([0, 10, 20]), np.array([0.0, NAN, 20.0]))
    empty = (np.array([0, 10]), np.array([NAN, NAN]))
    grid, matrix = align_on_grid([a, empty], n_points=3)
    assert grid.tolist() == [0.0, 10.0, 20.0]
    assert matrix.tolist() == [[0.0, 10.0, 20.0]]


def test_align_on_grid_without_overlap_is_empty() -> None:
    a = (np.array([0, 10]), np.array([1.0, 2.0]))
    b = (np.array([20, 30]), np.array([1.0, 2.0]))
    grid, matrix = align_on_grid([a, b])
    assert grid.shape == (0,)
    assert matrix.shape == (2, 0)
    grid, matrix = align_on_grid([a, (np.array([10, 20]), np.array([7.0, 8.0]))])
    assert grid.tolist() == [10.0]
    assert matrix.tolist() == [[2.0], [7.0]]


def test_aggregate_curves_mean_and_band() -> None:
    x = np.array([0, 100])
    curves = [(x, np.array([1.0, 1.0])), (x, np.array([2.0, 3.0])), (x, np.array([3.0, 5.0]))]
    agg = aggregate_curves(curves, "mean", n_points=3, n_boot=500)
    assert agg.x.tolist() == [0.0, 50.0, 100.0]
    assert agg.center.tolist() == pytest.approx([2.0, 2.5, 3.0])
    assert agg.n_runs == 3 and agg.has_band
    assert agg.low is not None and agg.high is not None
    assert bool(np.all(agg.low <= agg.center)) and bool(np.all(agg.center <= agg.high))
    assert agg.low[0] >= 1.0 and agg.high[2] <= 5.0
    assert agg.note() == "mean of 3 runs, band = 95% bootstrap CI over runs"


def test_aggregate_curves_single_run_has_no_band() -> None:
    agg = aggregate_curves([(np.array([0, 10]), np.array([1.0, 3.0]))], "iqm", n_points=3)
    assert agg.center.tolist() == [1.0, 2.0, 3.0]
    assert agg.low is None and agg.high is None and not agg.has_band
    assert agg.note() == "1 run: no band"
    none = aggregate_curves([], "iqm")
    assert none.n_runs == 0 and len(none.x) == 0 and none.note() == "no runs with data"


def blocks(steps: list[int], means: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"step": np.array(steps, dtype=np.int64), "mean": means})


def test_aggregate_eval_uses_steps_every_run_has() -> None:
    runs = [
        blocks([10, 20, 30], [1.0, 2.0, 3.0]),
        blocks([10, 30, 40], [3.0, 5.0, 9.0]),
        blocks([10, 20, 30], [NAN, 4.0, 7.0]),  # NaN at 10: step 10 is not shared
        blocks([], []),  # no eval yet: left out
    ]
    agg = aggregate_eval(runs, "mean", n_boot=200)
    assert agg.x.tolist() == [30.0]
    assert agg.center.tolist() == [5.0]
    assert agg.n_runs == 3


# ---------------------------------------------------------------- comparisons


def test_probability_of_improvement_hand_computed() -> None:
    # pairs (a_i, b_j): 3>1, 3>2, 3=3 (1/2) | 1=1 (1/2), 1<2, 1<3 -> (2 + 0.5 + 0.5) / 6
    assert probability_of_improvement([3.0, 1.0], [1.0, 2.0, 3.0]) == pytest.approx(0.5)
    assert probability_of_improvement([5.0, 6.0], [1.0, 2.0]) == 1.0
    assert probability_of_improvement([1.0], [1.0]) == 0.5
    assert probability_of_improvement([4.0, 0.0], [2.0, NAN]) == 0.5
    assert math.isnan(probability_of_improvement([], [1.0]))


def test_probability_of_improvement_is_complementary() -> None:
    a = [1.0, 4.0, 4.0, 7.0]
    b = [2.0, 4.0, 6.0]
    assert probability_of_improvement(a, b) + probability_of_improvement(b, a) == 1.0
    # a beats b: 1 -> 0; 4 -> 1 + tie 0.5 (x2); 7 -> 3  => (0 + 1.5 + 1.5 + 3) / 12
    assert probability_of_improvement(a, b) == 0.5


def test_steps_to_threshold() -> None:
    steps = np.array([100, 200, 300, 400])
    assert steps_to_threshold(steps, [1.0, NAN, 5.0, 9.0], 5.0) == 300.0
    assert steps_to_threshold(steps, [1.0, 2.0, 3.0, 4.0], 5.0) is None
    assert steps_to_threshold([], [], 0.0) is None


def test_normalized_auc_is_average_value_over_steps() -> None:
    # trapezoids: (0+10)/2*100 + (10+10)/2*300 = 500 + 3000 = 3500 over span 400
    assert normalized_auc([0, 100, 400], [0.0, 10.0, 10.0]) == 8.75
    assert normalized_auc([0, 100, 200], [NAN, 4.0, 6.0]) == 5.0
    assert normalized_auc([50], [3.0]) == 3.0
    assert math.isnan(normalized_auc([], []))


# ---------------------------------------------------------------- the bootstrap, exactly


def test_bootstrap_is_the_documented_percentile_bootstrap_over_runs() -> None:
    runs = np.array([[1.0, 10.0], [0.0, 30.0], [4.0, 20.0], [2.0, 60.0], [9.0, 50.0]])
    # By hand: n_boot resamples of the 5 runs (the same draw for every point), the
    # statistic of each, then the (1 - c) / 2 and (1 + c) / 2 percentiles.
    draws = np.random.default_rng(7).integers(0, 5, size=(300, 5))
    per_resample = runs[draws].mean(axis=1)
    expected = np.percentile(per_resample, [15.0, 85.0], axis=0)
    point, low, high = bootstrap_ci(runs, "mean", confidence=0.7, n_boot=300, seed=7)
    assert point.tolist() == [3.2, 34.0]
    assert low.tolist() == pytest.approx(expected[0].tolist(), rel=1e-12)
    assert high.tolist() == pytest.approx(expected[1].tolist(), rel=1e-12)


def test_every_run_can_be_drawn() -> None:
    # One run of five differs: a resample that may draw it sometimes moves the mean up.
    _, low, high = bootstrap_ci([1.0, 0.0, 0.0, 0.0, 0.0], "mean", n_boot=500)
    assert float(low) == 0.0
    assert float(high) > 0.0


def test_defaults_are_iqm_2000_resamples_seed_0_and_a_95_percent_band() -> None:
    values = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0]
    explicit = {"confidence": 0.95, "n_boot": 2000, "seed": 0}
    assert estimate(values) == estimate(values, "iqm", **explicit)
    point, low, high = bootstrap_ci(values)
    assert (point, low, high) == bootstrap_ci(values, "iqm", **explicit)
    curves = [([0, 10, 20], [1.0, 2.0, 3.0]), ([0, 20], [2.0, 6.0]), ([0, 20], [0.0, 1.0])]
    agg = aggregate_curves(curves)
    same = aggregate_curves(curves, "iqm", 200, **explicit)
    assert len(agg.x) == 200
    assert agg.low is not None and same.low is not None
    assert agg.low.tolist() == same.low.tolist() and agg.statistic == "iqm"
    evals = [blocks([10, 20], [1.0, 2.0]), blocks([10, 20], [3.0, 5.0]), blocks([10], [0.0])]
    ev, ev_same = aggregate_eval(evals), aggregate_eval(evals, "iqm", **explicit)
    assert ev.low is not None and ev_same.low is not None
    assert (ev.statistic, ev.low.tolist()) == ("iqm", ev_same.low.tolist())


def test_settings_reach_the_bootstrap() -> None:
    values = [3.0, 1.0, 4.0, 1.0, 5.0]
    settings = {"confidence": 0.5, "n_boot": 50, "seed": 3}
    point, low, high = bootstrap_ci(values, "mean", **settings)
    got = estimate(values, "mean", **settings)
    assert got == estimate(values, "mean", **settings)  # the seed is fixed: the same band
    assert (got.value, got.interval) == (float(point), Interval(float(low), float(high)))
    assert (got.statistic, got.confidence, got.n_runs) == ("mean", 0.5, 5)
    curves = [([0, 10], [float(v), float(v) + 1]) for v in values]
    agg = aggregate_curves(curves, "mean", 2, **settings)
    grid, matrix = align_on_grid(curves, 2)
    center, low2, high2 = bootstrap_ci(matrix, "mean", **settings)
    assert agg.low is not None and agg.high is not None
    assert (agg.x.tolist(), agg.center.tolist()) == (grid.tolist(), center.tolist())
    assert (agg.low.tolist(), agg.high.tolist()) == (low2.tolist(), high2.tolist())
    assert (agg.statistic, agg.confidence) == ("mean", 0.5)
    assert agg.note() == "mean of 5 runs, band = 50% bootstrap CI over runs"
    evals = [blocks([10, 20], [v, v + 1]) for v in values]
    ev = aggregate_eval(evals, "mean", **settings)
    assert ev.low is not None and ev.low.tolist() == low2.tolist()


def test_two_runs_have_a_band_and_one_run_has_none() -> None:
    two = estimate([1.0, 3.0])
    assert two.interval is not None and two.n_runs == 2
    _, low, high = bootstrap_ci([1.0, 3.0])
    assert np.isfinite(low) and np.isfinite(high)
    pair = aggregate_curves([([0, 10], [1.0, 2.0]), ([0, 10], [3.0, 4.0])])
    assert pair.has_band and pair.note() == "IQM of 2 runs, band = 95% bootstrap CI over runs"
    one = aggregate_curves([([0, 10], [1.0, 2.0])], "mean", 3)
    assert (one.x.tolist(), one.center.tolist(), one.has_band) == (
        [0.0, 5.0, 10.0],
        [1.0, 1.5, 2.0],
        False,
    )
    assert (one.statistic, one.confidence, one.note()) == ("mean", 0.95, "1 run: no band")
    # A matrix of one run: the NaN band has the shape of the points.
    _, low, high = bootstrap_ci(np.ones((1, 4)))
    assert low.shape == high.shape == (4,) and np.isnan(low).all()
    _, low, high = bootstrap_ci(np.ones((0, 4)))
    assert low.shape == (4,)


def test_no_shared_steps_or_no_runs_give_an_empty_aggregate_that_keeps_its_settings() -> None:
    apart = aggregate_curves([([0, 10], [1.0, 2.0]), ([20, 30], [3.0, 4.0])], "mean")
    assert (apart.x.size, apart.center.size, apart.low, apart.high) == (0, 0, None, None)
    assert (apart.n_runs, apart.statistic, apart.confidence) == (2, "mean", 0.95)
    for nothing in ([], [blocks([], [])], [blocks([10], [NAN])]):
        agg = aggregate_eval(nothing, "mean", confidence=0.5)
        assert (agg.x.size, agg.center.size, agg.low, agg.n_runs) == (0, 0, None, 0)
        assert (agg.statistic, agg.confidence, agg.note()) == ("mean", 0.5, "no runs with data")
    grid, matrix = align_on_grid([([0, 1], [NAN, NAN])])
    assert (grid.shape, matrix.shape) == ((0,), (0, 0))
    one = aggregate_eval([blocks([10, 20], [1.0, 2.0])], "mean")
    assert (one.x.tolist(), one.center.tolist(), one.n_runs) == ([10.0, 20.0], [1.0, 2.0], 1)


def test_smallest_settings_allowed() -> None:
    _, low, high = bootstrap_ci([1.0, 2.0, 3.0], "mean", n_boot=1)
    assert float(low) == float(high)  # one resample: its mean at both ends
    grid, _ = align_on_grid([([0, 10], [1.0, 2.0])], 2)
    assert grid.tolist() == [0.0, 10.0]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: bootstrap_ci(np.ones((2, 2, 2))), "runs or runs x points, got shape (2, 2, 2)"),
        (lambda: bootstrap_ci([1.0, 2.0], confidence=0.0), "confidence must be in (0, 1), got 0.0"),
        (lambda: bootstrap_ci([1.0, 2.0], n_boot=0), "n_boot must be >= 1, got 0"),
        (lambda: align_on_grid([], 1), "n_points must be >= 2, got 1"),
        (
            lambda: align_on_grid([([0, 1, 2], [1.0, 2.0])]),
            "steps and values of one length, got (3,)",
        ),
        (lambda: steps_to_threshold([0, 1], [1.0], 0.5), "steps (2,) and values (1,) differ"),
        (
            lambda: normalized_auc(
                [0, 1],
                [1.0],
            ),
            "steps (2,) and values (1,) differ",
        ),
        (lambda: statistic_of([1.0], "median"), "unknown statistic 'median': use 'iqm' or 'mean'"),  # type: ignore[arg-type]
    ],
)
def test_bad_arguments_are_refused_saying_what_is_wrong(call: Any, message: str) -> None:
    with pytest.raises(ValueError) as info:
        call()
    assert message in str(info.value)


def test_normalized_auc_weights_by_step_even_over_a_short_span() -> None:
    assert normalized_auc([0.0, 0.5, 1.0], [0.0, 0.0, 1.0]) == 0.25


def test_one_resample_gives_a_band_of_zero_width_everywhere() -> None:
    # n_boot reaches the bootstrap: one resample is one statistic, at both ends of the band.
    got = estimate([3.0, 1.0, 4.0, 1.0, 5.0], "mean", n_boot=1)
    assert got.interval is not None and got.interval.low == got.interval.high
    curves = [([0, 10], [v, v + 1.0]) for v in (3.0, 1.0, 4.0)]
    agg = aggregate_curves(curves, "mean", 3, n_boot=1)
    assert agg.low is not None and agg.high is not None
    assert agg.low.tolist() == agg.high.tolist()
    one = aggregate_curves(curves[:1], "mean", 3, confidence=0.5)
    assert (one.n_runs, one.confidence) == (1, 0.5)


def test_aggregate_eval_takes_the_first_block_of_a_repeated_step() -> None:
    agg = aggregate_eval([blocks([10, 10, 20], [1.0, 5.0, 2.0])], "mean")
    assert (agg.x.tolist(), agg.center.tolist()) == ([10.0, 20.0], [1.0, 2.0])
