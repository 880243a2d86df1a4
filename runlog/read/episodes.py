"""Incremental reader of train_episodes.jsonl / eval_episodes.jsonl into a columnar frame.

    disk:   {"total_reward":23.0,"length":23,"status":"Terminated","extras":{"epsilon":0.87}}
            {"total_reward":null,"length":9,"status":"Truncated","extras":{"epsilon":0.86, ...
            {"total_reward":31.0,"length":31,"sta                  <- no newline yet: not data
                                                ^ offset: everything before it is parsed

    frame:  episode  step  reward  length  status      extras.epsilon  extras.loss_mean ...
            0        23    23.0    23      Terminated  0.87            NaN
            1        32    NaN     9       Truncated   0.86            0.012

A good line is one JSON object with `length` (an integer >= 0) and `status` (a string);
`total_reward` is a number or `null` (absent counts as null: NaN in the frame); `extras`
maps keys to numbers or `null` (absent or null counts as {}); an eval line also needs
`total_steps_at_eval` (an integer >= 0). Other fields are ignored. Anything else, a blank
line included, is a bad line: skipped, and its 1-based number kept in `bad_lines`.

`EpisodeLog.refresh()` parses only the bytes appended since the last call. The new bytes
go through pyarrow's vectorised JSON reader; a region that it rejects (or whose row count
does not match its line count) is split in halves down to small pieces, and only those
are parsed line by line, so one bad line costs a few kilobytes of slow parsing, not the file.
A big read goes 32 MB at a time: a thread reads and parses the next 32 MB while the rows of
the current one are taken in, so a cold load keeps both cores of a small machine busy.
`refresh_many(logs)` does the same for many logs at once, parsing the new lines of the
small ones with one pyarrow call (a catalog of thousands of runs).

Rows are kept in capacity-doubling numpy buffers, so a refresh after 100 new lines costs
about what those lines cost, whatever the size of the log. `frame` is built lazily over
read-only views of those buffers (no copy) and cached until `version` changes.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import threading
from collections.abc import Generator, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeAlias, TypeGuard

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

LogKind = Literal["train", "eval"]

EXTRAS_PREFIX = "extras."
BASE_COLUMNS = ("episode", "step", "reward", "length", "status")
KNOWN_STATUSES = ("Terminated", "Truncated", "Continuing")

_READ_CHUNK = 32 << 20
"""Bytes read (and handed to pyarrow) per step: bounds the memory of a cold load."""
_ARROW_BLOCK = 4 << 20
"""pyarrow block size: the unit its threads parse in parallel."""
_LINE_BY_LINE_BELOW = 16 << 10
"""A rejected region smaller than this is parsed line by line instead of split again."""
_COUNT_STRIDE = 1 << 20
_FINGERPRINT = 64
"""Bytes at the head of the file and just before `offset`, compared on every refresh to
notice a file that was truncated and rewritten to at least its old size."""

_MARKER = "__runlog_batch__"
"""Key of the line `{"__runlog_batch__":i}` put before file i's lines when the lines of
several small logs are parsed by one pyarrow call (`refresh_many`)."""
_BATCH_BYTES = 32 << 20
"""Most bytes of small logs joined into one pyarrow call."""
_ALONE_ABOVE = 8 << 20
"""A log with more new bytes than this is refreshed alone (threads, chunked reads)."""


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
_THREADED = pa_json.ReadOptions(block_size=_ARROW_BLOCK, use_threads=True)
_SINGLE = pa_json.ReadOptions(block_size=_ARROW_BLOCK, use_threads=False)

_FloatArray = npt.NDArray[np.float64]
_IntArray = npt.NDArray[np.int64]
_CodeArray = npt.NDArray[np.int16]
_ByteArray = npt.NDArray[np.uint8]
_Bytes = bytes | _ByteArray
"""Lines to parse: a `bytes` object, or a read buffer."""
_Parsed: TypeAlias = pa.Table | Literal["unparsed"] | None
"""pyarrow's parse of a region: its table, None if it rejected it, or not done yet."""


@dataclass(frozen=True)
class _Batch:
    """Rows parsed from one region, in file order."""

    reward: _FloatArray
    length: _IntArray
    status_codes: _CodeArray
    step_at_eval: _IntArray | None
    extras: dict[str, _FloatArray]

    @property
    def rows(self) -> int:
        return len(self.length)


