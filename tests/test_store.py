"""RunStore: one parse per change, shared by every tab, with frames that never change later."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import ClassVar

import pandas as pd
import pytest

import runlog.read.store
from runlog.errors import OutsideRootError
from runlog.format.layout import EVAL_LOG, TRAIN_LOG
from runlog.read.catalog import Catalog
from runlog.read.episodes import EpisodeLog
from runlog.read.store import LogSnapshot, RunStore, clear_stores, get_store

RUN = "cartpole/v1/20260322_120000"


def episode(reward: float, length: int = 10, **extras: float) -> str:
    body = ",".join(f'"{k}":{v}' for k, v in extras.items())
    return (
        f'{{"total_reward":{reward},"length":{length},"status":"Terminated","extras":{{{body}}}}}\n'
    )


def make_run(root: Path, key: str = RUN, episodes: int = 2) -> Path:
    run_dir = root / key
    run_dir.mkdir(parents=True)
    (run_dir / TRAIN_LOG).write_text("".join(episode(float(i)) for i in range(episodes)))
    return run_dir


def append(run_dir: Path, text: str, name: str = TRAIN_LOG) -> None:
    with open(run_dir / name, "a") as f:
        f.write(text)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "runs"


def test_appended_episodes_show_in_the_next_snapshot(root: Path) -> None:
    run_dir = make_run(root)
    store = RunStore(root)

    first = store.train(run_dir)
    append(run_dir, episode(7.0, epsilon=0.5))
    second = store.train(run_dir)

    assert list(first.frame["reward"]) == [0.0, 1.0]
    assert list(second.frame["reward"]) == [0.0, 1.0, 7.0]
    assert list(second.frame["step"]) == [10, 20, 30]
    assert second.extras_keys == ("epsilon",)
    assert second.version > first.version
    assert second.problem is None


def test_unchanged_file_is_not_read_again(root: Path) -> None:
    run_dir = make_run(root)
    store = RunStore(root)

    first = store.train(run_dir)
    reads = store.refresh_count
    again = store.train(run_dir)

    assert again is first
    assert store.refresh_count == reads


class SlowCountingLog(EpisodeLog):
    """An EpisodeLog that counts its refreshes and dawdles, so concurrent callers overlap."""

    refreshes = 0
    records_read: ClassVar[list[int]] = []

    def refresh(self) -> int:
        type(self).refreshes += 1
        time.sleep(0.05)
        added = super().refresh()
        type(self).records_read.append(added)
        return added


def test_five_tabs_at_once_cause_one_parse(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runlog.read.store, "EpisodeLog", SlowCountingLog)
    monkeypatch.setattr(SlowCountingLog, "refreshes", 0)
    monkeypatch.setattr(SlowCountingLog, "records_read", [])
    run_dir = make_run(root)
    store = RunStore(root)
    store.train(run_dir)
    append(run_dir, episode(5.0) + episode(6.0))

    tabs = 5
    barrier = threading.Barrier(tabs)
    seen: list[LogSnapshot] = []
    seen_lock = threading.Lock()

    def tab() -> None:
        barrier.wait()
        snapshot = store.train(run_dir)
        with seen_lock:
            seen.append(snapshot)

    threads = [threading.Thread(target=tab) for _ in range(tabs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert SlowCountingLog.refreshes == 2  # the first load, then ONE read of the appended bytes
    assert SlowCountingLog.records_read == [2, 2]
    assert len(seen) == tabs
    assert all(snapshot is seen[0] for snapshot in seen)
    assert list(seen[0].frame["reward"]) == [0.0, 1.0, 5.0, 6.0]


def test_snapshot_frames_never_change_after_later_refreshes(root: Path) -> None:
    run_dir = make_run(root, episodes=3)
    store = RunStore(root)
    first = store.train(run_dir)
    kept = first.frame.copy(deep=True)

    # Enough appends to make the reader grow its buffers, and a new extras key.
    append(run_dir, "".join(episode(100.0 + i, loss_mean=0.1) for i in range(3000)))
    later = store.train(run_dir)

    pd.testing.assert_frame_equal(first.frame, kept)
    assert len(later.frame) == 3003
    assert "extras.loss_mean" in later.frame.columns
    assert "extras.loss_mean" not in first.frame.columns


def test_editing_a_snapshot_copy_leaves_the_cache_alone(root: Path) -> None:
    run_dir = make_run(root)
    store = RunStore(root)
    edited = store.train(run_dir).frame.copy()
    edited.loc[0, "reward"] = -999.0

    append(run_dir, episode(2.0))
    assert list(store.train(run_dir).frame["reward"]) == [0.0, 1.0, 2.0]


def test_half_written_last_line_is_not_a_new_version(root: Path) -> None:
    run_dir = make_run(root)
    store = RunStore(root)
    first = store.train(run_dir)

    line = episode(3.0)
    append(run_dir, line[:20])  # FORMAT.md: not data until its newline arrives
    assert store.train(run_dir) is first

    append(run_dir, line[20:])
    done = store.train(run_dir)
    assert done.version > first.version
    assert list(done.frame["reward"]) == [0.0, 1.0, 3.0]


def test_bad_lines_are_counted_not_fatal(root: Path) -> None:
    run_dir = make_run(root)
    store = RunStore(root)
    append(run_dir, "{not json\n" + episode(4.0))

    snapshot = store.train(run_dir)
    assert snapshot.bad_lines == (3,)
    assert list(snapshot.frame["reward"]) == [0.0, 1.0, 4.0]


def test_missing_logs(root: Path) -> None:
    run_dir = root / RUN
    run_dir.mkdir(parents=True)
    store = RunStore(root)

    train = store.train(run_dir)
    assert len(train.frame) == 0
    assert "reward" in train.frame.columns
    assert train.problem is not None
    assert TRAIN_LOG in train.problem

    no_eval = store.eval(run_dir)  # FORMAT.md: no eval yet is normal
    assert len(no_eval.frame) == 0
    assert no_eval.problem is None
    assert store.eval(run_dir) is no_eval

    append(run_dir, '{"total_steps_at_eval":1000,' + episode(9.0)[1:], name=EVAL_LOG)
    evals = store.eval(run_dir)
    assert list(evals.frame["step"]) == [1000]
    assert evals.version > no_eval.version


def test_replaced_log_is_read_from_the_start(root: Path) -> None:
    run_dir = make_run(root, episodes=5)
    store = RunStore(root)
    assert len(store.train(run_dir).frame) == 5

    tmp = run_dir / "train.tmp"
    tmp.write_text(episode(42.0))
    os.replace(tmp, run_dir / TRAIN_LOG)

    assert list(store.train(run_dir).frame["reward"]) == [42.0]


def test_least_recently_used_runs_are_evicted(root: Path) -> None:
    runs = [make_run(root, f"cartpole/v1/2026032{i}_120000") for i in range(3)]
    store = RunStore(root, max_runs=2)

    store.train(runs[0])
    store.train(runs[1])
    store.train(runs[0])  # runs[0] is now the most recently used
    store.train(runs[2])  # evicts runs[1]
    assert len(store) == 2

    reads = store.refresh_count
    store.train(runs[0])
    assert store.refresh_count == reads  # still cached
    store.train(runs[1])
    assert store.refresh_count == reads + 1  # evicted: read again


def test_versions_are_not_reused_after_eviction(root: Path) -> None:
    run_dir = make_run(root)
    store = RunStore(root)
    before = store.train(run_dir)
    store.forget(run_dir)
    after = store.train(run_dir)
    assert after is not before
    assert after.version > before.version


def test_forget_drops_the_run(root: Path) -> None:
    run_dir = make_run(root)
    store = RunStore(root)
    store.train(run_dir)
    store.forget(run_dir)
    assert len(store) == 0


def test_runs_outside_the_root_are_refused(root: Path, tmp_path: Path) -> None:
    make_run(root)
    elsewhere = make_run(tmp_path / "elsewhere")
    store = RunStore(root)
    with pytest.raises(OutsideRootError):
        store.train(elsewhere)
    with pytest.raises(OutsideRootError):
        store.train(root / RUN / ".." / ".." / ".." / ".." / "elsewhere" / RUN)


def test_one_store_per_root(root: Path) -> None:
    make_run(root)
    try:
        store = get_store(root)
        assert get_store(root / "cartpole" / "..") is store
        assert get_store(root) is store
    finally:
        clear_stores()
    assert get_store(root) is not store
    clear_stores()


def test_a_store_on_a_catalogs_readers_parses_each_log_once(root: Path) -> None:
    run_dir = make_run(root, episodes=3)
    catalog = Catalog(root)
    store = RunStore(root, readers=catalog.episode_logs)

    assert catalog.scan()[0].train_episodes == 3
    reader, _eval = catalog.episode_logs(run_dir)
    offset = reader.offset
    snapshot = store.train(run_dir)  # the catalog already read every byte: nothing new here
    assert reader.offset == offset == (run_dir / TRAIN_LOG).stat().st_size
    assert list(snapshot.frame["reward"]) == [0.0, 1.0, 2.0]

    append(run_dir, episode(9.0, epsilon=0.1))
    assert list(store.train(run_dir).frame["reward"]) == [0.0, 1.0, 2.0, 9.0]
    summary = catalog.summary(run_dir)  # read by the store, counted by the catalog
    assert (summary.train_episodes, summary.last_reward, summary.total_steps) == (4, 9.0, 40)
