"""The compare view's tables: per run, per version (IQM + CI), and P(A beats B)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from runlog.analysis.compare import (
    PAIR_COLUMNS,
    RUN_COLUMNS,
    VERSION_COLUMNS,
    RunFrames,
    pairwise_improvement,
    run_summary,
    version_summary,
)

NAN = math.nan


def train_frame(rewards: list[float], lengths: list[int]) -> pd.DataFrame:
    """Shaped like EpisodeLog(path, "train").frame: step = running sum of length."""
    return pd.DataFrame(
        {
            "episode": np.arange(len(rewards), dtype=np.int64),
            "step": np.cumsum(np.array(lengths, dtype=np.int64)),
            "reward": np.array(rewards, dtype=np.float64),
            "length": np.array(lengths, dtype=np.int64),
            "status": ["Terminated"] * len(rewards),
        }
    )


def eval_frame(rows: list[tuple[int, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "episode": np.arange(len(rows), dtype=np.int64),
            "step": np.array([s for s, _ in rows], dtype=np.int64),
            "reward": np.array([r for _, r in rows], dtype=np.float64),
            "length": np.full(len(rows), 5, dtype=np.int64),
            "status": ["Truncated"] * len(rows),
        }
    )


RUN_A = RunFrames(
    run="cartpole/v1/20260101_000000",
    version="cartpole/v1",
    train=train_frame([0.0, 10.0, 20.0], [10, 10, 10]),
    evals=eval_frame([(10, 1.0), (10, 3.0), (20, 5.0), (30, 4.0), (30, 6.0)]),
)
RUN_B = RunFrames(
    run="cartpole/v1/20260102_000000",
    version="cartpole/v1",
    train=train_frame([5.0], [7]),
    evals=None,
)
RUN_C = RunFrames(
    run="cartpole/v2/20260103_000000",
    version="cartpole/v2",
    train=train_frame([NAN, 4.0], [5, 10]),
    evals=eval_frame([(10, 8.0)]),
)


def test_run_summary_hand_computed() -> None:
    table = run_summary([RUN_A, RUN_B, RUN_C], threshold=10.0, smoothing="none")
    assert list(table.columns) == list(RUN_COLUMNS)
    a, b, c = (table.iloc[i].to_dict() for i in range(3))
    assert a["run"] == "cartpole/v1/20260101_000000"
    assert (a["episodes"], a["env_steps"]) == (3, 30)
    assert a["final_train_reward_smoothed"] == 20.0
    # blocks: 10 -> mean 2, 20 -> 5, 30 -> 5; best is the FIRST block with mean 5
    assert (a["best_eval_mean"], a["best_eval_step"]) == (5.0, 20.0)
    assert (a["final_eval_mean"], a["final_eval_step"], a["eval_blocks"]) == (5.0, 30.0, 3)
    assert a["steps_to_threshold"] == 20.0
    # trapezoid (2+5)/2*10 + (5+5)/2*10 = 85 over span 20
    assert a["eval_auc_normalized"] == 4.25

    assert (b["episodes"], b["env_steps"], b["final_train_reward_smoothed"]) == (1, 7, 5.0)
    assert b["eval_blocks"] == 0
    for key in ("best_eval_mean", "best_eval_step", "final_eval_mean", "eval_auc_normalized"):
        assert math.isnan(b[key])
    assert math.isnan(b["steps_to_threshold"])  # 5 never reaches 10

    assert c["final_train_reward_smoothed"] == 4.0
    assert (c["best_eval_mean"], c["best_eval_step"], c["eval_auc_normalized"]) == (8.0, 10.0, 8.0)


def test_run_summary_smooths_the_full_train_series() -> None:
    # EMA weight 0.5 of [0, 10]: 0, then (0 + 5) / 0.75 = 20/3; threshold 6 reached at step 20
    run = RunFrames("x/v/r", "x/v", train_frame([0.0, 10.0], [10, 10]))
    table = run_summary([run], threshold=6.0, smoothing="ema", smoothing_param=0.5)
    assert table["final_train_reward_smoothed"].iloc[0] == pytest.approx(20.0 / 3.0)
    assert table["steps_to_threshold"].iloc[0] == 20.0
    window = run_summary([run], threshold=6.0, smoothing="window", smoothing_param=2)
    assert window["final_train_reward_smoothed"].iloc[0] == 5.0
    assert math.isnan(window["steps_to_threshold"].iloc[0])


def test_run_summary_without_threshold_or_runs() -> None:
    table = run_summary([RUN_A])
    assert math.isnan(table["steps_to_threshold"].iloc[0])
    empty = run_summary([])
    assert list(empty.columns) == list(RUN_COLUMNS) and len(empty) == 0
    started = run_summary([RunFrames("x/v/r", "x/v", train_frame([], []))])
    assert started["episodes"].iloc[0] == 0 and started["env_steps"].iloc[0] == 0
    assert math.isnan(started["final_train_reward_smoothed"].iloc[0])


def test_version_summary_counts_runs_with_a_value() -> None:
    table = run_summary([RUN_A, RUN_B, RUN_C], smoothing="none")
    summary = version_summary(
        table, metrics=["final_train_reward_smoothed", "best_eval_mean"], statistic="mean"
    )
    assert list(summary.columns) == list(VERSION_COLUMNS)
    assert summary[["version", "metric"]].values.tolist() == [
        ["cartpole/v1", "final_train_reward_smoothed"],
        ["cartpole/v1", "best_eval_mean"],
        ["cartpole/v2", "final_train_reward_smoothed"],
        ["cartpole/v2", "best_eval_mean"],
    ]
    v1_train = summary.iloc[0]
    assert (v1_train["n_runs"], v1_train["n_total"], v1_train["value"]) == (2, 2, 12.5)
    assert 5.0 <= v1_train["ci_low"] <= 12.5 <= v1_train["ci_high"] <= 20.0
    v1_best = summary.iloc[1]  # only run A has eval blocks: one value, no interval
    assert (v1_best["n_runs"], v1_best["n_total"], v1_best["value"]) == (1, 2, 5.0)
    assert math.isnan(v1_best["ci_low"]) and math.isnan(v1_best["ci_high"])
    assert summary.iloc[3]["value"] == 8.0


def test_version_summary_iqm_is_robust_to_an_outlier_run() -> None:
    table = pd.DataFrame({"version": ["v"] * 4, "final_eval_mean": [1.0, 2.0, 3.0, 1000.0]})
    summary = version_summary(table, metrics=["final_eval_mean"], n_boot=300)
    assert summary["value"].tolist() == [2.5]  # IQM trims 1 and 1000
    assert summary["statistic"].tolist() == ["iqm"]


def test_version_interval_does_not_depend_on_other_versions() -> None:
    alone = pd.DataFrame({"version": ["a"] * 5, "m": [1.0, 4.0, 2.0, 8.0, 5.0]})
    both = pd.concat([alone, pd.DataFrame({"version": ["b"] * 3, "m": [0.0, 9.0, 3.0]})])
    first = version_summary(alone, metrics=["m"], n_boot=500).iloc[0]
    again = version_summary(both, metrics=["m"], n_boot=500).iloc[0]
    assert (first["ci_low"], first["ci_high"]) == (again["ci_low"], again["ci_high"])


def test_pairwise_improvement_hand_computed() -> None:
    table = pd.DataFrame(
        {
            "version": ["x", "x", "x", "y", "y", "z"],
            "final_eval_mean": [1.0, 2.0, 3.0, 2.0, 2.0, NAN],
        }
    )
    pairs = pairwise_improvement(table)
    assert list(pairs.columns) == list(PAIR_COLUMNS)
    by_pair = {(r.version_a, r.version_b): r for r in pairs.itertuples()}
    assert list(by_pair) == [("x", "y"), ("x", "z"), ("y", "x"), ("y", "z"), ("z", "x"), ("z", "y")]
    # x vs y: 1 loses twice; 2 ties twice (1/2 each); 3 wins twice -> (0 + 1 + 2) / 6
    assert by_pair[("x", "y")].p_a_beats_b == 0.5
    assert by_pair[("y", "x")].p_a_beats_b == 0.5
    assert (by_pair[("x", "y")].n_a, by_pair[("x", "y")].n_b) == (3, 2)
    assert by_pair[("x", "z")].n_b == 0
    assert math.isnan(by_pair[("x", "z")].p_a_beats_b)


def test_pairwise_improvement_on_run_summary() -> None:
    table = run_summary([RUN_A, RUN_B, RUN_C])
    pairs = pairwise_improvement(table, metric="best_eval_mean")
    assert pairs[["version_a", "version_b", "p_a_beats_b"]].values.tolist() == [
        ["cartpole/v1", "cartpole/v2", 0.0],
        ["cartpole/v2", "cartpole/v1", 1.0],
    ]
