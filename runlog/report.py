"""The text of `runlog ls ROOT [--json]` and `runlog show RUN [--json]`.

Each command returns (text to print, exit code); `runlog.cli` prints it (stdout when the
code is 0, stderr otherwise). Exit codes: 0 shown (a run's problems are part of the
report, not a failure), 1 nothing to show (no such path, no run found).

JSON output is strict JSON: a missing or non-finite number is `null`, never NaN.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runlog.analysis.evals import EvalBlock
from runlog.errors import RunlogError
from runlog.format.records import metadata_fields
from runlog.format.resolve import resolve_run_dir
from runlog.format.rundirs import RUN_DEPTH, is_run_dir
from runlog.provider import RunProvider
from runlog.read.catalog import RunSummary
from runlog.read.index import RunIndex

EXIT_OK = 0
EXIT_ERROR = 1

__all__ = ["ls_command", "ls_records", "show_command", "show_record"]


# -- formatting helpers ---------------------------------------------------------------------


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _age(moment: float | None, now: float) -> str:
    if moment is None:
        return "never"
    seconds = max(0.0, now - moment)
    for limit, unit, div in ((120, "s", 1), (7200, "m", 60), (172800, "h", 3600)):
        if seconds < limit:
            return f"{seconds / div:.0f}{unit} ago"
    return f"{seconds / 86400:.0f}d ago"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _eval_json(block: EvalBlock | None) -> dict[str, Any] | None:
    if block is None:
        return None
    return {
        "step": block.step,
        "mean": block.mean,
        "n": block.n,
        "std": block.std,
        "min": block.min,
        "max": block.max,
        "median": block.median,
    }


def _dumps(value: object) -> str:
    return json.dumps(value, indent=2, allow_nan=False)


# -- ls ---------------------------------------------------------------------------------------


def ls_records(summaries: Sequence[RunSummary]) -> list[dict[str, Any]]:
    """One JSON-ready object per run (what `runlog ls --json` prints)."""
    return [
        {
            "path": str(s.path),
            "rel": s.rel,
            "name": s.name,
            "version": s.version,
            "run_id": s.run_id,
            "ok": s.ok,
            "problem": s.problem,
            "state": s.state.value,
            "train_episodes": s.train_episodes,
            "eval_episodes": s.eval_episodes,
            "total_steps": s.total_steps,
            "last_reward": s.last_reward,
            "best_reward": s.best_reward,
            "best_eval": _eval_json(s.best_eval),
            "checkpoints": {
                "steps": list(s.checkpoint_steps),
                "latest": s.has_latest,
                "best": s.has_best,
            },
            "disk_bytes": s.disk_bytes,
            "last_write": s.last_write,
            "tags": list(s.tags),
            "note": s.note,
        }
        for s in summaries
    ]


def ls_command(root: Path, as_json: bool, index: RunIndex | None = None) -> tuple[str, int]:
    """`runlog ls ROOT [--json]`: a table (or JSON list) of every run under ROOT."""
    root = Path(root)
    if not root.is_dir():
        what = "does not exist" if not root.exists() else "is not a directory"
        return f"{root} {what}; give a runs root, a name, a version or a run directory", EXIT_ERROR
    provider = RunProvider(root, index=index, watch=False, background=False)
    provider.refresh()
    summaries = provider.runs()
    if as_json:
        return _dumps(ls_records(summaries)), EXIT_OK
    if not summaries:
        lines = [f"no runs under {root}"]
    else:
        now = time.time()
        header = (
            *("RUN", "STATE", "EPISODES", "EVALS", "STEPS", "LAST", "BEST", "BEST EVAL"),
            *("CKPTS", "SIZE", "WRITTEN", "PROBLEM"),
        )
        rows = []
        for s in summaries:
            best_eval = (
                "-" if s.best_eval is None else f"{s.best_eval.mean:.6g} @{s.best_eval.step}"
            )
            marks = "".join(m for m, on in (("L", s.has_latest), ("B", s.has_best)) if on)
            checkpoints = f"{len(s.checkpoint_steps)}{('+' + marks) if marks else ''}"
            rows.append(
                (
                    s.rel,
                    s.state.value,
                    f"{s.train_episodes:,}",
                    f"{s.eval_episodes:,}",
                    f"{s.total_steps:,}",
                    _number(s.last_reward),
                    _number(s.best_reward),
                    best_eval,
                    checkpoints,
                    _size(s.disk_bytes),
                    _age(s.last_write, now),
                    s.problem or "",
                )
            )
        lines = [_table(header, rows, right={2, 3, 4, 5, 6, 8, 9})]
        bad = sum(1 for s in summaries if not s.ok)
        lines.append("")
        lines.append(
            f"{len(summaries)} run{'s' if len(summaries) != 1 else ''}"
            + (f", {bad} with problems" if bad else "")
            + "  (CKPTS: step checkpoints, +L latest.mpk, +B best.mpk)"
        )
    lines.extend(f"warning: {problem}" for problem in provider.catalog.problems)
    return "\n".join(lines), EXIT_OK


# -- show ---------------------------------------------------------------------------------


def _run_dir_for(path: Path) -> Path:
    """`path` itself when it looks like a run (so a run with broken metadata can still be
    shown), else FORMAT.md's resolve rule (greatest subdirectory, string order)."""
    try:
        children = {p.name for p in path.iterdir()}
    except OSError:
        children = set()
    if is_run_dir(path.name, children):
        return path
    return resolve_run_dir(path)