def _count_newlines(data: memoryview) -> int:
    if len(data) < _COUNT_STRIDE:
        return bytes(data).count(b"\n")
    # numpy over 1 MB slices stays in cache; bytes.count is about 4x slower on big data.
    raw = np.frombuffer(data, dtype=np.uint8)
    return sum(
        int(np.count_nonzero(raw[i : i + _COUNT_STRIDE] == 10))
        for i in range(0, len(raw), _COUNT_STRIDE)
    )


@dataclass(frozen=True)
class _Chunk:
    """One read: `data[:cut]` holds `lines` complete lines, parsed by pyarrow as `table`
    (None: it rejected them); `full` if the read filled `data` (so more may follow)."""

    data: _ByteArray
    cut: int
    lines: int
    full: bool
    table: pa.Table | None


def _buffer(size: int) -> _ByteArray:
    # numpy neither zero-fills nor faults a large buffer in 4 KB pages (it asks for huge
    # pages): half the cost of a bytearray of the same size.
    return np.empty(size, dtype=np.uint8)


def _read_chunk(fd: int, offset: int, buf: _ByteArray, kind: str) -> _Chunk:
    """The complete lines at `offset`, read into `buf` (or into a bigger buffer if one line
    is longer than `buf`), counted and parsed."""
    while True:
        got = os.preadv(fd, [buf.data], offset)
        cut = _find_newline(buf, 0, got, last=True) + 1
        if cut or got < len(buf):
            # An unfinished last line (cut short of its newline) is not data yet.
            lines = _count_newlines(buf.data[:cut]) if cut else 0
            table = _read_table(buf.data[:cut], kind) if cut else None
            return _Chunk(buf, cut, lines, full=got == len(buf), table=table)
        buf = _buffer(2 * len(buf))


def _complete_lines(fd: int, offset: int, size: int, kind: str) -> Generator[_Chunk, None, None]:
    """The complete lines from `offset` to the end of the file (`size` bytes when opened),
    one buffer at a time, each buffer reused once the caller asks for the next chunk.

    When there is more than one buffer to read, the next one is read, counted and parsed in
    a thread while the caller takes in the rows of the current one. pread, numpy and pyarrow
    release the GIL, so on a cold load the caller's single-threaded work runs beside
    pyarrow's parse instead of leaving a core idle between parses."""
    # One buffer per refresh (two for a big one): fresh 32 MB bytes objects per read cost
    # more in page faults than the read itself.
    first = _buffer(min(_READ_CHUNK, size - offset + _FINGERPRINT))
    chunk = _read_chunk(fd, offset, first, kind)
    if not chunk.full:
        if chunk.cut:
            yield chunk
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="runlog-read") as pool:
        spare = _buffer(_READ_CHUNK)
        while chunk.full:
            offset += chunk.cut
            ahead = pool.submit(_read_chunk, fd, offset, spare, kind)
            yield chunk
            # A buffer grown for a long line is not kept (memory).
            spare = chunk.data if len(chunk.data) <= _READ_CHUNK else _buffer(_READ_CHUNK)
            chunk = ahead.result()
        if chunk.cut:
            yield chunk


def _view(data: _Bytes) -> memoryview:
    return data.data if isinstance(data, np.ndarray) else memoryview(data)


