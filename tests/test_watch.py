"""RunWatcher: which runs changed, seen by every reader with its own cursor."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver
from watchdog.utils import BaseThread

from runlog.format.layout import METADATA_FILE, TRAIN_LOG
from runlog.read.mounts import network_filesystem
from runlog.read.watch import RunWatcher, get_watcher, stop_all_watchers, watch_mode

# runlog.read.watch silences this benign watchdog race at import, but pytest resets the warning
# filters after collection.
pytestmark = pytest.mark.filterwarnings("ignore:Callback with id :RuntimeWarning")

LINE = '{"total_reward":23.0,"length":23,"status":"Terminated","extras":{}}\n'
RUN_A = "cartpole/v1/20260322_120000"
RUN_B = "cartpole/v1/20260322_130000"
RUN_C = "cartpole/v2/20260323_090000"


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll until `predicate()` holds; fail after `timeout` seconds (never asserts on timing)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s: {predicate}")
        time.sleep(0.02)


def make_run(root: Path, key: str) -> Path:
    run_dir = root / key
    run_dir.mkdir(parents=True)
    (run_dir / METADATA_FILE).write_text("{}")
    (run_dir / TRAIN_LOG).write_text(LINE)
    return run_dir


def append(run_dir: Path) -> None:
    with open(run_dir / TRAIN_LOG, "a") as f:
        f.write(LINE)


def changed_after(watcher: RunWatcher, cursor: int) -> set[str]:
    return watcher.changes_since(cursor)[1]


def watchdog_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if isinstance(t, BaseThread) and t.is_alive()]


def observer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if isinstance(t, BaseObserver) and t.is_alive()]


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    yield
    stop_all_watchers()
    assert watchdog_threads() == []


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    make_run(root, RUN_A)
    make_run(root, RUN_B)
    return root


def test_append_bumps_only_that_run(root: Path) -> None:
    watcher = get_watcher(root)
    assert watcher.problem is None
    cursor = watcher.cursor()
    before_b = watcher.run_changes(RUN_B)

    append(root / RUN_A)

    wait_for(lambda: RUN_A in changed_after(watcher, cursor))
    new_cursor, changed, structure = watcher.changes_since(cursor)
    assert changed == {RUN_A}
    assert structure is False
    assert new_cursor > cursor
    assert watcher.run_changes(RUN_A) > 0
    assert watcher.run_changes(RUN_B) == before_b
    assert watcher.changes_since(new_cursor) == (new_cursor, set(), False)


def test_reading_files_is_not_a_change(root: Path) -> None:
    watcher = get_watcher(root)
    cursor = watcher.cursor()

    (root / RUN_A / TRAIN_LOG).read_text()
    (root / RUN_A / METADATA_FILE).read_bytes()
    os.listdir(root / RUN_A)
    # A write elsewhere is the fence: once it shows, any event from the reads would have too.
    append(root / RUN_B)

    wait_for(lambda: RUN_B in changed_after(watcher, cursor))
    assert changed_after(watcher, cursor) == {RUN_B}


def test_every_cursor_sees_every_change(root: Path) -> None:
    watcher = get_watcher(root)
    tab1 = watcher.cursor()
    tab2 = watcher.cursor()

    append(root / RUN_A)

    wait_for(lambda: RUN_A in changed_after(watcher, tab1))
    tab1_view = watcher.changes_since(tab1)
    # Asking again, or from another tab's cursor, still shows it: nothing is consumed.
    assert watcher.changes_since(tab1) == tab1_view
    assert RUN_A in changed_after(watcher, tab2)


def test_atomic_rename_counts_for_its_run(root: Path) -> None:
    watcher = get_watcher(root)
    cursor = watcher.cursor()

    tmp = root / RUN_B / ".metadata.json.tmp"
    tmp.write_text('{"name": "cartpole"}')
    os.replace(tmp, root / RUN_B / METADATA_FILE)

    wait_for(lambda: RUN_B in changed_after(watcher, cursor))
    assert changed_after(watcher, cursor) == {RUN_B}


def test_new_run_dir_is_a_structure_change(root: Path) -> None:
    watcher = get_watcher(root)
    cursor = watcher.cursor()

    make_run(root, "cartpole/v2/20260323_090000")

    wait_for(lambda: watcher.changes_since(cursor)[2])
    wait_for(lambda: "cartpole/v2/20260323_090000" in changed_after(watcher, cursor))


def test_deleted_run_dir_is_a_structure_change(root: Path) -> None:
    watcher = get_watcher(root)
    cursor = watcher.cursor()

    shutil.rmtree(root / RUN_B)

    wait_for(lambda: watcher.changes_since(cursor)[2])
    assert RUN_B in changed_after(watcher, cursor)


def test_stray_file_in_root_is_not_a_change(root: Path) -> None:
    watcher = get_watcher(root)
    cursor = watcher.cursor()

    (root / "README.txt").write_text("not a run")
    append(root / RUN_A)  # fence

    wait_for(lambda: RUN_A in changed_after(watcher, cursor))
    assert watcher.changes_since(cursor)[1:] == ({RUN_A}, False)


def test_root_deleted_and_recreated_events_flow_again(root: Path) -> None:
    watcher = get_watcher(root)
    assert watcher.observers_started == 1
    cursor = watcher.cursor()

    shutil.rmtree(root)
    make_run(root, RUN_A)

    # The old inotify watch died with the old directory; polling ensure_alive rebuilds it.
    wait_for(lambda: watcher.ensure_alive() and watcher.observers_started == 2)
    assert watcher.problem is None
    assert watcher.changes_since(cursor)[2], "a rebuild must make readers rescan"
    assert len(observer_threads()) == 1

    after = watcher.cursor()
    append(root / RUN_A)
    wait_for(lambda: RUN_A in changed_after(watcher, after))


def test_missing_root_is_reported_then_watched_once_created(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    watcher = get_watcher(root)

    assert watcher.problem is not None
    assert str(root) in watcher.problem
    assert watcher.ensure_alive() is False
    assert observer_threads() == []

    make_run(root, RUN_A)
    assert watcher.ensure_alive() is True
    assert watcher.problem is None

    cursor = watcher.cursor()
    append(root / RUN_A)
    wait_for(lambda: RUN_A in changed_after(watcher, cursor))


def test_root_that_is_a_file_is_reported(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    root.write_text("oops")
    watcher = get_watcher(root)
    assert watcher.problem is not None
    assert "not a directory" in watcher.problem


def test_one_watcher_and_one_observer_per_root(root: Path, tmp_path: Path) -> None:
    link = tmp_path / "link_to_runs"
    link.symlink_to(root)
    found: list[RunWatcher] = []

    def ask() -> None:
        found.append(get_watcher(root))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    watcher = found[0]
    assert all(w is watcher for w in found)
    assert get_watcher(root / "cartpole" / "..") is watcher
    assert get_watcher(link) is watcher
    assert len(observer_threads()) == 1


def test_stopped_watcher_is_replaced_and_leaves_no_threads(root: Path) -> None:
    watcher = get_watcher(root)
    watcher.stop()
    assert watchdog_threads() == []
    assert watcher.ensure_alive() is False

    fresh = get_watcher(root)
    assert fresh is not watcher
    assert fresh.problem is None
    stop_all_watchers()
    assert watchdog_threads() == []


def test_cursor_from_a_replaced_watcher_means_rescan(root: Path) -> None:
    watcher = get_watcher(root)
    future = watcher.cursor() + 1000
    assert watcher.changes_since(future) == (watcher.cursor(), set(), True)


# -- polling (network filesystems, --poll) -----------------------------------------------------


def test_polling_watcher_sees_appends_and_new_runs(root: Path) -> None:
    watcher = get_watcher(root, poll=True, poll_interval=0.2)
    assert watcher.problem is None
    assert (watcher.mode.polling, watcher.mode.interval) == (True, 0.2)
    assert [type(t) for t in observer_threads()] == [PollingObserver]

    cursor = watcher.cursor()
    append(root / RUN_A)
    wait_for(lambda: RUN_A in changed_after(watcher, cursor))
    assert watcher.changes_since(cursor)[1:] == ({RUN_A}, False)

    cursor = watcher.cursor()
    make_run(root, RUN_C)
    wait_for(lambda: RUN_C in changed_after(watcher, cursor))
    assert watcher.changes_since(cursor)[2], "a new run directory is a structure change"


def test_polling_watcher_reading_files_is_not_a_change(root: Path) -> None:
    watcher = get_watcher(root, poll=True, poll_interval=0.2)
    cursor = watcher.cursor()
    (root / RUN_A / TRAIN_LOG).read_text()
    append(root / RUN_B)  # fence: once B is seen, a scan after the read has run
    wait_for(lambda: RUN_B in changed_after(watcher, cursor))
    assert RUN_A not in changed_after(watcher, cursor)


def test_polling_watcher_is_rebuilt_after_its_root_is_replaced(root: Path) -> None:
    watcher = get_watcher(root, poll=True, poll_interval=0.2)
    shutil.rmtree(root)
    # The polling emitter stops itself on its next scan of the missing root.
    wait_for(lambda: len(watchdog_threads()) == 1)  # the observer, without its emitter
    make_run(root, RUN_A)

    wait_for(lambda: watcher.ensure_alive() and watcher.observers_started == 2)
    assert [type(t) for t in observer_threads()] == [PollingObserver]
    after = watcher.cursor()
    append(root / RUN_A)
    wait_for(lambda: RUN_A in changed_after(watcher, after))


def test_poll_interval_must_be_positive(root: Path) -> None:
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="poll interval"):
            get_watcher(root, poll=True, poll_interval=bad)
    assert observer_threads() == []


def test_the_first_settings_for_a_root_win(root: Path) -> None:
    watcher = get_watcher(root, poll=True, poll_interval=0.2)
    assert get_watcher(root) is watcher
    assert watcher.mode.polling


def test_watch_mode_polls_a_root_on_a_network_filesystem(tmp_path: Path) -> None:
    share = tmp_path.resolve()
    table = tmp_path / "mounts"
    table.write_text(f"/dev/vda / ext4 rw 0 0\nsrv:/export {share} nfs4 rw,vers=4.2 0 0\n")
    root = share / "runs"  # need not exist yet

    mode = watch_mode(root, poll=False, poll_interval=5.0, mounts_file=table)
    assert mode.polling
    assert mode.interval == 5.0
    assert mode.reason == (
        f"polling every 5 s: {root} is on nfs4 (no inotify events from other hosts)"
    )


def test_watch_mode_polls_when_asked(tmp_path: Path) -> None:
    mode = watch_mode(tmp_path, poll=True, poll_interval=2.0)
    assert (mode.polling, mode.interval, mode.reason) == (True, 2.0, "polling every 2 s (--poll)")


@pytest.mark.skipif(
    sys.platform != "linux" or network_filesystem(Path(tempfile.gettempdir())) is not None,
    reason="needs inotify on a local temporary directory",
)
def test_a_local_root_uses_inotify(root: Path, tmp_path: Path) -> None:
    # <tmp>/run is on nfs, but <tmp>/runs is not inside it.
    table = tmp_path / "mounts"
    table.write_text(f"/dev/vda / ext4 rw 0 0\nsrv:/export {tmp_path.resolve()}/run nfs rw 0 0\n")
    assert watch_mode(root, poll=False, mounts_file=table).reason == "inotify"

    watcher = get_watcher(root)
    assert (watcher.mode.polling, watcher.mode.interval, watcher.mode.reason) == (
        False,
        None,
        "inotify",
    )
    assert not isinstance(observer_threads()[0], PollingObserver)
