"""The compare view's numbers, as DataFrames (they are also the CSV export). No UI here.

    RunInputs per run (or RunFrames, smoothed here) --run_summary--> one row per run
                      --version_summary--> per version and metric: IQM (or mean) + 95% CI
                      --pairwise_improvement--> P(version A beats version B)

Per-run values (columns of `run_summary`):
- final_train_reward_smoothed: the smoothed train reward (smoothing over the FULL series)
  at the last episode.
- best_eval_mean / best_eval_step: the first eval block with the highest mean, the block
  at which best.mpk was written (`evals.best_block`).
- final_eval_mean / final_eval_step: the last eval block.
- steps_to_threshold: the first env step at which the smoothed train reward reached the
  threshold; NaN when it never did or no threshold was given.
- eval_auc_normalized: area under the eval-mean curve over its step span = the average
  eval reward over training (`stats.normalized_auc`).
A value a run does not have (no eval yet, no episode yet) is NaN, and NaN values are left
out of the version statistics, which report how many runs had one (`n_runs`, of `n_total`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from runlog.analysis.curves import SmoothMethod, smooth
from runlog.analysis.evals import best_block, eval_blocks
from runlog.analysis.stats import Statistic, estimate, normalized_auc, probability_of_improvement
from runlog.analysis.stats import steps_to_threshold as first_step_at

RUN_COLUMNS = (
    "run",
    "version",
    "episodes",
    "env_steps",
    "final_train_reward_smoothed",
    "best_eval_mean",
    "best_eval_step",
    "final_eval_mean",
    "final_eval_step",
    "eval_blocks",
    "steps_to_threshold",
    "eval_auc_normalized",
)
METRICS = (
    "final_train_reward_smoothed",
    "best_eval_mean",
    "final_eval_mean",
    "steps_to_threshold",
    "eval_auc_normalized",
)
"""Per-run values that `version_summary` aggregates by default."""
VERSION_COLUMNS = (
    "version",
    "metric",
    "statistic",
    "n_runs",
    "n_total",
    "value",
    "ci_low",
    "ci_high",
)
PAIR_COLUMNS = ("version_a", "version_b", "metric", "n_a", "n_b", "p_a_beats_b")

_NAN = float("nan")


@dataclass(frozen=True, eq=False)
class RunFrames:
    """One run's frames for comparison: `EpisodeLog(..., "train").frame` and the eval frame.

    `run` is the run's path relative to the root ("name/version/run_id"); `version` is its
    "name/version" label, the group it is aggregated in. `evals` is None without eval log.
    """

    run: str
    version: str
    train: pd.DataFrame
    evals: pd.DataFrame | None = None


@dataclass(frozen=True, eq=False)
class RunInputs:
    """What `run_summary` needs of one run, already computed: the env step of every train
    episode, the train reward smoothed over every episode, and the eval blocks
    (`evals.eval_blocks`). The data provider hands these out from its caches."""

    run: str
    version: str
    steps: npt.NDArray[np.generic]
    smoothed: npt.NDArray[np.float64]
    blocks: pd.DataFrame


def inputs_of(run: RunFrames, method: SmoothMethod = "ema", param: float = 0.6) -> RunInputs:
    """A run's frames made into `RunInputs` (the train reward smoothed here)."""
    rewards = run.train["reward"].to_numpy(dtype=np.float64)
    return RunInputs(
        run=run.run,
        version=run.version,
        steps=run.train["step"].to_numpy(),
        smoothed=smooth(rewards, method, param),
        blocks=eval_blocks(run.evals if run.evals is not None else pd.DataFrame()),
    )


def _run_row(run: RunInputs, threshold: float | None) -> dict[str, object]:
    steps = np.asarray(run.steps, dtype=np.float64)
    smoothed = run.smoothed
    reached = first_step_at(steps, smoothed, threshold) if threshold is not None else None
    row: dict[str, object] = {
        "run": run.run,
        "version": run.version,
        "episodes": len(smoothed),
        "env_steps": int(steps[-1]) if len(steps) else 0,
        "final_train_reward_smoothed": float(smoothed[-1]) if len(smoothed) else _NAN,
        "steps_to_threshold": _NAN if reached is None else reached,
    }
    blocks = run.blocks
    best = best_block(blocks)
    row["best_eval_mean"] = best.mean if best is not None else _NAN
    row["best_eval_step"] = float(best.step) if best is not None else _NAN
    row["final_eval_mean"] = float(blocks["mean"].iloc[-1]) if len(blocks) else _NAN
    row["final_eval_step"] = float(blocks["step"].iloc[-1]) if len(blocks) else _NAN
    row["eval_blocks"] = len(blocks)
    row["eval_auc_normalized"] = normalized_auc(
        blocks["step"].to_numpy(dtype=np.float64), blocks["mean"].to_numpy(dtype=np.float64)
    )
    return row