def _find_newline(data: _Bytes, start: int, end: int, last: bool = False) -> int:
    """Index of the first (`last`: the last) newline in `data[start:end]`, or -1. Looks in
    windows growing away from the starting edge: a nearby newline costs a nearby look."""
    raw = np.frombuffer(data, dtype=np.uint8)
    window = 4096
    while start < end:
        lo, hi = (max(start, end - window), end) if last else (start, min(end, start + window))
        hits = np.flatnonzero(raw[lo:hi] == 10)
        if len(hits):
            return lo + int(hits[-1] if last else hits[0])
        start, end = (start, lo) if last else (hi, end)
        window *= 2
    return -1


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_count(value: object) -> TypeGuard[int]:
    """A non-negative integer that fits the int64 columns."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


class _Columns:
    """Growable column buffers. Growth allocates new arrays, so views handed out earlier
    (the cached frame) never change under their holder."""

    def __init__(self) -> None:
        self.n = 0
        self.capacity = 0
        self.reward: _FloatArray = np.empty(0, dtype=np.float64)
        self.length: _IntArray = np.empty(0, dtype=np.int64)
        self.step: _IntArray = np.empty(0, dtype=np.int64)
        self.status: _CodeArray = np.empty(0, dtype=np.int16)
        self.extras: dict[str, _FloatArray] = {}
        self.total_steps = 0

    def reserve(self, rows: int) -> None:
        """Make room for `rows` rows in all, at once (a cold load knows roughly how many)."""
        if rows > self.capacity:
            self._grow(rows, exact=True)

    def _grow(self, needed: int, exact: bool = False) -> None:
        # The first batch is sized exactly: most logs of a big catalog never grow again.
        capacity = needed if exact or self.capacity == 0 else max(needed, 2 * self.capacity)
        n = self.n

        def grown(old: npt.NDArray[Any]) -> npt.NDArray[Any]:
            new = np.empty(capacity, dtype=old.dtype)
            new[:n] = old[:n]
            return new

        self.reward = grown(self.reward)
        self.length = grown(self.length)
        self.step = grown(self.step)
        self.status = grown(self.status)
        self.extras = {key: grown(buf) for key, buf in self.extras.items()}
        self.capacity = capacity

    def append(self, batch: _Batch) -> None:
        m = batch.rows
        if m == 0:
            return
        n = self.n
        if n + m > self.capacity:
            self._grow(n + m)
        end = n + m
        self.reward[n:end] = batch.reward
        self.length[n:end] = batch.length
        self.status[n:end] = batch.status_codes
        if batch.step_at_eval is not None:
            self.step[n:end] = batch.step_at_eval
        else:
            # FORMAT.md: no step field; the step axis is the running sum of `length`.
            np.cumsum(batch.length, out=self.step[n:end])
            self.step[n:end] += self.total_steps
        self.total_steps += int(batch.length.sum())
        # Only rows below `end` are written: NaN-filling whole buffers up front would
        # touch the reserved room of a cold load twice.
        for key, column in self.extras.items():
            if key not in batch.extras:
                column[n:end] = math.nan
        for key, values in batch.extras.items():
            buf = self.extras.get(key)
            if buf is None:
                buf = np.empty(self.capacity, dtype=np.float64)
                buf[:n] = math.nan  # a key first seen now: absent from every earlier row
                self.extras[key] = buf
            buf[n:end] = values
        self.n = end


def _read_only(view: npt.NDArray[Any]) -> npt.NDArray[Any]:
    view.flags.writeable = False
    return view


class EpisodeLog:
    """Incremental reader of one episode log (`kind` "train" or "eval"), by byte offset.

    `refresh()` never raises on bad content: bad lines are skipped and their 1-based line
    numbers kept in `bad_lines`; a missing file reads as empty; an unreadable one sets
    `problem`. Thread-safe: `refresh()` and `frame` may be called from several threads.
    """

    def __init__(self, path: Path, kind: LogKind = "train") -> None:
        if kind not in ("train", "eval"):
            raise ValueError(f"EpisodeLog kind must be 'train' or 'eval', got {kind!r}")
        self.path = Path(path)
        self.kind: LogKind = kind
        self._lock = threading.RLock()
        self._reset_state()
        self._version = 0
        self._added = 0
        self.problem: str | None = None
        """Why the file could not be read (permission, not a file, ...), or None."""

    # ------------------------------------------------------------------ state

    def _reset_state(self) -> None:
        self._columns = _Columns()
        self._status_names: list[str] = list(KNOWN_STATUSES)
        self._status_codes: dict[str, int] = {s: i for i, s in enumerate(self._status_names)}
        self._offset = 0
        self._lines = 0
        self._bad_lines: list[int] = []
        self._identity: tuple[int, int] | None = None
        self._head = b""
        self._tail = b""
        self._frame: pd.DataFrame | None = None
        self._frame_version = -1

    def _reset(self) -> None:
        had_data = self._offset > 0 or self._identity is not None
        self._reset_state()
        if had_data:
            self._version += 1

    @property
    def offset(self) -> int:
        """Byte offset just past the last complete line read."""
        return self._offset

    @property
    def version(self) -> int:
        """Bumps whenever new records or bad lines arrive, or the log is reset."""
        return self._version

    @property
    def total_records(self) -> int:
        """Number of good records (rows of `frame`)."""
        return self._columns.n

    def __len__(self) -> int:
        return self._columns.n

    @property
    def total_steps(self) -> int:
        """Sum of `length` over all good records (the env step reached, for a train log)."""
        return self._columns.total_steps

    @property
    def line_count(self) -> int:
        """Complete lines read so far, good and bad."""
        return self._lines

    @property
    def bad_lines(self) -> list[int]:
        """1-based line numbers of the lines skipped as unparseable."""
        return list(self._bad_lines)

    @property
    def bad_line_count(self) -> int:
        return len(self._bad_lines)

    @property
    def extras_keys(self) -> list[str]:
        """Extras keys seen so far, in order of first appearance."""
        return list(self._columns.extras)

    def column(self, name: str) -> npt.NDArray[Any]:
        """A read-only numpy view of one numeric column (`step`, `reward`, `length`,
        `episode` or `extras.<key>`), without building the frame."""
        cols = self._columns
        n = cols.n
        if name == "episode":
            return _read_only(np.arange(n, dtype=np.int64))
        if name in ("step", "reward", "length"):
            buf: npt.NDArray[Any] = getattr(cols, name)
            return _read_only(buf[:n])
        if name.startswith(EXTRAS_PREFIX) and name[len(EXTRAS_PREFIX) :] in cols.extras:
            return _read_only(cols.extras[name[len(EXTRAS_PREFIX) :]][:n])
        raise KeyError(f"{self.path}: no numeric column {name!r}")

    @property
    def frame(self) -> pd.DataFrame:
        """All good records as a DataFrame (see the module doc for the columns).

        Shared and read-only (its arrays are views of the reader's buffers): `.copy()` it
        before editing values in place.
        """
        with self._lock:
            if self._frame is None or self._frame_version != self._version:
                self._frame = self._build_frame()
                self._frame_version = self._version
            return self._frame

    def _build_frame(self) -> pd.DataFrame:
        cols = self._columns
        n = cols.n
        data: dict[str, Any] = {
            "episode": _read_only(np.arange(n, dtype=np.int64)),
            "step": _read_only(cols.step[:n]),
            "reward": _read_only(cols.reward[:n]),
            "length": _read_only(cols.length[:n]),
            "status": pd.Categorical.from_codes(
                cols.status[:n], categories=pd.Index(self._status_names, dtype=object)
            ),
        }
        for key, buf in cols.extras.items():
            data[EXTRAS_PREFIX + key] = _read_only(buf[:n])
        return pd.DataFrame(data, copy=False)

    # ---------------------------------------------------------------- refresh

    def refresh(self) -> int:
        """Parse the complete lines appended since the last call; return how many records
        they held. Re-reads from 0 if the file was truncated or replaced. Never raises on
        bad content or a missing file."""
        with self._lock:
            try:
                fd = os.open(self.path, os.O_RDONLY)
            except FileNotFoundError:
                self.problem = None
                if self._identity is not None:
                    self._reset()
                return 0
            except OSError as exc:
                self.problem = _describe_os_error(exc, self.path)
                return 0
            version = self._version
            bad_before = len(self._bad_lines)
            self._added = 0
            try:
                self._read_from(fd)
                self.problem = None
            except OSError as exc:
                self.problem = _describe_os_error(exc, self.path)
            finally:
                os.close(fd)
            if self._version == version and (self._added or len(self._bad_lines) != bad_before):
                self._version += 1
            return self._added

    def _same_file(self, fd: int, st: os.stat_result) -> bool:
        if self._identity != (st.st_dev, st.st_ino) or st.st_size < self._offset:
            return False
        if self._offset == 0:
            return True
        if os.pread(fd, len(self._head), 0) != self._head:
            return False
        return os.pread(fd, len(self._tail), self._offset - len(self._tail)) == self._tail

    def _read_from(self, fd: int) -> None:
        st = os.fstat(fd)
        if self._identity is not None and not self._same_file(fd, st):
            self._reset()
        self._identity = (st.st_dev, st.st_ino)
        if st.st_size == self._offset:
            return
        with contextlib.closing(_complete_lines(fd, self._offset, st.st_size, self.kind)) as chunks:
            for chunk in chunks:
                remaining = os.fstat(fd).st_size - self._offset - chunk.cut
                if remaining > chunk.cut:
                    # Size the columns for the whole file now rather than doubling ten times.
                    expected = (remaining + chunk.cut) / chunk.cut * chunk.lines * 1.05
                    self._columns.reserve(self._columns.n + int(expected) + 64)
                self._consume(chunk.data, chunk.cut, chunk.lines, chunk.table)
                self._advance(chunk.data, chunk.cut)

    def _advance(self, chunk: _Bytes, cut: int) -> None:
        """Move `offset` past `chunk[:cut]`, just parsed, and update the fingerprints."""
        if len(self._head) < _FINGERPRINT:
            # Until the file is _FINGERPRINT bytes long, `_head` is all of it.
            self._head = (self._head + bytes(chunk[: min(cut, _FINGERPRINT)]))[:_FINGERPRINT]
        self._offset += cut
        self._tail = bytes(chunk[max(0, cut - _FINGERPRINT) : cut])

    def _read_pending(self) -> _Pending | None:
        """For `refresh_many`: read this log's new complete lines without parsing them.
        A log with much new data is refreshed right here instead (None is returned)."""
        with self._lock:
            try:
                fd = os.open(self.path, os.O_RDONLY)
            except FileNotFoundError:
                self.problem = None
                if self._identity is not None:
                    self._reset()
                return None
            except OSError as exc:
                self.problem = _describe_os_error(exc, self.path)
                return None
            data = b""
            big = False
            try:
                st = os.fstat(fd)
                if self._identity is not None and not self._same_file(fd, st):
                    self._reset()
                self._identity = (st.st_dev, st.st_ino)
                new = st.st_size - self._offset
                big = new > _ALONE_ABOVE
                if new > 0 and not big:
                    data = os.pread(fd, new, self._offset)
                self.problem = None
            except OSError as exc:
                self.problem = _describe_os_error(exc, self.path)
            finally:
                os.close(fd)
            if big:
                self.refresh()
                return None
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                return None
            lines = _count_newlines(memoryview(data)[:cut])
            return _Pending(self, data, cut, lines, self._offset, self._version)

    def _commit(self, item: _Pending, batch: _Batch | None) -> None:
        """For `refresh_many`: take in `item`'s lines, parsed as `batch` (None: parse them
        here, bad lines and all)."""
        with self._lock:
            if self._offset != item.offset or self._version != item.version:
                return  # refreshed meanwhile by another caller, which read these lines too
            self._added = 0
            bad_before = len(self._bad_lines)
            if batch is None:
                self._consume(item.data, item.cut, item.lines)
            else:
                self._columns.append(batch)
                self._lines += item.lines
                self._added = batch.rows
            self._advance(item.data, item.cut)
            if self._added or len(self._bad_lines) != bad_before:
                self._version += 1

    # ---------------------------------------------------------------- parsing

    def _consume(self, chunk: _Bytes, end: int, lines: int, table: _Parsed = "unparsed") -> None:
        """Parse `chunk[:end]`, `lines` complete lines (pyarrow's `table` of them if already
        parsed), and append its rows."""
        for batch in self._parse_region(chunk, 0, end, lines, self._lines, table):
            self._columns.append(batch)
            self._added += batch.rows
        self._lines += lines

    def _parse_region(
        self,
        chunk: _Bytes,
        start: int,
        end: int,
        lines: int,
        first_line: int,
        table: _Parsed = "unparsed",
    ) -> Iterator[_Batch]:
        if lines == 0:
            return
        region = _view(chunk)[start:end]
        if isinstance(table, str):  # "unparsed"
            table = _read_table(region, self.kind)
        batch = self._parse_arrow(table, lines)
        if batch is not None:
            yield batch
            return
        if end - start < _LINE_BY_LINE_BELOW or lines == 1:
            yield self._parse_lines(region, first_line)
            return
        # Split at a newline near the middle and retry each half.
        middle = start + (end - start) // 2
        split = _find_newline(chunk, start, middle, last=True) + 1
        if split <= start:
            split = _find_newline(chunk, middle, end) + 1
        left = _count_newlines(_view(chunk)[start:split])
        yield from self._parse_region(chunk, start, split, left, first_line)
        yield from self._parse_region(chunk, split, end, lines - left, first_line + left)

    def _parse_arrow(self, table: pa.Table | None, lines: int) -> _Batch | None:
        """The rows of a region from pyarrow's `table` of it (None: pyarrow rejected it), or
        None if any line in it is not a good record."""
        # pyarrow skips blank lines and accepts two objects on one line; a row count
        # equal to the line count is what makes row i line i.
        if table is None or table.num_rows != lines:
            return None
        parsed = _ParsedTable.of(table, self.kind, markers=False)
        if parsed is None:
            return None
        return parsed.batch(self, 0, lines, parsed.extras)

    def _status_code(self, name: str) -> int:
        code = self._status_codes.get(name)
        if code is None:
            code = len(self._status_names)
            self._status_names.append(name)
            self._status_codes[name] = code
        return code

    def _parse_lines(self, region: memoryview, first_line: int) -> _Batch:
        """The slow path: one line at a time, recording the bad ones."""
        rewards: list[float] = []
        lengths: list[int] = []
        codes: list[int] = []
        steps: list[int] = []
        extras_rows: list[dict[str, float]] = []
        keys: dict[str, None] = {}
        for index, line in enumerate(bytes(region).split(b"\n")[:-1]):
            record = self._parse_line(line)
            if record is None:
                self._bad_lines.append(first_line + index + 1)
                continue
            reward, length, status, step, extras = record
            rewards.append(reward)
            lengths.append(length)
            codes.append(self._status_code(status))
            steps.append(step)
            extras_rows.append(extras)
            keys.update(dict.fromkeys(extras))
        extras_columns = {
            key: np.array([row.get(key, math.nan) for row in extras_rows], dtype=np.float64)
            for key in keys
        }
        return _Batch(
            reward=np.array(rewards, dtype=np.float64),
            length=np.array(lengths, dtype=np.int64),
            status_codes=np.array(codes, dtype=np.int16),
            step_at_eval=np.array(steps, dtype=np.int64) if self.kind == "eval" else None,
            extras=extras_columns,
        )

    def _parse_line(self, line: bytes) -> tuple[float, int, str, int, dict[str, float]] | None:
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
        if self.kind == "eval":
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


def _read_table(data: memoryview | bytes, kind: str) -> pa.Table | None:
    """pyarrow's parse of `data`, or None if it rejects it. The table is checked for
    UTF-8: pyarrow does not check it while parsing, `validate(full=True)` does for values,
    and reading a key name (`column_names`, `field.name`) decodes it strictly."""
    options = _THREADED if len(data) > _ARROW_BLOCK else _SINGLE
    try:
        table = pa_json.read_json(
            pa.BufferReader(pa.py_buffer(data)),
            read_options=options,
            parse_options=_PARSE_OPTIONS[kind],
        )
        table.validate(full=True)
        _ = table.column_names
    except (pa.ArrowException, ValueError, TypeError, KeyError, OverflowError):
        return None
    return table


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
    (marker rows of a `refresh_many` batch excepted)."""

    reward: _FloatArray
    length: _IntArray
    step_at_eval: _IntArray | None
    status_names: list[str]
    status_indices: npt.NDArray[np.intp]
    extras: dict[str, _FloatArray]
    extras_valid: dict[str, npt.NDArray[np.bool_]]
    """Which rows have a value for each extras key (filled for a `refresh_many` batch only)."""
    marker: npt.NDArray[np.bool_] | None
    """Which rows are the marker lines of a `refresh_many` batch (None: not a batch)."""

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
        elif _MARKER in names:
            is_marker = np.zeros(rows, dtype=bool)

        def present(col: pa.ChunkedArray) -> bool:
            """Every record row (marker rows aside) has a value in `col`."""
            if col.null_count == 0:
                return True
            valid = np.asarray(col.is_valid().to_numpy(zero_copy_only=False))
            return bool((valid | is_marker).all())

        def required(name: str) -> _IntArray | None:
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
        extras: dict[str, _FloatArray] = {}
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
                    if markers:  # only a `refresh_many` batch asks which rows have a key
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

    def batch(self, log: EpisodeLog, start: int, end: int, keys: Iterable[str]) -> _Batch:
        """Rows [start, end) as `log`'s batch, with the extras columns `keys`."""
        indices = self.status_indices[start:end]
        # Only the statuses these rows use become the log's categories (marker rows of a
        # batch have none, and other logs' statuses are not this log's). Without markers,
        # the table is this log's alone and uses every name of its dictionary.
        used = range(len(self.status_names)) if self.marker is None else np.unique(indices)
        lookup = np.zeros(len(self.status_names), dtype=np.int16)
        for index in used:
            lookup[index] = log._status_code(self.status_names[index])
        codes = lookup[indices]
        return _Batch(
            reward=self.reward[start:end],
            length=self.length[start:end],
            status_codes=codes,
            step_at_eval=None if self.step_at_eval is None else self.step_at_eval[start:end],
            extras={key: self.extras[key][start:end] for key in keys},
        )


