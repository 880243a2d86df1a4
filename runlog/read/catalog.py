"""Every run under a root, summarised: what `runlog ls` prints and the run browser shows.

    <root>/                         or a name, a version or a run directory itself
        <name>/<version>/<run_id>/  a run (runlog.format.rundirs says what counts as one)
            metadata.json        -> metadata, or the problem with it        (cheap)
            checkpoints/*.mpk    -> steps present, latest, best, sizes       (cheap)
            (every file)         -> disk size; the newest write -> state     (cheap)
            runlog.json          -> tags and note (runlog.format.notes)     (small: read on change)
            train_episodes.jsonl -> episodes, env steps, last / best reward, statuses, bad lines
            eval_episodes.jsonl  -> eval episodes, best eval block           (read the logs)

Per log the catalog keeps a reader in summary mode (runlog.read.episodes: a few hundred bytes
whatever the log's length), so a rescan reads only appended bytes. A small log read from its
start (a cold root's) gets no reader: its figures and where the read stopped come from one
parse of many such logs (`read_first`), pyarrow parsing one chunk of them in a thread while
the scan looks at the next runs; a reader is made from there when the log grows or a page
opens it. With a persistent index
(runlog.read.index), a log whose stat has not changed since it was indexed is listed without
being opened, a grown one is read from its indexed offset, and a log read from its start has
its columns written to the index as it is parsed (when it is big enough to be worth it).

A run whose every input is settled also gets a *row*: its whole summary, flat, under the
stats it was made from (`_row_key`: the run directory's and checkpoints/'s inode and mtime,
the signatures of metadata.json, both logs and runlog.json). While none of them moves, the
summary stands: a rescan costs the run four stats, and a restart rebuilds the summary from the
index row without taking apart the run's entry (its readers and metadata are built from that
entry only when something needs them: `_Run.unpack`). A directory changed less than
RACY_SECONDS before it was listed may have gained a file in the same mtime tick: its run gets
no row until it has settled.

`scan(max_read=...)` bounds the work: a log needing more new bytes than that is left for
later, its figures None (`RunSummary.indexed` is False) until `read_logs` reads it. The
dashboard lists a cold root at once this way and indexes in the background.

metadata.json is rewritten in place by the crate after every episode, so a scan can catch it
empty or cut short: such a read is retried once; if it is still half-written, the last good
copy is served (with no problem shown), or, for a run never read whole, the problem says so.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from runlog.analysis.evals import EvalBlock
from runlog.format.layout import (
    BEST_CHECKPOINT,
    CHECKPOINTS_DIR,
    EVAL_LOG,
    LATEST_CHECKPOINT,
    METADATA_FILE,
    NOTES_FILE,
    TRAIN_LOG,
    parse_checkpoint_step,
)
from runlog.format.metadata import read_metadata_file
from runlog.format.notes import NotesFile, read_notes
from runlog.format.records import RunMetadata, metadata_fields
from runlog.format.rundirs import FoundDir, looks_like_run, walk_runs
from runlog.read.activity import (
    DEFAULT_LIVE_WINDOW,
    DEFAULT_STALL_WINDOW,
    RunState,
    classify,
    last_activity,
    updated_at,
)
from runlog.read.index import RootFile
from runlog.read.summary import LogKind, LogStats, stats_from_json, stats_from_row, stats_row
from runlog.record import record

if TYPE_CHECKING:
    from runlog.read.episodes import EpisodeLog, FirstLoad, FirstRead
    from runlog.read.index import ColumnWriter, RunIndex
    from runlog.read.summary import LogSummary
    from runlog.read.tail import Mark

__all__ = [
    "DEFAULT_LIVE_WINDOW",
    "DEFAULT_STALL_WINDOW",
    "Catalog",
    "CheckpointInfo",
    "RunState",
    "RunSummary",
    "scan_runs",
]

METADATA_RETRY_DELAY = 0.02
"""Seconds to wait before the one re-read of a half-written metadata.json."""
LOOK_CHUNK = 500
"""Runs a scan looks at under one hold of the catalog's lock (its reads go on meanwhile)."""
READ_CHUNK_LOGS = 1000
"""Logs to read that make a scan read in a thread, chunk by chunk (see `_Reading`)."""
FILES_STEP = 16
"""Runs whose checkpoints a scan lists at a time while it waits for a chunk's parse."""
SAVE_EVERY = 5.0
"""Seconds at least between two writes of the index by `scan` (`save_index` writes now)."""
RACY_SECONDS = 2.0
"""A directory's mtime moves in clock ticks (1-10 ms on a local disk; a network mount's comes
from the server's clock), so an entry added in the tick of our listing leaves it unchanged.
A listing of a directory changed less than this long before is not kept for later looks (no
`_Files` key, no row): they list it again. Git's "racy" rule, for the same reason."""

_Signature = tuple[int, int, int, int]  # (st_ino, st_size, st_mtime_ns, st_ctime_ns)
_RowKey = tuple[object, ...]
"""(run dir (ino, mtime), checkpoints/ (ino, mtime), metadata.json, train log, eval log,
runlog.json signatures): `_row_key`."""
ROW_FORMAT = 1
"""The layout of an index run row (`_summary_row`); another number is not read."""
_STATTED = frozenset({METADATA_FILE, TRAIN_LOG, EVAL_LOG})
_LOG_FILES: dict[LogKind, str] = {"train": TRAIN_LOG, "eval": EVAL_LOG}


@record
class CheckpointInfo:
    """One checkpoint file: `step_<N>.mpk` (step N), `latest.mpk` or `best.mpk`."""

    name: str
    run_dir: Path
    """The run's directory, shared by its checkpoints and its summary (a path each would cost
    thousands of objects on a big root, and a join each 4% of a warm restart)."""
    step: int | None
    size: int
    mtime: float
    is_latest: bool
    is_best: bool

    @property
    def directory(self) -> Path:
        """The run's checkpoints/ directory."""
        return self.run_dir / CHECKPOINTS_DIR

    @property
    def path(self) -> Path:
        return self.directory / self.name

    def to_json(self) -> list[Any]:
        return [self.name, self.step, self.size, self.mtime, self.is_latest, self.is_best]


