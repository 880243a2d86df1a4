"""runlog.read.activity: when a run last wrote, and live / stalled / finished from that.

A fresh copy of sample_runs/ (what a clone gives: every file time is the checkout's) must
read finished at once, and a run that is being written must still read live.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from runlog.format.layout import EVAL_LOG, METADATA_FILE, TRAIN_LOG
from runlog.format.metadata import read_metadata_file
from runlog.format.records import EpisodeRecord, encode_episode_line
from runlog.format.run import TrainingRun
from runlog.prune import plan_prune_tree
from runlog.read.activity import (
    COPY_SPREAD,
    DEFAULT_STALL_WINDOW,
    RunState,
    classify,
    last_activity,
    last_write,
    updated_at,
)
from runlog.read.catalog import scan_runs

SAMPLES = Path(__file__).resolve().parent.parent / "sample_runs"


def touch_all(root: Path, moment: float) -> None:
    """Every file and directory under `root` written at `moment`, as a checkout leaves them."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            os.utime(Path(dirpath) / name, (moment, moment), follow_symlinks=False)
    os.utime(root, (moment, moment))


@pytest.fixture
def fresh_samples(tmp_path: Path) -> tuple[Path, float]:
    """A copy of sample_runs/ whose files were all just touched, and that moment."""
    root = tmp_path / "runs"
    shutil.copytree(SAMPLES, root, symlinks=True)
    now = time.time()
    touch_all(root, now)
    return root, now


def test_a_fresh_copy_of_the_samples_reads_finished(fresh_samples: tuple[Path, float]) -> None:
    root, now = fresh_samples
    summaries = scan_runs(root, now=now)
    assert len(summaries) == len(list(root.glob("*/*/*/metadata.json"))) > 0
    for s in summaries:
        assert s.state is RunState.FINISHED, s.rel
        # The last write is the trainer's own stamp, not the checkout's file time.
        assert s.last_write == updated_at(s.metadata) < now - DEFAULT_STALL_WINDOW
        assert last_write(s.path) == s.last_write  # prune's live check agrees


def test_pruning_a_fresh_copy_skips_no_run_as_live(fresh_samples: tuple[Path, float]) -> None:
    root, now = fresh_samples
    plans = plan_prune_tree(root, 3, include_live=False, now=now)
    assert plans and [p.skipped_reason for p in plans] == [None] * len(plans)


def test_a_copied_run_that_trains_again_reads_live(fresh_samples: tuple[Path, float]) -> None:
    root, now = fresh_samples
    copied = now - 300  # the clone, five minutes ago
    touch_all(root, copied)
    run = root / "cartpole" / "v1" / "20260321_100007"
    with open(run / TRAIN_LOG, "a", encoding="utf-8") as log:  # a trainer appends an episode
        log.write(encode_episode_line(EpisodeRecord(42.0, 42, "Terminated")))
    os.utime(run / TRAIN_LOG, (now, now))
    by_rel = {s.rel: s for s in scan_runs(root, now=now)}
    assert by_rel["cartpole/v1/20260321_100007"].state is RunState.LIVE
    assert by_rel["cartpole/v1/20260321_100007"].last_write == now
    assert by_rel["cartpole/v1/20260321_100624"].state is RunState.FINISHED


def test_a_copied_run_resumed_by_the_crate_reads_live(fresh_samples: tuple[Path, float]) -> None:
    root, _ = fresh_samples
    run = TrainingRun.resume(root / "lunarlander" / "v2")  # rewrites metadata.json as it trains
    run.log_train_episode(EpisodeRecord(-12.5, 80, "Terminated"))
    run.update_metadata(300_000, 0)
    [summary] = [s for s in scan_runs(root) if s.path == run.dir]
    assert summary.state is RunState.LIVE


def test_a_run_being_written_reads_live(tmp_path: Path) -> None:
    run = TrainingRun.create("cartpole", "v1", tmp_path)
    run.log_train_episode(EpisodeRecord(23.0, 23, "Terminated"))
    [summary] = scan_runs(tmp_path)
    assert summary.state is RunState.LIVE
    run.update_metadata(23, 1)
    [summary] = scan_runs(tmp_path)
    assert summary.state is RunState.LIVE
    written = summary.last_write
    assert written is not None
    assert written == max(os.stat(run.dir / n).st_mtime for n in (TRAIN_LOG, METADATA_FILE))
    # It ages as usual: stalled, then finished.
    assert classify(written, written + 60) is RunState.STALLED
    assert classify(written, written + DEFAULT_STALL_WINDOW + 1) is RunState.FINISHED


# -- the rule on its own --------------------------------------------------------------------

T = 1_800_000_000.0


@pytest.mark.parametrize(
    "mtimes, last_updated, expected",
    [
        ({}, None, None),
        ({TRAIN_LOG: T}, None, T),  # no metadata.json: file times only
        ({TRAIN_LOG: T, METADATA_FILE: T - 5}, T - 5, T),  # written by its writer
        ({METADATA_FILE: T}, T - 100, T),  # a stamp 100 s off is within the stall window
        ({METADATA_FILE: T}, T + 3600, T),  # a stamp ahead of the file (cp -p, skewed clock)
        ({METADATA_FILE: T, TRAIN_LOG: T + 1, EVAL_LOG: T - 1}, T - 86400, T - 86400),  # copied
        ({METADATA_FILE: T, TRAIN_LOG: T + COPY_SPREAD + 1}, T - 86400, T + COPY_SPREAD + 1),
        ({METADATA_FILE: T, "config.json": T + 999}, T - 86400, T - 86400),  # not activity
    ],
)
def test_last_activity(
    mtimes: dict[str, float], last_updated: float | None, expected: float | None
) -> None:
    assert last_activity(mtimes, last_updated, stall_window=600) == expected


def test_a_metadata_json_without_a_timestamp_falls_back_to_file_times(tmp_path: Path) -> None:
    run = TrainingRun.create("cartpole", "v1", tmp_path).dir
    text = (run / METADATA_FILE).read_text(encoding="utf-8")
    stamp = read_metadata_file(run / METADATA_FILE).metadata
    assert stamp is not None
    (run / METADATA_FILE).write_text(text.replace(stamp.last_updated, "yesterday"))
    assert updated_at(read_metadata_file(run / METADATA_FILE).metadata) is None
    assert last_write(run) == os.stat(run / METADATA_FILE).st_mtime
