"""A runs root given as a URL, opened once per process: its store, its mirror, its poller.

    root = open_remote("s3://bucket/runs", options)   # lists and syncs once (raises RemoteError)
    root.mirror.root                                    # the local tree every reader is given
    root.start_polling(5.0)                             # one listing per interval, in a thread

Object stores send no change events, so a remote root is polled: one LIST per interval (pages
of 1,000 keys), then only the changed objects are fetched (runlog.remote.mirror). The mirror is
local, so the usual watcher sees what a poll wrote and the dashboard updates as for a local run.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from runlog.read.watch import DEFAULT_POLL_INTERVAL as WATCH_POLL_INTERVAL
from runlog.remote.mirror import Mirror, SyncReport
from runlog.remote.store import ObjectStore, RemoteError
from runlog.remote.urls import RemoteURL

__all__ = [
    "DEFAULT_POLL_INTERVAL",
    "RemoteRoot",
    "clear_mirrors",
    "forget_remotes",
    "mirrors_bytes",
    "open_remote",
    "start_remote",
]

T = TypeVar("T")

DEFAULT_POLL_INTERVAL = WATCH_POLL_INTERVAL
"""Seconds between two listings of a remote root: the interval a polled local root uses too
(one `--poll-interval` sets both)."""


class RemoteRoot:
    """One remote root: its store, its mirror and (once started) the thread that polls it."""

    def __init__(self, store: ObjectStore, cache: Path) -> None:
        self.store = store
        self.url: RemoteURL = store.url
        self.mirror = Mirror(store, cache)
        self.problem: str | None = None
        """The last sync's failure in one line (the tree keeps its last good state), or None."""
        self.last: SyncReport | None = None
        self.interval: float | None = None
        self.ready = threading.Event()
        """Set once a sync has succeeded: the tree holds the root (until then it may be empty
        or partial, and a front end shows `mirror.progress` instead)."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def polling(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def local_root(self) -> Path:
        return self.mirror.root

    def sync(self) -> SyncReport | None:
        """Sync now; a failure is kept in `problem` (one line) and returned as None."""
        try:
            return self.sync_or_raise()
        except RemoteError as exc:
            self.problem = str(exc)
            return None
        except OSError as exc:
            self.problem = self.store.shown(f"cannot write the mirror of {self.url}: {exc}")
            return None

    def sync_or_raise(self) -> SyncReport:
        """Sync now and note it (`last`, `ready`, no `problem`); RemoteError or OSError when
        the store cannot be listed or the mirror written (the tree is left as it was)."""
        report = self.mirror.sync()
        self.problem = None
        self.last = report
        self.ready.set()
        return report

    def write_back(self, path: Path, write: Callable[[], T]) -> T:
        """Run `write`, which writes the tree file `path` (a run's runlog.json), between a
        refresh of `path` from the store (so a save made elsewhere is what `write` sees: its
        conflict check then fires) and an upload of the result. When the upload fails, the
        tree file is put back as the store has it and the RemoteError is raised."""
        self.mirror.refresh(path)
        result = write()
        try:
            self.mirror.upload(path)
        except (RemoteError, OSError):
            with contextlib.suppress(RemoteError, OSError):
                self.mirror.refresh(path, force=True)
            raise
        return result

    def start_polling(self, interval: float = DEFAULT_POLL_INTERVAL) -> None:
        """Sync every `interval` seconds in a daemon thread, at once if no sync has succeeded
        yet (a second call changes nothing)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self.interval = interval
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._poll, name=f"runlog-poll {self.url}", daemon=True
            )
            self._thread.start()

    def _poll(self) -> None:
        if not self.ready.is_set():
            self.sync()
        while not self._stop.wait(self.interval or DEFAULT_POLL_INTERVAL):
            self.sync()

    def stop(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(5.0)


_REGISTRY: dict[tuple[str, tuple[tuple[str, str], ...], str], RemoteRoot] = {}
_REGISTRY_LOCK = threading.Lock()
_TEMP_DIRS: list[Path] = []


def _registry_key(
    url: RemoteURL, options: Mapping[str, object], cache: Path | None
) -> tuple[str, tuple[tuple[str, str], ...], str]:
    """One root per URL, storage options and cache directory in a process."""
    return (str(url), tuple(sorted((k, repr(v)) for k, v in options.items())), str(cache))


def _new_root(url: RemoteURL, options: Mapping[str, object], cache: Path | None) -> RemoteRoot:
    """A remote root of `url` mirrored under `cache` (None: a temporary directory)."""
    return RemoteRoot(ObjectStore(url, options), cache if cache is not None else _temp_cache())


def _temp_cache() -> Path:
    path = Path(tempfile.mkdtemp(prefix="runlog-mirror-"))
    _TEMP_DIRS.append(path)
    return path


@atexit.register
def _remove_temp_caches() -> None:
    for path in _TEMP_DIRS:
        shutil.rmtree(path, ignore_errors=True)


def open_remote(
    url: RemoteURL,
    options: Mapping[str, object] | None = None,
    *,
    cache: Path | None = None,
) -> RemoteRoot:
    """The process-wide remote root of `url` with these storage options, synced now (unless
    its poller keeps it current).

    `cache` is the cache directory the mirror lives in (None: a temporary directory removed at
    exit, for --no-cache). Raises RemoteError (one line, no secret) when the first listing fails,
    so a front end can report it and stop.
    """
    opts = dict(options or {})
    key = _registry_key(url, opts, cache)
    with _REGISTRY_LOCK:
        root = _REGISTRY.get(key)
        if root is not None:
            if not root.polling:
                root.sync_or_raise()
            return root
        root = _new_root(url, opts, cache)
        root.sync_or_raise()  # registered only once listed: a failure leaves nothing behind
        _REGISTRY[key] = root
        return root


def start_remote(
    url: RemoteURL,
    options: Mapping[str, object] | None = None,
    *,
    cache: Path | None = None,
    interval: float = DEFAULT_POLL_INTERVAL,
) -> RemoteRoot:
    """The process-wide remote root of `url`, returned at once and synced and polled in its
    thread (a dashboard: the page shows `mirror.progress` until `ready`, and `problem` if the
    store refuses). Raises RemoteError only when no store can be made (a missing extra)."""
    opts = dict(options or {})
    key = _registry_key(url, opts, cache)
    with _REGISTRY_LOCK:
        root = _REGISTRY.get(key)
        if root is None:
            root = _REGISTRY[key] = _new_root(url, opts, cache)
    root.start_polling(interval)
    return root


def forget_remotes() -> None:
    """Stop every poller and drop every remote root (tests)."""
    with _REGISTRY_LOCK:
        roots = list(_REGISTRY.values())
        _REGISTRY.clear()
    for root in roots:
        with contextlib.suppress(Exception):
            root.stop()


def mirrors_bytes(cache: Path) -> int:
    """Disk space the mirrors of remote roots take in `cache` (placeholders take none)."""
    total = 0
    for folder, _dirs, files in os.walk(Path(cache) / "remote"):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(folder, name)).st_blocks * 512
    return total


def clear_mirrors(cache: Path) -> int:
    """Remove every mirror from `cache` (the next sync fetches again); returns bytes freed."""
    freed = mirrors_bytes(cache)
    shutil.rmtree(Path(cache) / "remote", ignore_errors=True)
    return freed