@record
class RunSummary:
    """One run as the catalog sees it. `problem` says in words what is wrong, or is None.
    `train` / `eval` are None while the logs have not been read yet (a first start)."""

    path: Path
    rel: str
    """"name/version/run_id": the last three components of `path`."""
    name: str
    version: str
    run_id: str
    metadata: RunMetadata | None
    problem: str | None
    train: LogStats | None
    eval: LogStats | None
    checkpoints: tuple[CheckpointInfo, ...]
    disk_bytes: int
    log_bytes: int
    """Size of the two episode logs: what reading them costs."""
    last_write: float | None
    """When the run last wrote (runlog.read.activity.last_activity: the newest mtime of its logs
    and metadata.json, or metadata.json's last_updated when its files were copied)."""
    state: RunState
    tags: tuple[str, ...] = ()
    """The run's tags (runlog.json; runlog.format.notes)."""
    note: str = ""
    """The run's free-text note (runlog.json)."""

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def indexed(self) -> bool:
        """Whether the logs' figures are known (False: not read yet)."""
        return self.train is not None and self.eval is not None

    @property
    def train_episodes(self) -> int:
        return 0 if self.train is None else self.train.records

    @property
    def eval_episodes(self) -> int:
        return 0 if self.eval is None else self.eval.records

    @property
    def total_steps(self) -> int:
        """Sum of the train episodes' lengths (the env step reached by logged episodes)."""
        return 0 if self.train is None else self.train.total_steps

    @property
    def last_reward(self) -> float | None:
        """The last train episode's reward (None when there is none, or it was null)."""
        return None if self.train is None else self.train.last_reward

    @property
    def best_reward(self) -> float | None:
        """The highest finite train episode reward, or None."""
        return None if self.train is None else self.train.best_reward

    @property
    def best_eval(self) -> EvalBlock | None:
        return None if self.eval is None else self.eval.best_eval

    @property
    def train_bad_lines(self) -> tuple[int, ...]:
        return () if self.train is None else self.train.bad_lines

    @property
    def eval_bad_lines(self) -> tuple[int, ...]:
        return () if self.eval is None else self.eval.bad_lines

    @property
    def checkpoint_steps(self) -> tuple[int, ...]:
        """Steps of the `step_<N>.mpk` checkpoints present, ascending."""
        return tuple(c.step for c in self.checkpoints if c.step is not None)

    @property
    def has_latest(self) -> bool:
        return any(c.is_latest for c in self.checkpoints)

    @property
    def has_best(self) -> bool:
        return any(c.is_best for c in self.checkpoints)

    def aged(self, now: float, live_window: float, stall_window: float) -> RunSummary:
        """This summary with its state as of `now` (a state ages as the clock moves on)."""
        state = classify(self.last_write, now, live_window, stall_window)
        return self if state is self.state else dataclasses.replace(self, state=state)


# -- helpers ------------------------------------------------------------------------------------


FREEZE_AFTER = 100_000
"""Objects a listing may leave behind before `gc_paused` freezes them (see there)."""


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic collector held off while thousands of runs are listed: each of its
    passes walks every live object, and listing 10,000 runs allocates enough to set off dozens
    (half the time of a restart, measured). The objects made here hold no cycles to collect.

    A listing that leaves more than FREEZE_AFTER new objects (a restart on a big root: the
    index's rows and a summary per run) ends with `gc.freeze()`: those objects live as long
    as the catalog, and the collector's next passes would otherwise walk them all (on 10,000
    runs the first allocations after the restart cost 1.2-1.9 s of collections). Frozen
    objects are still freed when their last reference goes; a cycle among them would not be,
    which is why small listings (a rescan) leave the collector as it was."""
    was_enabled = gc.isenabled()
    gc.disable()
    before = gc.get_count()[0]
    try:
        yield
    finally:
        if was_enabled:
            if gc.get_count()[0] - before > FREEZE_AFTER:
                gc.freeze()
            gc.enable()


def _by_name(entries: Iterable[os.DirEntry[str]]) -> dict[str, os.DirEntry[str]]:
    return {e.name: e for e in entries}


@dataclass(frozen=True)
class _Load:
    """Logs to read, the first step taken (`Catalog._load`)."""

    rest: list[_Log]
    """Read by their readers."""
    first: list[_Log]
    first_load: FirstLoad | None
    """`first`'s bytes, loaded for `read_first`."""


class _Reading:
    """The logs a scan must read, loaded as its looks find them. Once there are
    READ_CHUNK_LOGS of them (a cold root), pyarrow parses each chunk in a thread while the
    scan looks at the next runs and lists their checkpoints; everything else stays in the
    scan's thread (`finish`): Python code in the other thread would hold the GIL while this
    one waits for it after every system call, and made the scan slower, measured. A few logs
    (a rescan) are read by `finish` alone.

    `idle()`: a step of other work of the scan's, done while a chunk it needs is still being
    parsed (False: nothing is left to do). Without it the scan waited 0.12-0.6 s of a 3.5 s
    cold scan of 10,000 small runs on two cores."""

    def __init__(
        self,
        load: Callable[[list[_Log]], _Load],
        read: Callable[[_Load], None],
        idle: Callable[[], bool] | None = None,
    ) -> None:
        self._load = load
        self._read = read
        self._idle = idle
        self._pending: list[_Log] = []
        self._pool: ThreadPoolExecutor | None = None
        self._loads: list[tuple[_Load, Future[None] | None]] = []

    @property
    def threaded(self) -> bool:
        return self._pool is not None

    def add(self, logs: list[_Log]) -> None:
        self._pending.extend(logs)
        if len(self._pending) >= READ_CHUNK_LOGS:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="runlog-scan")
            load = self._load(self._pending)
            self._pending = []
            first = load.first_load
            future = None if first is None else self._pool.submit(first.prepare)
            # The chunk before is taken in while this one parses: the bytes of two chunks at
            # most are held.
            self._take_in()
            self._loads.append((load, future))

    def _take_in(self) -> None:
        loads, self._loads = self._loads, []
        for load, future in loads:
            if future is not None:
                idle = self._idle
                while idle is not None and not future.done():
                    if not idle():
                        idle = None
                future.result()
            self._read(load)

    def finish(self) -> None:
        """Read what is left and take in every chunk, in order (raising what a read raised)."""
        try:
            if self._pending:
                self._loads.append((self._load(self._pending), None))
                self._pending = []
            self._take_in()
        finally:
            self._loads = []
            if self._pool is not None:
                self._pool.shutdown(wait=True)


def _signature(st: os.stat_result) -> _Signature:
    # ctime too: a chmod that makes an unreadable file readable changes nothing else.
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _racy(*directories: os.stat_result | None) -> bool:
    """Whether one of `directories` changed too recently for a listing taken now to stand
    (RACY_SECONDS)."""
    since = time.time_ns() - int(RACY_SECONDS * 1e9)
    return any(st is not None and st.st_mtime_ns > since for st in directories)


def _list(directory: str | Path) -> tuple[os.DirEntry[str], ...]:
    with os.scandir(directory) as it:
        return tuple(it)


def _tree_bytes(directory: str | Path) -> int:
    """Sum of file sizes under `directory`, symlinks counted as themselves, not followed."""
    total = 0
    try:
        entries = _list(directory)
    except OSError:
        return 0
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                total += _tree_bytes(entry.path)
            else:
                total += entry.stat(follow_symlinks=False).st_size
        except OSError:
            continue
    return total


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _metadata_from(obj: Any) -> RunMetadata:
    metadata = RunMetadata(**obj)
    for name in ("name", "version", "run_id", "started_at", "last_updated"):
        if not isinstance(getattr(metadata, name), str):
            raise TypeError(f"metadata field {name} is not a string")
    for name in ("total_steps", "total_episodes"):
        value = getattr(metadata, name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"metadata field {name} is not a whole number")
    return metadata


