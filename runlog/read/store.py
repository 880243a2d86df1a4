"""One parse per change, shared by every browser tab: a process-wide cache of episode logs.

    RunStore(root)                           one per runs root (`get_store`)
        "name/version/run_id" -> train EpisodeLog, eval EpisodeLog     LRU, at most max_runs
            each behind its own lock; refreshed only when the file's stat changed

Five tabs asking for the same run at once cause one incremental read of the new bytes:
the first takes the log's lock and refreshes, the others wait on that lock and then find
the file unchanged since. Every answer is a frozen `LogSnapshot` whose frame later
refreshes never change, so the UI may hold it across reruns.

A store may borrow its readers instead of creating them (`readers=`, e.g. a `Catalog`'s
`episode_logs`): a UI that both lists runs and opens them then parses each log once, not
once for the summary and again for the charts. `EpisodeLog` is safe to refresh from both.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from runlog.format.layout import eval_log_path, train_log_path
from runlog.format.paths import run_rel
from runlog.read.episodes import EpisodeLog, LogKind

__all__ = [
    "DEFAULT_MAX_RUNS",
    "LogKind",
    "LogSnapshot",
    "ReaderSource",
    "RunStore",
    "clear_stores",
    "get_store",
]

DEFAULT_MAX_RUNS = 64
"""Runs whose logs stay cached; the least recently asked-for run is dropped beyond this."""


@dataclass(frozen=True)
class LogSnapshot:
    """One episode log as of one refresh.

    `version` changes whenever anything else does and is never reused within the process
    (not even after the run was evicted and read again), so `(run, version)` is a safe
    cache key for anything derived from `frame`. `frame` is shared and read-only: later
    refreshes never change it; `.copy()` it before editing values in place.
    """

    frame: pd.DataFrame
    version: int
    bad_lines: tuple[int, ...]
    extras_keys: tuple[str, ...]
    problem: str | None = None


# (st_dev, st_ino, st_size, st_mtime_ns): a different tuple means "read again".
_Signature = tuple[int, int, int, int]
ReaderSource = Callable[[Path], tuple[EpisodeLog, EpisodeLog]]
"""run directory -> its (train, eval) readers, owned by someone else (`Catalog.episode_logs`)."""
_MISSING: _Signature = (0, 0, -1, 0)

_versions = itertools.count(1)
_versions_lock = threading.Lock()


def _next_version() -> int:
    with _versions_lock:
        return next(_versions)


class _CachedLog:
    """One (run, kind) log: its reader, the stat it was refreshed at, and the last snapshot."""

    def __init__(self, log: EpisodeLog) -> None:
        self.lock = threading.Lock()
        self.log = log
        self.signature: _Signature | None = None
        self.snapshot: LogSnapshot | None = None
        self.snapshot_of = -1  # the reader's version the snapshot was taken at


class _CachedRun:
    def __init__(self, run_dir: Path, readers: ReaderSource | None) -> None:
        if readers is None:
            train = EpisodeLog(train_log_path(run_dir), "train")
            evals = EpisodeLog(eval_log_path(run_dir), "eval")
        else:
            train, evals = readers(run_dir)
        self.train = _CachedLog(train)
        self.eval = _CachedLog(evals)


class RunStore:
    """Thread-safe, process-wide cache of the train and eval logs of the runs under `root`.

    `readers`, when given, supplies each run's readers (called once per run while it stays
    cached) instead of the store creating its own; they may be refreshed elsewhere too.
    """

    def __init__(
        self,
        root: Path,
        *,
        max_runs: int = DEFAULT_MAX_RUNS,
        readers: ReaderSource | None = None,
    ) -> None:
        if max_runs < 1:
            raise ValueError(f"max_runs must be >= 1, got {max_runs}")
        self.root = root
        self.max_runs = max_runs
        self._readers = readers
        self._lock = threading.Lock()
        self._runs: OrderedDict[str, _CachedRun] = OrderedDict()  # least recently used first
        self._refreshes = 0

    @property
    def refresh_count(self) -> int:
        """How many times a log was asked to read new bytes (for tests and diagnostics)."""
        with self._lock:
            return self._refreshes

    def __len__(self) -> int:
        """Number of runs currently cached."""
        with self._lock:
            return len(self._runs)

    def train(self, run_dir: Path) -> LogSnapshot:
        """The run's train_episodes.jsonl as of now, reading only bytes appended since last time.

        Raises OutsideRootError when `run_dir` is not under the store's root. A missing or
        unreadable file is reported in `LogSnapshot.problem`, never raised.
        """
        return self.snapshot(run_dir, "train")

    def eval(self, run_dir: Path) -> LogSnapshot:
        """The run's eval_episodes.jsonl as of now (empty frame, no problem, before any eval)."""
        return self.snapshot(run_dir, "eval")

    def snapshot(self, run_dir: Path, kind: LogKind) -> LogSnapshot:
        """The `kind` ("train" or "eval") log of `run_dir` as of now; see `train`."""
        key = run_rel(self.root, run_dir)
        run = self._cached_run(key)
        cached = run.train if kind == "train" else run.eval
        with cached.lock:
            return self._refreshed(cached)

    def forget(self, run_dir: Path) -> None:
        """Drop the cached logs of `run_dir` (after it was deleted or moved, say)."""
        key = run_rel(self.root, run_dir)
        with self._lock:
            self._runs.pop(key, None)

    def clear(self) -> None:
        """Drop every cached log."""
        with self._lock:
            self._runs.clear()

    def _cached_run(self, key: str) -> _CachedRun:
        with self._lock:
            run = self._runs.get(key)
            if run is not None:
                self._runs.move_to_end(key)
                return run
        # Outside the lock: a borrowed source may wait on its owner (a catalog mid-scan).
        fresh = _CachedRun(self.root.resolve() / key, self._readers)
        with self._lock:
            run = self._runs.setdefault(key, fresh)  # another thread may have won the race
            self._runs.move_to_end(key)
            while len(self._runs) > self.max_runs:
                self._runs.popitem(last=False)
            return run

    def _refreshed(self, cached: _CachedLog) -> LogSnapshot:
        """Bring `cached` up to date with its file (the caller holds `cached.lock`)."""
        log = cached.log
        signature: _Signature | None
        try:
            st = os.stat(log.path)
            signature = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        except FileNotFoundError:
            signature = _MISSING
        except OSError:
            signature = None  # let the reader try, and name the problem
        if cached.snapshot is not None and signature is not None and signature == cached.signature:
            return cached.snapshot
        # The reader handles appends, half-written last lines, truncation and replacement.
        log.refresh()
        with self._lock:
            self._refreshes += 1
        # The stat taken *before* reading: bytes appended meanwhile change it again.
        cached.signature = signature
        problem = log.problem
        if problem is None and signature == _MISSING and log.kind == "train":
            problem = f"{log.path} does not exist yet (no episode logged)"
        last = cached.snapshot
        if last is not None and cached.snapshot_of == log.version and last.problem == problem:
            return last  # e.g. only half a line arrived: nothing the UI could show changed
        cached.snapshot = LogSnapshot(
            # A shallow copy: a new object over the same read-only arrays, no data copied.
            frame=log.frame.copy(deep=False),
            version=_next_version(),
            bad_lines=tuple(log.bad_lines),
            extras_keys=tuple(log.extras_keys),
            problem=problem,
        )
        cached.snapshot_of = log.version
        return cached.snapshot


_REGISTRY: dict[Path, RunStore] = {}
_REGISTRY_LOCK = threading.Lock()


def get_store(root: Path) -> RunStore:
    """The process-wide store of `root` (any spelling of that directory)."""
    key = Path(os.path.expanduser(root)).resolve()
    with _REGISTRY_LOCK:
        store = _REGISTRY.get(key)
        if store is None:
            store = _REGISTRY[key] = RunStore(key)
        return store


def clear_stores() -> None:
    """Forget every registered store (tests)."""
    with _REGISTRY_LOCK:
        _REGISTRY.clear()
