"""When a run last wrote, and whether that makes it live, stalled or finished."""

from __future__ import annotations

import os
import time
from enum import StrEnum
from pathlib import Path

from runlog.format.layout import EVAL_LOG, METADATA_FILE, TRAIN_LOG

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


def last_write(run_dir: Path) -> float | None:
    """Newest mtime (epoch seconds) of the run's logs and metadata.json, or None."""
    newest: float | None = None
    for name in _ACTIVITY_FILES:
        try:
            mtime = os.stat(run_dir / name).st_mtime
        except OSError:
            continue
        newest = mtime if newest is None else max(newest, mtime)
    return newest


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
