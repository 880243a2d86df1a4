"""Every run under a root, summarised: what `runlog ls` prints and the run browser shows.

    <root>/                         or a name, a version or a run directory itself
        <name>/<version>/<run_id>/  a run: holds metadata.json, an episode log, or
                                    (with a run-id-like name) checkpoints/
            metadata.json        -> metadata, or the problem with it
            train_episodes.jsonl -> episodes, total steps, last and best reward, bad lines
            eval_episodes.jsonl  -> eval episodes, best eval block
            checkpoints/*.mpk    -> steps present, latest, best, sizes
            (every file)         -> disk size; the newest write -> live / stalled / finished

A `Catalog` keeps, per run, the stat signature of each file it read, one `EpisodeLog` per
log (so a rescan reads only appended bytes) and the last good metadata.json: the crate
rewrites that file in place after every episode, so a scan can catch it empty or cut short.
Such a read is retried once; if it is still half-written, the last good copy is served
(with no problem shown), or, for a run never read whole, the problem says it is being written.
"""

from __future__ import annotations

import math
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from runlog.analysis.evals import EvalBlock
from runlog.errors import MetadataError
from runlog.format.layout import (
    BEST_CHECKPOINT,
    CHECKPOINTS_DIR,
    EVAL_LOG,
    LATEST_CHECKPOINT,
    METADATA_FILE,
    TRAIN_LOG,
    parse_checkpoint_step,
)
from runlog.format.records import RunMetadata, parse_metadata
from runlog.read.activity import (
    DEFAULT_LIVE_WINDOW,
    DEFAULT_STALL_WINDOW,
    RunState,
    classify,
    last_write,
)
from runlog.read.episodes import EpisodeLog, refresh_many

__all__ = [
    "DEFAULT_LIVE_WINDOW",
    "DEFAULT_STALL_WINDOW",
    "Catalog",
    "CheckpointInfo",
    "RunState",
    "RunSummary",
    "find_runs",
    "is_run_dir",
    "scan_runs",
]

METADATA_RETRY_DELAY = 0.02
"""Seconds to wait before the one re-read of a half-written metadata.json."""
MAX_DEPTH = 8
"""Directories deeper than this below the root are not searched for runs."""

_RUN_ID_LIKE = re.compile(r"[0-9]{8}_[0-9]{6}")
_Signature = tuple[int, int, int, int]  # (st_ino, st_size, st_mtime_ns, st_ctime_ns)
_STATTED = frozenset({METADATA_FILE, TRAIN_LOG, EVAL_LOG})


@dataclass(frozen=True)
class CheckpointInfo:
    """One checkpoint file: `step_<N>.mpk` (step N), `latest.mpk` or `best.mpk`."""

    name: str
    path: Path
    step: int | None
    size: int
    mtime: float
    is_latest: bool
    is_best: bool


@dataclass(frozen=True)
class RunSummary:
    """One run as the catalog sees it. `problem` says in words what is wrong, or is None."""

    path: Path
    rel: str
    """"name/version/run_id": the last three components of `path`."""
    name: str
    version: str
    run_id: str
    metadata: RunMetadata | None
    problem: str | None
    train_episodes: int
    eval_episodes: int
    total_steps: int
    """Sum of the train episodes' lengths (the env step reached by logged episodes)."""
    last_reward: float | None
    """The last train episode's reward (None when there is none, or it was null)."""
    best_reward: float | None
    """The highest finite train episode reward, or None."""
    best_eval: EvalBlock | None
    checkpoints: tuple[CheckpointInfo, ...]
    disk_bytes: int
    last_write: float | None
    state: RunState
    train_bad_lines: tuple[int, ...] = ()
    eval_bad_lines: tuple[int, ...] = ()

    @property
    def ok(self) -> bool:
        return self.problem is None

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


# -- finding runs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Found:
    """A run directory as the walk met it, with its listing (None when it could not be
    listed) and the problem that stopped the listing."""

    path: Path
    entries: tuple[os.DirEntry[str], ...] | None
    problem: str | None = None


