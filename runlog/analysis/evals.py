"""Eval blocks: the episodes that share one `total_steps_at_eval`, summarised.

An eval frame (`EpisodeLog(path, "eval").frame`) holds one row per eval episode;
evaluation runs in blocks, so several consecutive rows share one `step`:

    step   reward            ->   step  n  mean   std  min  max  median  n_null
    10000  500.0                  10000 2  450.0  ...
    10000  400.0                  20000 1  500.0  0.0  ...
    20000  500.0

Choices (one line each, so the UI can say them):
- `std` is the sample standard deviation (ddof=1); a block with one finite reward has std 0.0.
- A null reward (non-finite in the trainer, `null` on disk, NaN in the frame) is counted in
  `n` and in `n_null` but left out of mean/std/min/max/median, which describe the finite
  rewards (NaN when there are none).
- The trainer's own mean of such a block was NaN (or inf), which never compared strictly
  greater, so `best_block` never picks a block with `n_null > 0`; this keeps "best" equal to
  the block at which best.mpk was written (a +inf reward is also written as null, so that
  rare case cannot be reconstructed from the file).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

BLOCK_COLUMNS = ("step", "n", "mean", "std", "min", "max", "median", "n_null")


@dataclass(frozen=True)
class EvalBlock:
    """One eval block: the episodes evaluated at env step `step`."""

    step: int
    n: int
    mean: float
    std: float
    min: float
    max: float
    median: float
    n_null: int = 0


def _empty_blocks() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "step": pd.Series([], dtype="int64"),
            "n": pd.Series([], dtype="int64"),
            "mean": pd.Series([], dtype="float64"),
            "std": pd.Series([], dtype="float64"),
            "min": pd.Series([], dtype="float64"),
            "max": pd.Series([], dtype="float64"),
            "median": pd.Series([], dtype="float64"),
            "n_null": pd.Series([], dtype="int64"),
        }
    )


def eval_blocks(eval_frame: pd.DataFrame) -> pd.DataFrame:
    """One row per eval block (columns `BLOCK_COLUMNS`), sorted by step; empty frame -> no rows.

    Rows are grouped by `step` (total_steps_at_eval); `eval_frame` needs `step` and `reward`.
    """
    if eval_frame.empty:
        return _empty_blocks()
    steps = eval_frame["step"].to_numpy(dtype=np.int64)
    rewards = eval_frame["reward"].to_numpy(dtype=np.float64)
    finite = np.isfinite(rewards)
    data = pd.DataFrame({"step": steps, "reward": np.where(finite, rewards, np.nan)})
    # groupby sorts by step with a stable sort, so blocks keep file order within a step.
    grouped = data.groupby("step", sort=True)["reward"]
    out = pd.DataFrame(
        {
            "n": grouped.size(),
            "mean": grouped.mean(),
            "std": grouped.std(ddof=1),
            "min": grouped.min(),
            "max": grouped.max(),
            "median": grouped.median(),
            "n_finite": grouped.count(),
        }
    )
    # ddof=1 is undefined for one value; a single episode has no spread, so say 0.0.
    out.loc[out["n_finite"] == 1, "std"] = 0.0
    out["n_null"] = out["n"] - out["n_finite"]
    out = out.drop(columns="n_finite").reset_index()
    out["step"] = out["step"].astype("int64")
    out["n"] = out["n"].astype("int64")
    out["n_null"] = out["n_null"].astype("int64")
    return out.loc[:, list(BLOCK_COLUMNS)]


def best_block(blocks: pd.DataFrame) -> EvalBlock | None:
    """The first block (in step order) with the highest mean, i.e. when best.mpk was written.

    Blocks with a null reward or no finite mean are never best (see the module doc).
    None when no block qualifies (no blocks at all, or none with a finite mean).
    """
    if blocks.empty:
        return None
    ordered = blocks.sort_values("step", kind="stable")
    means = ordered["mean"].to_numpy(dtype=np.float64)
    n_null = (
        ordered["n_null"].to_numpy(dtype=np.int64)
        if "n_null" in ordered.columns
        else np.zeros(len(ordered), dtype=np.int64)
    )
    eligible = np.isfinite(means) & (n_null == 0)
    if not eligible.any():
        return None
    # argmax returns the first maximum: the trainer only rewrites on strictly greater.
    position = int(np.argmax(np.where(eligible, means, -np.inf)))
    row = ordered.iloc[position]
    return EvalBlock(
        step=int(row["step"]),
        n=int(row["n"]),
        mean=float(row["mean"]),
        std=float(row["std"]),
        min=float(row["min"]),
        max=float(row["max"]),
        median=float(row["median"]),
        n_null=int(n_null[position]),
    )