def run_summary(
    runs: Sequence[RunFrames | RunInputs],
    *,
    threshold: float | None = None,
    smoothing: SmoothMethod = "ema",
    smoothing_param: float = 0.6,
) -> pd.DataFrame:
    """One row per run (columns `RUN_COLUMNS`, see the module doc), in the order given.

    For `RunFrames` the train reward is smoothed with `curves.smooth(rewards, smoothing,
    smoothing_param)` (default: EMA weight 0.6, TensorBoard's default) before taking its
    final value and the step at which it first reaches `threshold`; `RunInputs` come
    smoothed already.
    """
    rows = [
        _run_row(
            run if isinstance(run, RunInputs) else inputs_of(run, smoothing, smoothing_param),
            threshold,
        )
        for run in runs
    ]
    frame = pd.DataFrame(rows, columns=list(RUN_COLUMNS))
    frame["episodes"] = frame["episodes"].astype("int64")
    frame["env_steps"] = frame["env_steps"].astype("int64")
    frame["eval_blocks"] = frame["eval_blocks"].astype("int64")
    for column in RUN_COLUMNS:
        if column not in {"run", "version", "episodes", "env_steps", "eval_blocks"}:
            frame[column] = frame[column].astype("float64")
    return frame


def _versions(runs: pd.DataFrame) -> list[str]:
    """Version labels in order of first appearance."""
    return list(dict.fromkeys(runs["version"].tolist()))


def version_summary(
    runs: pd.DataFrame,
    *,
    metrics: Sequence[str] = METRICS,
    statistic: Statistic = "iqm",
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """Per version and metric of a `run_summary` table: the statistic over runs with its
    percentile-bootstrap CI (columns `VERSION_COLUMNS`, one row per version x metric).

    Runs are resampled within each version. Every version uses the same `seed`, so a
    version's interval does not change when another version is added to the comparison.
    ci_low/ci_high are NaN when fewer than 2 runs have the value.
    """
    rows: list[dict[str, object]] = []
    for version in _versions(runs):
        group = runs.loc[runs["version"] == version]
        for metric in metrics:
            result = estimate(
                group[metric].to_numpy(dtype=np.float64),
                statistic,
                confidence=confidence,
                n_boot=n_boot,
                seed=seed,
            )
            rows.append(
                {
                    "version": version,
                    "metric": metric,
                    "statistic": statistic,
                    "n_runs": result.n_runs,
                    "n_total": len(group),
                    "value": result.value,
                    "ci_low": result.interval.low if result.interval else _NAN,
                    "ci_high": result.interval.high if result.interval else _NAN,
                }
            )
    frame = pd.DataFrame(rows, columns=list(VERSION_COLUMNS))
    frame["n_runs"] = frame["n_runs"].astype("int64")
    frame["n_total"] = frame["n_total"].astype("int64")
    for column in ("value", "ci_low", "ci_high"):
        frame[column] = frame[column].astype("float64")
    return frame


def pairwise_improvement(runs: pd.DataFrame, *, metric: str = "final_eval_mean") -> pd.DataFrame:
    """P(A beats B) for each ordered pair of distinct versions of a `run_summary` table.

    p_a_beats_b is the share of (run of A, run of B) pairs where A's `metric` is higher, a
    tie counting 1/2 (`stats.probability_of_improvement`); runs without the value are left
    out (n_a, n_b say how many are in), and it is NaN when either side has none.
    """
    versions = _versions(runs)
    values = {
        version: runs.loc[runs["version"] == version, metric].to_numpy(dtype=np.float64)
        for version in versions
    }
    rows = [
        {
            "version_a": a,
            "version_b": b,
            "metric": metric,
            "n_a": int(np.isfinite(values[a]).sum()),
            "n_b": int(np.isfinite(values[b]).sum()),
            "p_a_beats_b": probability_of_improvement(values[a].tolist(), values[b].tolist()),
        }
        for a in versions
        for b in versions
        if a != b
    ]
    frame = pd.DataFrame(rows, columns=list(PAIR_COLUMNS))
    frame["n_a"] = frame["n_a"].astype("int64")
    frame["n_b"] = frame["n_b"].astype("int64")
    frame["p_a_beats_b"] = frame["p_a_beats_b"].astype("float64")
    return frame
