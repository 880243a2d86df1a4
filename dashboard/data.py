"""Shapes the library's results for the page: the runs table, headline numbers, curves.

Pure functions (records and frames in, frames and strings out), no Streamlit, so the page
logic is testable without a browser. Human-readable sizes and times live here too; numbers
are written by dashboard.text.format_number.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from datetime import datetime
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from dashboard.text import format_number
from runlog.analysis.curves import downsample_many
from runlog.read.activity import RunState
from runlog.read.catalog import RunSummary

MAX_POINTS = 2000
"""Points per trace at most; raw and smoothed share one set of positions (the provider's
`series`, runlog.analysis.curves)."""
STATUSES = ("Terminated", "Truncated", "Continuing")

# Plain glyphs (no emoji): they render everywhere, headless browsers included.
STATE_LABELS = {
    RunState.LIVE: "● live",
    RunState.STALLED: "● stalled",
    RunState.FINISHED: "○ finished",
}
BROKEN_LABEL = "▲ broken"
STATE_COLORS = {
    STATE_LABELS[RunState.LIVE]: "#059669",
    STATE_LABELS[RunState.STALLED]: "#D97706",
    STATE_LABELS[RunState.FINISHED]: "#6B7280",
    BROKEN_LABEL: "#DC2626",
}

TABLE_COLUMNS = (
    "state",
    "name",
    "version",
    "run_id",
    "tags",
    "episodes",
    "env steps",
    "last reward",
    "best reward",
    "best eval",
    "checkpoints",
    "disk",
    "last write",
    "note",
    "problem",
    "rel",
)
_TEXT_COLUMNS = (
    "state",
    "name",
    "version",
    "run_id",
    "tags",
    "checkpoints",
    "note",
    "problem",
    "rel",
)
NOTE_CELL_CHARS = 80
"""The table shows a note's first line, cut to this many characters (the run view has it all)."""


# ----- formatting ------------------------------------------------------------------------


