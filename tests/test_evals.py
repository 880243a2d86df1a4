"""Eval blocks from an eval frame, and the best block (when best.mpk was written)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from runlog.analysis.evals import BLOCK_COLUMNS, EvalBlock, EvalBlocks, best_block, eval_blocks


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


def test_rewards_near_the_float_limit_give_statistics_not_an_overflow() -> None:
    # Their sum and their squared deviations are beyond the float range: fsum raised
    # OverflowError, and a reader (a whole scan) failed on such an eval log.
    big = 1.5e308
    blocks = eval_blocks(eval_frame([(10, big), (10, big), (20, big), (20, -big), (30, 1.0)]))
    assert blocks["mean"].tolist() == [big, 0.0, 1.0]
    assert blocks["std"].iloc[0] == 0.0
    assert blocks["std"].iloc[1] == math.inf  # sqrt(2) * 1.5e308 is not a float
    assert blocks["max"].tolist() == [big, big, 1.0]
    best = best_block(eval_blocks(eval_frame([(10, big), (10, big), (20, 1.0)])))
    assert best is not None and best.step == 10
    spread = eval_blocks(eval_frame([(10, 1e308), (10, -1e308), (10, 0.0)]))
    assert spread["std"].iloc[0] == pytest.approx(1e308)  # sqrt((1 + 1 + 0) / 2) * 1e308


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


def test_median_of_an_even_block_averages_the_two_middle_rewards() -> None:
    frame = eval_frame([(10, 10.0), (10, 1.0), (10, 6.0), (10, 2.0), (20, 5.0), (20, 1.0)])
    frame = pd.concat([frame, eval_frame([(20, 9.0), (20, 7.0), (20, 3.0)])], ignore_index=True)
    blocks = eval_blocks(frame)
    assert blocks["median"].tolist() == [4.0, 5.0]  # (2 + 6) / 2; 1 3 [5] 7 9


def test_rows_of_one_step_are_one_block_even_when_apart() -> None:
    blocks = eval_blocks(eval_frame([(100, 1.0), (200, 5.0), (100, 3.0)]))
    assert blocks["step"].tolist() == [100, 200]
    assert blocks["n"].tolist() == [2, 1]
    assert blocks["mean"].tolist() == [2.0, 5.0]


def test_table_dtypes_hold_with_and_without_blocks() -> None:
    expected = {c: "int64" if c in ("step", "n", "n_null") else "float64" for c in BLOCK_COLUMNS}
    for rows in ([], [(10, 1.0), (10, math.nan)]):
        blocks = eval_blocks(eval_frame(rows))
        assert {c: str(t) for c, t in blocks.dtypes.items()} == expected


def test_best_of_a_table_without_n_null_treats_every_block_as_clean() -> None:
    frame = eval_blocks(eval_frame([(10, 1.0), (20, 5.0), (30, 2.0)])).drop(columns="n_null")
    best = best_block(frame)
    assert best is not None
    assert (best.step, best.mean, best.n_null) == (20, 5.0, 0)


def test_blocks_fed_in_pieces_match_one_call() -> None:
    rows = [(10, 1.0), (10, 2.0), (10, 6.0), (20, 4.0), (20, 8.0), (30, 9.0)]
    blocks = EvalBlocks()
    assert (len(blocks), blocks.episodes, blocks.best(), blocks.last()) == (0, 0, None, None)
    # Block 10 spans two reads (the trainer was mid-block); each read is summarised.
    for piece in (rows[:2], rows[2:4], rows[4:5], rows[5:]):
        blocks.add([s for s, _ in piece], [r for _, r in piece])
        seen = eval_blocks(eval_frame(rows[: blocks.episodes]))
        assert blocks.table().equals(seen)
        assert blocks.best() == best_block(seen)
    assert (len(blocks), blocks.episodes) == (3, len(rows))
    assert blocks.block(10) == EvalBlock(10, 3, 3.0, math.sqrt(7.0), 1.0, 6.0, 2.0)
    assert blocks.best() == blocks.last() == blocks.block(30)


def test_block_of_only_null_rewards_has_nan_statistics() -> None:
    blocks = EvalBlocks()
    blocks.add([20, 20], [math.nan, math.nan])
    block = blocks.block(20)
    assert (block.n, block.n_null, block.eligible) == (2, 2, False)
    for value in (block.mean, block.std, block.min, block.max, block.median):
        assert math.isnan(value)
    assert blocks.best() is None