def is_run_dir(name: str, children: set[str]) -> bool:
    """Whether a directory called `name` holding `children` is a run: it has metadata.json
    or an episode log, or has a run-id-like name and a checkpoints/ directory."""
    if METADATA_FILE in children or TRAIN_LOG in children or EVAL_LOG in children:
        return True
    return CHECKPOINTS_DIR in children and bool(_RUN_ID_LIKE.match(name))


def _list(directory: Path) -> tuple[os.DirEntry[str], ...]:
    with os.scandir(directory) as it:
        return tuple(it)


def _walk(root: Path) -> Iterator[_Found]:
    """Run directories at or under `root`, in sorted order. Symlinked directories are not
    entered (so a symlink loop ends); an unlistable directory is yielded with its problem."""
    stack: list[tuple[Path, int]] = [(root, 0)]
    while stack:
        directory, depth = stack.pop()
        try:
            entries = _list(directory)
        except PermissionError:
            yield _Found(directory, None, f"permission denied: {directory}")
            continue
        except FileNotFoundError:
            continue  # removed while we walked
        except NotADirectoryError:
            continue
        except OSError as exc:
            yield _Found(directory, None, f"cannot list {directory}: {exc.strerror or exc}")
            continue
        if is_run_dir(directory.name, {e.name for e in entries}):
            yield _Found(directory, entries)
            continue
        if depth >= MAX_DEPTH:
            continue
        subdirs = []
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    subdirs.append(entry.name)
            except OSError:
                continue
        # Reverse-sorted onto the stack, so runs come out in sorted order.
        for name in sorted(subdirs, reverse=True):
            stack.append((directory / name, depth + 1))


def find_runs(root: Path, problems: list[str] | None = None) -> list[Path]:
    """Every run directory at or under `root` (a runs root, a name, a version or a run).

    Symlinked directories are not followed. A directory that cannot be listed is not
    raised: its path is left out and its problem appended to `problems` when given.
    """
    found: list[Path] = []
    for item in _walk(Path(root)):
        if item.entries is None:
            if problems is not None and item.problem is not None:
                problems.append(item.problem)
            continue
        found.append(item.path)
    return found


# -- one run ----------------------------------------------------------------------------------


def _signature(st: os.stat_result) -> _Signature:
    # ctime too: a chmod that makes an unreadable file readable changes nothing else.
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _tree_bytes(directory: Path) -> int:
    """Sum of file sizes under `directory`, symlinks counted as themselves, not followed."""
    total = 0
    try:
        entries = _list(directory)
    except OSError:
        return 0
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                total += _tree_bytes(directory / entry.name)
            else:
                total += entry.stat(follow_symlinks=False).st_size
        except OSError:
            continue
    return total


def _is_transient(text: str) -> bool:
    # The crate writes the whole file without a final newline: anything not ending in "}"
    # is a rewrite caught midway (empty, or cut short).
    return not text.strip() or not text.rstrip().endswith("}")


_HALF_WRITTEN = "half-written"
_MISSING = f"{METADATA_FILE} is missing"