def show_record(s: RunSummary) -> dict[str, Any]:
    """Everything `runlog show --json` prints about one run."""
    statuses = dict(s.train.status_counts) if s.train is not None else {}
    metadata = s.metadata
    return {
        "path": str(s.path),
        "rel": s.rel,
        "name": s.name,
        "version": s.version,
        "run_id": s.run_id,
        "state": s.state.value,
        "ok": s.ok,
        "problem": s.problem,
        "metadata_ok": metadata is not None,
        "metadata": None if metadata is None else metadata_fields(metadata),
        "train_episodes": s.train_episodes,
        "bad_train_lines": list(s.train_bad_lines),
        "eval_episodes": s.eval_episodes,
        "bad_eval_lines": list(s.eval_bad_lines),
        "total_steps": s.total_steps,
        "last_reward": s.last_reward,
        "best_reward": s.best_reward,
        "best_eval": _eval_json(s.best_eval),
        "statuses": {str(k): int(v) for k, v in statuses.items() if v},
        "extras_keys": [] if s.train is None else list(s.train.extras_keys),
        "checkpoints": {
            "steps": list(s.checkpoint_steps),
            "latest": s.has_latest,
            "best": s.has_best,
            "files": [
                {"name": c.name, "step": c.step, "size": c.size, "mtime": c.mtime}
                for c in s.checkpoints
            ],
        },
        "disk_bytes": s.disk_bytes,
        "last_write": s.last_write,
        "tags": list(s.tags),
        "note": s.note,
    }


def _line_list(numbers: Sequence[int], limit: int = 10) -> str:
    shown = ", ".join(str(n) for n in numbers[:limit])
    return shown + (f", ... ({len(numbers)} in all)" if len(numbers) > limit else "")


def show_command(run: Path, as_json: bool, index: RunIndex | None = None) -> tuple[str, int]:
    """`runlog show RUN [--json]`: one run's summary. RUN may be a run directory, or a
    name or version directory resolved by FORMAT.md's rule."""
    path = Path(run)
    if not path.exists():
        return f"{path} does not exist", EXIT_ERROR
    if not path.is_dir():
        return f"{path} is not a directory; give a run directory", EXIT_ERROR
    try:
        run_dir = _run_dir_for(path)
    except RunlogError as exc:
        return str(exc), EXIT_ERROR
    # The run's runs root (three levels up), so `show` shares the index `ls ROOT` builds.
    parents = run_dir.resolve().parents
    root = parents[RUN_DEPTH - 1] if len(parents) >= RUN_DEPTH else run_dir
    provider = RunProvider(root, index=index, watch=False, background=False)
    record = show_record(provider.summary_of(run_dir))
    if as_json:
        return _dumps(record), EXIT_OK
    now = time.time()
    best_eval = record["best_eval"]
    checkpoints = record["checkpoints"]
    meta = record["metadata"]
    rows: list[tuple[str, str]] = [
        ("run", record["rel"]),
        ("path", record["path"]),
        ("state", f"{record['state']} (last write {_age(record['last_write'], now)})"),
        ("problem", record["problem"] or "none"),
    ]
    if meta is not None:
        rows.append(("started", meta["started_at"]))
        rows.append(("updated", meta["last_updated"]))
    rows += [
        ("episodes", f"{record['train_episodes']:,} train, {record['eval_episodes']:,} eval"),
        ("env steps", f"{record['total_steps']:,}"),
        ("reward", f"last {_number(record['last_reward'])}, best {_number(record['best_reward'])}"),
        (
            "best eval",
            "none"
            if best_eval is None
            else f"mean {best_eval['mean']:.6g} over {best_eval['n']} episodes "
            f"at step {best_eval['step']:,}",
        ),
        (
            "statuses",
            ", ".join(f"{k} {v:,}" for k, v in record["statuses"].items()) or "none",
        ),
        ("extras", ", ".join(record["extras_keys"]) or "none"),
        (
            "checkpoints",
            (", ".join(f"step_{n}" for n in checkpoints["steps"]) or "no step checkpoints")
            + (", latest" if checkpoints["latest"] else "")
            + (", best" if checkpoints["best"] else ""),
        ),
        ("disk", _size(record["disk_bytes"])),
        ("tags", ", ".join(record["tags"]) or "none"),
    ]
    if record["note"]:
        rows.append(("note", record["note"]))
    if record["bad_train_lines"]:
        rows.append(("bad train lines", _line_list(record["bad_train_lines"])))
    if record["bad_eval_lines"]:
        rows.append(("bad eval lines", _line_list(record["bad_eval_lines"])))
    width = max(len(key) for key, _ in rows)
    # A value of several lines (a note) is indented under itself: no line reads as a key.
    indent = "\n" + " " * (width + 2)
    return "\n".join(
        f"{key.ljust(width)}  {value.replace(chr(10), indent)}" for key, value in rows
    ), EXIT_OK
