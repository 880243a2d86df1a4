"""The one data face: everything a front end reads about the runs under one root.

    RunProvider(root)                         one per root and process (`get_provider`)
      listing   refresh(), runs(), run(rel)            summaries: no columns in memory
                progress()                             "indexed 37 of 200 runs · 4.1 of 19 GB"
                cursor(), changed(cursor, rels)        the polls of live pages
      one run   log(rel, kind)                         revision, rows, bad lines, problem
                series(rel, column, x=, smooth=, max_points=)   smoothed, thinned: required
                smoothed(rel, column, smooth)          every episode (seed statistics)
                eval_blocks(rel), best_eval(rel), recent_rewards(rel)
                checkpoints(rel), config(rel), run_path(rel)
      notes     notes(rel), save_notes(rel, notes, expected)   tags and note (runlog.json);
                                                       in the listing: RunSummary.tags / .note

    disk --Catalog (one reader per log, summaries)--> columns of the runs being viewed
         (least recently used out, under a memory budget) --> derived series, cached by
         (run, log revision, parameters) and extended as lines arrive --> the pages

A cold root is listed at once with its cheap figures (name, state, metadata, checkpoints, disk
size); a background thread reads the logs and fills the rest, writing the persistent index
(runlog.read.index) so the next start lists everything without reading. A run a page opens is
read first. A file watcher (runlog.read.watch) says which runs changed, so a poll of a quiet
root costs one stat, and a live run's new lines cost what they hold: the reader reads only
them, the moving average continues from its last value and the thinning touches only the
buckets they fall in (runlog.analysis.curves). Names ("name/version/run_id") that come from a
page are checked against the root before any file is touched.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from runlog.analysis.curves import DownsampledMany, EmaState, Thinner
from runlog.analysis.evals import BLOCK_COLUMNS, EvalBlock, EvalBlocks, blocks_frame
from runlog.errors import OutsideRootError
from runlog.format.notes import NotesFile, RunNotes, read_notes, save_notes
from runlog.format.paths import resolve_inside
from runlog.format.rundirs import RUN_DEPTH, depth_of, run_rel
from runlog.read.activity import DEFAULT_LIVE_WINDOW, DEFAULT_STALL_WINDOW
from runlog.read.catalog import Catalog, CheckpointInfo, RunSummary
from runlog.read.index import COLUMNS_ABOVE, IndexCorrupt, RunIndex, columns_entry
from runlog.read.summary import LogKind, LogSummary
from runlog.read.tail import Mark
from runlog.read.watch import DEFAULT_POLL_INTERVAL, RunWatcher, get_watcher

if TYPE_CHECKING:
    import pandas as pd

    from runlog.read.episodes import EpisodeLog

__all__ = [
    "DEFAULT_MEMORY_MB",
    "MEMORY_ENV",
    "IndexProgress",
    "LogView",
    "RunProvider",
    "XAxis",
    "forget_providers",
    "get_provider",
    "memory_budget",
]

XAxis = Literal["steps", "episodes"]
MEMORY_ENV = "RUNLOG_MEMORY_MB"
DEFAULT_MEMORY_MB = 1024
FOREGROUND_READ = 8 << 20
"""New bytes a listing refresh reads of one log itself; more are read in the background."""
FALLBACK_RESCAN = 3.0
"""Seconds between full rescans while the watcher is not watching."""
SAVE_EVERY = 10.0
"""Seconds between two writes of the index while the background indexer works."""
BATCH_BYTES = 16 << 20
BATCH_RUNS = 512
"""The background reads runs in batches of up to BATCH_RUNS runs and BATCH_BYTES of logs (a
run with more is a batch of its own): the small logs of a batch are parsed together, as a
listing parses them. `runlog index` of 10,000 small runs: 20 s, against 47 s one run at a
time; a run a page opens is still read alone, before the next batch."""
SPARK_POINTS = 120

_revisions = itertools.count(1)


def memory_budget(env: Mapping[str, str] | None = None) -> int:
    """Bytes of columns the provider keeps in memory: RUNLOG_MEMORY_MB (default 1024)."""
    raw = (os.environ if env is None else env).get(MEMORY_ENV, "").strip()
    try:
        value = int(raw) if raw else DEFAULT_MEMORY_MB
    except ValueError:
        value = DEFAULT_MEMORY_MB
    return max(value, 1) << 20


@dataclass(frozen=True)
class IndexProgress:
    """How far the background reading of a cold root has come."""

    runs_done: int
    runs_total: int
    bytes_done: int
    bytes_total: int

    @property
    def complete(self) -> bool:
        return self.runs_done >= self.runs_total

    @property
    def fraction(self) -> float:
        if self.bytes_total > 0:
            return min(1.0, self.bytes_done / self.bytes_total)
        return 1.0 if self.runs_total == 0 else self.runs_done / self.runs_total

    def label(self) -> str:
        """E.g. "indexed 37 of 200 runs · 4.1 of 19 GB"."""
        return (
            f"indexed {self.runs_done:,} of {self.runs_total:,} runs · "
            f"{_gb(self.bytes_done)} of {_gb(self.bytes_total)}"
        )


def _gb(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            value = n / scale
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return f"{n} B"


@dataclass(frozen=True)
class LogView:
    """One log of an open run as of one refresh: what a page says about it beside its charts.

    `revision` changes whenever anything else does and is never reused in the process, so
    `(run, revision)` is a safe key for anything a page derives from the log."""

    revision: int
    rows: int
    problem: str | None
    bad_lines: tuple[int, ...]
    bad_line_count: int
    extras_keys: tuple[str, ...]
    status_counts: tuple[tuple[str, int], ...]


# -- derived series, extended as rows arrive ------------------------------------------------------


class _Curve:
    """One thinned curve of one log: `column` against `x`, raw and EMA-smoothed."""

    def __init__(self, column: str, x: XAxis, smooth: float, max_points: int) -> None:
        self.column, self.x, self.smooth, self.max_points = column, x, smooth, max_points
        self.token = -1
        self.n = 0
        self._reset()

    def _reset(self) -> None:
        names = ["raw", "smoothed"] if self.smooth > 0 else ["raw"]
        self.thinner = Thinner(names, max(self.max_points, 2 + 2 * len(names)))
        self.ema = EmaState(self.smooth) if self.smooth > 0 else None
        self.n = 0
        self.result: DownsampledMany | None = None

    def update(self, reader: EpisodeLog) -> DownsampledMany:
        view = reader.view(["step", self.column])
        if view.token != self.token or view.n < self.n:
            self._reset()
            self.token = view.token
        if self.result is None or view.n > self.n:
            values = view.arrays.get(self.column)
            if values is not None and view.n > self.n:
                new = values[self.n : view.n]
                xs = (
                    view.arrays["step"][self.n : view.n]
                    if self.x == "steps"
                    else np.arange(self.n, view.n, dtype=np.int64)
                )
                series = {"raw": new}
                if self.ema is not None:
                    series["smoothed"] = self.ema.extend(new)
                self.thinner.extend(xs, series)
                self.n = view.n
            self.result = self.thinner.result()
        return self.result


class _Smoothed:
    """One column smoothed over every row (a growable buffer), with the env steps."""

    def __init__(self, column: str, smooth: float) -> None:
        self.column, self.smooth = column, smooth
        self.token = -1
        self.n = 0
        self.ema = EmaState(smooth) if smooth > 0 else None
        self.buffer = np.empty(0, dtype=np.float64)

    def update(self, reader: EpisodeLog) -> tuple[npt.NDArray[Any], npt.NDArray[np.float64]]:
        view = reader.view(["step", self.column])
        if view.token != self.token or view.n < self.n:
            self.__init__(self.column, self.smooth)  # type: ignore[misc]
            self.token = view.token
        values = view.arrays.get(self.column)
        steps = view.arrays["step"]
        if values is None:
            return steps, np.full(view.n, np.nan)
        if view.n > self.n:
            new = values[self.n : view.n]
            smoothed = self.ema.extend(new) if self.ema is not None else new
            if view.n > len(self.buffer):
                grown = np.empty(max(view.n, 2 * len(self.buffer)), dtype=np.float64)
                grown[: self.n] = self.buffer[: self.n]
                self.buffer = grown
            self.buffer[self.n : view.n] = smoothed
            self.n = view.n
        out = self.buffer[: self.n]
        out.flags.writeable = False
        return steps, out

    @property
    def nbytes(self) -> int:
        return int(self.buffer.nbytes)


@dataclass
class _OpenRun:
    """A run a page opened: its train columns are attached, its derived series cached."""

    rel: str
    path: Path
    lock: threading.RLock = field(default_factory=threading.RLock)
    curves: dict[tuple[object, ...], _Curve] = field(default_factory=dict)
    smoothed: dict[tuple[object, ...], _Smoothed] = field(default_factory=dict)
    signatures: dict[str, tuple[int, int, int, int] | None] = field(default_factory=dict)
    revisions: dict[str, tuple[tuple[int, int, int], int]] = field(default_factory=dict)
    blocks: tuple[int, pd.DataFrame] | None = None
    reader: EpisodeLog | None = None

    def nbytes(self) -> int:
        columns = None if self.reader is None else self.reader.columns
        total = 0 if columns is None else columns.nbytes
        return total + sum(s.nbytes for s in self.smoothed.values())


# -- the provider ---------------------------------------------------------------------------------


class RunProvider:
    """Everything the front ends read about the runs under `root` (see the module doc).

    `index` makes restarts cheap (runlog.read.index); `watch` follows the tree with a file
    watcher (off: every `refresh` rescans), which polls every `poll_interval` s when `poll` or
    on a network filesystem (runlog.read.watch.watch_mode); `background` reads cold logs in a
    thread (off: `refresh` reads everything before it returns, as the command line wants), all
    but those with at most `foreground_read` new bytes, which `refresh` reads itself.
    Thread-safe.
    """

    def __init__(
        self,
        root: Path,
        *,
        live_window: float = DEFAULT_LIVE_WINDOW,
        stall_window: float = DEFAULT_STALL_WINDOW,
        index: RunIndex | None = None,
        memory_bytes: int | None = None,
        watch: bool = True,
        background: bool = True,
        foreground_read: int | None = None,
        poll: bool = False,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> None:
        self.root = Path(root).resolve()
        self.live_window = live_window
        self.stall_window = stall_window
        self.index = index
        self.memory_bytes = memory_budget() if memory_bytes is None else memory_bytes
        self.catalog = Catalog(self.root, live_window, stall_window, index=index)
        self.watcher: RunWatcher | None = None
        if watch:
            self.watcher = get_watcher(self.root, poll=poll, poll_interval=poll_interval)
        self._background = background
        self._foreground_read = FOREGROUND_READ if foreground_read is None else foreground_read
        self._lock = threading.RLock()
        self._cursor: int | None = None
        self._summaries: dict[str, RunSummary] = {}
        self._listing_revision = 0
        self._revision = 0
        self._last_scan = 0.0
        self._open: OrderedDict[str, _OpenRun] = OrderedDict()  # least recently used first
        self._indexer: threading.Thread | None = None
        self._current: list[Path] = []
        """The batch the background is reading."""
        self._queue: list[Path] = []
        self._first: list[Path] = []
        self._done_runs = 0
        self._done_bytes = 0
        self._stopping = False

    # -- listing ---------------------------------------------------------------------------

    @property
    def listing_revision(self) -> int:
        """Bumps whenever the set of runs changes (a run appeared or disappeared)."""
        with self._lock:
            return self._listing_revision

    @property
    def revision(self) -> int:
        """Bumps whenever any summary changes."""
        with self._lock:
            return self._revision

    @property
    def problem(self) -> str | None:
        """Why live updates fall back to timed rescans (watcher down), or None."""
        return None if self.watcher is None else self.watcher.problem

    @property
    def cache_problem(self) -> str | None:
        """Why the persistent index is not being written, or None."""
        return None if self.index is None else self.index.problem

    def refresh(self) -> bool:
        """Bring the listing up to date with the disk; True when anything changed.

        With a watcher only the runs it names are looked at again (a quiet root costs one
        stat); a structure change, the first call, or a watcher that is down rescans."""
        with self._lock:
            if self.watcher is None:
                return self._rescan(0)
            watching = self.watcher.ensure_alive()
            cursor, changed, structural = self.watcher.changes_since(self._cursor or 0)
            now = time.monotonic()
            if self._cursor is None or structural:
                return self._rescan(cursor)
            if not watching and now - self._last_scan >= FALLBACK_RESCAN:
                return self._rescan(cursor)
            self._cursor = cursor
            # A half-written metadata.json that stopped changing sends no event: it is looked
            # at again once it has been still for the stall window (then it reads corrupt).
            settled = set(self.catalog.settling())
            due = [s.path for s in self._summaries.values() if s.path in settled] if settled else []
            if not changed and not due:
                return False
            for key in changed:
                if key not in self._summaries:
                    return self._rescan(cursor)  # a run not listed yet: only a rescan knows
                self._summaries[key] = self.catalog.summary(
                    self.root / key, max_read=self._max_read(), changed=True
                )
            for path in due:
                summary = self.catalog.summary(path, max_read=self._max_read())
                self._summaries[summary.rel] = summary
            self._revision += 1
            self._queue_unread()
            return True

    def _max_read(self) -> int | None:
        return self._foreground_read if self._background else None

    def _rescan(self, cursor: int) -> bool:
        # The cursor was read before scanning: a change during the scan shows up next time.
        fresh = {s.rel: s for s in self.catalog.scan(max_read=self._max_read())}
        if set(fresh) != set(self._summaries):
            self._listing_revision += 1
        changed = fresh != self._summaries
        self._summaries = fresh
        self._cursor = cursor
        self._last_scan = time.monotonic()
        if changed:
            self._revision += 1
        self._queue_unread()
        if not self._background:
            self.catalog.save_index()
        return changed

    def runs(self) -> list[RunSummary]:
        """Every run under the root, sorted by name, with its state as of now (call
        `refresh` first for current data)."""
        now = time.time()
        with self._lock:
            summaries = [self._summaries[key] for key in sorted(self._summaries)]
        return [s.aged(now, self.live_window, self.stall_window) for s in summaries]

    def run(self, rel: str) -> RunSummary | None:
        """The summary of run `rel` ("name/version/run_id"), state as of now; None if not listed."""
        with self._lock:
            summary = self._summaries.get(rel)
        if summary is None:
            return None
        return summary.aged(time.time(), self.live_window, self.stall_window)

    def summary_of(self, run_dir: Path) -> RunSummary:
        """The summary of one run directory, its logs read in full (a front end that looks at
        one run, such as `runlog show`, needs no listing of the root)."""
        summary = self.catalog.summary(Path(run_dir), max_read=None)
        self.catalog.save_index()
        return summary.aged(time.time(), self.live_window, self.stall_window)

    def run_path(self, rel: str) -> Path:
        """The directory of run `rel`, checked to lie inside the root (OutsideRootError)."""
        return resolve_inside(self.root, rel)

    def rel_of(self, candidate: str) -> str:
        """`candidate` (from a page or a URL) as a canonical root-relative path ("." for the
        root). Raises OutsideRootError for anything outside the root."""
        return run_rel(self.root, resolve_inside(self.root, candidate))

    # -- live pages ------------------------------------------------------------------------

    def cursor(self) -> int:
        """A cursor for `changed`: what happened after now is new to its holder."""
        return 0 if self.watcher is None else self.watcher.cursor()

    def changed(self, cursor: int, rels: Collection[str]) -> tuple[int, bool]:
        """(new cursor, whether any run of `rels` may have changed since `cursor`).

        One stat of the root and a look at the watcher's counters; no file of any run is
        touched. A structure change counts as a change, and so does every poll while the
        watcher is not watching (the caller's own checks, the stats of `log`, decide)."""
        if self.watcher is None:
            return cursor, True
        watching = self.watcher.ensure_alive()
        new_cursor, changed, structural = self.watcher.changes_since(cursor)
        if not watching:
            return new_cursor, True
        return new_cursor, structural or not changed.isdisjoint(rels)

    # -- background indexing ---------------------------------------------------------------

    def _queue_unread(self) -> None:
        unread = self.catalog.unread()
        if not unread:
            return
        queued = set(self._queue)
        self._queue.extend(p for p in unread if p not in queued)
        if self._background:
            if self._indexer is None or not self._indexer.is_alive():
                self._stopping = False
                self._indexer = threading.Thread(
                    target=self._index_all, name=f"runlog-index {self.root}", daemon=True
                )
                self._indexer.start()
        else:
            self._index_now()

    def _index_now(self) -> None:
        while self._queue:
            self._index_batch(self._take_batch())
        self.catalog.save_index()

    def _take_batch(self) -> list[Path]:
        """The next runs of the queue to read together (under the lock, or in the caller's
        thread): at least one, then while they stay within BATCH_RUNS and BATCH_BYTES."""
        total, end = 0, 0
        for path in self._queue[:BATCH_RUNS]:
            size = self._log_bytes(path)
            if end and total + size > BATCH_BYTES:
                break
            total, end = total + size, end + 1
        batch = self._queue[:end]
        del self._queue[:end]
        return batch

    def _log_bytes(self, path: Path) -> int:
        """The listed size of a queued run's logs: what reading them costs (0 if unlisted)."""
        listed = self._summaries.get(run_rel_of(path))
        return 0 if listed is None else listed.log_bytes

    def _index_all(self) -> None:
        last_save = time.monotonic()
        while not self._stopping:
            with self._lock:
                if self._first:
                    # A run a page opened: read alone, before the rest.
                    path = self._first.pop(0)
                    if path in self._queue:
                        self._queue.remove(path)
                    batch = [path]
                elif self._queue:
                    batch = self._take_batch()
                else:
                    break
                self._current = list(batch)
            try:
                self._index_batch(batch)
            finally:
                with self._lock:
                    self._current = []
            if time.monotonic() - last_save >= SAVE_EVERY:
                self.catalog.save_index()
                last_save = time.monotonic()
        self.catalog.save_index()

    def _index_batch(self, paths: list[Path]) -> None:
        read: dict[Path, int] = {}

        def progress(path: Path, n: int) -> None:
            read[path] = n

        self.catalog.read_logs(paths, progress)
        for path in paths:
            summary = self.catalog.summary(path, max_read=None)
            with self._lock:
                self._done_runs += 1
                self._done_bytes += read.get(path, 0)
                if path in self._current:  # counted once: done, no longer waiting
                    self._current.remove(path)
                if summary.rel in self._summaries:
                    self._summaries[summary.rel] = summary
                    self._revision += 1

    def progress(self) -> IndexProgress:
        """How far reading the logs of a cold root has come (complete once all are read)."""
        with self._lock:
            waiting = [*self._queue, *self._current]
            left = sum(self._log_bytes(p) for p in waiting)
            runs_left = len(waiting)
            return IndexProgress(
                runs_done=self._done_runs,
                runs_total=self._done_runs + runs_left,
                bytes_done=self._done_bytes,
                bytes_total=self._done_bytes + left,
            )

    def wait_indexed(self, timeout: float | None = None) -> bool:
        """Wait for the background reading to finish (tests, benchmarks); True when done."""
        indexer = self._indexer
        if indexer is not None:
            indexer.join(timeout)
            return not indexer.is_alive()
        return True

    def stop(self) -> None:
        """Stop the background reading (its current run is finished first)."""
        self._stopping = True
        self.wait_indexed()

    # -- one run ---------------------------------------------------------------------------

    def _opened(self, rel: str) -> _OpenRun:
        """The open run `rel`, its train columns attached and brought up to date. The name is
        checked against the root when the run is opened (a page asks for an open run's data
        ten times a rerun; the check resolves symlinks, which costs system calls)."""
        with self._lock:
            opened = self._open.get(rel)
        if opened is None:
            path = self.run_path(rel)
            if depth_of(run_rel(self.root, path)) != RUN_DEPTH:
                raise OutsideRootError(f"refusing run {rel!r}: not a name/version/run_id path")
            with self._lock:
                opened = self._open.setdefault(rel, _OpenRun(rel, path))
                if path in self._queue:
                    self._first.append(path)  # indexed first, if the background gets to it
        with self._lock:
            if rel in self._open:
                self._open.move_to_end(rel)
            else:  # dropped by the memory budget meanwhile: open it again
                self._open[rel] = opened
        path = opened.path
        with opened.lock:
            reader = self.catalog.reader(path, "train")
            opened.reader = reader
            if not reader.has_columns:
                self._attach(opened, reader)
            else:
                self._freshen(opened, "train", reader)
        self._enforce_budget(keep=rel)
        return opened

    def _attach(self, opened: _OpenRun, reader: EpisodeLog) -> None:
        """Give the reader its columns: from the index when it holds them for this very file,
        else by reading the log from its start (writing its columns to the index)."""
        entry = self.catalog.indexed_columns(opened.path, "train")
        attached = False
        if entry is not None and self.index is not None:
            try:
                columns = self.index.load_columns(entry, "train")
                reader.restore(
                    Mark.from_json(entry["mark"]),
                    LogSummary.from_json(entry["summary"], "train"),
                    [str(s) for s in entry["statuses"]],
                    columns,
                )
                attached = True
            except (IndexCorrupt, KeyError, TypeError, ValueError):
                attached = False
        if attached:
            opened.signatures["train"] = _stat(reader.path)
            try:
                reader.refresh()
            except IndexCorrupt:
                # Rows appended to a restored column check it first: this one was damaged.
                attached = False
        writer = None
        if not attached:
            reader.reread(columns=True)
            size = _size(reader.path)
            if self.index is not None and size >= COLUMNS_ABOVE:
                writer = self.index.column_writer(self.root, opened.rel, "train")
            opened.signatures["train"] = _stat(reader.path)
            reader.refresh(sink=writer)
        self.catalog.record(opened.path, "train", columns_entry(writer))
        self._resummarise(opened)

    def _freshen(self, opened: _OpenRun, kind: LogKind, reader: EpisodeLog) -> None:
        """Read what was appended to the log since the last look (a stat when nothing was)."""
        signature = _stat(reader.path)
        if signature is not None and signature == opened.signatures.get(kind):
            return
        opened.signatures[kind] = signature
        before = reader.revision
        try:
            reader.refresh()
        except IndexCorrupt:  # a restored column, checked as rows are appended to it
            self._reread(opened, reader)
        if reader.revision != before:
            self.catalog.record(opened.path, kind)
            self._resummarise(opened)

    def _resummarise(self, opened: _OpenRun) -> None:
        """The listing follows what a page read (a live run's headline and row agree)."""
        summary = self.catalog.summary(opened.path, max_read=self._max_read())
        with self._lock:
            if self._summaries.get(summary.rel, summary) != summary:
                self._summaries[summary.rel] = summary
                self._revision += 1

    def _enforce_budget(self, keep: str) -> None:
        """Drop the columns of the least recently used open runs until the rest fit the
        memory budget (the run `keep`, being read now, stays). A page that asks for a dropped
        run again gets it back from the index or its log."""
        victims: list[_OpenRun] = []
        with self._lock:
            total = sum(o.nbytes() for o in self._open.values())
            for rel in list(self._open):
                if total <= self.memory_bytes:
                    break
                if rel == keep:
                    continue
                victim = self._open.pop(rel)
                total -= victim.nbytes()
                victims.append(victim)
        for victim in victims:  # outside the provider's lock: a page may hold the run's lock
            with victim.lock:
                if victim.reader is not None:
                    victim.reader.drop_columns()
                victim.curves.clear()
                victim.smoothed.clear()
                victim.blocks = None

    def open_bytes(self) -> int:
        """Bytes held by the columns and series of open runs (for diagnostics)."""
        with self._lock:
            return sum(o.nbytes() for o in self._open.values())

    def open_runs(self) -> list[str]:
        """The runs whose columns are in memory, least recently used first."""
        with self._lock:
            return list(self._open)

    def _with_columns(self, rel: str, use: Any) -> Any:
        """`use(opened, reader)` on the open run; a column that fails its index checksum
        makes the log be read again from its start, once."""
        opened = self._opened(rel)
        with opened.lock:
            assert opened.reader is not None
            try:
                return use(opened, opened.reader)
            except IndexCorrupt:
                self._reread(opened, opened.reader)
                return use(opened, opened.reader)

    def _reread(self, opened: _OpenRun, reader: EpisodeLog) -> None:
        """Read the log again from its start: a column the index gave failed its checksum."""
        opened.curves.clear()
        opened.smoothed.clear()
        reader.reread(columns=True)
        reader.refresh()
        self.catalog.record(opened.path, reader.kind)

    def series(
        self,
        rel: str,
        column: str = "reward",
        *,
        x: XAxis = "steps",
        smooth: float = 0.0,
        max_points: int,
    ) -> DownsampledMany:
        """`column` of run `rel`'s train log ("reward", "length" or "extras.<key>") against
        env steps or episodes: raw, and EMA-smoothed over EVERY episode when `smooth` > 0,
        thinned together to at most `max_points` positions (spikes kept). Cached by the log's
        revision and the parameters; a live run's new episodes extend it."""

        def use(opened: _OpenRun, reader: EpisodeLog) -> DownsampledMany:
            key = (column, x, float(smooth), int(max_points))
            curve = opened.curves.get(key)
            if curve is None:
                curve = opened.curves[key] = _Curve(column, x, float(smooth), int(max_points))
            return curve.update(reader)

        result: DownsampledMany = self._with_columns(rel, use)
        return result

    def smoothed(
        self, rel: str, column: str = "reward", smooth: float = 0.0
    ) -> tuple[npt.NDArray[Any], npt.NDArray[np.float64]]:
        """(env steps, `column` smoothed over every episode) of run `rel`'s train log, in full
        (read-only): what seed statistics interpolate. `smooth` 0 gives the raw values."""

        def use(
            opened: _OpenRun, reader: EpisodeLog
        ) -> tuple[npt.NDArray[Any], npt.NDArray[np.float64]]:
            key = (column, float(smooth))
            series = opened.smoothed.get(key)
            if series is None:
                series = opened.smoothed[key] = _Smoothed(column, float(smooth))
            return series.update(reader)

        result: tuple[npt.NDArray[Any], npt.NDArray[np.float64]] = self._with_columns(rel, use)
        return result

    def recent_rewards(self, rel: str, n: int = SPARK_POINTS) -> tuple[float, ...]:
        """The last `n` finite train rewards of run `rel` (a sparkline)."""

        def use(_opened: _OpenRun, reader: EpisodeLog) -> tuple[float, ...]:
            rewards = reader.view(["reward"]).arrays["reward"]
            take = 2 * n
            while True:
                tail = rewards[-take:]
                finite = tail[np.isfinite(tail)]
                if len(finite) >= n or take >= len(rewards):
                    return tuple(finite[-n:].tolist())
                take *= 4

        result: tuple[float, ...] = self._with_columns(rel, use)
        return result

    def log(self, rel: str, kind: LogKind) -> LogView:
        """One log of run `rel` as of now (its new lines read first)."""
        if kind == "train":
            opened = self._opened(rel)
            reader = opened.reader
            assert reader is not None
        else:
            opened, reader = self._eval(rel)
        stats = reader.stats()
        columns = reader.columns
        identity = (id(reader), reader.revision, -1 if columns is None else columns.token)
        with opened.lock:
            seen = opened.revisions.get(kind)
            if seen is None or seen[0] != identity:
                seen = opened.revisions[kind] = (identity, next(_revisions))
        problem = reader.problem
        if problem is None and kind == "train" and opened.signatures.get("train") is None:
            problem = f"{reader.path} does not exist yet (no episode logged)"
        return LogView(
            revision=seen[1],
            rows=stats.records,
            problem=problem,
            bad_lines=stats.bad_lines,
            bad_line_count=stats.bad_line_count,
            extras_keys=stats.extras_keys,
            status_counts=stats.status_counts,
        )

    def _eval(self, rel: str) -> tuple[_OpenRun, EpisodeLog]:
        """The eval reader of run `rel`, its blocks kept (an eval log needs no columns)."""
        opened = self._opened(rel)
        with opened.lock:
            reader = self.catalog.reader(opened.path, "eval")
            if not reader.summary.continuable:
                # Restored from the index with its results only: its blocks need its rows.
                reader.reread(columns=False)
                opened.signatures.pop("eval", None)
            self._freshen(opened, "eval", reader)
            return opened, reader

    def eval_blocks(self, rel: str) -> pd.DataFrame:
        """Run `rel`'s eval blocks (columns `runlog.analysis.evals.BLOCK_COLUMNS`), sorted by
        step; updated block by block as eval episodes arrive."""
        opened, reader = self._eval(rel)
        with opened.lock:
            blocks = reader.summary.blocks or EvalBlocks()
            cached = opened.blocks
            if cached is None or cached[0] != reader.revision:
                table = blocks.table() if len(blocks) else blocks_frame([])
                opened.blocks = cached = (reader.revision, table.loc[:, list(BLOCK_COLUMNS)])
            return cached[1]

    def best_eval(self, rel: str) -> EvalBlock | None:
        """When best.mpk was written: the first eval block with the highest mean."""
        _opened, reader = self._eval(rel)
        blocks = reader.summary.blocks
        return None if blocks is None else blocks.best()

    def checkpoints(self, rel: str) -> tuple[CheckpointInfo, ...]:
        summary = self.run(rel)
        return () if summary is None else summary.checkpoints

    def notes(self, rel: str) -> NotesFile:
        """Run `rel`'s tags and note read now, with the identity `save_notes` checks."""
        return read_notes(self._run_dir(rel))

    def save_notes(
        self, rel: str, notes: RunNotes, expected: str, *, replace_unreadable: bool = False
    ) -> NotesFile:
        """Write run `rel`'s tags and note unless runlog.json changed since it was read with
        identity `expected` (runlog.format.notes.save_notes: ConflictError, NotesError). The
        listing shows them at once (a watcher would tell the other processes)."""
        path = self._run_dir(rel)
        written = save_notes(path, notes, expected, replace_unreadable=replace_unreadable)
        summary = self.catalog.summary(path, max_read=self._max_read())
        with self._lock:
            if summary.rel in self._summaries and self._summaries[summary.rel] != summary:
                self._summaries[summary.rel] = summary
                self._revision += 1
        return written

    def _run_dir(self, rel: str) -> Path:
        """The directory of run `rel`, checked to be a name/version/run_id inside the root."""
        path = self.run_path(rel)
        if depth_of(run_rel(self.root, path)) != RUN_DEPTH:
            raise OutsideRootError(f"refusing run {rel!r}: not a name/version/run_id path")
        return path

    def config(self, rel: str) -> tuple[object | None, str | None]:
        """Run `rel`'s config.json (any JSON value), or None with the problem in words."""
        from runlog.analysis.configs import load_config  # pandas: not for a plain listing

        return load_config(self.run_path(rel))


def run_rel_of(path: Path) -> str:
    parts = path.parts
    return "/".join(parts[-RUN_DEPTH:])


def _stat(path: Path) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


# -- one provider per root and process ------------------------------------------------------------

_REGISTRY: dict[tuple[Path, float, float, bool, float], RunProvider] = {}
_REGISTRY_LOCK = threading.Lock()


def get_provider(
    root: Path,
    live_window: float = DEFAULT_LIVE_WINDOW,
    stall_window: float = DEFAULT_STALL_WINDOW,
    *,
    make_index: Callable[[], RunIndex | None] | None = None,
    poll: bool = False,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
) -> RunProvider:
    """The process-wide provider of `root` with these settings (shared by every session of a
    dashboard, and kept across edits of the app). `make_index` gives its persistent index
    when the provider is created (default: none); `poll` and `poll_interval` go to its watcher
    (which is shared per root: the first settings for a root win)."""
    key = (
        Path(os.path.expanduser(root)).resolve(),
        live_window,
        stall_window,
        poll,
        poll_interval,
    )
    with _REGISTRY_LOCK:
        provider = _REGISTRY.get(key)
        if provider is None:
            provider = _REGISTRY[key] = RunProvider(
                key[0],
                live_window=live_window,
                stall_window=stall_window,
                index=None if make_index is None else make_index(),
                poll=poll,
                poll_interval=poll_interval,
            )
        return provider


def forget_providers() -> None:
    """Stop and drop every registered provider (tests; runlog.read.watch stops the watchers)."""
    with _REGISTRY_LOCK:
        providers = list(_REGISTRY.values())
        _REGISTRY.clear()
    for provider in providers:
        provider.stop()

