"""Episode lines to columns: pyarrow's vectorised JSON reader, with a line-by-line fallback.

    b'{"total_reward":23.0,"length":23,"status":"Terminated","extras":{"epsilon":0.87}}\\n...'
        -> Batch(reward=[23.0, ...], length=[23, ...], status_codes=[0, ...],
                 step_at_eval=None (train) | [10000, ...] (eval), extras={"epsilon": [0.87, ...]})

A good line is one JSON object with `length` (an integer >= 0) and `status` (a string);
`total_reward` is a number or `null` (absent counts as null: NaN); `extras` maps keys to
numbers or `null` (absent or null counts as {}); an eval line also needs `total_steps_at_eval`
(an integer >= 0). Other fields are ignored. Anything else, a blank line included, is a bad
line: skipped, and its 1-based number reported.

`parse_region` hands a region to pyarrow first; a region that it rejects (or whose row count
does not match its line count) is split in halves down to small pieces, and only those are
parsed line by line, so one bad line costs a few kilobytes of slow parsing, not the file.
`parse_group` parses the new lines of many small logs with one pyarrow call (a catalog of
thousands of runs), each log's lines behind a marker line, and splits the group on any doubt.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, TypeGuard

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from runlog.read.tail import Bytes, count_newlines, find_newline, view
from runlog.record import record

__all__ = [
    "KNOWN_STATUSES",
    "ArrowParse",
    "Batch",
    "GroupItem",
    "GroupPart",
    "LogKind",
    "arrow_parse",
    "group_parse",
    "parse_group",
    "parse_group_parts",
    "parse_region",
]

LogKind = Literal["train", "eval"]
KNOWN_STATUSES = ("Terminated", "Truncated", "Continuing")

ARROW_BLOCK = 4 << 20
"""pyarrow block size: the unit its threads parse in parallel."""
LINE_BY_LINE_BELOW = 16 << 10
"""A rejected region smaller than this is parsed line by line instead of split again."""

_MARKER = "__runlog_batch__"
"""Key of the line `{"__runlog_batch__":i}` put before log i's lines in `parse_group`."""
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_.\-]+")

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
CodeArray = npt.NDArray[np.int16]


def _parse_options(kind: str) -> pa_json.ParseOptions:
    fields = [("total_reward", pa.float64()), ("length", pa.int64()), ("status", pa.string())]
    if kind == "eval":
        fields.append(("total_steps_at_eval", pa.int64()))
    # Fixed fields get an explicit type (so `null` is a null double, not a null column);
    # `extras` keys vary by algorithm and can first appear mid-file, so they are inferred.
    return pa_json.ParseOptions(
        explicit_schema=pa.schema(fields),
        unexpected_field_behavior="infer",
        newlines_in_values=False,
    )


_PARSE_OPTIONS = {"train": _parse_options("train"), "eval": _parse_options("eval")}
_THREADED = pa_json.ReadOptions(block_size=ARROW_BLOCK, use_threads=True)
_SINGLE = pa_json.ReadOptions(block_size=ARROW_BLOCK, use_threads=False)


@dataclass(frozen=True)
class Batch:
    """Rows parsed from one region, in file order. `status` holds codes into this batch's own
    `status_names` (a log maps them to its codes, `runlog.read.columns.StatusNames`);
    `bad_lines` are the region's skipped lines (1-based numbers in the file)."""

    reward: FloatArray
    length: IntArray
    status: CodeArray
    status_names: tuple[str, ...]
    step_at_eval: IntArray | None
    extras: dict[str, FloatArray]
    bad_lines: tuple[int, ...] = ()

    @property
    def rows(self) -> int:
        return len(self.length)

    def status_counts(self) -> npt.NDArray[np.int64]:
        """Rows per entry of `status_names`."""
        return np.bincount(self.status, minlength=len(self.status_names)).astype(np.int64)