def human_size(n_bytes: float | None) -> str:
    """1536 -> "1.5 KiB"; None -> "—"."""
    if n_bytes is None:
        return "—"
    size = float(n_bytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"  # unreachable


def human_age(seconds: float | None) -> str:
    """Seconds since something happened, in words: "12 s ago", "4 min ago", "3 d ago"."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    seconds = max(0.0, seconds)
    for limit, unit, div in ((60, "s", 1), (3600, "min", 60), (86400, "h", 3600)):
        if seconds < limit:
            return f"{int(seconds // div)} {unit} ago"
    return f"{int(seconds // 86400)} d ago"


def human_time(epoch: float | None) -> str:
    """Local wall-clock time of an epoch timestamp, "2026-03-22 12:41:07"."""
    if epoch is None:
        return "—"
    return datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S")


def state_label(summary: RunSummary) -> str:
    """The state column's text: the provider ages every summary's state as it hands it out."""
    if not summary.ok and summary.metadata is None:
        return BROKEN_LABEL
    return STATE_LABELS[summary.state]


# ----- the runs table ----------------------------------------------------------------------


def note_cell(note: str) -> str:
    """A note in one table cell: its first non-blank line, cut to NOTE_CELL_CHARS, with "…"
    when anything is left out."""
    lines = [line.strip() for line in note.splitlines() if line.strip()]
    if not lines:
        return ""
    first = lines[0]
    if len(first) > NOTE_CELL_CHARS:
        return first[: NOTE_CELL_CHARS - 1] + "…"
    return first + (" …" if len(lines) > 1 else "")


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def runs_frame(summaries: Iterable[RunSummary]) -> pd.DataFrame:
    """One row per run with the browser's columns (`TABLE_COLUMNS`); numbers stay numbers.
    A run whose logs are not read yet (a first start) has no figures from them: empty cells."""
    rows: list[dict[str, Any]] = []
    for s in summaries:
        best_eval = s.best_eval
        read = s.indexed
        n_ckpt = sum(1 for c in s.checkpoints if c.step is not None)
        badges = [
            b
            for b, present in (
                ("latest", any(c.is_latest for c in s.checkpoints)),
                ("best", any(c.is_best for c in s.checkpoints)),
            )
            if present
        ]
        rows.append(
            {
                "state": state_label(s),
                "name": s.name,
                "version": s.version,
                "run_id": s.run_id,
                "tags": list(s.tags),
                "episodes": int(s.train_episodes) if read else None,
                "env steps": int(s.total_steps) if read else None,
                "last reward": _finite(s.last_reward),
                "best reward": _finite(s.best_reward),
                "best eval": None if best_eval is None else _finite(best_eval.mean),
                "checkpoints": f"{n_ckpt}" + (f" + {' + '.join(badges)}" if badges else ""),
                "disk": int(s.disk_bytes),
                "last write": (
                    pd.Timestamp(s.last_write, unit="s", tz="UTC")
                    if s.last_write is not None
                    else pd.NaT
                ),
                "note": note_cell(s.note),
                "problem": s.problem or "",
                "rel": s.rel,
            }
        )
    frame = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    for col in ("last reward", "best reward", "best eval"):
        frame[col] = frame[col].astype("float64")
    for col in ("episodes", "env steps"):
        frame[col] = frame[col].astype("Int64")
    return frame


def filter_runs(
    frame: pd.DataFrame,
    names: Iterable[str],
    versions: Iterable[str],
    text: str,
    tags: Iterable[str] = (),
) -> pd.DataFrame:
    """Rows whose name is in `names` (all if empty), whose "name/version" is in `versions`
    (all if empty), that carry EVERY tag of `tags` (AND: "baseline" + "seed-sweep" are the
    runs with both) and that contain every word of `text` (case-insensitive) in a text column
    (state, name, version, run_id, tags, checkpoints, note, problem)."""
    out = frame
    names = list(names)
    versions = list(versions)
    wanted = set(tags)
    if names:
        out = out[out["name"].isin(names)]
    if versions:
        out = out[(out["name"] + "/" + out["version"]).isin(versions)]
    if wanted:
        out = out[out["tags"].map(lambda have: wanted.issubset(have))]
    words = text.lower().split()
    if words:
        haystack = pd.Series("", index=out.index)
        for column in _TEXT_COLUMNS:
            haystack = haystack + " " + out[column].fillna("").astype(str).str.lower()
        mask = pd.Series(True, index=out.index)
        for word in words:
            mask &= haystack.str.contains(word, regex=False)
        out = out[mask]
    return out


# ----- one run --------------------------------------------------------------------------------


def status_counts(counts: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Episodes per status, in the fixed order Terminated, Truncated, Continuing (+ any other)."""
    found = {str(k): int(v) for k, v in counts if v}
    ordered = {s: found.pop(s) for s in STATUSES if s in found}
    ordered.update(sorted(found.items()))
    return ordered


def thin_blocks(blocks: pd.DataFrame, max_points: int = MAX_POINTS) -> pd.DataFrame:
    """Eval blocks thinned by their mean (min/max per bucket kept) when there are too many."""
    if len(blocks) <= max_points:
        return blocks
    kept = downsample_many(blocks["step"].to_numpy(), {"mean": blocks["mean"]}, max_points)
    return blocks.iloc[kept.index]


CURVE_COLUMNS = ("episode", "env_step", "raw", "smoothed")


def curve_table(
    steps: npt.ArrayLike, raw: npt.ArrayLike, smoothed: npt.ArrayLike, *, whole: bool = False
) -> pd.DataFrame:
    """One chart's curve at full resolution (its CSV): a row per episode with its index (from
    0, the chart's "episode" axis), env steps, raw and smoothed value; `whole` writes the raw
    values as integers (episode lengths). A live log may grow between the reads that gave the
    arrays: rows are only ever appended, so the prefix they share is kept."""
    steps, raw, smoothed = np.asarray(steps), np.asarray(raw), np.asarray(smoothed)
    n = min(len(steps), len(raw), len(smoothed))
    return pd.DataFrame(
        {
            "episode": np.arange(n, dtype=np.int64),
            "env_step": steps[:n],
            "raw": raw[:n].astype(np.int64) if whole else raw[:n],
            "smoothed": smoothed[:n],
        },
        columns=list(CURVE_COLUMNS),
    )


def bad_lines_message(kind: str, path_name: str, bad_lines: tuple[int, ...]) -> str | None:
    """The warning "3 bad lines in train_episodes.jsonl skipped (lines 4, 9, 12)…", or None."""
    if not bad_lines:
        return None
    first = ", ".join(str(n) for n in bad_lines[:5])
    more = ", …" if len(bad_lines) > 5 else ""
    noun = "line" if len(bad_lines) == 1 else "lines"
    return (
        f"{format_number(len(bad_lines))} bad {noun} in {path_name} skipped "
        f"({noun} {first}{more}); the rest of the {kind} log is shown."
    )


# ----- a small process-wide memo (figures are rebuilt only when their inputs change) ---------

T = TypeVar("T")
_MEMO: OrderedDict[Hashable, Any] = OrderedDict()
_MEMO_LOCK = threading.Lock()
_MEMO_SIZE = 256


def memo(key: Hashable, build: Callable[[], T]) -> T:
    """`build()` once per `key` (an LRU of recent keys), shared by sessions. Keys must name every
    input, e.g. (run rel, snapshot version, x, smooth)."""
    with _MEMO_LOCK:
        if key in _MEMO:
            _MEMO.move_to_end(key)
            return _MEMO[key]  # type: ignore[no-any-return]
    value = build()
    with _MEMO_LOCK:
        _MEMO[key] = value
        while len(_MEMO) > _MEMO_SIZE:
            _MEMO.popitem(last=False)
    return value


def clear_memo() -> None:
    """Forget every memoised value (tests and benchmarks: a fresh server process)."""
    with _MEMO_LOCK:
        _MEMO.clear()
        _TABLES.clear()


_TABLES: weakref.WeakKeyDictionary[object, tuple[Hashable, pd.DataFrame]] = (
    weakref.WeakKeyDictionary()
)


def table_for(owner: object, key: Hashable, build: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """`build()`'s table, kept for `owner` (a data provider: one table each, the last) while
    `key` stands. The run table's fragment polls every half second, and building the table of
    10,000 runs takes a quarter of a second: a quiet root should cost its poll nothing. The
    table is shared: callers derive new frames from it, never change it."""
    with _MEMO_LOCK:
        kept = _TABLES.get(owner)
        if kept is not None and kept[0] == key:
            return kept[1]
    table = build()
    with _MEMO_LOCK:
        _TABLES[owner] = (key, table)
    return table
