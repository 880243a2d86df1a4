"""When a run last wrote, and whether that makes it live, stalled or finished.

A run's last write is the newest mtime of its logs and metadata.json, with one exception:
files that were copied (a git clone, `cp` or an unzip that does not keep times) carry the
time of the copy, and would make every copied run read as live, then stalled, for the
stall window. metadata.json tells them apart: its writer stamps `last_updated` as it
writes it (the crate after every episode, runlog's `update_metadata` too), so a
metadata.json whose mtime is more than the stall window after its own `last_updated` was
not written then. For such a run the last write is `last_updated`, or a log's mtime when
the log changed after the copy (a resumed run that has not rewritten metadata.json yet).
A run being written keeps its metadata.json's mtime and `last_updated` together, so it
reads live as before.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path

from runlog.format.layout import EVAL_LOG, METADATA_FILE, TRAIN_LOG
from runlog.format.metadata import read_metadata_file
from runlog.format.records import RunMetadata

DEFAULT_LIVE_WINDOW = 30.0
"""Seconds since the last write within which a run counts as live."""
DEFAULT_STALL_WINDOW = 600.0
"""Seconds since the last write within which a silent run counts as stalled, not finished."""

# Only what a trainer writes counts: the checkpoints/ directory's mtime also moves when a
# prune deletes files, which would make every freshly pruned run look live.
_ACTIVITY_FILES = (TRAIN_LOG, EVAL_LOG, METADATA_FILE)


class RunState(StrEnum):
    LIVE = "live"
    STALLED = "stalled"
    FINISHED = "finished"


COPY_SPREAD = 60.0
"""Seconds within which a copy writes all the files of one run: a log written later than
that after a copied metadata.json was written by a trainer (see the module doc)."""


def updated_at(metadata: RunMetadata | None) -> float | None:
    """metadata.json's `last_updated` in epoch seconds, or None (no metadata, not RFC 3339)."""
    moment = None if metadata is None else metadata.last_updated_datetime
    return None if moment is None else moment.timestamp()


def last_activity(
    mtimes: Mapping[str, float],
    last_updated: float | None,
    stall_window: float = DEFAULT_STALL_WINDOW,
) -> float | None:
    """When the run last wrote (epoch seconds), or None: the newest of `mtimes` (file name ->
    mtime of the logs and metadata.json present), unless metadata.json was copied (its mtime
    more than `stall_window` after `last_updated`, its writer's own stamp): then
    `last_updated`, or a log's mtime if the log was written more than COPY_SPREAD seconds
    after metadata.json (see the module doc)."""
    newest = max((mtimes[name] for name in _ACTIVITY_FILES if name in mtimes), default=None)
    copied_at = mtimes.get(METADATA_FILE)
    if newest is None or copied_at is None or last_updated is None:
        return newest
    if copied_at - last_updated <= stall_window:
        return newest  # written by its writer (clocks agree within the stall window)
    later = [
        mtimes[name]
        for name in (TRAIN_LOG, EVAL_LOG)
        if name in mtimes and mtimes[name] > copied_at + COPY_SPREAD
    ]
    return max([last_updated, *later])


def last_write(run_dir: Path, stall_window: float = DEFAULT_STALL_WINDOW) -> float | None:
    """When the run at `run_dir` last wrote (`last_activity` of its files), or None."""
    mtimes: dict[str, float] = {}
    for name in _ACTIVITY_FILES:
        try:
            mtimes[name] = os.stat(run_dir / name).st_mtime
        except OSError:
            continue
    last_updated = None
    if METADATA_FILE in mtimes:
        last_updated = updated_at(read_metadata_file(run_dir / METADATA_FILE).metadata)
    return last_activity(mtimes, last_updated, stall_window)


def classify(
    last_write_time: float | None,
    now: float | None = None,
    live_window: float = DEFAULT_LIVE_WINDOW,
    stall_window: float = DEFAULT_STALL_WINDOW,
) -> RunState:
    """Live if written within `live_window` s, stalled within `stall_window` s, else finished."""
    if last_write_time is None:
        return RunState.FINISHED
    age = (time.time() if now is None else now) - last_write_time
    if age <= live_window:
        return RunState.LIVE
    if age <= max(stall_window, live_window):
        return RunState.STALLED
    return RunState.FINISHED


def is_live(
    run_dir: Path, live_window: float = DEFAULT_LIVE_WINDOW, now: float | None = None
) -> bool:
    """True when the run wrote within `live_window` seconds."""
    return classify(last_write(run_dir), now, live_window) is RunState.LIVE