class _Log:
    """One episode log of one run: its reader (created when the log must be read), what the
    index holds of it, and its figures as of the last look."""

    def __init__(self, run: _Run, kind: LogKind, indexed: Any) -> None:
        self.run = run
        self.kind: LogKind = kind
        self.reader: EpisodeLog | None = None
        self.indexed: dict[str, Any] | None = indexed if isinstance(indexed, dict) else None
        self.signature: _Signature | None = None
        """The file's stat when the figures were last settled (None: settle again)."""
        self.seen: _Signature | None = None
        """The stat the last `look` took (a read that follows settles under it)."""
        self.size = 0
        self.stats: LogStats | None = None

    @property
    def name(self) -> str:
        return _LOG_FILES[self.kind]

    @property
    def path(self) -> Path:
        """The log's path, made when asked (a reader, the column writer): a cold scan opens
        its small logs by `file` and makes none."""
        return self.run.path / self.name

    @property
    def file(self) -> str:
        """The log's path as text, for the system calls that read it."""
        return f"{self.run.path}{os.sep}{self.name}"

    def look(self, st: os.stat_result | None) -> int:
        """Take the file's stat; return how many bytes must be read to bring the figures up
        to date (0: none; the figures are settled from memory or the index)."""
        if st is None:
            # Not there (yet): no episode logged. A reader that had read it starts over.
            if self.reader is not None and self.reader.mark is not None:
                self.reader.refresh()
            self.signature, self.size, self.indexed = None, 0, None
            self.stats = LogStats(self.kind)
            return 0
        signature = _signature(st)
        self.seen = signature
        self.size = st.st_size
        reader = self.reader
        if (
            signature == self.signature
            and self.stats is not None
            and (reader is None or reader.problem is None)
        ):
            return 0
        if (
            reader is None
            and self.indexed is not None
            and self.indexed.get("signature") == list(signature)
        ):
            try:
                self.stats = stats_from_json(self.indexed["summary"], self.kind)
                self.signature = signature
                return 0
            except (KeyError, TypeError, ValueError):
                self.indexed = None  # not what was written: read the log instead
        start = 0
        if reader is not None:
            start = reader.offset
        elif self.indexed is not None:
            start = _indexed_offset(self.indexed)
        return max(1, st.st_size - start) if st.st_size >= start else st.st_size


def _indexed_offset(entry: dict[str, Any]) -> int:
    try:
        return int(entry["mark"]["offset"])
    except (KeyError, TypeError, ValueError):
        return 0


@dataclass(frozen=True)
class _Files:
    """A run's checkpoints and disk size, and the stats they were taken under: the run
    directory's, its checkpoints/ directory's, and its logs' and metadata's signatures.
    While none of them moves, no file was added, removed or written by a trainer, and the
    listing stands (a checkpoint rewritten in place with no other write is not seen, unless
    a watcher tells: `Catalog.summary(changed=True)`). A listing of a directory changed
    within RACY_SECONDS gets no key: it is not kept."""

    key: tuple[object, ...]
    checkpoints: tuple[CheckpointInfo, ...]
    checkpoint_bytes: int
    other_bytes: int

    def to_json(self) -> dict[str, Any]:
        return {
            "key": list(self.key),
            "checkpoints": [c.to_json() for c in self.checkpoints],
            "checkpoint_bytes": self.checkpoint_bytes,
            "other_bytes": self.other_bytes,
        }

    @staticmethod
    def from_json(obj: Any, run_dir: Path) -> _Files:
        checkpoints = tuple(
            CheckpointInfo(
                name=str(name),
                run_dir=run_dir,
                step=None if step is None else int(step),
                size=int(size),
                mtime=float(mtime),
                is_latest=bool(latest),
                is_best=bool(best),
            )
            for name, step, size, mtime, latest, best in obj["checkpoints"]
        )
        return _Files(
            key=tuple(_tuple(k) for k in obj["key"]),
            checkpoints=checkpoints,
            checkpoint_bytes=int(obj["checkpoint_bytes"]),
            other_bytes=int(obj["other_bytes"]),
        )


