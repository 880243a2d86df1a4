"""Live state shared by every session of one server process: the watcher and the run summaries.

    RunWatcher (runlog.read.watch, one observer per process and root)
        |  changes_since(cursor)
        v
    LiveCatalog (here, one per root)   name/version/run_id -> RunSummary, refreshed per change
        |  summaries(), generation;  .store: the RunStore the pages read logs from, built on
        |  the catalog's own readers, so a run's logs are parsed once for its summary and
        |  its charts together
        v
    each session's fragments (browser table, run headline, compare), polling every
    POLL_INTERVAL; a page that follows given runs asks `runs_changed` with its own cursor

Only the runs the watcher names are re-summarised; a structure change (a run directory
created, deleted or moved) rescans the root. When the watcher cannot watch (root missing,
inotify limit), a timed rescan keeps the page current anyway.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection
from pathlib import Path

from runlog.read.catalog import Catalog, RunSummary
from runlog.read.store import RunStore
from runlog.read.watch import RunWatcher, get_watcher

POLL_INTERVAL = 0.5
"""Seconds between two polls of a session's live fragment."""
FALLBACK_RESCAN = 3.0
"""Seconds between full rescans while the watcher is not watching."""
CHART_REFRESH = 2.0
"""Seconds at least between two full redraws of a page following live runs (charts cost)."""


def runs_changed(watcher: RunWatcher, cursor: int, rels: Collection[str]) -> tuple[int, bool]:
    """(new cursor, whether any run of `rels` may have changed on disk since `cursor`).

    The poll of a page that follows runs, with the session's own cursor: one stat of the
    root (`ensure_alive`, which also revives a watcher whose root was replaced) and a look
    at the watcher's in-memory counters; no file of any run is touched. A structure change
    (a run created, deleted or moved) counts as a change, and so does every poll while the
    watcher is not watching: the caller then falls back on its own checks (the store's stat).
    """
    watching = watcher.ensure_alive()
    new_cursor, changed, structural = watcher.changes_since(cursor)
    if not watching:
        return new_cursor, True
    return new_cursor, structural or not changed.isdisjoint(rels)


class LiveCatalog:
    """Run summaries of one root, kept current from the watcher's change feed. Thread-safe."""

    def __init__(self, root: Path, live_window: float, stall_window: float) -> None:
        self.root = root
        self.catalog = Catalog(root, live_window=live_window, stall_window=stall_window)
        self.store = RunStore(root, readers=self.catalog.episode_logs)
        """Episode logs for the pages (charts), sharing the catalog's readers: one parse."""
        self.watcher: RunWatcher = get_watcher(root)
        self._lock = threading.Lock()
        self._cursor: int | None = None
        self._summaries: dict[str, RunSummary] = {}
        self._generation = 0
        self._version = 0
        self._last_scan = 0.0

    @property
    def generation(self) -> int:
        """Bumps whenever the set of runs changes (a run appeared or disappeared)."""
        with self._lock:
            return self._generation

    @property
    def version(self) -> int:
        """Bumps whenever any summary changes."""
        with self._lock:
            return self._version

    @property
    def problem(self) -> str | None:
        """Why live updates fall back to timed rescans, or None when the watcher is watching."""
        return self.watcher.problem

    def summaries(self) -> list[RunSummary]:
        """Every run under the root, sorted by path (refresh first for current data)."""
        with self._lock:
            return [self._summaries[key] for key in sorted(self._summaries)]

    def get(self, rel: str) -> RunSummary | None:
        with self._lock:
            return self._summaries.get(rel)

    def refresh(self) -> bool:
        """Apply what changed on disk since the last refresh; True when anything changed."""
        with self._lock:
            watching = self.watcher.ensure_alive()
            cursor, changed, structural = self.watcher.changes_since(self._cursor or 0)
            now = time.monotonic()
            if self._cursor is None or structural:
                return self._rescan(cursor, now)
            if not watching and now - self._last_scan >= FALLBACK_RESCAN:
                return self._rescan(cursor, now)
            self._cursor = cursor
            if not changed:
                return False
            for key in changed:
                if key not in self._summaries:
                    # A run we have not listed yet: only a rescan knows if it is one.
                    return self._rescan(cursor, now)
                self._summaries[key] = self.catalog.summary(self.root / key)
            self._version += 1
            return True

    def refresh_run(self, rel: str) -> RunSummary | None:
        """Re-summarise one run now (after the caller saw it change); None if it is not listed."""
        with self._lock:
            if rel not in self._summaries:
                return None
            summary = self.catalog.summary(self.root / rel)
            self._summaries[rel] = summary
            self._version += 1
            return summary

    def _rescan(self, cursor: int, now: float) -> bool:
        # The cursor was read before scanning: a change during the scan shows up next time.
        fresh = {summary.rel: summary for summary in self.catalog.scan()}
        if set(fresh) != set(self._summaries):
            self._generation += 1
        changed = fresh != self._summaries
        self._summaries = fresh
        self._cursor = cursor
        self._last_scan = now
        if changed:
            self._version += 1
        return changed


_REGISTRY: dict[tuple[Path, float, float], LiveCatalog] = {}
_REGISTRY_LOCK = threading.Lock()


def live_catalog(root: Path, live_window: float, stall_window: float) -> LiveCatalog:
    """The process-wide LiveCatalog for these settings (kept across app edits and sessions)."""
    key = (root.resolve(), live_window, stall_window)
    with _REGISTRY_LOCK:
        live = _REGISTRY.get(key)
        if live is None:
            live = _REGISTRY[key] = LiveCatalog(key[0], live_window, stall_window)
        return live


def forget_live_catalogs() -> None:
    """Drop every LiveCatalog (tests; the watchers are stopped by runlog.read.watch)."""
    with _REGISTRY_LOCK:
        _REGISTRY.clear()