def _read_metadata_file(path: Path) -> RunMetadata | str:
    """The metadata, `_HALF_WRITTEN`, or the problem in words."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return _MISSING
    except PermissionError:
        return f"permission denied: {path}"
    except OSError as exc:
        return f"{METADATA_FILE} is corrupt: cannot read {path}: {exc.strerror or exc}"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # Cut short in the middle of a multi-byte character is still half-written.
        if _is_transient(data.decode("utf-8", "replace")):
            return _HALF_WRITTEN
        return f"{METADATA_FILE} is corrupt: {path} is not UTF-8 ({exc.reason} at byte {exc.start})"
    try:
        return parse_metadata(text, path)
    except MetadataError as exc:
        return _HALF_WRITTEN if _is_transient(text) else f"{METADATA_FILE} is corrupt: {exc}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


@dataclass
class _LogState:
    """A cached episode log and what the catalog derived from it at one version."""

    log: EpisodeLog
    signature: _Signature | None = None
    derived_at: int = -1
    count: int = 0
    total_steps: int = 0
    last_reward: float | None = None
    best_reward: float | None = None
    best_eval: EvalBlock | None = None


@dataclass
class _RunCache:
    train: _LogState
    eval: _LogState
    metadata_signature: _Signature | None = None
    metadata: RunMetadata | None = None
    metadata_problem: str | None = None
    last_good: RunMetadata | None = None
    summary: RunSummary | None = None
    inputs: tuple[object, ...] = field(default_factory=tuple)


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _best_eval(steps: npt.NDArray[np.int64], rewards: npt.NDArray[np.float64]) -> EvalBlock | None:
    """`runlog.analysis.evals.best_block(eval_blocks(frame))` computed with numpy alone: the catalog
    calls it for every run, where a pandas groupby per run would dominate a 10,000-run scan.
    Same rules: blocks by step; a block with a null reward never best; first highest mean.
    The statistics agree with pandas' up to float rounding in the last bits.
    """
    if len(steps) == 0:
        return None
    if (steps[1:] < steps[:-1]).any():
        order = np.argsort(steps, kind="stable")
        steps = steps[order]
        rewards = rewards[order]
    finite = np.isfinite(rewards)
    starts = np.flatnonzero(np.concatenate(([True], steps[1:] != steps[:-1])))
    counts = np.diff(np.append(starts, len(steps)))
    finite_counts = np.add.reduceat(finite, starts, dtype=np.int64)
    sums = np.add.reduceat(np.where(finite, rewards, 0.0), starts)
    eligible = finite_counts == counts  # n_null == 0 (and n >= 1, so the mean is finite)
    if not eligible.any():
        return None
    best = int(np.argmax(np.where(eligible, sums / counts, -np.inf)))
    start, n = int(starts[best]), int(counts[best])
    block = rewards[start : start + n].tolist()
    mean = math.fsum(block) / n
    std = math.sqrt(math.fsum((x - mean) ** 2 for x in block) / (n - 1)) if n > 1 else 0.0
    ordered = sorted(block)
    middle = n // 2
    median = ordered[middle] if n % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return EvalBlock(
        step=int(steps[start]),
        n=n,
        mean=mean,
        std=std,
        min=ordered[0],
        max=ordered[-1],
        median=median,
        n_null=0,
    )


# -- the catalog --------------------------------------------------------------------------------


class Catalog:
    """Summaries of every run under `root`, cheap to rescan: per-run work is cached by each
    file's (inode, size, mtime, ctime), and episode logs are read incrementally.

    A run is live when it wrote within `live_window` seconds, stalled within
    `stall_window`, finished otherwise. Thread-safe.
    """

    def __init__(
        self,
        root: Path,
        live_window: float = DEFAULT_LIVE_WINDOW,
        stall_window: float = DEFAULT_STALL_WINDOW,
    ) -> None:
        self.root = Path(root)
        self.live_window = live_window
        self.stall_window = stall_window
        self._runs: dict[Path, _RunCache] = {}
        self._lock = threading.RLock()
        self.problems: list[str] = []
        """Directories the last scan could not list (besides runs, which carry their own)."""

    def scan(self, now: float | None = None) -> list[RunSummary]:
        """Summaries of every run under the root, sorted by path. Never raises for a bad run."""
        with self._lock:
            moment = time.time() if now is None else now
            problems: list[str] = []
            runs: list[_Found] = []
            for item in _walk(self.root):
                if item.entries is None and not self._looks_like_run(item.path):
                    problems.append(item.problem or f"cannot list {item.path}")
                else:
                    runs.append(item)
            summaries = self._summarise_all(runs, moment)
            for gone in set(self._runs) - {item.path for item in runs}:
                del self._runs[gone]
            self.problems = problems
            return summaries

    def summary(self, run_dir: Path, now: float | None = None) -> RunSummary:
        """The summary of one run directory (cached like a scan's)."""
        run_dir = Path(run_dir)
        with self._lock:
            try:
                item = _Found(run_dir, _list(run_dir))
            except PermissionError:
                item = _Found(run_dir, None, f"permission denied: {run_dir}")
            except OSError as exc:
                item = _Found(run_dir, None, f"cannot list {run_dir}: {exc.strerror or exc}")
            return self._summarise_all([item], time.time() if now is None else now)[0]

    def episode_logs(self, run_dir: Path) -> tuple[EpisodeLog, EpisodeLog]:
        """The (train, eval) readers this catalog keeps for `run_dir`, as of its last
        summary; use them to read further (frame, extras keys) without a second parse."""
        with self._lock:
            cache = self._cache_for(Path(run_dir))
            return cache.train.log, cache.eval.log

    def _looks_like_run(self, path: Path) -> bool:
        """An unlistable directory with a run-id-like name, or at run depth below the root
        (root/name/version/run_id), is listed as a run with its problem; any other goes to
        `problems`."""
        if _RUN_ID_LIKE.match(path.name):
            return True
        try:
            return len(path.relative_to(self.root).parts) == 3
        except ValueError:
            return False

    # ------------------------------------------------------------------ per run

    def _cache_for(self, run_dir: Path) -> _RunCache:
        cache = self._runs.get(run_dir)
        if cache is None:
            cache = _RunCache(
                train=_LogState(EpisodeLog(run_dir / TRAIN_LOG, "train")),
                eval=_LogState(EpisodeLog(run_dir / EVAL_LOG, "eval")),
            )
            self._runs[run_dir] = cache
        return cache

    def _summarise_all(self, items: list[_Found], now: float) -> list[RunSummary]:
        """Stat every run's files, refresh the changed logs together (`refresh_many`:
        one pyarrow call for many small logs), then summarise each run."""
        prepared: list[tuple[_Found, _RunCache, dict[str, os.stat_result]]] = []
        stale: list[EpisodeLog] = []
        for item in items:
            cache = self._cache_for(item.path)
            stats: dict[str, os.stat_result] = {}
            for entry in item.entries or ():
                if entry.name in _STATTED:
                    try:
                        stats[entry.name] = entry.stat()
                    except OSError:
                        continue
            if item.entries is not None:
                for log_state, file_name in ((cache.train, TRAIN_LOG), (cache.eval, EVAL_LOG)):
                    st = stats.get(file_name)
                    signature = _signature(st) if st is not None else None
                    if (
                        signature is None
                        or signature != log_state.signature
                        or log_state.log.problem is not None
                    ):
                        stale.append(log_state.log)
                        log_state.signature = signature
            prepared.append((item, cache, stats))
        refresh_many(stale)
        return [self._summarise(item, cache, stats, now) for item, cache, stats in prepared]

    def _summarise(
        self, item: _Found, cache: _RunCache, stats: dict[str, os.stat_result], now: float
    ) -> RunSummary:
        run_dir = item.path
        entries = {e.name: e for e in item.entries or ()}
        problems: list[str] = []
        if item.entries is None:
            # Nothing inside can be read: say so once, not once per file.
            problems.append(item.problem or f"cannot list {run_dir}")
        else:
            self._read_metadata(cache, run_dir / METADATA_FILE, stats.get(METADATA_FILE))
            if cache.metadata_problem:
                problems.append(cache.metadata_problem)
            self._derive(cache.train)
            self._derive(cache.eval)
            for log_state, file_name in ((cache.train, TRAIN_LOG), (cache.eval, EVAL_LOG)):
                if log_state.log.problem:
                    problems.append(log_state.log.problem)
                bad = log_state.log.bad_line_count
                if bad:
                    problems.append(f"{_plural(bad, 'bad line')} in {file_name}")

        checkpoints, checkpoint_bytes = self._checkpoints(run_dir, entries.get(CHECKPOINTS_DIR))
        disk_bytes = checkpoint_bytes + self._other_bytes(run_dir, entries, stats)
        written = last_write(run_dir)
        state = classify(written, now, self.live_window, self.stall_window)
        problem = "; ".join(problems) if problems else None

        inputs = (
            problem,
            cache.metadata,
            cache.train.derived_at,
            cache.eval.derived_at,
            checkpoints,
            disk_bytes,
            written,
            state,
        )
        if cache.summary is not None and cache.inputs == inputs:
            return cache.summary
        parts = run_dir.parts
        name, version, run_id = (("",) * 3 + tuple(parts))[-3:]
        summary = RunSummary(
            path=run_dir,
            rel=f"{name}/{version}/{run_id}",
            name=name,
            version=version,
            run_id=run_id,
            metadata=cache.metadata,
            problem=problem,
            train_episodes=cache.train.count,
            eval_episodes=cache.eval.count,
            total_steps=cache.train.total_steps,
            last_reward=cache.train.last_reward,
            best_reward=cache.train.best_reward,
            best_eval=cache.eval.best_eval,
            checkpoints=checkpoints,
            disk_bytes=disk_bytes,
            last_write=written,
            state=state,
            train_bad_lines=tuple(cache.train.log.bad_lines),
            eval_bad_lines=tuple(cache.eval.log.bad_lines),
        )
        cache.summary = summary
        cache.inputs = inputs
        return summary

    def _read_metadata(self, cache: _RunCache, path: Path, st: os.stat_result | None) -> None:
        """Read metadata.json into `cache` unless its stat is unchanged since a settled read.

        Half-written (the crate rewrites it in place): retried once after a short pause,
        then the last good copy is served with no problem, or, if there is none, the
        problem says so. Such a read is not cached, so the next scan tries again.
        """
        if st is None:
            cache.metadata_signature, cache.metadata = None, None
            cache.metadata_problem = f"{METADATA_FILE} is missing"
            return
        signature = _signature(st)
        if signature == cache.metadata_signature:
            return
        outcome = _read_metadata_file(path)
        if outcome is _HALF_WRITTEN:
            time.sleep(METADATA_RETRY_DELAY)
            outcome = _read_metadata_file(path)
        if outcome is _HALF_WRITTEN:
            cache.metadata_signature = None
            cache.metadata = cache.last_good
            cache.metadata_problem = (
                None
                if cache.last_good is not None
                else f"{METADATA_FILE} is being written (half-written); retrying"
            )
        elif isinstance(outcome, RunMetadata):
            # Cached under the stat taken before reading: had the file changed meanwhile,
            # the next scan sees a new signature and reads again.
            cache.metadata_signature = signature
            cache.metadata = cache.last_good = outcome
            cache.metadata_problem = None
        else:
            cache.metadata_signature = None if outcome == _MISSING else signature
            cache.metadata = None
            cache.metadata_problem = outcome

    def _derive(self, state: _LogState) -> None:
        """Counts and rewards from a log, recomputed only when its version moved."""
        log = state.log
        if state.derived_at == log.version:
            return
        state.derived_at = log.version
        state.count = log.total_records
        state.total_steps = log.total_steps
        if log.kind == "train":
            rewards = log.column("reward")
            state.last_reward = _finite_or_none(float(rewards[-1])) if len(rewards) else None
            finite = rewards[np.isfinite(rewards)]
            state.best_reward = float(finite.max()) if len(finite) else None
        else:
            state.best_eval = _best_eval(log.column("step"), log.column("reward"))

    def _checkpoints(
        self, run_dir: Path, entry: os.DirEntry[str] | None
    ) -> tuple[tuple[CheckpointInfo, ...], int]:
        if entry is None:
            return (), 0
        directory = run_dir / CHECKPOINTS_DIR
        try:
            if not entry.is_dir(follow_symlinks=False):
                return (), entry.stat(follow_symlinks=False).st_size
            children = _list(directory)
        except OSError:
            return (), 0
        found: list[CheckpointInfo] = []
        total = 0
        for child in children:
            try:
                if child.is_dir(follow_symlinks=False):
                    total += _tree_bytes(directory / child.name)
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
                st = child.stat()  # a symlinked checkpoint: describe what it points to
            except OSError:
                st = own
            found.append(
                CheckpointInfo(
                    name=child.name,
                    path=directory / child.name,
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
        self,
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


def scan_runs(
    root: Path,
    live_window: float = DEFAULT_LIVE_WINDOW,
    stall_window: float = DEFAULT_STALL_WINDOW,
    now: float | None = None,
) -> list[RunSummary]:
    """One-off scan: the summaries of every run under `root` (see `Catalog.scan`)."""
    return Catalog(root, live_window, stall_window).scan(now)