def _tuple(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


class _Run:
    """One run as the catalog follows it. A run listed from its index row (`revived`) holds
    only that row's summary and its index entry as read; the entry is taken apart and the
    logs' state built when something needs more (`unpack`): a look that finds a file changed,
    a reader asked for, a save."""

    def __init__(self, path: Path, key: str, indexed: Any, *, revived: bool = False) -> None:
        self.path = path
        self.key = key
        self._train: _Log | None = None
        self._eval: _Log | None = None
        self._indexed_logs: tuple[Any, Any] = (None, None)
        self._saved: tuple[memoryview, memoryview] | None = indexed if revived else None
        """A revived run's (row, entry) as the index stores them (decoded by `unpack`)."""
        self.revived = revived
        """Listed from its index row, not looked at in full since (see the class doc)."""
        self.metadata_signature: _Signature | None = None
        self.metadata: RunMetadata | None = None
        self.metadata_problem: str | None = None
        self.last_good: RunMetadata | None = None
        self.indexed_metadata: Any = None
        self.indexed_files: Any = None
        self.files: _Files | None = None
        self.summary: RunSummary | None = None
        self.inputs: tuple[object, ...] = ()
        self.row_key: _RowKey | None = None
        """The stats `summary` stands for (`_row_key`): while they do not move, it stands."""
        self.row: bytes | None = None
        """The index row of `summary` under `row_key` (orjson), None when there is none."""
        # runlog.json is runlog's own (no trainer writes it): read again when its stat moves,
        # never counted as activity; its tags and note are in the index row only.
        self.notes_signature: _Signature | None = None
        self.notes: NotesFile | None = None
        # metadata.json's last_updated in epoch seconds, parsed once per metadata read.
        self.stamp: tuple[RunMetadata | None, float | None] = (None, None)
        if not revived:
            self._take_entry(indexed)

    def _take_entry(self, indexed: Any) -> None:
        entry = indexed if isinstance(indexed, dict) else {}
        self._indexed_logs = (entry.get("train"), entry.get("eval"))
        self.indexed_metadata = entry.get("metadata")
        self.indexed_files = entry.get("files")

    def unpack(self) -> None:
        """Take a revived run's index entry apart (once), so its logs and metadata can be
        followed from where the index left them. Until then the entry is the index's bytes."""
        saved, self._saved = self._saved, None
        if saved is not None:
            row, entry = saved
            self._take_entry(RootFile.decode(entry))
            self.row = bytes(row)  # the row it was revived from

    @property
    def train(self) -> _Log:
        if self._train is None:
            self.unpack()
            self._train = _Log(self, "train", self._indexed_logs[0])
        return self._train

    @property
    def eval(self) -> _Log:
        if self._eval is None:
            self.unpack()
            self._eval = _Log(self, "eval", self._indexed_logs[1])
        return self._eval

    def logs(self) -> tuple[_Log, _Log]:
        return self.train, self.eval

    def entry(self) -> dict[str, Any]:
        """This run as the index stores it (its row as the encoded bytes `row`)."""
        self.unpack()
        metadata = None
        if self.metadata_signature is not None:
            metadata = {
                "signature": list(self.metadata_signature),
                "value": None if self.metadata is None else metadata_fields(self.metadata),
                "problem": self.metadata_problem,
            }
        elif self.revived:
            metadata = self.indexed_metadata  # as the index had it: nothing read since
        # The row stands for the files' listing too (its key holds `_Files.key`).
        files = None if self.row is not None or self.files is None else self.files.to_json()
        return {
            "metadata": metadata,
            "train": self.train.indexed,
            "eval": self.eval.indexed,
            "files": files,
            "row": self.row,  # encoded already: the index stores it as it is
        }


# -- the catalog --------------------------------------------------------------------------------


class Catalog:
    """Summaries of every run under `root`, cheap to rescan (see the module doc).

    A run is live when it wrote within `live_window` seconds, stalled within `stall_window`,
    finished otherwise. `index` (runlog.read.index) makes restarts cost only what changed.
    Thread-safe; logs are read outside the catalog's lock, so a long read never blocks a scan.
    """

    def __init__(
        self,
        root: Path,
        live_window: float = DEFAULT_LIVE_WINDOW,
        stall_window: float = DEFAULT_STALL_WINDOW,
        *,
        index: RunIndex | None = None,
    ) -> None:
        self.root = Path(root)
        self.live_window = live_window
        self.stall_window = stall_window
        self.index = index
        self._index_root = self.root.resolve() if index is not None else self.root
        with gc_paused():
            self._indexed = (
                index.load_root(self._index_root) if index is not None else RootFile.empty()
            )
        self._runs: dict[Path, _Run] = {}
        self._root_prefix = str(self.root).rstrip(os.sep) + os.sep
        self._lock = threading.RLock()
        self._dirty: set[str] = set()
        self._gone: set[str] = set()
        self._last_save = 0.0
        self._settling: dict[Path, float] = {}
        """Runs whose metadata.json is half-written -> when it counts as corrupt if unchanged."""
        self._peeked: dict[Path, tuple[str, Any]] = {}
        """Index rows the walk decoded (`_listing_stands`), for the look that follows it."""
        self.problems: list[str] = []
        """Directories the last scan could not list (besides runs, which carry their own)."""

    # -- listing ----------------------------------------------------------------------------

    def scan(self, now: float | None = None, *, max_read: int | None = None) -> list[RunSummary]:
        """Summaries of every run under the root, sorted by path. Never raises for a bad run.

        A log needing more than `max_read` new bytes is left unread (None: read them all);
        its run is summarised with what is known (`RunSummary.indexed` False at first)."""
        with gc_paused():
            return self._scan(now, max_read)

    def _scan(self, now: float | None, max_read: int | None) -> list[RunSummary]:
        moment = time.time() if now is None else now
        problems: list[str] = []
        found: list[FoundDir] = []
        # Nothing in memory or in the index (a cold root): no listing can stand, and the walk
        # lists each directory without asking first (a stat and a lookup less per run).
        known = self._listing_stands if self._runs or len(self._indexed) else None
        for item in walk_runs(self.root, known):
            if (
                item.entries is None
                and not item.unlisted
                and not looks_like_run(self.root, item.path)
            ):
                problems.append(item.problem or f"cannot list {item.path}")
            else:
                found.append(item)
        looked: list[_Looked] = []
        files: dict[int, _Files] = {}
        # What needs no log (checkpoints, disk size) of the runs looked at: listed while the
        # logs are parsed, in the waits for a chunk's parse, and once every look is made.
        unlisted: list[_Looked] = []

        def list_files() -> bool:
            step = unlisted[-FILES_STEP:]
            del unlisted[-FILES_STEP:]
            with self._lock:
                for one in step:
                    files[id(one)] = self._files(one, _by_name(one.item.entries or ()))
            return bool(unlisted)

        reading = _Reading(self._load, self._read_loaded, list_files)
        try:
            for start in range(0, len(found), LOOK_CHUNK):
                with self._lock:
                    chunk = [self._look(item, moment) for item in found[start : start + LOOK_CHUNK]]
                looked.extend(chunk)
                unlisted.extend(o for o in chunk if not o.quick and o.item.entries is not None)
                reading.add([log for one in chunk for log in one.to_read(max_read)])
            with self._lock:
                self._peeked.clear()
                for gone in set(self._runs) - {item.path for item in found}:
                    self._gone.add(self._runs.pop(gone).key)
                self.problems = problems
            if reading.threaded:
                while list_files():
                    pass
        finally:
            reading.finish()
        with self._lock:
            summaries = [self._summarise(one, moment, files.get(id(one))) for one in looked]
        if time.monotonic() - self._last_save >= SAVE_EVERY:
            self.save_index()
        return summaries

    def summary(
        self,
        run_dir: Path,
        now: float | None = None,
        *,
        max_read: int | None = None,
        changed: bool = False,
    ) -> RunSummary:
        """The summary of one run directory (cached like a scan's). `changed`: the caller
        knows a file of the run was written (a watcher's event), so its checkpoints are
        listed again even when no stat the listing is kept under moved: a checkpoint
        rewritten in place (the crate's best.mpk and latest.mpk) moves neither directory."""
        run_dir = run_dir if isinstance(run_dir, Path) else Path(run_dir)
        item = _listed(run_dir)
        moment = time.time() if now is None else now
        with self._lock:
            run = self._runs.get(run_dir) if changed else None
            if run is not None:
                run.files = None  # listed again by `_files`
                run.row_key = None  # no quick look: the row is made again, saved if it moved
            looked = self._look(item, moment)
        self._read(looked.to_read(max_read))
        with self._lock:
            return self._summarise(looked, moment)

    def read_logs(
        self,
        run_dirs: Iterable[Path],
        progress: Callable[[Path, int], None] | None = None,
    ) -> None:
        """Read (and index) every log of these runs not read yet, together (small logs in
        one parse, as a scan reads them); `progress(run_dir, log_bytes)` is called for each
        run once all are read."""
        runs: list[_Run] = []
        with self._lock:
            for run_dir in run_dirs:
                run = self._runs.get(run_dir if isinstance(run_dir, Path) else Path(run_dir))
                if run is not None and not run.revived:  # else gone, or listed from the index
                    runs.append(run)
        logs = [log for run in runs for log in run.logs()]
        self._read([log for log in logs if log.stats is None or log.reader is not None])
        if progress is not None:
            for run in runs:
                progress(run.path, run.train.size + run.eval.size)

    def settling(self, now: float | None = None) -> list[Path]:
        """Runs whose half-written metadata.json has been unchanged for the stall window by
        `now`: looked at again (`summary`), it is reported corrupt. A watcher sees no event
        for a file that stops changing, so the data provider asks here."""
        moment = time.time() if now is None else now
        with self._lock:
            return sorted(
                path for path, due in self._settling.items() if due < moment and path in self._runs
            )

    def unread(self) -> list[Path]:
        """Runs listed whose logs have not been read yet (a cold start), in sorted order."""
        with self._lock:
            return sorted(
                path
                for path, run in self._runs.items()
                if not run.revived and (run.train.stats is None or run.eval.stats is None)
            )

    def reader(self, run_dir: Path, kind: LogKind) -> EpisodeLog:
        """The reader this catalog keeps for one log of `run_dir` (created if needed). Its
        columns are attached and dropped by the data provider (runlog.provider)."""
        from runlog.read.episodes import EpisodeLog

        with self._lock:
            run = self._run_for(Path(run_dir))
            log = run.train if kind == "train" else run.eval
            if log.reader is None:
                log.reader = EpisodeLog(log.path, kind, columns=False)
                self._restore(log)
            return log.reader

    def indexed_columns(self, run_dir: Path, kind: LogKind) -> dict[str, Any] | None:
        """The index's columns entry for one log of `run_dir`, if any."""
        with self._lock:
            run = self._runs.get(Path(run_dir))
            log = None if run is None else (run.train if kind == "train" else run.eval)
            columns = None if log is None or log.indexed is None else log.indexed.get("columns")
            return columns if isinstance(columns, dict) else None

    def record(self, run_dir: Path, kind: LogKind, columns: dict[str, Any] | None = None) -> None:
        """Take note of a read someone else made with this catalog's reader (the provider,
        opening a run): its figures, and the columns it wrote to the index."""
        with self._lock:
            run = self._runs.get(Path(run_dir))
            if run is None:
                return
            log = run.train if kind == "train" else run.eval
            log.seen = None  # read by someone else: no stat of ours came before it
            self._settle(run, log, columns)

    def save_index(self) -> None:
        """Write what changed to the index now (nothing without an index)."""
        index = self.index
        if index is None:
            return
        with self._lock:
            self._last_save = time.monotonic()
            if not self._dirty and not self._gone:
                return
            entries = {
                run.key: run.entry() for run in self._runs.values() if run.key in self._dirty
            }
            gone = set(self._gone)
            self._dirty.clear()
            self._gone.clear()
        index.save_root(self._index_root, entries, gone=gone)

    # -- per run ----------------------------------------------------------------------------

    def _key(self, path: Path) -> str:
        text, root = str(path), self._root_prefix
        if text.startswith(root):
            return text[len(root) :].replace(os.sep, "/")
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.as_posix()

    def _run_for(self, path: Path) -> _Run:
        run = self._runs.get(path)
        if run is None:
            key = self._key(path)
            # Taken out of the index's root file as it was read: what a run does not keep
            # (its metadata and files entries, once used) is freed, not held for the life
            # of the catalog (600,000 objects for 10,000 runs, each full collection walking
            # them). A run that vanishes and comes back is read again.
            parts = self._indexed.take(key)
            entry = None if parts is None else RootFile.decode(parts[1])
            run = _Run(path, key, entry)
            self._runs[path] = run
        return run

    def _listing_stands(self, path: Path, st: os.stat_result) -> bool:
        """For the walk (`walk_runs`'s `known`; it runs outside the lock and only reads):
        whether `path` is a run whose summary stands under a key taken with the directory's
        inode and mtime as they are now, long enough ago (`_racy`): a directory's mtime moves
        when an entry is added, removed or renamed, so its listing is the one of that key.
        The look that follows checks every other stat of the key (`_unlisted_look`)."""
        if _racy(st):
            return False
        stamp = _stamp(st)
        run = self._runs.get(path)
        if run is not None:
            key = run.row_key
            return key is not None and run.summary is not None and key[0] == stamp
        rel = self._key(path)
        row = self._indexed.row(rel)
        try:
            stands = row[0] == ROW_FORMAT and tuple(row[1][0]) == stamp
        except (IndexError, KeyError, TypeError):
            return False
        if stands:
            self._peeked[path] = (rel, row)
        return bool(stands)

    def _unlisted_look(self, item: FoundDir) -> _Looked | None:
        """A run the walk did not list again: the files its key says it holds stat'ed by
        name, and its summary as it stands when none of the key's stats moved (`_quick_look`).
        None: list it and look in full."""
        rel, row = self._peeked.pop(item.path, (None, None))
        run = self._runs.get(item.path)
        # The key's parts: a tuple in memory, the index row's lists. `_quick_look` compares
        # the whole key, the directory's stamp included, with the stats taken now: a key that
        # moved since the walk asked `_listing_stands` has the run listed after all.
        parts: Sequence[Any] | None = None
        if run is not None:
            parts = run.row_key
        elif row is not None:
            parts = row[1]
        if parts is None:
            return None
        taken = _stat_known(item.path, parts)
        return None if taken is None else self._quick_look(item, taken, row, rel)

    def _look(self, item: FoundDir, now: float) -> _Looked:
        """Stat the run's files, settle its metadata and say how much of each log is new."""
        if item.unlisted:
            quick = self._unlisted_look(item)
            if quick is not None:
                return quick
            item = _listed(item.path)  # something moved: listed after all
        taken = None if item.entries is None else _stat_children(item.entries)
        quick = None if taken is None else self._quick_look(item, taken)
        if quick is not None:
            return quick
        run = self._run_for(item.path)
        run.unpack()
        if taken is None:
            return _Looked(item, run, (0, 0), {})
        stats = taken.files
        self._read_metadata(run, stats.get(METADATA_FILE), now)
        self._read_notes(run, taken.notes)
        needs = (run.train.look(stats.get(TRAIN_LOG)), run.eval.look(stats.get(EVAL_LOG)))
        return _Looked(item, run, needs, stats, complete=taken.complete)

    def _quick_look(
        self, item: FoundDir, taken: _Taken, row: Any = None, rel: str | None = None
    ) -> _Looked | None:
        """The run's summary as it stands, when none of the stats it was made under moved
        (`_row_key`): from memory, or on a first look from its index row (`row`, `rel`: that
        row decoded already, and the run's key). None: look in full."""
        if item.stat is None or not taken.complete:
            return None
        stats = taken.files
        run = self._runs.get(item.path)
        if run is not None:
            if run.summary is not None and run.row_key == _row_key(
                item.stat, taken.checkpoints, stats, taken.notes
            ):
                return _Looked(item, run, (0, 0), stats, quick=True)
            return None
        if rel is None:
            rel = self._key(item.path)
        if row is None:
            row = self._indexed.row(rel)
        if row is None:
            return None
        key = _row_key(item.stat, taken.checkpoints, stats, taken.notes)
        try:
            if row[0] != ROW_FORMAT or _key_from_json(row[1]) != key:
                return None
            summary = _revive(item.path, rel, row[2])
        except (IndexError, KeyError, TypeError, ValueError):
            return None
        run = _Run(item.path, rel, self._indexed.take(rel), revived=True)
        run.row_key, run.summary = key, summary
        self._runs[item.path] = run
        return _Looked(item, run, (0, 0), stats, quick=True)

    def _restore(self, log: _Log) -> None:
        """Put a fresh reader where the index says the log was read to."""
        from runlog.read.summary import LogSummary
        from runlog.read.tail import Mark

        entry, reader = log.indexed, log.reader
        if entry is None or reader is None:
            return
        try:
            mark = Mark.from_json(entry["mark"])
            summary = LogSummary.from_json(entry["summary"], log.kind)
            statuses = [str(s) for s in entry["statuses"]]
        except (KeyError, TypeError, ValueError):
            log.indexed = None
            return
        reader.restore(mark, summary, statuses)

    def _read(self, logs: list[_Log]) -> None:
        """Read the new bytes of `logs` (outside the catalog's lock): big ones alone, the
        columns of a big log read from its start written to the index on the way; small ones
        together (`refresh_many`, or `read_first` for those read from their start)."""
        self._read_loaded(self._load(logs))

    def _load(self, logs: list[_Log]) -> _Load:
        """The first step of `_read`, for the scan's thread that holds the GIL (see `_Reading`):
        the logs read from their start, small enough to keep no columns in the index (a cold
        root's), loaded for `read_first` (`FirstLoad`); the others are left to their readers.
        A reader is made when one is asked for (`reader`), from where the read left the log
        (its index entry)."""
        from runlog.read.episodes import ALONE_ABOVE, FirstLoad
        from runlog.read.index import COLUMNS_ABOVE

        with self._lock:
            first = [
                log
                for log in logs
                if log.reader is None
                and log.indexed is None
                and log.size < min(ALONE_ABOVE, COLUMNS_ABOVE)
            ]
        if not first:
            return _Load(logs, [], None)
        chosen = {id(log) for log in first}
        rest = [log for log in logs if id(log) not in chosen]
        return _Load(rest, first, FirstLoad([(log.file, log.kind) for log in first]))

    def _read_loaded(self, load: _Load) -> None:
        """The rest of `_read` (any thread)."""
        from runlog.read.episodes import ALONE_ABOVE, EpisodeLog, refresh_many
        from runlog.read.index import COLUMNS_ABOVE, columns_entry

        logs = load.rest
        if load.first_load is not None:
            done = load.first_load.parse()
            with self._lock:
                for log, read in zip(load.first, done, strict=True):
                    # Not if a reader came meanwhile (the run opened), or the run went away.
                    if (
                        read is not None
                        and log.reader is None
                        and log.indexed is None
                        and self._runs.get(log.run.path) is log.run
                    ):
                        self._settle_first(log.run, log, read)
            logs = logs + [log for log, read in zip(load.first, done, strict=True) if read is None]
        if not logs:
            return
        with self._lock:
            for log in logs:
                if log.reader is None:
                    log.reader = EpisodeLog(log.path, log.kind, columns=False)
                    self._restore(log)
            # A reader busy with a long read (a run being opened) is left to it.
            jobs = [
                (log, log.reader) for log in logs if log.reader is not None and not log.reader.busy
            ]
        small: list[EpisodeLog] = []
        written: dict[int, dict[str, Any] | None] = {}
        for log, reader in jobs:
            writer: ColumnWriter | None = None
            if (
                self.index is not None
                and reader.offset == 0
                and not reader.has_columns
                and log.size >= COLUMNS_ABOVE
            ):
                writer = self.index.column_writer(self._index_root, self._key(log.path), log.kind)
            if writer is None and log.size - reader.offset <= ALONE_ABOVE:
                small.append(reader)
                continue
            reader.refresh(sink=writer)
            written[id(log)] = columns_entry(writer)
        refresh_many(small)
        with self._lock:
            for log, _reader in jobs:
                if self._runs.get(log.run.path) is log.run:  # still listed
                    self._settle(log.run, log, written.get(id(log)))

    def _settle(self, run: _Run, log: _Log, columns: dict[str, Any] | None) -> None:
        """Take a reader's state as the log's figures and index entry."""
        reader = log.reader
        if reader is None:
            return
        log.stats = reader.stats()
        mark = reader.mark
        if mark is None or reader.problem is not None:
            log.signature = self._signature_for(log, mark)
            log.indexed = None
            return
        old = log.indexed.get("columns") if log.indexed is not None else None
        if columns is None and isinstance(old, dict) and not _same_file(old, mark.to_json()):
            old = None
        kept = columns if columns is not None else old
        self._settle_entry(run, log, mark, reader.summary, reader.status_names, kept)

    def _settle_first(self, run: _Run, log: _Log, read: FirstRead) -> None:
        """Take a log read without a reader (`read_first`) as its figures and index entry."""
        log.stats = read.summary.stats()
        self._settle_entry(run, log, read.mark, read.summary, read.statuses, None)

    def _signature_for(self, log: _Log, mark: Mark | None) -> _Signature | None:
        """The stat a log's figures are settled under: the one taken BEFORE the read, so a file
        that grew meanwhile has another stat by the next look, and its new bytes are read then.
        Without one (a read made by someone else), a stat taken now serves only if the file
        holds exactly what was read."""
        if log.seen is not None:
            return log.seen
        try:
            st = os.stat(log.path)
        except OSError:
            return None
        return _signature(st) if mark is not None and st.st_size == mark.offset else None

    def _settle_entry(
        self,
        run: _Run,
        log: _Log,
        mark: Mark,
        summary: LogSummary,
        statuses: list[str],
        columns: dict[str, Any] | None,
    ) -> None:
        signature = self._signature_for(log, mark)
        log.signature = signature
        log.indexed = {
            "signature": None if signature is None else list(signature),
            "mark": mark.to_json(),
            "summary": summary.to_json(),
            "statuses": statuses,
            "columns": columns,
        }
        self._dirty.add(run.key)

    def _files(self, looked: _Looked, entries: dict[str, os.DirEntry[str]]) -> _Files:
        """The run's checkpoints and disk size: listed again only when the run directory, its
        checkpoints/ or one of its logs or metadata.json changed (see `_Files`)."""
        item, run = looked.item, looked.run
        checkpoints_entry = entries.get(CHECKPOINTS_DIR)
        key: tuple[object, ...] | None = None
        try:
            own = (
                None if checkpoints_entry is None else checkpoints_entry.stat(follow_symlinks=False)
            )
        except OSError:
            own = None
        # The logs as this look saw them, read or not: on a cold root the listing comes
        # before the read, and the look after it must not list checkpoints/ again.
        logs = (looked.stats.get(TRAIN_LOG), looked.stats.get(EVAL_LOG))
        if item.stat is not None and (
            run.metadata_signature is not None or METADATA_FILE not in looked.stats
        ):
            key = (
                _stamp(item.stat),
                _stamp(own),
                run.metadata_signature,
                *(None if st is None else _signature(st) for st in logs),
            )
            if _racy(item.stat, own):
                key = None
        if key is not None and run.files is not None and run.files.key == key:
            return run.files
        cached, run.indexed_files = run.indexed_files, None
        if key is not None and isinstance(cached, dict):
            try:
                files = _Files.from_json(cached, run.path)
            except (KeyError, TypeError, ValueError):
                files = None
            if files is not None and files.key == key:
                run.files = files
                return files
        checkpoints, checkpoint_bytes = _checkpoints(run.path, checkpoints_entry)
        other = _other_bytes(run.path, entries, looked.stats)
        files = _Files(() if key is None else key, checkpoints, checkpoint_bytes, other)
        if key is not None and files != run.files:
            self._dirty.add(run.key)
        run.files = files if key is not None else None
        return files

    def _read_metadata(self, run: _Run, st: os.stat_result | None, now: float) -> None:
        """Read metadata.json into `run` unless its stat is unchanged since a settled read.

        Half-written (the crate rewrites it in place): retried once after a short pause,
        then the last good copy is served with no problem, or, if there is none, the
        problem says so. Such a read is not cached, so the next scan tries again. But a file
        left half-written for longer than the stall window is no rewrite caught midway (that
        takes milliseconds): it is corrupt, "corrupt metadata.json (N bytes): <reason>",
        cached like any corrupt read, and no last good copy stands in for it.
        """
        self._settling.pop(run.path, None)
        if st is None:
            if run.metadata_signature is not None or run.metadata_problem is None:
                self._dirty.add(run.key)
            run.metadata_signature, run.metadata = None, None
            run.metadata_problem = f"{METADATA_FILE} is missing"
            return
        signature = _signature(st)
        if signature == run.metadata_signature:
            return
        cached = run.indexed_metadata
        run.indexed_metadata = None
        if isinstance(cached, dict) and cached.get("signature") == list(signature):
            try:
                value = cached.get("value")
                run.metadata = run.last_good = None if value is None else _metadata_from(value)
                run.metadata_problem = cached.get("problem")
                if run.metadata is not None or isinstance(run.metadata_problem, str):
                    run.metadata_signature = signature
                    return
            except (TypeError, ValueError):
                pass
        path = f"{run.path}{os.sep}{METADATA_FILE}"
        read = read_metadata_file(path)
        if read.outcome == "half-written":
            time.sleep(METADATA_RETRY_DELAY)
            read = read_metadata_file(path)
        if read.outcome == "half-written":
            if now - st.st_mtime > self.stall_window and _unchanged(run.path, signature):
                read = read.settled()
            else:
                # Looked at again once it has been still for the stall window (`settling`).
                self._settling[run.path] = st.st_mtime + self.stall_window
                run.metadata_signature = None
                run.metadata = run.last_good
                run.metadata_problem = (
                    None
                    if run.last_good is not None
                    else f"{METADATA_FILE} is being written (half-written); retrying"
                )
                return
        # Cached under the stat taken before reading: had the file changed meanwhile, the
        # next scan sees a new signature and reads again.
        run.metadata_signature = signature if read.outcome != "missing" else None
        run.metadata = read.metadata
        if read.metadata is not None:
            run.last_good = read.metadata
        run.metadata_problem = read.problem
        self._dirty.add(run.key)

    def _read_notes(self, run: _Run, st: os.stat_result | None) -> None:
        """Read runlog.json into `run` unless its stat is unchanged since the last read (one
        taken before reading: a write meanwhile gives another stat next time)."""
        if st is None:
            run.notes_signature, run.notes = None, None
            return
        signature = _signature(st)
        if signature != run.notes_signature or run.notes is None:
            run.notes = read_notes(run.path)
            run.notes_signature = signature

    def _summarise(self, looked: _Looked, now: float, files: _Files | None = None) -> RunSummary:
        """The run's summary after its look and its reads (`files`: its checkpoints and sizes
        listed after the look already)."""
        item, run, stats = looked.item, looked.run, looked.stats
        if looked.quick and run.summary is not None:
            run.summary = run.summary.aged(now, self.live_window, self.stall_window)
            return run.summary
        run_dir = run.path
        entries = _by_name(item.entries or ())
        problems: list[str] = []
        if item.entries is None:
            # Nothing inside can be read: say so once, not once per file.
            problems.append(item.problem or f"cannot list {run_dir}")
        else:
            if run.metadata_problem:
                problems.append(run.metadata_problem)
            for log, file_name in ((run.train, TRAIN_LOG), (run.eval, EVAL_LOG)):
                reader = log.reader
                if reader is not None and reader.problem:
                    problems.append(reader.problem)
                bad = 0 if log.stats is None else log.stats.bad_line_count
                if bad:
                    problems.append(f"{_plural(bad, 'bad line')} in {file_name}")
            if run.notes is not None and run.notes.problem:
                problems.append(run.notes.problem)

        if files is None:
            files = self._files(looked, entries)
        checkpoints = files.checkpoints
        disk_bytes = files.checkpoint_bytes + files.other_bytes
        if run.stamp[0] is not run.metadata:
            run.stamp = (run.metadata, updated_at(run.metadata))
        written = last_activity(
            {name: st.st_mtime for name, st in stats.items()}, run.stamp[1], self.stall_window
        )
        state = classify(written, now, self.live_window, self.stall_window)
        problem = "; ".join(problems) if problems else None
        log_bytes = run.train.size + run.eval.size
        inputs = (
            problem,
            run.metadata,
            run.train.stats,
            run.eval.stats,
            checkpoints,
            disk_bytes,
            log_bytes,
            written,
            state,
            run.notes,
        )
        if run.summary is not None and run.inputs == inputs:
            if run.row_key is None:  # e.g. its directories have settled since (RACY_SECONDS)
                self._keep_row(run, files, looked)
            return run.summary
        parts = run_dir.parts
        name, version, run_id = (("",) * 3 + tuple(parts))[-3:]
        summary = RunSummary(
            path=run_dir,
            rel=f"{name}/{version}/{run_id}",
            name=name,
            version=version,
            run_id=run_id,
            metadata=run.metadata,
            problem=problem,
            train=run.train.stats,
            eval=run.eval.stats,
            checkpoints=checkpoints,
            disk_bytes=disk_bytes,
            log_bytes=log_bytes,
            last_write=written,
            state=state,
            tags=() if run.notes is None else run.notes.notes.tags,
            note="" if run.notes is None else run.notes.notes.note,
        )
        run.summary = summary
        run.inputs = inputs
        self._keep_row(run, files, looked)
        return summary

    def _keep_row(self, run: _Run, files: _Files, looked: _Looked) -> None:
        """Note the stats the run's summary stands for, and its index row (dirty when new),
        when every input of it is settled under a stat; otherwise there is no row."""
        run.revived = False
        summary = run.summary
        settled = (
            summary is not None
            and files.key
            and looked.complete  # every file it follows was stat'ed
            and all(log.reader is None or log.reader.problem is None for log in run.logs())
            # and each log's figures are those of the file this look saw (read, not pending)
            and all(
                log.signature is not None and log.signature == log.seen
                for log, name in ((run.train, TRAIN_LOG), (run.eval, EVAL_LOG))
                if name in looked.stats
            )
        )
        if not settled or summary is None:
            run.row_key = run.row = None
            return
        key = (*files.key, run.notes_signature)
        if key == run.row_key:
            return
        run.row_key = key
        row = orjson.dumps([ROW_FORMAT, key, _summary_row(summary)])
        if row != run.row:
            run.row = row
            self._dirty.add(run.key)


@record
class _Looked:
    """A run as one look found it: its listing, its state, new bytes per log, its files' stats."""

    item: FoundDir
    run: _Run
    needs: tuple[int, int]
    stats: dict[str, os.stat_result]
    quick: bool = False
    """Nothing moved since the run's summary was made (`Catalog._quick_look`)."""
    complete: bool = True
    """Every file the catalog follows in the run could be stat'ed (`_Taken.complete`)."""

    def to_read(self, max_read: int | None) -> list[_Log]:
        if self.quick:
            return []
        return [
            log
            for log, n in zip(self.run.logs(), self.needs, strict=True)
            if n and (max_read is None or n <= max_read)
        ]


def _unchanged(run_dir: Path, signature: _Signature) -> bool:
    """Whether the run's metadata.json still has the stat `signature` (it was not rewritten
    while it was being read)."""
    try:
        return _signature(os.stat(run_dir / METADATA_FILE)) == signature
    except OSError:
        return False


def _same_file(columns: dict[str, Any], mark: dict[str, Any]) -> bool:
    """Whether a columns entry was taken on the file `mark` is on, no further than it."""
    try:
        theirs = columns["mark"]
        return bool(
            theirs["device"] == mark["device"]
            and theirs["inode"] == mark["inode"]
            and theirs["offset"] <= mark["offset"]
        )
    except (KeyError, TypeError):
        return False


def _checkpoints(
    run_dir: Path, entry: os.DirEntry[str] | None
) -> tuple[tuple[CheckpointInfo, ...], int]:
    if entry is None:
        return (), 0
    try:
        if not entry.is_dir(follow_symlinks=False):
            return (), entry.stat(follow_symlinks=False).st_size
        children = _list(entry.path)
    except OSError:
        return (), 0
    found: list[CheckpointInfo] = []
    total = 0
    for child in children:
        try:
            if child.is_dir(follow_symlinks=False):
                total += _tree_bytes(child.path)
                continue
            own = child.stat(follow_symlinks=False)
        except OSError:
            continue
        total += own.st_size
        step = parse_checkpoint_step(child.name)
        is_latest = child.name == LATEST_CHECKPOINT
        is_best = child.name == BEST_CHECKPOINT
        if step is None and not is_latest and not is_best:
            continue
        try:
            st = child.stat() if child.is_symlink() else own  # a link: what it points to
        except OSError:
            st = own
        found.append(
            CheckpointInfo(
                name=child.name,
                run_dir=run_dir,
                step=step,
                size=st.st_size,
                mtime=st.st_mtime,
                is_latest=is_latest,
                is_best=is_best,
            )
        )
    found.sort(key=lambda c: (c.step is None, c.step or 0, c.is_best, c.name))
    return tuple(found), total


def _other_bytes(
    run_dir: Path,
    entries: dict[str, os.DirEntry[str]],
    stats: dict[str, os.stat_result],
) -> int:
    total = 0
    for name, entry in entries.items():
        if name == CHECKPOINTS_DIR:
            continue
        try:
            if name in stats and not entry.is_symlink():
                total += stats[name].st_size
            elif entry.is_dir(follow_symlinks=False):
                total += _tree_bytes(run_dir / name)
            else:
                total += entry.stat(follow_symlinks=False).st_size
        except OSError:
            continue
    return total


@record
class _Taken:
    """The stats of the files a look follows in a run directory (`_stat_children`)."""

    files: dict[str, os.stat_result]
    """metadata.json and the logs present (followed through a symlink)."""
    checkpoints: os.stat_result | None
    notes: os.stat_result | None
    complete: bool
    """False when one of them is listed but could not be stat'ed (it is left out above)."""


def _listed(run_dir: Path) -> FoundDir:
    """A run directory listed and stat'ed as the walk takes one (listing first, so a change
    meanwhile shows in the stat), or why it could not be."""
    try:
        entries = _list(run_dir)
        return FoundDir(run_dir, entries, stat=os.stat(run_dir))
    except PermissionError:
        return FoundDir(run_dir, None, f"permission denied: {run_dir}")
    except OSError as exc:
        return FoundDir(run_dir, None, f"cannot list {run_dir}: {exc.strerror or exc}")


def _stat_known(run_dir: Path, key: Sequence[Any]) -> _Taken | None:
    """The stats `_stat_children` takes of a run listed as it was when `key` was made: the
    files whose part of the key is not None, stat'ed by name the same way (through a symlink
    for metadata.json and the logs, not for checkpoints/ and runlog.json). None when one of
    them cannot be stat'ed (the caller lists the run)."""
    base = f"{run_dir}{os.sep}"
    files: dict[str, os.stat_result] = {}
    try:
        for name, part in ((METADATA_FILE, key[2]), (TRAIN_LOG, key[3]), (EVAL_LOG, key[4])):
            if part is not None:
                files[name] = os.stat(base + name)
        checkpoints = None if key[1] is None else os.lstat(base + CHECKPOINTS_DIR)
        notes = None if key[5] is None else os.lstat(base + NOTES_FILE)
    except (OSError, IndexError, TypeError):
        return None
    return _Taken(files, checkpoints, notes, True)


def _stat_children(entries: tuple[os.DirEntry[str], ...]) -> _Taken:
    files: dict[str, os.stat_result] = {}
    checkpoints: os.stat_result | None = None
    notes: os.stat_result | None = None
    complete = True
    for entry in entries:
        name = entry.name
        try:
            if name in _STATTED:
                files[name] = entry.stat()
            elif name == CHECKPOINTS_DIR:
                checkpoints = entry.stat(follow_symlinks=False)
            elif name == NOTES_FILE:
                notes = entry.stat(follow_symlinks=False)
        except OSError:
            complete = False
    return _Taken(files, checkpoints, notes, complete)


def _stamp(st: os.stat_result | None) -> tuple[int, int] | None:
    return None if st is None else (st.st_ino, st.st_mtime_ns)


def _row_key(
    run_dir: os.stat_result,
    checkpoints: os.stat_result | None,
    stats: dict[str, os.stat_result],
    notes: os.stat_result | None,
) -> _RowKey:
    """What a run's summary stands for: its directory's and checkpoints/'s (ino, mtime) (a
    file added, removed or renamed), metadata.json's and the logs' signatures (a write), and
    runlog.json's. `_Files.key` plus runlog.json's signature."""
    meta, train, evals = (stats.get(n) for n in (METADATA_FILE, TRAIN_LOG, EVAL_LOG))
    return (
        _stamp(run_dir),
        _stamp(checkpoints),
        None if meta is None else _signature(meta),
        None if train is None else _signature(train),
        None if evals is None else _signature(evals),
        None if notes is None else _signature(notes),
    )


def _key_from_json(value: list[Any]) -> _RowKey:
    return tuple(None if part is None else tuple(part) for part in value)


def _summary_row(summary: RunSummary) -> list[Any]:
    """The index row of a summary (`Catalog._revive` reads it): plain JSON lists, no names."""
    metadata = summary.metadata
    return [
        summary.problem,
        None if metadata is None else list(metadata_fields(metadata).values()),
        None if summary.train is None else stats_row(summary.train),
        None if summary.eval is None else stats_row(summary.eval),
        [c.to_json() for c in summary.checkpoints],
        summary.disk_bytes,
        summary.log_bytes,
        summary.last_write,
        list(summary.tags),
        summary.note,
    ]


def _revive(run_dir: Path, key: str, data: list[Any]) -> RunSummary:
    """A run's summary from its index row (`_summary_row`); its state is set by the caller.
    `key`: the run's path below the catalog's root ("name/version/run_id" at run depth)."""
    (problem, metadata, train, eval_, checkpoints, disk, logs, written, tags, note) = data
    parts = key.split("/")
    if len(parts) < 3:
        parts = list(run_dir.parts)  # a run above run depth: as `_summarise` names it
    name, version, run_id = (("",) * 3 + tuple(parts))[-3:]
    return RunSummary(
        path=run_dir,
        rel=f"{name}/{version}/{run_id}",
        name=name,
        version=version,
        run_id=run_id,
        metadata=None if metadata is None else RunMetadata(*metadata),
        problem=problem,
        train=stats_from_row(train, "train"),
        eval=stats_from_row(eval_, "eval"),
        checkpoints=tuple(
            CheckpointInfo(name, run_dir, step, size, mtime, latest, best)
            for name, step, size, mtime, latest, best in checkpoints
        ),
        disk_bytes=disk,
        log_bytes=logs,
        last_write=written,
        state=RunState.FINISHED,
        tags=tuple(tags),
        note=note,
    )


def scan_runs(
    root: Path,
    live_window: float = DEFAULT_LIVE_WINDOW,
    stall_window: float = DEFAULT_STALL_WINDOW,
    now: float | None = None,
) -> list[RunSummary]:
    """One-off scan: the summaries of every run under `root` (see `Catalog.scan`)."""
    return Catalog(root, live_window, stall_window).scan(now)