@dataclass(frozen=True)
class _Pending:
    """New complete lines of one log, read but not yet parsed (see `refresh_many`)."""

    log: EpisodeLog
    data: bytes
    cut: int
    lines: int
    offset: int
    version: int


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_.\-]+")


def refresh_many(logs: Iterable[EpisodeLog]) -> None:
    """`refresh()` every log; the new lines of logs with little new data are parsed
    together, by one pyarrow call per kind and per ~32 MB, instead of one call per log.

    Same results as refreshing each log alone. pyarrow's fixed cost per call (a few
    hundred microseconds) would otherwise dominate a cold scan of thousands of small runs.
    """
    # Parsed group by group as they fill, so only ~_BATCH_BYTES per kind is held at once.
    groups: dict[str, list[_Pending]] = {"train": [], "eval": []}
    sizes = {"train": 0, "eval": 0}
    for log in logs:
        item = log._read_pending()
        if item is None:
            continue
        kind = item.log.kind
        groups[kind].append(item)
        sizes[kind] += item.cut
        if sizes[kind] >= _BATCH_BYTES:
            _parse_group(kind, groups[kind])
            groups[kind], sizes[kind] = [], 0
    for kind_left, group in groups.items():
        if group:
            _parse_group(kind_left, group)


def _parse_group(kind: str, items: list[_Pending]) -> None:
    """Parse the pending lines of `items` with one pyarrow call; on any doubt (a bad line,
    a misaligned row, an ambiguous extras key) split the group, down to single logs."""
    if len(items) == 1:
        items[0].log._commit(items[0], None)
        return
    parts: list[bytes] = []
    for i, item in enumerate(items):
        parts.append(b'{"%s":%d}\n' % (_MARKER.encode(), i))
        parts.append(item.data[: item.cut])
    table = _read_table(b"".join(parts), kind)
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
        _parse_group(kind, items[:middle])
        _parse_group(kind, items[middle:])
        return
    present = {
        key: np.add.reduceat(valid.astype(np.int64), starts) > 0
        for key, valid in parsed.extras_valid.items()
    }
    for i, item in enumerate(items):
        keys = []
        ambiguous = False
        for key, is_present in present.items():
            if is_present[i]:
                keys.append(key)
            elif not _PLAIN_KEY.fullmatch(key) or (
                b'"%s"' % key.encode() in item.data or b"\\u" in item.data
            ):
                # All null here: a key written with null values, or absent? Parse alone.
                ambiguous = True
                break
        if ambiguous:
            item.log._commit(item, None)
            continue
        start = int(starts[i]) + 1
        item.log._commit(item, parsed.batch(item.log, start, start + item.lines, keys))


def _describe_os_error(exc: OSError, path: Path) -> str:
    if isinstance(exc, PermissionError):
        return f"permission denied: {path}"
    if isinstance(exc, IsADirectoryError):
        return f"not a file: {path}"
    return f"cannot read {path}: {exc.strerror or exc}"
