"""What a run directory is, where the runs under a path are, and what a run is called.

    <root>/                              a runs root
        <name>/                          depth 1
            <version>/                   depth 2 (VERSION_DEPTH)
                <run_id>/                depth 3 (RUN_DEPTH): the run, called "name/version/run_id"

A directory is a run when it holds metadata.json or an episode log, or when its name looks
like a run id (YYYYMMDD_HHMMSS...) and it holds checkpoints/ (a run whose metadata.json was
lost is still a run, listed with its problem). This module is the one home of that rule: the
catalog, pruning, the watcher, `runlog show` and the dashboard's views all ask here.

The walk (`walk_runs`) starts anywhere: a runs root, a name, a version or a run itself. It never
enters a run (so `checkpoints/` is never mistaken for one), never follows a symlinked directory
(a link loop ends), skips a directory it has already seen (a bind mount looping back) and stops
MAX_DEPTH below its start. A directory it cannot list is reported, not raised.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from runlog.errors import OutsideRootError
from runlog.format.layout import CHECKPOINTS_DIR, EVAL_LOG, METADATA_FILE, TRAIN_LOG
from runlog.record import record

__all__ = [
    "MAX_DEPTH",
    "RUN_DEPTH",
    "VERSION_DEPTH",
    "FoundDir",
    "depth_of",
    "find_runs",
    "is_run_dir",
    "looks_like_run",
    "rel_parts",
    "run_key",
    "run_rel",
    "split_rel",
    "walk_runs",
]

RUN_DEPTH = 3
"""A run lies three levels below a runs root: name / version / run_id."""
VERSION_DEPTH = 2
MAX_DEPTH = 8
"""Directories deeper than this below the start of a walk are not searched for runs."""

_RUN_ID_LIKE = re.compile(r"[0-9]{8}_[0-9]{6}")


def is_run_dir(name: str, children: set[str] | frozenset[str]) -> bool:
    """Whether a directory called `name` holding the entries `children` is a run."""
    if METADATA_FILE in children or TRAIN_LOG in children or EVAL_LOG in children:
        return True
    return CHECKPOINTS_DIR in children and bool(_RUN_ID_LIKE.match(name))


@record
class FoundDir:
    """A directory the walk reports: a run with its listing, a run the caller knows is listed
    as before (`unlisted`: see `walk_runs`), or a directory it could not list (`entries` None,
    `problem` says why; it may be a run, see `looks_like_run`)."""

    path: Path
    entries: tuple[os.DirEntry[str], ...] | None
    problem: str | None = None
    stat: os.stat_result | None = None
    """The directory's own stat, taken by the walk (None when it could not be listed)."""
    unlisted: bool = False
    """A run not listed again: `walk_runs`'s `known` said its listing stands (`entries` None,
    and nothing is wrong with it)."""

    @property
    def listed(self) -> bool:
        return self.entries is not None


def _list(directory: Path) -> tuple[os.DirEntry[str], ...]:
    with os.scandir(directory) as it:
        return tuple(it)


def walk_runs(
    start: Path, known: Callable[[Path, os.stat_result], bool] | None = None
) -> Iterator[FoundDir]:
    """Run directories at or under `start`, in sorted order, plus the directories that could
    not be listed (with their problem). See the module doc for what is not entered.

    `known(directory, its stat)`: True for a run whose listing the caller holds and knows to
    stand (the directory's inode and mtime are those it was listed under, long enough ago):
    such a run is reported `unlisted`, stat'ed but not listed again (a restart of the catalog
    on 10,000 runs spends a sixth of its time listing them)."""
    stack: list[tuple[Path, int]] = [(Path(start), 0)]
    seen: set[tuple[int, int]] = set()
    while stack:
        directory, depth = stack.pop()
        if known is not None:
            try:
                st = os.stat(directory)
            except OSError:
                pass  # listed below, which says what is wrong
            else:
                if known(directory, st):
                    identity = (st.st_dev, st.st_ino)
                    if identity not in seen:
                        seen.add(identity)
                        yield FoundDir(directory, None, stat=st, unlisted=True)
                    continue
        try:
            entries = _list(directory)
            st = os.stat(directory)
        except PermissionError:
            yield FoundDir(directory, None, f"permission denied: {directory}")
            continue
        except (FileNotFoundError, NotADirectoryError):
            continue  # removed while we walked, or a file
        except OSError as exc:
            yield FoundDir(directory, None, f"cannot list {directory}: {exc.strerror or exc}")
            continue
        identity = (st.st_dev, st.st_ino)
        if identity in seen:
            continue
        seen.add(identity)
        if is_run_dir(directory.name, {e.name for e in entries}):
            yield FoundDir(directory, entries, stat=st)
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


def find_runs(start: Path, problems: list[str] | None = None) -> list[Path]:
    """Every run directory at or under `start` (a runs root, a name, a version or a run),
    sorted. A directory that cannot be listed is left out, its problem appended to `problems`."""
    found: list[Path] = []
    for item in walk_runs(start):
        if item.entries is None:
            if problems is not None and item.problem is not None:
                problems.append(item.problem)
            continue
        found.append(item.path)
    return found


def looks_like_run(root: Path, path: Path) -> bool:
    """Whether an unlistable directory should be listed as a run (with its problem): it has a
    run-id-like name, or lies at run depth below `root`."""
    if _RUN_ID_LIKE.match(path.name):
        return True
    try:
        return len(path.relative_to(root).parts) == RUN_DEPTH
    except ValueError:
        return False


def split_rel(rel: str) -> tuple[str, str, str]:
    """("name", "version", "run_id") of a run called "name/version/run_id"; a shorter path
    (a run found directly under a start that is not a runs root) is padded with "" in front."""
    parts = [p for p in rel.split("/") if p and p != "."]
    name, version, run_id = (("",) * RUN_DEPTH + tuple(parts))[-RUN_DEPTH:]
    return name, version, run_id


def depth_of(rel: str) -> int:
    """How many levels below the root a root-relative path lies ("." is 0)."""
    return 0 if rel in ("", ".") else len([p for p in rel.split("/") if p])


def run_rel(root: Path, run_dir: Path) -> str:
    """`run_dir` relative to `root` with forward slashes ("name/version/run_id"), "." for the
    root itself. Raises OutsideRootError when `run_dir` (resolved) is not inside `root`."""
    try:
        real_root = root.resolve()
        real_run = run_dir.resolve()
    except (OSError, RuntimeError, ValueError) as exc:
        raise OutsideRootError(
            f"refusing path {str(run_dir)!r}: it cannot be resolved ({exc})"
        ) from exc
    if not real_run.is_relative_to(real_root):
        raise OutsideRootError(
            f"refusing path {str(run_dir)!r}: it is not inside the runs root {real_root}"
        )
    return real_run.relative_to(real_root).as_posix()


def rel_parts(root: str, path: str) -> list[str] | None:
    """The components of `path` below the directory `root` (both plain strings, as a file
    watcher reports them): [] for the root itself, None for a path outside it."""
    if path == root:
        return []
    prefix = root.rstrip(os.sep) + os.sep
    if not path.startswith(prefix):
        return None
    return [part for part in path[len(prefix) :].split(os.sep) if part]


def run_key(parts: list[str]) -> str | None:
    """The run "name/version/run_id" that a path with these root-relative `parts` lies in or
    is, or None for a path above run depth."""
    if len(parts) < RUN_DEPTH:
        return None
    return "/".join(parts[:RUN_DEPTH])
