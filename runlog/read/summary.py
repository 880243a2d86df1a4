"""What the run table shows of one log, kept up to date batch by batch without its columns.

    batch of new rows --add--> LogSummary (running aggregates) --stats()--> LogStats (frozen)
                                   records, env steps, last / best reward, status counts,
                                   extras keys, bad lines; eval blocks and the best one (eval)

A summary costs a few hundred bytes per train log whatever its length (8 bytes per eval
episode for an eval log: the blocks' rewards, for their medians), so listing hundreds of
million-episode runs needs no columns in memory. `to_json` / `from_json` carry a summary
across processes (the persistent index): a train summary resumes exactly where it stopped;
an eval summary comes back with its results only, and is rebuilt from its log (small) the
next time that log grows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from runlog.analysis.evals import EvalBlock, EvalBlocks
from runlog.record import record

if TYPE_CHECKING:
    from runlog.read.parse import Batch, GroupPart

__all__ = [
    "MAX_BAD_LINES",
    "LogStats",
    "LogSummary",
    "group_summaries",
    "stats_from_json",
    "stats_from_row",
    "stats_row",
]

LogKind = Literal["train", "eval"]

MAX_BAD_LINES = 1000
"""Bad line numbers kept per log (all are counted)."""


@record
class LogStats:
    """One log's figures as of one read (see the module doc)."""

    kind: LogKind
    records: int = 0
    total_steps: int = 0
    """Sum of the episodes' lengths (the env step reached by logged train episodes)."""
    last_reward: float | None = None
    """The last episode's reward (None when there is none, or it was null)."""
    best_reward: float | None = None
    """The highest finite episode reward, or None."""
    status_counts: tuple[tuple[str, int], ...] = ()
    """(status, episodes) for every status the log uses: Terminated, Truncated, Continuing,
    then any other in order of first appearance."""
    extras_keys: tuple[str, ...] = ()
    bad_line_count: int = 0
    bad_lines: tuple[int, ...] = ()
    """1-based numbers of the first MAX_BAD_LINES skipped lines."""
    best_eval: EvalBlock | None = None
    """Eval logs: the first block with the highest mean (when best.mpk was written)."""
    last_eval: EvalBlock | None = None
    """Eval logs: the block at the highest step (the final eval so far)."""


_KNOWN_STATUSES = ("Terminated", "Truncated", "Continuing")


def _status_rank(name: str) -> int:
    # sorted() is stable: statuses outside the three keep their order of first appearance.
    return _KNOWN_STATUSES.index(name) if name in _KNOWN_STATUSES else len(_KNOWN_STATUSES)


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


