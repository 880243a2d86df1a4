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

import itertools
import math
from array import array
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from runlog.record import record

if TYPE_CHECKING:
    import pandas as pd

BLOCK_COLUMNS = ("step", "n", "mean", "std", "min", "max", "median", "n_null")


@record
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

    @property
    def eligible(self) -> bool:
        """Could best.mpk have been written at this block (no null reward, a finite mean)?"""
        return self.n_null == 0 and math.isfinite(self.mean)


def _block(step: int, values: Iterable[float]) -> EvalBlock:
    """The statistics of one block's rewards (NaN for a null one)."""
    rewards = list(values)
    finite = sorted(v for v in rewards if math.isfinite(v))
    n_finite = len(finite)
    if n_finite == 0:
        nan = math.nan
        return EvalBlock(step, len(rewards), nan, nan, nan, nan, nan, len(rewards))
    mean = _mean(finite)
    # ddof=1 is undefined for one value; a single episode has no spread, so say 0.0.
    std = _std(finite, mean) if n_finite > 1 else 0.0
    middle = n_finite // 2
    median = finite[middle] if n_finite % 2 else (finite[middle - 1] + finite[middle]) / 2
    return EvalBlock(
        step=step,
        n=len(rewards),
        mean=mean,
        std=std,
        min=finite[0],
        max=finite[-1],
        median=median,
        n_null=len(rewards) - n_finite,
    )


def _mean(finite: list[float]) -> float:
    try:
        return math.fsum(finite) / len(finite)
    except OverflowError:
        # A sum beyond the float range (rewards near 1e308): the mean itself is not.
        scale = max(abs(finite[0]), abs(finite[-1]))
        return scale * (math.fsum(x / scale for x in finite) / len(finite))


def _std(finite: list[float], mean: float) -> float:
    try:
        return math.sqrt(math.fsum((x - mean) ** 2 for x in finite) / (len(finite) - 1))
    except OverflowError:
        # Squares beyond the float range: the same sum, scaled down (inf if it must be).
        scale = max(abs(x - mean) for x in finite)
        if not math.isfinite(scale):
            return math.inf
        spread = math.fsum(((x - mean) / scale) ** 2 for x in finite) / (len(finite) - 1)
        return scale * math.sqrt(spread)


def pick_best(blocks: Iterable[EvalBlock]) -> EvalBlock | None:
    """The first block in step order with the highest mean among the eligible ones."""
    best: EvalBlock | None = None
    for block in sorted(blocks, key=lambda b: b.step):
        # Strictly greater: the trainer only rewrites best.mpk on a strictly greater mean.
        if block.eligible and (best is None or block.mean > best.mean):
            best = block
    return best


class EvalBlocks:
    """Eval blocks built up as eval episodes arrive: `add` costs what the new episodes cost,
    and only the blocks they touched are summarised again. Keeps 8 bytes per eval episode."""

    def __init__(self) -> None:
        self._values: dict[int, array[float]] = {}
        self._stats: dict[int, EvalBlock] = {}
        self._best: EvalBlock | None = None
        self._best_known = True
        self.episodes = 0

    def __len__(self) -> int:
        return len(self._values)

    def add(self, steps: npt.ArrayLike, rewards: npt.ArrayLike) -> None:
        """Take in eval episodes: `steps` (total_steps_at_eval) and `rewards` (NaN: null)."""
        step_array = np.asarray(steps, dtype=np.int64)
        reward_array = np.asarray(rewards, dtype=np.float64)
        if len(step_array) == 0:
            return
        # Consecutive episodes of one block are taken in one go.
        cuts = np.flatnonzero(step_array[1:] != step_array[:-1]) + 1
        bounds = [0, *cuts.tolist(), len(step_array)]
        for lo, hi in itertools.pairwise(bounds):
            step = int(step_array[lo])
            values = self._values.get(step)
            if values is None:
                values = self._values[step] = array("d")
            values.extend(reward_array[lo:hi].tolist())
            self._stats.pop(step, None)
        self.episodes += len(step_array)
        self._best_known = False

    def block(self, step: int) -> EvalBlock:
        """The statistics of the block at `step` (KeyError if there is none)."""
        stats = self._stats.get(step)
        if stats is None:
            stats = self._stats[step] = _block(step, self._values[step])
        return stats

    def blocks(self) -> list[EvalBlock]:
        """Every block, sorted by step."""
        return [self.block(step) for step in sorted(self._values)]

    def best(self) -> EvalBlock | None:
        """When best.mpk was written: see `pick_best`."""
        if not self._best_known:
            self._best = pick_best(self.block(step) for step in self._values)
            self._best_known = True
        return self._best

    def last(self) -> EvalBlock | None:
        """The block at the highest step (the final eval so far), or None."""
        return self.block(max(self._values)) if self._values else None

    def table(self) -> pd.DataFrame:
        """One row per block (columns `BLOCK_COLUMNS`), sorted by step."""
        return blocks_frame(self.blocks())


def blocks_frame(blocks: Iterable[EvalBlock]) -> pd.DataFrame:
    """Blocks as a table with the columns `BLOCK_COLUMNS` and their dtypes."""
    import pandas as pd

    rows = list(blocks)
    frame = pd.DataFrame(
        {
            "step": np.array([b.step for b in rows], dtype=np.int64),
            "n": np.array([b.n for b in rows], dtype=np.int64),
            "mean": np.array([b.mean for b in rows], dtype=np.float64),
            "std": np.array([b.std for b in rows], dtype=np.float64),
            "min": np.array([b.min for b in rows], dtype=np.float64),
            "max": np.array([b.max for b in rows], dtype=np.float64),
            "median": np.array([b.median for b in rows], dtype=np.float64),
            "n_null": np.array([b.n_null for b in rows], dtype=np.int64),
        }
    )
    return frame.loc[:, list(BLOCK_COLUMNS)]


def eval_blocks(eval_frame: pd.DataFrame) -> pd.DataFrame:
    """One row per eval block (columns `BLOCK_COLUMNS`), sorted by step; empty frame -> no rows.

    Rows are grouped by `step` (total_steps_at_eval); `eval_frame` needs `step` and `reward`.
    """
    blocks = EvalBlocks()
    if not eval_frame.empty:
        blocks.add(eval_frame["step"].to_numpy(dtype=np.int64), eval_frame["reward"].to_numpy())
    return blocks.table()


def best_block(blocks: pd.DataFrame) -> EvalBlock | None:
    """The first block (in step order) with the highest mean, i.e. when best.mpk was written.

    Blocks with a null reward or no finite mean are never best (see the module doc).
    None when no block qualifies (no blocks at all, or none with a finite mean).
    """
    if blocks.empty:
        return None
    n_null = (
        blocks["n_null"].to_numpy(dtype=np.int64)
        if "n_null" in blocks.columns
        else np.zeros(len(blocks), dtype=np.int64)
    )
    return pick_best(
        EvalBlock(
            step=int(step),
            n=int(n),
            mean=float(mean),
            std=float(std),
            min=float(lo),
            max=float(hi),
            median=float(median),
            n_null=int(nulls),
        )
        for step, n, mean, std, lo, hi, median, nulls in zip(
            blocks["step"],
            blocks["n"],
            blocks["mean"],
            blocks["std"],
            blocks["min"],
            blocks["max"],
            blocks["median"],
            n_null,
            strict=True,
        )
    )
