"""Resolve a path to one run directory, by the crate's rule (FORMAT.md, "Resolving a run").

    runs/cartpole                     no metadata.json: take the greatest subdirectory
      v2/                             ("v2" > "v10" > "ppo" in string order)
        20260322_120000/              no metadata.json: take the greatest subdirectory
        20260322_130000/metadata.json found: this is the run

The rule is kept exactly for compatibility, string order and all; only the error
messages are smarter than the crate's (they show the path taken and name the real problem).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from runlog.errors import ResolveError
from runlog.format.layout import CHECKPOINTS_DIR, METADATA_FILE, TRAIN_LOG
from runlog.format.metadata import read_metadata

_NUMBER = re.compile(r"([0-9]+)")


def _natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    return tuple((1, int(part)) if part.isdigit() else (0, part) for part in _NUMBER.split(name))


def _subdirectories(directory: Path) -> list[str]:
    """Names of `directory`'s subdirectories (symlinks to directories count, as in Rust)."""
    try:
        with os.scandir(directory) as entries:
            return [entry.name for entry in entries if entry.is_dir()]
    except FileNotFoundError:
        raise ResolveError(f"{directory} does not exist") from None
    except NotADirectoryError:
        raise ResolveError(
            f"{directory} is not a directory; give a run directory or one of its parents"
        ) from None
    except OSError as exc:
        raise ResolveError(f"cannot list {directory}: {exc.strerror or exc}") from None


def _pick_greatest(names: list[str]) -> tuple[str, str]:
    """The greatest name in the crate's order (bytes of the file name), plus a note for
    the error trail when that order surprises ("v10" < "v2")."""
    chosen = max(names, key=os.fsencode)
    natural = max(names, key=_natural_key)
    note = ""
    if natural != chosen:
        note = f" (string order: {natural!r} sorts before {chosen!r})"
    return chosen, note


def resolve_run_dir(path: Path | str) -> Path:
    """The run directory `path` resolves to: the first directory on the way down that
    contains metadata.json, always descending into the greatest subdirectory by string order.

    Does not read metadata.json (see `resolve_run`). Raises ResolveError naming the
    directory with no subdirectory, and the path taken to reach it.
    """
    start = Path(path)
    current = start
    trail: list[str] = []
    while not (current / METADATA_FILE).exists():
        names = _subdirectories(current)
        if not names:
            raise ResolveError(_dead_end_message(start, current, trail))
        chosen, note = _pick_greatest(names)
        if len(names) > 1:
            trail.append(f"{chosen}/ of {len(names)} subdirectories{note}")
        else:
            trail.append(f"{chosen}/")
        current = current / chosen
    return current


def _dead_end_message(start: Path, dead_end: Path, trail: list[str]) -> str:
    route = ""
    if trail:
        route = f" (from {start} the rule took " + " -> ".join(trail) + ")"
    parent = dead_end.parent
    looks_like_run = dead_end.name == CHECKPOINTS_DIR or (parent / TRAIN_LOG).exists()
    if trail and looks_like_run and dead_end != start:
        return (
            f"no run found: {parent} looks like a run directory but has no {METADATA_FILE}, "
            f"so the resume rule descended into {dead_end}, which has no subdirectory"
            f"{route}. Restore {parent / METADATA_FILE}, or point at another run"
        )
    if (dead_end / TRAIN_LOG).exists():
        return (
            f"no run found: {dead_end} has {TRAIN_LOG} but no {METADATA_FILE}{route}. "
            f"Restore {dead_end / METADATA_FILE}, or point at another run"
        )
    return (
        f"no run found: {dead_end} has no {METADATA_FILE} and no subdirectory{route}. "
        "Give a run directory, or a name, version or root directory containing runs"
    )


def resolve_run(path: Path | str) -> Path:
    """The run directory `path` resolves to, checked to hold a readable metadata.json.

    Raises ResolveError when no directory on the way down has metadata.json, and
    MetadataError naming the file when the run's metadata.json is missing or corrupt.
    """
    run_dir = resolve_run_dir(path)
    read_metadata(run_dir)
    return run_dir