@dataclass
class LogSummary:
    """Running aggregates of one log; `add` each parsed batch in file order."""

    kind: LogKind
    records: int = 0
    total_steps: int = 0
    last_reward: float = math.nan
    best_reward: float = math.nan
    status_counts: dict[str, int] = field(default_factory=dict)
    extras_keys: dict[str, None] = field(default_factory=dict)
    bad_line_count: int = 0
    bad_lines: list[int] = field(default_factory=list)
    blocks: EvalBlocks | None = None
    """Eval logs: the blocks so far (None: restored from the index, results only)."""
    restored_best: EvalBlock | None = None
    restored_last: EvalBlock | None = None

    def __post_init__(self) -> None:
        if self.kind == "eval" and self.blocks is None and self.records == 0:
            self.blocks = EvalBlocks()

    @property
    def continuable(self) -> bool:
        """Whether new lines can be added (False: re-read the log from its start)."""
        return self.kind == "train" or self.blocks is not None

    def add(self, batch: Batch, status_counts: Mapping[str, int]) -> None:
        """Take in `batch` (its rows follow every row added so far), whose rows use the
        statuses `status_counts` (name -> rows), and count its bad lines."""
        self.add_bad_lines(batch.bad_lines)
        rows = batch.rows
        if rows == 0:
            return
        self.records += rows
        self.total_steps += int(batch.length.sum())
        for name, count in status_counts.items():
            if count:
                self.status_counts[name] = self.status_counts.get(name, 0) + count
        self.extras_keys.update(dict.fromkeys(batch.extras))
        rewards = batch.reward
        self.last_reward = float(rewards[-1])
        finite = rewards[np.isfinite(rewards)]
        if len(finite):
            top = float(finite.max())
            if not self.best_reward >= top:  # NaN (none yet) compares False
                self.best_reward = top
        if self.kind == "eval":
            if self.blocks is None:
                raise ValueError("an eval summary restored from the index takes no new rows")
            assert batch.step_at_eval is not None
            self.blocks.add(batch.step_at_eval, rewards)

    def add_bad_lines(self, numbers: Sequence[int]) -> None:
        self.bad_line_count += len(numbers)
        room = MAX_BAD_LINES - len(self.bad_lines)
        if room > 0:
            self.bad_lines.extend(numbers[:room])

    def stats(self) -> LogStats:
        best = self.blocks.best() if self.blocks is not None else self.restored_best
        return LogStats(
            kind=self.kind,
            records=self.records,
            total_steps=self.total_steps,
            last_reward=_finite_or_none(self.last_reward),
            best_reward=_finite_or_none(self.best_reward),
            status_counts=tuple(
                sorted(self.status_counts.items(), key=lambda item: _status_rank(item[0]))
            ),
            extras_keys=tuple(self.extras_keys),
            bad_line_count=self.bad_line_count,
            bad_lines=tuple(self.bad_lines),
            best_eval=best if self.kind == "eval" else None,
            last_eval=self._last() if self.kind == "eval" else None,
        )

    def _last(self) -> EvalBlock | None:
        return self.blocks.last() if self.blocks is not None else self.restored_last

    # -- across processes (the persistent index) --------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """JSON of this summary; fields at their default (no bad line, no eval) are left out."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "records": self.records,
            "total_steps": self.total_steps,
            "last_reward": _finite_or_none(self.last_reward),
            "best_reward": _finite_or_none(self.best_reward),
            "status_counts": [[k, v] for k, v in self.status_counts.items()],
            "extras_keys": list(self.extras_keys),
        }
        if self.bad_line_count:
            out["bad_line_count"] = self.bad_line_count
            out["bad_lines"] = list(self.bad_lines)
        best = self.blocks.best() if self.blocks is not None else self.restored_best
        if best is not None:
            out["best_eval"] = _block_json(best)
        last = self._last()
        if last is not None:
            out["last_eval"] = _block_json(last)
        return out

    @staticmethod
    def from_json(obj: Any, kind: LogKind) -> LogSummary:
        """Raises KeyError, TypeError or ValueError on anything but `to_json`'s output."""
        if obj["kind"] != kind:
            raise ValueError(f"summary of a {obj['kind']} log, expected {kind}")
        summary = LogSummary(
            kind=kind,
            records=_count(obj["records"]),
            total_steps=_count(obj["total_steps"]),
            last_reward=_float(obj["last_reward"]),
            best_reward=_float(obj["best_reward"]),
            status_counts={str(k): _count(v) for k, v in obj["status_counts"]},
            extras_keys=dict.fromkeys(str(k) for k in obj["extras_keys"]),
            bad_line_count=_count(obj.get("bad_line_count", 0)),
            bad_lines=[_count(n) for n in obj.get("bad_lines", ())],
            restored_best=_block_from(obj["best_eval"]) if obj.get("best_eval") else None,
            restored_last=_last_block(obj, kind),
        )
        if kind == "eval" and summary.records == 0:
            summary.blocks = EvalBlocks()  # nothing to rebuild: it takes new rows as it is
        return summary


def group_summaries(
    kind: LogKind, part: GroupPart, lines: Sequence[int]
) -> list[tuple[LogSummary, list[str]] | None]:
    """(summary, status names) of each log of `part` (its items have `lines` lines each, at
    least one), as a reader reading that log from its start holds them after its first
    refresh (`LogSummary.add`, `StatusNames.remap`), computed for all the logs at once: a
    cold scan of thousands of small logs spent most of its time adding them one by one.
    None for an item the part leaves to be parsed on its own."""
    table = part.table
    if table is None or table.marker is None:
        return [None] * part.items
    counts = np.asarray(lines, dtype=np.int64)
    data = ~table.marker
    reward = table.reward[data]
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    total_steps = np.add.reduceat(table.length[data], starts).tolist()
    last = reward[starts + counts - 1].tolist()
    finite = np.where(np.isfinite(reward), reward, np.nan)
    best = np.fmax.reduceat(finite, starts).tolist()
    names = table.status_names
    width = len(names)
    owner = np.repeat(np.arange(part.items), counts)
    status_codes = table.status_indices[data]
    per_status = np.bincount(owner * width + status_codes, minlength=part.items * width).reshape(
        part.items, width
    )
    known = list(names) == list(_KNOWN_STATUSES)
    steps = None if table.step_at_eval is None else table.step_at_eval[data]
    out: list[tuple[LogSummary, list[str]] | None] = []
    for i, keys in enumerate(part.keys):
        if keys is None:
            out.append(None)
            continue
        row = per_status[i].tolist()
        if known:
            statuses = list(_KNOWN_STATUSES)
            status_counts = {name: n for name, n in zip(names, row, strict=True) if n}
        else:
            # The reader's numbering: the known three, then the others in the order its rows
            # first use them (`StatusNames.remap`).
            lo = int(starts[i])
            codes = status_codes[lo : lo + int(counts[i])]
            seen, firsts = np.unique(codes, return_index=True)
            used = {names[int(c)]: row[int(c)] for c in seen[np.argsort(firsts)]}
            statuses = list(_KNOWN_STATUSES)
            statuses += [name for name in used if name not in _KNOWN_STATUSES]
            status_counts = {name: used[name] for name in statuses if name in used}
        blocks = None
        if steps is not None:
            lo, hi = int(starts[i]), int(starts[i] + counts[i])
            blocks = EvalBlocks()
            blocks.add(steps[lo:hi], reward[lo:hi])
        summary = LogSummary(
            kind,
            records=int(counts[i]),
            total_steps=total_steps[i],
            last_reward=last[i],
            best_reward=best[i],
            status_counts=status_counts,
            extras_keys=dict.fromkeys(keys),
            blocks=blocks,
        )
        out.append((summary, statuses))
    return out


