"""Tailing one append-only file by byte offset: which bytes are new, and whether the file is
still the one that was read.

    {"total_reward":23.0,...}\\n{"total_reward":null,...}\\n{"total_reward":31.0,"len
    ^ head (first 64 bytes)       tail (64 bytes) ^ offset  ^ no newline yet: not data

A `Mark` says where a reader stands: the file's (device, inode), the offset just past the
last complete line read, how many lines that was, and two fingerprints. On the next read the
file must still have the same inode, be at least `offset` long, and hold the same bytes at
both fingerprints; otherwise it was truncated, replaced or rewritten, and is read again from 0.
Marks are plain data, so the persistent index stores them and a later process resumes from
one (`runlog.read.index`).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt

from runlog.record import record

__all__ = [
    "FINGERPRINT",
    "READ_CHUNK",
    "Chunk",
    "Mark",
    "complete_lines",
    "count_newlines",
    "find_newline",
]

FINGERPRINT = 64
"""Bytes compared at the head of the file and just before the offset."""
READ_CHUNK = 32 << 20
"""Bytes read per step: bounds the memory of reading a big file."""
_COUNT_STRIDE = 1 << 20

ByteArray = npt.NDArray[np.uint8]
Bytes = bytes | ByteArray
T = TypeVar("T")


@record
class Mark:
    """Where a reader of one file stands (see the module doc)."""

    device: int
    inode: int
    offset: int = 0
    lines: int = 0
    head: bytes = b""
    tail: bytes = b""

    def still_matches(self, fd: int, st: os.stat_result) -> bool:
        """Whether the open file `fd` (stat `st`) is the file this mark was taken on, grown
        or not, with the same bytes at both fingerprints."""
        if (st.st_dev, st.st_ino) != (self.device, self.inode) or st.st_size < self.offset:
            return False
        if self.offset == 0:
            return True
        if os.pread(fd, len(self.head), 0) != self.head:
            return False
        return os.pread(fd, len(self.tail), self.offset - len(self.tail)) == self.tail

    def advanced(self, data: Bytes, cut: int, lines: int) -> Mark:
        """This mark moved past `data[:cut]` (`lines` complete lines), just read."""
        head = self.head
        if len(head) < FINGERPRINT:
            # Until the file is FINGERPRINT bytes long, `head` is all of it.
            head = (head + bytes(data[: min(cut, FINGERPRINT)]))[:FINGERPRINT]
        tail = bytes(data[max(0, cut - FINGERPRINT) : cut])
        if cut < FINGERPRINT:
            tail = (self.tail + tail)[-FINGERPRINT:]
        return Mark(self.device, self.inode, self.offset + cut, self.lines + lines, head, tail)

    def to_json(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "inode": self.inode,
            "offset": self.offset,
            "lines": self.lines,
            "head": base64.b64encode(self.head).decode("ascii"),
            "tail": base64.b64encode(self.tail).decode("ascii"),
        }

    @staticmethod
    def from_json(obj: Any) -> Mark:
        """Raises KeyError, TypeError or ValueError on anything but `to_json`'s output."""
        mark = Mark(
            device=_int(obj["device"]),
            inode=_int(obj["inode"]),
            offset=_int(obj["offset"]),
            lines=_int(obj["lines"]),
            head=base64.b64decode(obj["head"], validate=True),
            tail=base64.b64decode(obj["tail"], validate=True),
        )
        covered = min(FINGERPRINT, mark.offset)
        if len(mark.head) != covered or len(mark.tail) != covered:
            raise ValueError("fingerprints do not cover the bytes they should")
        return mark


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError(f"expected a whole number >= 0, got {value!r}")
    return value


# -- reading complete lines ---------------------------------------------------------------------


def count_newlines(data: memoryview) -> int:
    if len(data) < _COUNT_STRIDE:
        return bytes(data).count(b"\n")
    # numpy over 1 MB slices stays in cache; bytes.count is about 4x slower on big data.
    raw = np.frombuffer(data, dtype=np.uint8)
    return sum(
        int(np.count_nonzero(raw[i : i + _COUNT_STRIDE] == 10))
        for i in range(0, len(raw), _COUNT_STRIDE)
    )


def find_newline(data: Bytes, start: int, end: int, last: bool = False) -> int:
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


def view(data: Bytes) -> memoryview:
    return data.data if isinstance(data, np.ndarray) else memoryview(data)


@dataclass(frozen=True)
class Chunk(Generic[T]):
    """One read: `data[:cut]` holds `lines` complete lines, already handed to the caller's
    `prepare` (its answer in `prepared`); `full` if the read filled `data` (more may follow)."""

    data: ByteArray
    cut: int
    lines: int
    full: bool
    prepared: T | None


def _buffer(size: int) -> ByteArray:
    # numpy neither zero-fills nor faults a large buffer in 4 KB pages (it asks for huge
    # pages): half the cost of a bytearray of the same size.
    return np.empty(size, dtype=np.uint8)


def _read_chunk(
    fd: int, offset: int, buf: ByteArray, prepare: Callable[[memoryview], T]
) -> Chunk[T]:
    """The complete lines at `offset`, read into `buf` (or into a bigger buffer if one line
    is longer than `buf`), counted and prepared."""
    while True:
        got = os.preadv(fd, [buf.data], offset)
        cut = find_newline(buf, 0, got, last=True) + 1
        if cut or got < len(buf):
            # An unfinished last line (cut short of its newline) is not data yet.
            lines = count_newlines(buf.data[:cut]) if cut else 0
            prepared = prepare(buf.data[:cut]) if cut else None
            return Chunk(buf, cut, lines, full=got == len(buf), prepared=prepared)
        buf = _buffer(2 * len(buf))


def complete_lines(
    fd: int, offset: int, size: int, prepare: Callable[[memoryview], T]
) -> Generator[Chunk[T], None, None]:
    """The complete lines from `offset` to the end of the file (`size` bytes when opened), one
    buffer at a time, each buffer reused once the caller asks for the next chunk.

    `prepare` (a parse) runs on each chunk's lines as it is read. When there is more than one
    buffer to read, the next one is read and prepared in a thread while the caller takes in
    the current one: pread, numpy and pyarrow release the GIL, so a cold load keeps both
    cores of a small machine busy instead of leaving one idle between parses."""
    # One buffer per read (two for a big one): fresh 32 MB bytes objects per read cost
    # more in page faults than the read itself.
    first = _buffer(min(READ_CHUNK, size - offset + FINGERPRINT))
    chunk = _read_chunk(fd, offset, first, prepare)
    if not chunk.full:
        if chunk.cut:
            yield chunk
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="runlog-read") as pool:
        spare = _buffer(READ_CHUNK)
        while chunk.full:
            offset += chunk.cut
            ahead = pool.submit(_read_chunk, fd, offset, spare, prepare)
            yield chunk
            # A buffer grown for a long line is not kept (memory).
            spare = chunk.data if len(chunk.data) <= READ_CHUNK else _buffer(READ_CHUNK)
            chunk = ahead.result()
        if chunk.cut:
            yield chunk
