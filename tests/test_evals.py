"""Eval blocks from an eval frame, and the best block (when best.mpk was written)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from runlog.analysis.evals import BLOCK_COLUMNS, EvalBlock, best_block, eval_blocks


def eval_frame(rows: list[tuple[int, float]]) -> pd.DataFrame:
    """A frame shaped like EpisodeLog(path, "eval").frame, from (step, reward) pairs."""
    return pd.DataFrame(
        {
            "episode": np.arange(len(rows), dtype=np.int64),
            "step": np.array([s for s, _ in rows], dtype=np.int64),
            "reward": np.array([r for _, r in rows], dtype=np.float64),
            "length": np.full(len(rows), 10, dtype=np.int64),
            "status": ["Truncated"] * len(rows),
        }
    )


def test_blocks_group_episodes_by_step() -> None:
    frame = eval_frame([(100, 1.0), (100, 2.0), (100, 6.0), (200, 4.0), (200, 8.0)])
    blocks = eval_blocks(frame)
    assert list(blocks.columns) == list(BLOCK_COLUMNS)
    assert blocks["step"].tolist() == [100, 200]
    assert blocks["n"].tolist() == [3, 2]
    assert blocks["mean"].tolist() == [3.0, 6.0]
    # sample std (ddof=1): [1, 2, 6] -> deviations -2, -1, 3 -> 14 / 2 = 7
    assert blocks["std"].tolist() == pytest.approx([math.sqrt(7.0), math.sqrt(8.0)])
    assert blocks["min"].tolist() == [1.0, 4.0]
    assert blocks["max"].tolist() == [6.0, 8.0]
    assert blocks["median"].tolist() == [2.0, 6.0]
    assert blocks["n_null"].tolist() == [0, 0]


def test_single_episode_block_has_zero_std() -> None:
    blocks = eval_blocks(eval_frame([(50, 7.5)]))
    assert blocks["std"].tolist() == [0.0]
    assert blocks["median"].tolist() == [7.5]


def test_blocks_are_sorted_by_step() -> None:
    blocks = eval_blocks(eval_frame([(300, 1.0), (100, 2.0), (200, 3.0)]))
    assert blocks["step"].tolist() == [100, 200, 300]
    assert blocks["mean"].tolist() == [2.0, 3.0, 1.0]


def test_null_rewards_are_counted_but_not_averaged() -> None:
    blocks = eval_blocks(eval_frame([(10, 2.0), (10, math.nan), (10, 4.0), (20, math.nan)]))
    assert blocks["n"].tolist() == [3, 1]
    assert blocks["n_null"].tolist() == [1, 1]
    assert blocks["mean"].iloc[0] == 3.0
    assert blocks["std"].iloc[0] == pytest.approx(math.sqrt(2.0))
    assert math.isnan(blocks["mean"].iloc[1])
    assert math.isnan(blocks["std"].iloc[1])


def test_empty_frame_gives_empty_blocks_and_no_best() -> None:
    blocks = eval_blocks(eval_frame([]))
    assert list(blocks.columns) == list(BLOCK_COLUMNS)
    assert len(blocks) == 0
    assert best_block(blocks) is None


def test_best_is_first_block_with_highest_mean() -> None:
    frame = eval_frame([(10, 1.0), (20, 5.0), (20, 7.0), (30, 6.0), (40, 3.0)])
    best = best_block(eval_blocks(frame))
    # blocks 20 and 30 both have mean 6; best.mpk was written at 20 and not at 30 (not >).
    assert best == EvalBlock(
        step=20, n=2, mean=6.0, std=math.sqrt(2.0), min=5.0, max=7.0, median=6.0, n_null=0
    )


def test_block_with_null_reward_is_never_best() -> None:
    # Block 20 averages 100 over its finite rewards, but the trainer's mean was NaN.
    frame = eval_frame([(10, 3.0), (20, 100.0), (20, math.nan), (30, 4.0)])
    best = best_block(eval_blocks(frame))
    assert best is not None
    assert best.step == 30
    assert best.mean == 4.0


def test_no_best_when_every_block_has_nulls() -> None:
    assert best_block(eval_blocks(eval_frame([(10, math.nan), (20, math.nan)]))) is None


def test_negative_rewards_pick_the_least_negative() -> None:
    frame = eval_frame([(10, -200.0), (20, -150.0), (30, -180.0)])
    best = best_block(eval_blocks(frame))
    assert best is not None
    assert (best.step, best.mean) == (20, -150.0)