def stats_from_json(obj: Any, kind: LogKind) -> LogStats:
    """`LogSummary.from_json(obj, kind).stats()`, without building the summary (a restart
    lists thousands of logs this way). Raises like `from_json`."""
    if obj["kind"] != kind:
        raise ValueError(f"summary of a {obj['kind']} log, expected {kind}")
    counts = [(str(k), _count(v)) for k, v in obj["status_counts"]]
    best = obj.get("best_eval")
    return LogStats(
        kind=kind,
        records=_count(obj["records"]),
        total_steps=_count(obj["total_steps"]),
        last_reward=_finite_or_none(_float(obj["last_reward"])),
        best_reward=_finite_or_none(_float(obj["best_reward"])),
        status_counts=tuple(sorted(counts, key=lambda item: _status_rank(item[0]))),
        extras_keys=tuple(str(k) for k in obj["extras_keys"]),
        bad_line_count=_count(obj.get("bad_line_count", 0)),
        bad_lines=tuple(_count(n) for n in obj.get("bad_lines", ())),
        best_eval=_block_from(best) if best and kind == "eval" else None,
        last_eval=_last_block(obj, kind),
    )


def _last_block(obj: Any, kind: LogKind) -> EvalBlock | None:
    """The final eval block of an entry. An eval log with records but without it was indexed
    before the index kept it: refused (ValueError), so the log is read again, never trusted."""
    if kind != "eval":
        return None
    last = obj.get("last_eval")
    if last is None:
        if obj["records"]:
            raise ValueError("an eval entry without its last block (an older index entry)")
        return None
    return _block_from(last)


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError(f"expected a whole number >= 0, got {value!r}")
    return value


def _float(value: object) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number or null, got {value!r}")
    return float(value)


def _block_json(block: EvalBlock) -> dict[str, Any]:
    return {
        "step": block.step,
        "n": block.n,
        "mean": _finite_or_none(block.mean),
        "std": _finite_or_none(block.std),
        "min": _finite_or_none(block.min),
        "max": _finite_or_none(block.max),
        "median": _finite_or_none(block.median),
        "n_null": block.n_null,
    }


def _block_from(obj: Any) -> EvalBlock:
    return EvalBlock(
        step=_count(obj["step"]),
        n=_count(obj["n"]),
        mean=_float(obj["mean"]),
        std=_float(obj["std"]),
        min=_float(obj["min"]),
        max=_float(obj["max"]),
        median=_float(obj["median"]),
        n_null=_count(obj["n_null"]),
    )


# -- as one row of a run's listing in the index (runlog.read.catalog's run rows) --------------


def stats_row(stats: LogStats) -> list[Any]:
    """`stats` as a flat JSON list, for the index's run rows: `stats_from_row` reads it back
    equal, with a handful of calls (a restart revives 20,000 of them)."""
    return [
        stats.records,
        stats.total_steps,
        stats.last_reward,
        stats.best_reward,
        [list(pair) for pair in stats.status_counts],
        list(stats.extras_keys),
        stats.bad_line_count,
        list(stats.bad_lines),
        None if stats.best_eval is None else _block_row(stats.best_eval),
        None if stats.last_eval is None else _block_row(stats.last_eval),
    ]


def stats_from_row(row: Sequence[Any], kind: LogKind) -> LogStats:
    """The LogStats `stats_row` made. Raises TypeError or ValueError on a row of another
    shape; the values are not checked one by one: the row comes from a root file whose
    checksum held (runlog.read.index), written by `stats_row`."""
    records, steps, last, best, counts, extras, n_bad, bad, best_eval, last_eval = row
    return LogStats(
        kind,
        records,
        steps,
        last,
        best,
        tuple(map(tuple, counts)),
        tuple(extras),
        n_bad,
        tuple(bad),
        None if best_eval is None else _block_from_row(best_eval),
        None if last_eval is None else _block_from_row(last_eval),
    )


def _block_row(block: EvalBlock) -> list[Any]:
    return [
        block.step,
        block.n,
        _finite_or_none(block.mean),
        _finite_or_none(block.std),
        _finite_or_none(block.min),
        _finite_or_none(block.max),
        _finite_or_none(block.median),
        block.n_null,
    ]


def _block_from_row(row: Sequence[Any]) -> EvalBlock:
    step, n, mean, std, low, high, median, n_null = row
    nan = math.nan
    return EvalBlock(
        step,
        n,
        nan if mean is None else mean,
        nan if std is None else std,
        nan if low is None else low,
        nan if high is None else high,
        nan if median is None else median,
        n_null,
    )
