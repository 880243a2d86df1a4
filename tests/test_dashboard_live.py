"""dashboard.live.runs_changed: the poll of a page that follows runs (run view, compare).

A finished run is still polled (it may resume), so the poll must stay cheap: with the
watcher watching, it is one stat of the root and a look at in-memory counters.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dashboard.live import runs_changed
from runlog.format.layout import METADATA_FILE, TRAIN_LOG
from runlog.read.watch import get_watcher, stop_all_watchers

pytestmark = pytest.mark.filterwarnings("ignore:Callback with id :RuntimeWarning")

LINE = '{"total_reward":23.0,"length":23,"status":"Terminated","extras":{}}\n'
A = "cartpole/v1/20260322_120000"
B = "cartpole/v1/20260322_130000"


@pytest.fixture(autouse=True)
def _stop_watchers() -> Iterator[None]:
    yield
    stop_all_watchers()


def make_run(root: Path, rel: str) -> Path:
    run_dir = root / rel
    run_dir.mkdir(parents=True)
    (run_dir / METADATA_FILE).write_text("{}")
    (run_dir / TRAIN_LOG).write_text(LINE)
    return run_dir


def poll_until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"no change seen within {timeout} s")
        time.sleep(0.02)


def test_a_quiet_run_costs_one_stat_of_the_root_per_poll(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "runs"
    make_run(root, A)
    watcher = get_watcher(root)
    assert watcher.ensure_alive()
    cursor = watcher.cursor()

    stats: list[str] = []
    real_stat = os.stat
    me = threading.get_ident()

    def counting_stat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        if threading.get_ident() == me:  # not the observer's own thread
            stats.append(os.fspath(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", counting_stat)
    for _ in range(20):
        cursor, changed = runs_changed(watcher, cursor, (A,))
        assert not changed
    monkeypatch.undo()
    assert stats == [str(root)] * 20  # no file of the run is touched


def test_a_write_to_a_followed_run_is_a_change_once(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    run_a = make_run(root, A)
    make_run(root, B)
    watcher = get_watcher(root)
    assert watcher.ensure_alive()
    start = watcher.cursor()

    with open(run_a / TRAIN_LOG, "a") as log:
        log.write(LINE)
    seen: dict[str, Any] = {}

    def a_changed() -> bool:
        seen["cursor"], changed = runs_changed(watcher, start, (A,))
        return changed

    poll_until(a_changed)
    assert runs_changed(watcher, start, (B,)) == (seen["cursor"], False)  # not B's change
    assert runs_changed(watcher, seen["cursor"], (A,)) == (seen["cursor"], False)  # seen once


def test_a_new_run_is_a_change_for_every_page(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    make_run(root, A)
    watcher = get_watcher(root)
    assert watcher.ensure_alive()
    start = watcher.cursor()
    make_run(root, B)
    poll_until(lambda: runs_changed(watcher, start, ())[1])  # e.g. a version gained a seed


def test_without_a_watcher_every_poll_is_a_change(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    make_run(root, A)
    watcher = get_watcher(root)
    watcher.stop()  # or: the root is gone, the inotify limit is reached
    cursor = watcher.cursor()
    assert runs_changed(watcher, cursor, (A,)) == (cursor, True)
