"""Which runs changed on disk: one watchdog observer per (process, runs root).

    <root>/<name>/<version>/<run_id>/...     an event here counts as a change of the run
                                             "name/version/run_id" (runlog.format.rundirs)
    <root>/<name>/<version>/                 a directory created/deleted/moved at or above
                                             run depth is a *structure* change

Every relevant event takes the next number of one monotonically increasing `sequence`
and stamps the runs it touched with it. A reader keeps its own cursor (the sequence it
has seen) and asks `changes_since(cursor)`; nothing is consumed, so any number of
browser tabs, each with its own cursor, all see every change.

Pitfalls this module exists to absorb:
- Reading a file makes inotify report `opened` / `closed_no_write`: those are never
  changes, or a dashboard would see its own reads as activity.
- Deleting and recreating the root silently stops inotify events (the watch died with
  the old inode): `ensure_alive()` checks the root's inode on every poll and rebuilds.
- `schedule()` fails on a missing root: the watcher reports `problem` and retries on
  the next `ensure_alive()` instead of raising.
- A network filesystem (NFS, SMB, sshfs, gcsfuse, ...; runlog.read.mounts) sends no inotify
  events for writes made on other hosts: there `get_watcher` polls the tree (`watch_mode`).
- A Streamlit cached resource is rebuilt when the app file is edited; the registry of
  watchers therefore lives here, in the library, guarded by a lock.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import sys
import threading
import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import (
    EVENT_TYPE_CLOSED,
    EVENT_TYPE_CREATED,
    EVENT_TYPE_DELETED,
    EVENT_TYPE_MODIFIED,
    EVENT_TYPE_MOVED,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from runlog.format.rundirs import RUN_DEPTH, rel_parts, run_key
from runlog.read.mounts import MOUNTS_FILE, network_filesystem

__all__ = [
    "DEFAULT_POLL_INTERVAL",
    "RunWatcher",
    "WatchMode",
    "get_watcher",
    "stop_all_watchers",
    "watch_mode",
]

_log = logging.getLogger(__name__)

# Benign watchdog race: a directory made by `mkdir -p` gets its inotify watch added twice
# (creation event and recursive scan); the second add replaces the same callback.
warnings.filterwarnings(
    "ignore",
    message=r"Callback with id ",
    category=RuntimeWarning,
    module=r"watchdog\.observers\.inotify",
)

# Opened / closed_no_write (reads) and attrib are left out on purpose: see the module doc.
_EVENT_FILTER: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    DirCreatedEvent,
    FileModifiedEvent,
    FileDeletedEvent,
    DirDeletedEvent,
    FileMovedEvent,
    DirMovedEvent,
    FileClosedEvent,
]
_CHANGE_TYPES = frozenset(
    {
        EVENT_TYPE_CREATED,
        EVENT_TYPE_MODIFIED,
        EVENT_TYPE_MOVED,
        EVENT_TYPE_DELETED,
        EVENT_TYPE_CLOSED,
    }
)
_STRUCTURE_TYPES = frozenset({EVENT_TYPE_CREATED, EVENT_TYPE_MOVED, EVENT_TYPE_DELETED})
_JOIN_TIMEOUT = 5.0

DEFAULT_RETRY_INTERVAL = 2.0
"""Seconds between attempts to (re)build an observer after a failed attempt."""

DEFAULT_POLL_INTERVAL = 5.0
"""Seconds between two scans of the tree when the watcher polls."""

_NATIVE = "inotify" if sys.platform.startswith("linux") else "native file events"


@dataclass(frozen=True)
class WatchMode:
    """How a watcher learns of changes: OS file events, or a scan every `interval` seconds."""

    polling: bool
    interval: float | None
    reason: str
    """In words, for a UI: "inotify", "polling every 2 s (--poll)", ..."""


def watch_mode(
    root: Path,
    poll: bool,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    *,
    mounts_file: Path = MOUNTS_FILE,
) -> WatchMode:
    """How to watch `root`: poll every `poll_interval` s when `poll` or when `root` is on a
    network filesystem (per `mounts_file`), else OS file events.

    Raises ValueError when `poll_interval` is not a positive number of seconds.
    """
    _check_interval(poll_interval)
    every = f"polling every {poll_interval:g} s"
    if poll:
        return WatchMode(True, poll_interval, f"{every} (--poll)")
    fstype = network_filesystem(root, mounts_file)
    if fstype is not None:
        reason = f"{every}: {root} is on {fstype} (no inotify events from other hosts)"
        return WatchMode(True, poll_interval, reason)
    return WatchMode(False, None, _NATIVE)


def _check_interval(seconds: float) -> None:
    if not seconds > 0:  # also refuses NaN; 0 would scan the tree in a busy loop
        raise ValueError(f"poll interval must be a positive number of seconds, not {seconds}")


class _Handler(FileSystemEventHandler):
    """Forwards every event to its watcher; never lets an exception kill the observer thread."""

    def __init__(self, watcher: RunWatcher) -> None:
        super().__init__()
        self._watcher = watcher

    def dispatch(self, event: FileSystemEvent) -> None:
        try:
            self._watcher._on_event(event)
        except Exception:
            _log.exception("runlog watcher %s: failed to handle %r", self._watcher.root, event)


class RunWatcher:
    """Per-run change counters for one runs root, fed by one watchdog observer.

    Use `get_watcher(root)` rather than the constructor, so a process has one observer
    per root no matter how many tabs or reruns ask for it. With `poll_interval` the observer
    scans the tree every `poll_interval` seconds instead of listening to OS file events;
    `reason` words that choice in `mode` (default: just the interval).
    """

    def __init__(
        self,
        root: Path,
        *,
        retry_interval: float = DEFAULT_RETRY_INTERVAL,
        poll_interval: float | None = None,
        reason: str | None = None,
    ) -> None:
        self.root = root
        self._root_str = str(root)
        self._retry_interval = retry_interval
        if poll_interval is None:
            self.mode = WatchMode(False, None, reason or _NATIVE)
        else:
            _check_interval(poll_interval)
            default = f"polling every {poll_interval:g} s"
            self.mode = WatchMode(True, poll_interval, reason or default)
        # _lock guards the counters and is taken by the observer thread on every event;
        # _life_lock serializes building/stopping the observer. Never join the observer
        # while holding _lock (its thread may be waiting for it).
        self._lock = threading.Lock()
        self._life_lock = threading.Lock()
        self._sequence = 0
        self._structure_seq = 0
        self._changes: dict[str, int] = {}
        self._last_seq: OrderedDict[str, int] = OrderedDict()  # oldest change first
        self._observer: BaseObserver | None = None
        self._root_ident: tuple[int, int] | None = None
        self._next_attempt = 0.0
        self._stopped = False
        self._problem: str | None = None
        self._observers_started = 0

    # ----- reading the counters -------------------------------------------------

    @property
    def problem(self) -> str | None:
        """Why the watcher is not watching right now (root missing, inotify limit, ...), or None."""
        return self._problem

    @property
    def observers_started(self) -> int:
        """How many observers have been started for this root (1 + rebuilds)."""
        return self._observers_started

    @property
    def sequence(self) -> int:
        """Number of the newest relevant event seen so far (0 before any)."""
        with self._lock:
            return self._sequence

    @property
    def structure_sequence(self) -> int:
        """Sequence number of the newest name/version/run directory created, deleted or moved."""
        with self._lock:
            return self._structure_seq

    @property
    def change_counts(self) -> dict[str, int]:
        """A copy of the per-run change counters, keyed "name/version/run_id"."""
        with self._lock:
            return dict(self._changes)

    def cursor(self) -> int:
        """The current sequence: pass it to `changes_since` later to get what happened after now."""
        return self.sequence

    def run_changes(self, key: str) -> int:
        """How many relevant events touched run `key` ("name/version/run_id"); 0 if none."""
        with self._lock:
            return self._changes.get(key, 0)

    def changes_since(self, cursor: int) -> tuple[int, set[str], bool]:
        """(new cursor, run keys changed after `cursor`, whether the run tree's structure changed).

        Consumes nothing: every caller with its own cursor sees every change. A cursor
        from the future (from a watcher since replaced) reports a structure change, so
        the caller rescans rather than missing anything.
        """
        with self._lock:
            now = self._sequence
            if cursor == now:
                return now, set(), False
            if cursor > now:
                return now, set(), True
            changed: set[str] = set()
            for key in reversed(self._last_seq):  # newest first: stop at the first old one
                if self._last_seq[key] <= cursor:
                    break
                changed.add(key)
            return now, changed, self._structure_seq > cursor

    # ----- lifecycle --------------------------------------------------------------

    def ensure_alive(self) -> bool:
        """Check the observer is watching the current root; rebuild it if not. True when watching.

        Cheap (one stat) when all is well: call it on every poll. Rebuilds when the root was
        deleted and recreated (new inode) or the observer thread died; when the root is
        missing, sets `problem` and tries again on a later call. Never raises for I/O reasons.
        """
        with self._life_lock:
            if self._stopped:
                return False
            try:
                st = os.stat(self.root)
            except OSError as exc:
                self._teardown()
                self._problem = (
                    f"runs root {self.root} is not accessible ({exc.strerror or exc}); "
                    "waiting for it to exist"
                )
                return False
            if not stat.S_ISDIR(st.st_mode):
                self._teardown()
                self._problem = f"runs root {self.root} is not a directory"
                return False
            ident = (st.st_dev, st.st_ino)
            if ident == self._root_ident and self._healthy():
                return True
            if self._observer is None and time.monotonic() < self._next_attempt:
                return False
            self._teardown()
            return self._build(ident)

    def stop(self) -> None:
        """Stop watching for good and drop this watcher from the registry; joins its threads."""
        with self._life_lock:
            self._stopped = True
            self._teardown()
            self._problem = f"watcher for {self.root} was stopped"
        with _REGISTRY_LOCK:
            if _REGISTRY.get(self.root) is self:
                del _REGISTRY[self.root]

    def _healthy(self) -> bool:
        observer = self._observer
        if observer is None or not observer.is_alive():
            return False
        emitters = list(observer.emitters)
        # An inotify or polling emitter stops itself when the watched root is deleted.
        return bool(emitters) and all(emitter.is_alive() for emitter in emitters)

    def _build(self, ident: tuple[int, int]) -> bool:
        observer: BaseObserver | None = None
        try:
            if self.mode.interval is None:
                observer = Observer()
            else:
                # Its first scan of the tree runs in start(), before events are marked missed.
                observer = PollingObserver(timeout=self.mode.interval)
            observer.name = f"runlog-watch {self.root}"
            observer.schedule(
                _Handler(self), self._root_str, recursive=True, event_filter=_EVENT_FILTER
            )
            observer.start()
        except OSError as exc:
            if observer is not None:
                _discard(observer)
            self._next_attempt = time.monotonic() + self._retry_interval
            self._problem = _describe_failure(self.root, exc)
            return False
        self._observer = observer
        self._root_ident = ident
        self._problem = None
        self._observers_started += 1
        # Events may have been missed while nothing watched (root missing or replaced).
        self._mark_everything_changed()
        return True

    def _teardown(self) -> None:
        observer, self._observer, self._root_ident = self._observer, None, None
        if observer is not None:
            _discard(observer)

    # ----- events -----------------------------------------------------------------

    def _on_event(self, event: FileSystemEvent) -> None:
        if event.event_type not in _CHANGE_TYPES:
            return
        keys: set[str] = set()
        structure = False
        for raw in (event.src_path, event.dest_path):
            if not raw:
                continue
            parts = rel_parts(self._root_str, os.fsdecode(raw))
            if parts is None:
                continue
            depth = len(parts)
            key = run_key(parts)
            if key is None:
                # The root, a name or a version dir. Stray files up here are not runs, and a
                # directory's own "modified" repeats an event already seen for its child.
                if event.is_directory and event.event_type in _STRUCTURE_TYPES:
                    structure = True
                continue
            if depth == RUN_DEPTH and not event.is_directory:
                continue  # a file next to run directories, not inside one
            keys.add(key)
            if depth == RUN_DEPTH and event.event_type in _STRUCTURE_TYPES:
                structure = True
        if not keys and not structure:
            return
        with self._lock:
            self._sequence += 1
            seq = self._sequence
            for key in keys:
                self._stamp(key, seq)
            if structure:
                self._structure_seq = seq

    def _stamp(self, key: str, seq: int) -> None:
        self._changes[key] = self._changes.get(key, 0) + 1
        self._last_seq[key] = seq
        self._last_seq.move_to_end(key)

    def _mark_everything_changed(self) -> None:
        with self._lock:
            self._sequence += 1
            seq = self._sequence
            for key in list(self._last_seq):
                self._stamp(key, seq)
            self._structure_seq = seq


def _discard(observer: BaseObserver) -> None:
    """Stop an observer and join its threads, whether or not it was ever started."""
    with contextlib.suppress(Exception):
        observer.stop()
    with contextlib.suppress(RuntimeError):  # never started
        observer.join(_JOIN_TIMEOUT)


def _describe_failure(root: Path, exc: OSError) -> str:
    if exc.errno in {errno.ENOSPC, errno.EMFILE}:
        return (
            f"cannot watch {root}: inotify limit reached ({exc.strerror}); raise "
            "fs.inotify.max_user_watches / max_user_instances, or rely on timed refresh"
        )
    return f"cannot watch {root}: {exc.strerror or exc}"


_REGISTRY: dict[Path, RunWatcher] = {}
_REGISTRY_LOCK = threading.Lock()


def get_watcher(
    root: Path, *, poll: bool = False, poll_interval: float = DEFAULT_POLL_INTERVAL
) -> RunWatcher:
    """The process-wide watcher of `root` (any spelling of that directory), started on first use.

    The first call decides how it watches (`watch_mode`: polls when `poll` or on a network
    filesystem); a later call for the same root returns that watcher whatever its `poll`
    settings (see `mode`). Never raises for a missing root: the watcher reports it in `problem`
    and starts watching once the directory exists (on a later `ensure_alive()`). Raises
    ValueError for a `poll_interval` that is not positive.
    """
    _check_interval(poll_interval)
    key = Path(os.path.expanduser(root)).resolve()
    with _REGISTRY_LOCK:
        watcher = _REGISTRY.get(key)
        if watcher is None:
            mode = watch_mode(key, poll, poll_interval)
            watcher = RunWatcher(key, poll_interval=mode.interval, reason=mode.reason)
            _REGISTRY[key] = watcher
            watcher.ensure_alive()
        return watcher


def stop_all_watchers() -> None:
    """Stop every registered watcher and join its threads (tests, shutdown)."""
    with _REGISTRY_LOCK:
        watchers = list(_REGISTRY.values())
    for watcher in watchers:
        watcher.stop()