@dataclass(frozen=True)
class ArrowParse:
    """pyarrow's attempt at a region: its table, or None when it rejected the bytes."""

    table: pa.Table | None


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_count(value: object) -> TypeGuard[int]:
    """A non-negative integer that fits the int64 columns."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


def arrow_parse(data: memoryview | bytes, kind: str, *, threads: bool = True) -> ArrowParse:
    """pyarrow's parse of `data`. The table is checked for UTF-8: pyarrow does not check it
    while parsing, `validate(full=True)` does for values, and reading a key name
    (`column_names`, `field.name`) decodes it strictly. `threads`: pyarrow may spread a big
    parse over its thread pool (not when it runs beside other work: `group_parse`)."""
    options = _THREADED if threads and len(data) > ARROW_BLOCK else _SINGLE
    try:
        table = pa_json.read_json(
            pa.BufferReader(pa.py_buffer(data)),
            read_options=options,
            parse_options=_PARSE_OPTIONS[kind],
        )
        table.validate(full=True)
        _ = table.column_names
    except (pa.ArrowException, ValueError, TypeError, KeyError, OverflowError):
        return ArrowParse(None)
    return ArrowParse(table)


def _numeric(field: pa.Field) -> bool:
    return bool(
        pa.types.is_integer(field.type)
        or pa.types.is_floating(field.type)
        or pa.types.is_null(field.type)
    )


_KNOWN_STATUS_SET = pa.array(KNOWN_STATUSES)


def _encode_status(col: pa.ChunkedArray) -> tuple[list[str], npt.NDArray[np.intp]]:
    """(names, index of each row's name); a null row gets index 0."""
    # A lookup in the three known names is cheaper than a general dictionary encode,
    # which is only needed when some other status turns up.
    known = pc.index_in(col, value_set=_KNOWN_STATUS_SET)
    if known.null_count == col.null_count:
        indices = known if known.null_count == 0 else pc.fill_null(known, 0)
        return list(KNOWN_STATUSES), np.asarray(indices.to_numpy(), dtype=np.intp)
    encoded = pc.dictionary_encode(pc.fill_null(col, "").combine_chunks())
    return encoded.dictionary.to_pylist(), np.asarray(encoded.indices.to_numpy(), dtype=np.intp)


@dataclass(frozen=True)
class _ParsedTable:
    """A pyarrow table's columns as numpy arrays, checked row by row to be good records
    (marker rows of a `parse_group` table excepted)."""

    reward: FloatArray
    length: IntArray
    step_at_eval: IntArray | None
    status_names: list[str]
    status_indices: npt.NDArray[np.intp]
    extras: dict[str, FloatArray]
    extras_valid: dict[str, npt.NDArray[np.bool_]]
    """Which rows have a value for each extras key (filled for a group's table only)."""
    marker: npt.NDArray[np.bool_] | None
    """Which rows are the marker lines of a group's table (None: not a group)."""

    @staticmethod
    def of(table: pa.Table, kind: str, markers: bool) -> _ParsedTable | None:
        try:
            return _ParsedTable._of(table, kind, markers)
        except (pa.ArrowException, ValueError, TypeError, KeyError, OverflowError):
            return None

    @staticmethod
    def _of(table: pa.Table, kind: str, markers: bool) -> _ParsedTable | None:
        names = table.column_names
        rows = table.num_rows
        is_marker = np.zeros(rows, dtype=bool)
        marker: npt.NDArray[np.bool_] | None = None
        if markers:
            if _MARKER not in names or not pa.types.is_integer(table.schema.field(_MARKER).type):
                return None
            is_marker = np.asarray(table.column(_MARKER).is_valid().to_numpy(zero_copy_only=False))
            marker = is_marker

        def present(col: pa.ChunkedArray) -> bool:
            """Every record row (marker rows aside) has a value in `col`."""
            if col.null_count == 0:
                return True
            valid = np.asarray(col.is_valid().to_numpy(zero_copy_only=False))
            return bool((valid | is_marker).all())

        def required(name: str) -> IntArray | None:
            col = table.column(name)
            if not present(col):
                return None  # a record without this field
            if col.null_count:
                col = pc.fill_null(col, 0)
            values = np.asarray(col.to_numpy(), dtype=np.int64)
            if (values < 0).any():
                return None
            return values

        length = required("length")
        if length is None:
            return None
        step_at_eval = None
        if kind == "eval":
            step_at_eval = required("total_steps_at_eval")
            if step_at_eval is None:
                return None
        status_col = table.column("status")
        if not present(status_col):
            return None
        status_names, status_indices = _encode_status(status_col)
        reward = np.asarray(table.column("total_reward").to_numpy(), dtype=np.float64)
        extras: dict[str, FloatArray] = {}
        extras_valid: dict[str, npt.NDArray[np.bool_]] = {}
        if "extras" in names:
            extras_col = table.column("extras")
            if pa.types.is_struct(extras_col.type):
                # flatten() applies the struct's own nulls (`"extras": null`) to its fields.
                for field, child in zip(extras_col.type, extras_col.flatten(), strict=True):
                    if not _numeric(field):
                        return None  # a string, bool or object where a number belongs
                    # to_numpy() turns a float column's nulls into NaN.
                    values = child.cast(pa.float64()).to_numpy()
                    extras[field.name] = np.asarray(values, dtype=np.float64)
                    if markers:  # only a group asks which rows have a key
                        extras_valid[field.name] = np.asarray(
                            child.is_valid().to_numpy(zero_copy_only=False)
                        )
            elif not pa.types.is_null(extras_col.type):
                return None  # `"extras": 5`
        return _ParsedTable(
            reward=reward,
            length=length,
            step_at_eval=step_at_eval,
            status_names=status_names,
            status_indices=status_indices,
            extras=extras,
            extras_valid=extras_valid,
            marker=marker,
        )

    def batch(self, start: int, end: int, keys: Iterable[str]) -> Batch:
        """Rows [start, end) as a batch with the extras columns `keys`."""
        return Batch(
            reward=self.reward[start:end],
            length=self.length[start:end],
            status=self.status_indices[start:end].astype(np.int16),
            status_names=tuple(self.status_names),
            step_at_eval=None if self.step_at_eval is None else self.step_at_eval[start:end],
            extras={key: self.extras[key][start:end] for key in keys},
        )


def _from_arrow(parsed: ArrowParse, lines: int, kind: str) -> Batch | None:
    """The rows of a region from pyarrow's parse of it, or None if any line in it is not a
    good record."""
    table = parsed.table
    # pyarrow skips blank lines and accepts two objects on one line; a row count equal to
    # the line count is what makes row i line i.
    if table is None or table.num_rows != lines:
        return None
    checked = _ParsedTable.of(table, kind, markers=False)
    if checked is None:
        return None
    return checked.batch(0, lines, checked.extras)


def parse_region(
    data: Bytes,
    start: int,
    end: int,
    lines: int,
    first_line: int,
    kind: LogKind,
    parsed: ArrowParse | None = None,
) -> Iterator[Batch]:
    """The good records of `data[start:end]` (`lines` complete lines, the first of them line
    `first_line` + 1 of the file), in order; `parsed` is pyarrow's parse of it if already done."""
    if lines == 0:
        return
    region = view(data)[start:end]
    if parsed is None:
        parsed = arrow_parse(region, kind)
    batch = _from_arrow(parsed, lines, kind)
    if batch is not None:
        yield batch
        return
    if end - start < LINE_BY_LINE_BELOW or lines == 1:
        yield parse_lines(region, first_line, kind)
        return
    # Split at a newline near the middle and retry each half.
    middle = start + (end - start) // 2
    split = find_newline(data, start, middle, last=True) + 1
    if split <= start:
        split = find_newline(data, middle, end) + 1
    left = count_newlines(view(data)[start:split])
    yield from parse_region(data, start, split, left, first_line, kind)
    yield from parse_region(data, split, end, lines - left, first_line + left, kind)


def parse_lines(region: memoryview, first_line: int, kind: str) -> Batch:
    """The slow path: one line at a time, recording the bad ones."""
    names: dict[str, int] = {}
    rewards: list[float] = []
    lengths: list[int] = []
    codes: list[int] = []
    steps: list[int] = []
    extras_rows: list[dict[str, float]] = []
    keys: dict[str, None] = {}
    bad: list[int] = []
    for index, line in enumerate(bytes(region).split(b"\n")[:-1]):
        record = _parse_line(line, kind)
        if record is None:
            bad.append(first_line + index + 1)
            continue
        reward, length, status, step, extras = record
        rewards.append(reward)
        lengths.append(length)
        codes.append(names.setdefault(status, len(names)))
        steps.append(step)
        extras_rows.append(extras)
        keys.update(dict.fromkeys(extras))
    extras_columns = {
        key: np.array([row.get(key, math.nan) for row in extras_rows], dtype=np.float64)
        for key in keys
    }
    return Batch(
        reward=np.array(rewards, dtype=np.float64),
        length=np.array(lengths, dtype=np.int64),
        status=np.array(codes, dtype=np.int16),
        status_names=tuple(names),
        step_at_eval=np.array(steps, dtype=np.int64) if kind == "eval" else None,
        extras=extras_columns,
        bad_lines=tuple(bad),
    )


def _parse_line(line: bytes, kind: str) -> tuple[float, int, str, int, dict[str, float]] | None:
    """One record, or None for a bad line. Same rules as the pyarrow path."""
    try:
        obj = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(obj, dict):
        return None
    reward = obj.get("total_reward")
    length = obj.get("length")
    status = obj.get("status")
    raw_extras = obj.get("extras")
    if reward is not None and not _is_number(reward):
        return None
    if not _is_count(length):
        return None
    if not isinstance(status, str):
        return None
    step = 0
    if kind == "eval":
        raw_step = obj.get("total_steps_at_eval")
        if not _is_count(raw_step):
            return None
        step = raw_step
    extras: dict[str, float] = {}
    if raw_extras is not None:
        if not isinstance(raw_extras, dict):
            return None
        for key, value in raw_extras.items():
            if value is not None and not _is_number(value):
                return None
            # FORMAT.md: a non-finite number is written as `null`.
            extras[key] = math.nan if value is None else float(value)
    return (math.nan if reward is None else float(reward), length, status, step, extras)


# -- many small logs at once --------------------------------------------------------------------


@record
class GroupItem:
    """The new complete lines of one log: `data[:cut]`, `lines` of them."""

    data: bytes
    cut: int
    lines: int


@record
class GroupPart:
    """Some consecutive items of a group, parsed together by one pyarrow call (`table`), or
    one item left to be parsed on its own (`table` None)."""

    first: int
    """The index of the part's first item in the group."""
    items: int
    table: _ParsedTable | None
    starts: IntArray
    """The table row of each item's marker line: its rows follow it."""
    keys: list[list[str] | None]
    """Each item's extras keys, or None where it must be parsed on its own (an all-null
    key that may or may not be written in its lines)."""

    @staticmethod
    def alone(first: int) -> GroupPart:
        """Item `first` left to be parsed on its own."""
        return GroupPart(first, 1, None, np.zeros(1, dtype=np.int64), [None])


def group_parse(kind: LogKind, items: Sequence[GroupItem], *, threads: bool = True) -> ArrowParse:
    """pyarrow's parse of a whole group, each item's lines behind a marker line: the part of
    `parse_group_parts` that runs without the GIL, for a caller to run in another thread
    (then with `threads` False: see `arrow_parse`)."""
    parts: list[bytes] = []
    for i, item in enumerate(items):
        parts.append(b'{"%s":%d}\n' % (_MARKER.encode(), i))
        parts.append(item.data[: item.cut])
    return arrow_parse(b"".join(parts), kind, threads=threads)


def parse_group_parts(
    kind: LogKind,
    items: Sequence[GroupItem],
    first: int = 0,
    *,
    split: bool = False,
    parsed_group: ArrowParse | None = None,
) -> list[GroupPart]:
    """The group parsed by one pyarrow call where it allows it (see `parse_group`); the parts
    cover the items in order. The group is split in halves on any doubt about it as a whole,
    down to single items, which are left to be parsed on their own (`split`: this is a half).
    `parsed_group`: `group_parse(kind, items)`, done already."""
    if len(items) == 1 and split:
        return [GroupPart.alone(first)]
    if parsed_group is None:
        parsed_group = group_parse(kind, items)
    table = parsed_group.table
    parsed = None
    if table is not None and table.num_rows == sum(i.lines for i in items) + len(items):
        parsed = _ParsedTable.of(table, kind, markers=True)
    starts = np.cumsum([0] + [item.lines + 1 for item in items])[:-1]
    # Markers exactly where they were put (so no data line carried the marker key), and
    # so every log's rows exactly where its lines are.
    if parsed is not None and (
        parsed.marker is None or not np.array_equal(np.flatnonzero(parsed.marker), starts)
    ):
        parsed = None
    if parsed is None:
        middle = len(items) // 2
        if len(items) == 1:
            return [GroupPart.alone(first)]
        return parse_group_parts(kind, items[:middle], first, split=True) + parse_group_parts(
            kind, items[middle:], first + middle, split=True
        )
    if len(items) == 1:
        # The table holds this log's rows alone: its extras keys, in its order.
        return [GroupPart(first, 1, parsed, starts.astype(np.int64), [list(parsed.extras)])]
    # The row where each key first has a value in each log (past its end: none there).
    n_rows = len(parsed.length)
    rows = np.arange(n_rows, dtype=np.int64)
    first_row = {
        key: np.minimum.reduceat(np.where(valid, rows, n_rows), starts)
        for key, valid in parsed.extras_valid.items()
    }
    ends = np.append(starts[1:], n_rows)
    names = {key: b'"%s":' % key.encode() for key in first_row}
    keys: list[list[str] | None] = []
    for i, item in enumerate(items):
        own: list[str] = []
        ambiguous = False
        for key, at in first_row.items():
            if at[i] < ends[i]:
                own.append(key)
            elif b'"%s"' % key.encode() in item.data or (
                # Not written raw, it could still be written escaped, which takes a backslash:
                # \u for a plain key, any escape for one with other characters.
                b"\\u" in item.data if _PLAIN_KEY.fullmatch(key) else b"\\" in item.data
            ):
                # All null here: a key written with null values, or absent? Parse alone.
                ambiguous = True
                break
        lines = [int(first_row[k][i] - starts[i] - 1) for k in own]  # each key's first line
        if not ambiguous and not _in_own_order([names[k] for k in own], lines, item):
            ambiguous = True
        keys.append(None if ambiguous else own)
    return [GroupPart(first, len(items), parsed, starts.astype(np.int64), keys)]


def _in_own_order(names: list[bytes], lines: list[int], item: GroupItem) -> bool:
    """Whether a log's extras keys (`names`: each as `"key":`), in the group table's order,
    are in the order a parse of the log alone gives them: the order they are first written
    in it (a key written with a null value first counts from there). Each key must be written
    first on the line it first has a value in (`lines`, 0 for the log's first), and those
    places must ascend. Any doubt (an escaped name, one written earlier, or first inside a
    string): False."""
    data, cut = item.data, item.cut
    first_end = -1
    last = -1
    for name, line in zip(names, lines, strict=True):
        if line == 0:  # the usual case: looked for on the first line alone
            if first_end < 0:
                first_end = data.find(b"\n", 0, cut)
            place = data.find(name, 0, first_end)
            if place <= last:
                return False
        else:
            place = data.find(name, 0, cut)
            if place <= last or data.count(b"\n", 0, place) != line:
                return False
        last = place
    return True


def parse_group(kind: LogKind, items: Sequence[GroupItem]) -> list[Batch | None]:
    """One batch per item, parsed by one pyarrow call where the group allows it; None where an
    item must be parsed on its own (a bad line, a misaligned row, an ambiguous extras key).
    The group is split in halves on any doubt about it as a whole."""
    out: list[Batch | None] = []
    for part in parse_group_parts(kind, items):
        for i, keys in enumerate(part.keys):
            if part.table is None or keys is None:
                out.append(None)
                continue
            start = int(part.starts[i]) + 1
            out.append(part.table.batch(start, start + items[part.first + i].lines, keys))
    return out
