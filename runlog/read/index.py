"""The persistent index: what was read of each log, kept between runs of runlog.

    <cache dir>   RUNLOG_CACHE_DIR, else $XDG_CACHE_HOME/runlog, else ~/.cache/runlog
        v1/                            one folder per format version (others are ignored)
            roots/<key>.json           one file per runs root (key: a hash of its path)
            columns/<key>-<id>.arrow   the parsed columns of one log (Arrow IPC), for logs
                                       of COLUMNS_ABOVE bytes or more

A root file is a header line and a payload of N bytes: a line of JSON naming where each
run's row and entry lie, then the rows and entries, each its own compact JSON value:

    {"format": "runlog-index", "version": 2, "bytes": N, "crc32": C}
    {"root": "/abs/runs", "runs": {"name/version/run_id": [row start, row end,
                                                            entry start, entry end], ...}}
    <row><entry><row><entry>...      (offsets count from the byte after the JSON line)

    row = the run's summary under the stats it was made under (runlog.read.catalog), or empty
    run = {"metadata": {"signature": [ino, size, mtime_ns, ctime_ns], "value": {...} | null,
                        "problem": "..." | null},
           "train": log | null, "eval": log | null, "files": ... | null}
    log = {"signature": [...], "mark": Mark, "summary": LogSummary, "statuses": [...],
           "columns": {"mark": Mark, "summary": ..., "statuses": [...], "segments": [...]} | null}

A log's `signature` is its stat when `mark` was taken: an unchanged signature means an
unchanged file, listed without being opened. Columns may lag behind the summary (a live run
listed but not opened): opening the run resumes from the columns' own mark.

A start decodes the rows only (a run whose stats did not move is listed from its row); an
entry is decoded when its run changed or is opened, and a save copies the bytes of the runs
it did not touch. For 10,000 runs (26 MB) that is 0.11-0.19 s of decoding at load instead of
0.28-0.40 s, and no decoded entries held. Version 1 files (one JSON object, rows inside the
entries) are still read. A root file of a version this runlog does not know (a newer runlog's,
sharing the cache) is not read, and while there is one, no column file counts as an orphan:
it may name them.

Nothing here is trusted. A root file whose header, length or checksum is off is dropped whole
and rebuilt by the next scan; an entry is used only where its mark still matches the file
(runlog.read.tail.Mark); a segment only when its size, rows, schema and per-column checksums
match (each column is checked the first time it is read). The runs root is never written.
Several processes may share the cache: every file is written to a temp file and renamed, no
lock is held, and a root file is merged with what is on disk before it replaces it. A cache
directory that cannot be written turns the index off, with one message (`problem`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import orjson

if TYPE_CHECKING:
    from runlog.read.columns import Columns
    from runlog.read.episodes import EpisodeLog
    from runlog.read.parse import Batch

__all__ = [
    "CACHE_DIR_ENV",
    "CACHE_MB_ENV",
    "COLUMNS_ABOVE",
    "FORMAT_VERSION",
    "NO_CACHE_ENV",
    "ROOT_FORMAT",
    "CacheInfo",
    "ColumnWriter",
    "IndexCorrupt",
    "IndexForeign",
    "RootFile",
    "RunIndex",
    "cache_dir",
    "columns_entry",
    "open_index",
]

FORMAT_VERSION = 1
"""The cache's layout (its folder, `v1/`), and the format of its column files."""
ROOT_FORMAT = 2
"""The format of the root files (the header's "version"); version 1 files are still read."""
CACHE_DIR_ENV = "RUNLOG_CACHE_DIR"
NO_CACHE_ENV = "RUNLOG_NO_CACHE"
CACHE_MB_ENV = "RUNLOG_CACHE_MB"
DEFAULT_CACHE_MB = 4096
COLUMNS_ABOVE = 1 << 20
"""Logs smaller than this keep no columns in the index: they parse again in milliseconds."""
WRITE_BATCH_BYTES = 64 << 20
"""Column bytes gathered before a record batch is written: a log up to this size becomes one
batch, which loads without a copy."""
WRITE_BUFFER = 1 << 20
"""The buffer a root file is written through (its parts are a few KB each)."""
ORPHAN_AGE = 600.0
"""Seconds before a column file no root file names (or a stale temp file) may be removed."""

_FORMAT = "runlog-index"
_TRUE = frozenset({"1", "true", "yes", "on"})


class IndexCorrupt(ValueError):
    """A part of the index is not what was written (it is then ignored and rebuilt)."""


class IndexForeign(IndexCorrupt):
    """A root file in a format version this runlog does not know (a newer runlog's): not read,
    and the column files it may name are not this runlog's to call orphans."""


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where the index lives: RUNLOG_CACHE_DIR, else $XDG_CACHE_HOME/runlog, else
    ~/.cache/runlog."""
    environ = os.environ if env is None else env
    explicit = environ.get(CACHE_DIR_ENV, "").strip()
    if explicit:
        return Path(explicit).expanduser()
    xdg = environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path("~/.cache").expanduser()
    return base / "runlog"


def cache_disabled(env: Mapping[str, str] | None = None) -> bool:
    environ = os.environ if env is None else env
    return environ.get(NO_CACHE_ENV, "").strip().lower() in _TRUE


def open_index(env: Mapping[str, str] | None = None, *, no_cache: bool = False) -> RunIndex | None:
    """The index the environment asks for, or None when it is turned off (`no_cache`, or
    RUNLOG_NO_CACHE=1)."""
    if no_cache or cache_disabled(env):
        return None
    environ = os.environ if env is None else env
    budget = DEFAULT_CACHE_MB
    raw = environ.get(CACHE_MB_ENV, "").strip()
    problem = None
    if raw:
        try:
            budget = int(raw)
            if budget < 0:
                raise ValueError
        except ValueError:
            problem = f"{CACHE_MB_ENV}={raw!r} is not a whole number of MB: using {budget}"
            budget = DEFAULT_CACHE_MB
    index = RunIndex(cache_dir(environ), max_bytes=budget << 20)
    if problem:
        index.notes.append(problem)
    return index


@dataclass(frozen=True)
class CacheInfo:
    """What `runlog cache info` prints."""

    directory: Path
    roots: int
    runs: int
    column_files: int
    bytes: int
    max_bytes: int


def _root_key(root: Path) -> str:
    return hashlib.sha256(os.fsencode(str(root))).hexdigest()[:24]


def _crc(array: npt.NDArray[Any]) -> int:
    contiguous = np.ascontiguousarray(array)
    return zlib.crc32(contiguous.view(np.uint8).data)


class RunIndex:
    """The cache directory's index (see the module doc). Thread-safe."""

    def __init__(self, directory: Path, *, max_bytes: int = DEFAULT_CACHE_MB << 20) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.base = self.directory / f"v{FORMAT_VERSION}"
        self.problem: str | None = None
        """Why the index is not being written (an unwritable directory), or None."""
        self.notes: list[str] = []
        """Settings that could not be used as given."""
        self._lock = threading.Lock()

    @property
    def writable(self) -> bool:
        return self.problem is None

    def _disable(self, action: str, exc: OSError) -> None:
        if self.problem is None:
            self.problem = (
                f"the run index cache {self.directory} cannot be written ({action}: "
                f"{exc.strerror or exc}); running without saving it"
            )

    def _dir(self, name: str) -> Path | None:
        """`base/name`, created if needed (it may have been deleted meanwhile)."""
        path = self.base / name
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self._disable(f"creating {path}", exc)
            return None
        return path

    def _write_atomic(self, target: Path, chunks: Iterable[bytes]) -> bool:
        """Write `chunks`, one after the other, to `target` (a temp file renamed)."""
        tmp = target.with_name(f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}-{target.name}")
        try:
            with open(tmp, "wb", buffering=WRITE_BUFFER) as fh:
                fh.writelines(chunks)
            os.replace(tmp, target)
        except OSError as exc:
            self._disable(f"writing {target}", exc)
            _unlink(tmp, 0)
            return False
        return True

    # -- root files ---------------------------------------------------------------------

    def root_file(self, root: Path) -> Path:
        return self.base / "roots" / f"{_root_key(root)}.json"

    def load_root(self, root: Path) -> RootFile:
        """The runs indexed for `root` (checked as a whole; each decoded when asked for);
        empty when there is no root file or it is not exactly what was written."""
        path = self.root_file(root)
        try:
            data = path.read_bytes()
        except OSError:
            return RootFile.empty()
        try:
            return _decode_root(data, root)
        except IndexCorrupt:
            return RootFile.empty()

    def save_root(
        self, root: Path, runs: Mapping[str, Any], *, gone: Iterable[str] = ()
    ) -> bool:
        """Write the entries `runs` for `root`, merged with the root file on disk (its entries
        for other runs are kept as they are, except the runs in `gone`). An entry's "row"
        may be given encoded (bytes). False when nothing was written."""
        if not self.writable:
            return False
        with self._lock:
            disk = self.load_root(root)
            dropped = set(gone) | set(runs)
            pieces = {rel: disk.raw(rel) for rel in disk if rel not in dropped}
            for rel, entry in runs.items():
                pieces[rel] = _encode_run(_merge_run(disk.get(rel), entry))
            directory = self._dir("roots")
            if directory is None:
                return False
            return self._write_atomic(self.root_file(root), _encode_root(root, pieces))

    # -- column files ---------------------------------------------------------------------

    def column_writer(self, root: Path, rel: str, kind: str) -> ColumnWriter | None:
        """A sink that writes a log's columns into new segment files (None when the index is
        not writable)."""
        if not self.writable:
            return None
        directory = self._dir("columns")
        if directory is None:
            return None
        stem = f"{_root_key(root)[:8]}-{hashlib.sha1(f'{rel}/{kind}'.encode()).hexdigest()[:12]}"
        return ColumnWriter(self, directory, stem, kind)

    def load_columns(self, entry: Any, kind: str) -> Columns:
        """The columns an entry's `segments` hold. Raises IndexCorrupt (a file missing, cut,
        or not the shape recorded); a column's checksum is checked when it is first read."""
        from runlog.read.columns import Columns

        try:
            segments = list(entry["segments"])
            rows = sum(int(s["rows"]) for s in segments)
            total_steps = entry["summary"]["total_steps"] if kind == "train" else None
            if total_steps is not None and not isinstance(total_steps, int):
                raise TypeError(f"total_steps {total_steps!r}")
            counted = entry["summary"]["records"]
            if counted != rows:
                raise ValueError(f"{rows} rows where the summary counts {counted}")
        except (KeyError, TypeError, ValueError) as exc:
            raise IndexCorrupt(f"column entry is not the shape written: {exc}") from exc
        loaded = [(self._load_segment(segment), int(segment["rows"])) for segment in segments]
        names: dict[str, None] = {}
        for columns_of, _ in loaded:
            names.update(dict.fromkeys(columns_of))
        parts: dict[str, list[tuple[npt.NDArray[Any], int]]] = {}
        for name in names:
            pieces: list[tuple[npt.NDArray[Any], int]] = []
            for columns_of, seg_rows in loaded:
                # An extras key a segment lacks (it first appeared later): NaN there.
                pieces.extend(columns_of.get(name) or [(np.full(seg_rows, np.nan), -1)])
            parts[name] = pieces
        extras_order = [n[len("extras.") :] for n in names if n.startswith("extras.")]
        required = ("reward", "length", "step", "status")
        if any(name not in c for name in required for c, _ in loaded):
            raise IndexCorrupt("a column segment lacks one of the base columns")
        if any(sum(len(a) for a, _ in pieces) != rows for pieces in parts.values()):
            raise IndexCorrupt("column segments do not hold the rows recorded")
        checks: dict[str, Callable[[], None]] = {}
        arrays: dict[str, npt.NDArray[Any]] = {}
        for name, pieces in parts.items():
            arrays[name] = (
                pieces[0][0] if len(pieces) == 1 else np.concatenate([a for a, _ in pieces])
            )
            checks[name] = _checker(name, pieces)
        self.touch(str(s["file"]) for s in segments)
        return Columns.restored(
            reward=arrays["reward"],
            length=arrays["length"],
            step=arrays["step"],
            status=arrays["status"],
            extras={key: arrays[f"extras.{key}"] for key in extras_order},
            checks=checks,
            total_steps=total_steps,
        )

    def _load_segment(self, segment: Any) -> dict[str, list[tuple[npt.NDArray[Any], int]]]:
        import pyarrow as pa
        import pyarrow.ipc as ipc

        try:
            name = str(segment["file"])
            if "/" in name or name.startswith("."):
                raise IndexCorrupt(f"bad segment name {name!r}")
            path = self.base / "columns" / name
            size = os.stat(path).st_size
            if size != int(segment["bytes"]):
                raise IndexCorrupt(f"{path} is {size} bytes, {segment['bytes']} were written")
            crcs: dict[str, list[int]] = {k: list(v) for k, v in segment["crc32"].items()}
            reader = ipc.open_file(pa.memory_map(str(path), "r"))
            out: dict[str, list[tuple[npt.NDArray[Any], int]]] = {n: [] for n in crcs}
            rows = 0
            for b in range(reader.num_record_batches):
                batch = reader.get_batch(b)
                rows += batch.num_rows
                for column_name, column in zip(batch.schema.names, batch.columns, strict=True):
                    if column_name not in out or column.null_count:
                        raise IndexCorrupt(f"{path}: unexpected column {column_name!r}")
                    out[column_name].append(
                        (column.to_numpy(zero_copy_only=True), crcs[column_name][b])
                    )
            if rows != int(segment["rows"]) or any(len(v) != len(crcs[k]) for k, v in out.items()):
                raise IndexCorrupt(f"{path} does not hold the rows recorded")
            return out
        except IndexCorrupt:
            raise
        except (OSError, KeyError, TypeError, ValueError, IndexError, pa.ArrowException) as exc:
            raise IndexCorrupt(f"column segment {segment!r} cannot be read: {exc}") from exc

    def touch(self, names: Iterable[str]) -> None:
        """Mark segments as just used (least recently used ones are evicted first)."""
        now = time.time()
        for name in names:
            with contextlib.suppress(OSError):
                os.utime(self.base / "columns" / name, (now, now))

    # -- size, info, clear ------------------------------------------------------------------

    def _files(self) -> tuple[list[tuple[float, int, Path]], list[tuple[float, int, Path]]]:
        """(column files, root files) as (mtime, size, path)."""
        out: tuple[list[tuple[float, int, Path]], list[tuple[float, int, Path]]] = ([], [])
        for kind, listing in (("columns", out[0]), ("roots", out[1])):
            try:
                entries = list(os.scandir(self.base / kind))
            except OSError:
                continue
            for entry in entries:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                listing.append((st.st_mtime, st.st_size, Path(entry.path)))
        return out

    def _referenced(self, roots: list[tuple[float, int, Path]]) -> set[str] | None:
        names: set[str] = set()
        for _, _, path in roots:
            if path.name.startswith("."):
                continue
            try:
                runs = _decode_root(path.read_bytes(), None)
            except IndexForeign:
                return None  # another runlog's root file: what it names is unknown here
            except (OSError, IndexCorrupt):
                continue
            for rel in runs:
                run = runs.entry(rel)
                for kind in ("train", "eval"):
                    log = run.get(kind) if isinstance(run, dict) else None
                    columns = log.get("columns") if isinstance(log, dict) else None
                    if isinstance(columns, dict):
                        names.update(str(s.get("file")) for s in columns.get("segments", []))
        return names

    def evict(self, now: float | None = None) -> int:
        """Bring the cache under `max_bytes`, least recently used column files first, and
        remove stale temp files and column files no root file names. Returns bytes removed."""
        moment = time.time() if now is None else now
        with self._lock:
            columns, roots = self._files()
            referenced = self._referenced(roots)
            removed = 0
            kept: list[tuple[float, int, Path]] = []
            for mtime, size, path in columns + roots:
                stale = moment - mtime > ORPHAN_AGE
                orphan = (
                    path.parent.name == "columns"
                    and referenced is not None
                    and path.name not in referenced
                )
                if stale and (path.name.startswith(".tmp-") or orphan):
                    removed += _unlink(path, size)
                else:
                    kept.append((mtime, size, path))
            total = sum(size for _, size, _ in kept)
            # Column files first (oldest use first), then root files.
            order = sorted(kept, key=lambda item: (item[2].parent.name != "columns", item[0]))
            for _mtime, size, path in order:
                if total <= self.max_bytes:
                    break
                freed = _unlink(path, size)
                removed += freed
                total -= freed
            return removed

    def info(self) -> CacheInfo:
        columns, roots = self._files()
        runs = 0
        for _, _, path in roots:
            try:
                runs += len(_decode_root(path.read_bytes(), None))
            except (OSError, IndexCorrupt):
                continue
        size = sum(s for _, s, _ in columns) + sum(s for _, s, _ in roots)
        return CacheInfo(self.directory, len(roots), runs, len(columns), size, self.max_bytes)

    def clear(self) -> int:
        """Remove every file of the index (all format versions); returns bytes removed."""
        removed = 0
        try:
            versions = [p for p in self.directory.iterdir() if p.is_dir() and p.name[:1] == "v"]
        except OSError:
            return 0
        for version in versions:
            for sub in ("columns", "roots"):
                try:
                    entries = list(os.scandir(version / sub))
                except OSError:
                    continue
                for entry in entries:
                    try:
                        size = entry.stat(follow_symlinks=False).st_size
                    except OSError:
                        size = 0
                    removed += _unlink(Path(entry.path), size)
        return removed


def _unlink(path: Path, size: int) -> int:
    try:
        path.unlink()
    except OSError:
        return 0
    return size


def _checker(name: str, pieces: list[tuple[npt.NDArray[Any], int]]) -> Callable[[], None]:
    def check() -> None:
        for array, crc in pieces:
            if crc >= 0 and _crc(array) != crc:
                raise IndexCorrupt(f"column {name!r} of the index does not match its checksum")

    return check


# -- the root file's bytes -----------------------------------------------------------------------


class RootFile(Mapping[str, Any]):
    """The runs of one root file: rel -> its entry (a dict, "row" included), decoded when
    asked for; `row` and `entry` decode one part, `raw` gives both parts' bytes as stored."""

    __slots__ = ("_blob", "_spans")

    def __init__(self, spans: dict[str, Any], blob: bytes | memoryview) -> None:
        self._spans = spans
        self._blob = memoryview(blob)

    @staticmethod
    def empty() -> RootFile:
        return RootFile({}, b"")

    @staticmethod
    def of(runs: Mapping[str, Any]) -> RootFile:
        """A root file's runs from entries held in memory (a version 1 file's)."""
        spans, parts = _layout({rel: _encode_run(entry) for rel, entry in runs.items()})
        return RootFile(spans, b"".join(parts))

    def __getitem__(self, rel: str) -> Any:
        if rel not in self._spans:
            raise KeyError(rel)
        entry, row = self.entry(rel), self.row(rel)
        if not isinstance(entry, dict) or row is None:
            return entry
        return {**entry, "row": row}

    def __iter__(self) -> Iterator[str]:
        return iter(self._spans)

    def __len__(self) -> int:
        return len(self._spans)

    def __contains__(self, rel: object) -> bool:
        return rel in self._spans

    def _part(self, rel: str, part: int) -> memoryview:
        span = self._spans[rel]
        return self._blob[span[2 * part] : span[2 * part + 1]]

    def _decode(self, rel: str, part: int) -> Any:
        try:
            return self.decode(self._part(rel, part))
        except KeyError:
            return None

    def row(self, rel: str) -> Any:
        """The run's index row as stored, None when it has none (or is not indexed)."""
        return self._decode(rel, 0)

    def entry(self, rel: str) -> Any:
        """The run's entry without its row, None when it is not indexed."""
        return self._decode(rel, 1)

    def raw(self, rel: str) -> tuple[bytes, bytes]:
        """(row, entry) as stored: copied into a new root file without being decoded."""
        return bytes(self._part(rel, 0)), bytes(self._part(rel, 1))

    def take(self, rel: str) -> tuple[memoryview, memoryview] | None:
        """The run's (row, entry) as stored (see `decode`), forgetting it (see `discard`)."""
        if rel not in self._spans:
            return None
        parts = self._part(rel, 0), self._part(rel, 1)
        self.discard(rel)
        return parts

    @staticmethod
    def decode(part: memoryview | bytes) -> Any:
        """A stored row or entry, None when empty or not JSON (as if not indexed)."""
        if not part:
            return None
        try:
            return orjson.loads(part)
        except ValueError:
            return None

    def discard(self, rel: str) -> None:
        """Forget `rel` (a run taken by the catalog: if it vanishes and comes back, it is
        read again, not listed from this file)."""
        self._spans.pop(rel, None)


def _payload(data: bytes) -> tuple[int, memoryview]:
    """(the root file format version, its checked payload: a view, not a copy)."""
    end = data.find(b"\n")
    if end < 0:
        raise IndexCorrupt("no header line")
    head, body = data[:end], memoryview(data)[end + 1 :]
    try:
        header = json.loads(head)
    except ValueError as exc:
        raise IndexCorrupt(f"header is not JSON: {exc}") from exc
    if not isinstance(header, dict) or header.get("format") != _FORMAT:
        raise IndexCorrupt("not a runlog index file")
    version = header.get("version")
    if type(version) is not int:
        raise IndexCorrupt(f"index format version {version!r} is not a number")
    if version not in (1, ROOT_FORMAT):
        raise IndexForeign(f"index format version {version}, not {ROOT_FORMAT}")
    if header.get("bytes") != len(body):
        raise IndexCorrupt(f"payload is {len(body)} bytes, {header.get('bytes')!r} were written")
    if header.get("crc32") != zlib.crc32(body):
        raise IndexCorrupt("payload does not match its checksum")
    return version, body


def _decode_root(data: bytes, root: Path | None) -> RootFile:
    """The runs of a root file's bytes (`root`: the runs root it must be for; None: any)."""
    version, body = _payload(data)
    head, blob = body, memoryview(b"")
    if version == ROOT_FORMAT:
        start = len(data) - len(body)  # where the payload begins in `data`
        split = data.find(b"\n", start) - start  # the JSON line ends the head
        if split < 0:
            raise IndexCorrupt("no runs line in the root file")
        head, blob = body[:split], body[split + 1 :]
    try:
        payload = orjson.loads(head)
    except ValueError as exc:
        raise IndexCorrupt(f"payload is not JSON: {exc}") from exc
    if not isinstance(payload, dict) or (root is not None and payload.get("root") != str(root)):
        raise IndexCorrupt("root file of another runs root")
    runs = payload.get("runs")
    if not isinstance(runs, dict):
        raise IndexCorrupt("no runs in the root file")
    if version != ROOT_FORMAT:
        return RootFile.of(runs)
    size = len(blob)
    for span in runs.values():
        if not (
            isinstance(span, list)
            and len(span) == 4
            and all(type(n) is int for n in span)
            and 0 <= span[0] <= span[1] <= size
            and 0 <= span[2] <= span[3] <= size
        ):
            raise IndexCorrupt(f"a run's place in the root file is {span!r}")
    return RootFile(runs, blob)


def _encode_run(entry: Any) -> tuple[bytes, bytes]:
    """A run's (row, entry) bytes: the row taken out of the entry (empty when it has none;
    bytes: encoded already, as the catalog keeps rows)."""
    if not isinstance(entry, dict):
        return b"", orjson.dumps(entry)
    row = entry.get("row")
    rest = {key: value for key, value in entry.items() if key != "row"}
    if row is None:
        return b"", orjson.dumps(rest)
    return (row if isinstance(row, bytes) else orjson.dumps(row)), orjson.dumps(rest)


def _layout(pieces: Mapping[str, tuple[bytes, bytes]]) -> tuple[dict[str, Any], list[bytes]]:
    """(each run's [row start, row end, entry start, entry end], the bytes those count in:
    the parts to write one after the other)."""
    spans: dict[str, Any] = {}
    parts: list[bytes] = []
    at = 0
    for rel, (row, entry) in pieces.items():
        spans[rel] = [at, at + len(row), at + len(row), at + len(row) + len(entry)]
        at += len(row) + len(entry)
        parts += (row, entry)
    return spans, parts


def _encode_root(root: Path, pieces: Mapping[str, tuple[bytes, bytes]]) -> list[bytes]:
    """A root file, as the chunks to write one after the other: they are not joined (a root
    file of 10,000 runs is ~26 MB; joining its 20,000 parts and then the lines before them
    made three copies of it: the save at the end of a cold scan held 117 MB more at its peak,
    41 MB now)."""
    # orjson: read on every start (json: ~2.5x slower both ways). Its output is plain
    # compact JSON, like json.dumps's here: no newline in it.
    spans, parts = _layout(pieces)
    head = orjson.dumps({"root": str(root), "runs": spans}) + b"\n"
    size, crc = len(head), zlib.crc32(head)
    for part in parts:
        size += len(part)
        crc = zlib.crc32(part, crc)
    header = {"format": _FORMAT, "version": ROOT_FORMAT, "bytes": size, "crc32": crc}
    return [json.dumps(header).encode() + b"\n", head, *parts]


def _offset_of(log: Any) -> tuple[int, int, int]:
    try:
        mark = log["mark"]
        return (int(mark["device"]), int(mark["inode"]), int(mark["offset"]))
    except (KeyError, TypeError, ValueError):
        return (-1, -1, -1)


def _merge_run(old: Any, new: Any) -> Any:
    """One run's entry from another process (`old`, on disk) and this one (`new`): per log,
    the entry that read further into the same file wins; this process's otherwise."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    merged = dict(new)
    for kind in ("train", "eval"):
        mine, theirs = new.get(kind), old.get(kind)
        if not isinstance(mine, dict) or not isinstance(theirs, dict):
            continue
        a, b = _offset_of(mine), _offset_of(theirs)
        if a[:2] == b[:2] and b[2] > a[2]:
            merged[kind] = theirs
        elif isinstance(theirs.get("columns"), dict) and not isinstance(mine.get("columns"), dict):
            # Their columns of the same file are worth keeping beside our newer summary.
            cols = theirs["columns"]
            if _offset_of(cols)[:2] == a[:2] and _offset_of(cols)[2] <= a[2]:
                merged[kind] = {**mine, "columns": cols}
    return merged


# -- writing columns ------------------------------------------------------------------------------


class ColumnWriter:
    """Writes one log's columns into segment files as batches are parsed (a `Sink` of
    runlog.read.episodes), gathering up to WRITE_BATCH_BYTES per record batch. A new extras
    key starts a new segment (a segment has one schema). Memory: one write batch, whatever
    the log's length."""

    def __init__(self, index: RunIndex, directory: Path, stem: str, kind: str) -> None:
        self._index = index
        self._directory = directory
        self._stem = stem
        self._kind = kind
        self._keys: list[str] = []
        self._pending: list[tuple[Batch, npt.NDArray[Any], npt.NDArray[np.int64]]] = []
        self._pending_bytes = 0
        self._steps = 0
        self._segments: list[dict[str, Any]] = []
        self._open: tuple[Any, Path, Path, dict[str, list[int]], int] | None = None
        self._rows = 0
        self._settled: dict[str, Any] | None = None
        self.failed = False

    def __call__(self, batch: Batch, status: npt.NDArray[Any]) -> None:
        if self.failed or batch.rows == 0:
            return
        if batch.step_at_eval is not None:
            steps = batch.step_at_eval
        else:
            steps = np.cumsum(batch.length) + self._steps
            self._steps += int(batch.length.sum())
        if any(key not in self._keys for key in batch.extras):
            self._flush()
            self._close_segment()
            self._keys += [key for key in batch.extras if key not in self._keys]
        self._pending.append((batch, np.asarray(status, dtype=np.int16), steps))
        self._rows += batch.rows
        self._pending_bytes += batch.rows * (8 * (3 + len(self._keys)) + 2)
        if self._pending_bytes >= WRITE_BATCH_BYTES:
            self._flush()

    def _flush(self) -> None:
        if not self._pending or self.failed:
            return
        import pyarrow as pa
        import pyarrow.ipc as ipc

        pending, self._pending, self._pending_bytes = self._pending, [], 0
        columns: dict[str, npt.NDArray[Any]] = {
            "reward": np.concatenate([b.reward for b, _, _ in pending]),
            "length": np.concatenate([b.length for b, _, _ in pending]),
            "step": np.concatenate([s for _, _, s in pending]).astype(np.int64, copy=False),
            "status": np.concatenate([c for _, c, _ in pending]),
        }
        for key in self._keys:
            columns[f"extras.{key}"] = np.concatenate(
                [b.extras.get(key, np.full(b.rows, np.nan)) for b, _, _ in pending]
            )
        try:
            if self._open is None:
                name = f"{self._stem}-{uuid.uuid4().hex[:12]}.arrow"
                final = self._directory / name
                tmp = self._directory / f".tmp-{os.getpid()}-{name}"
                schema = pa.schema([(n, pa.from_numpy_dtype(a.dtype)) for n, a in columns.items()])
                sink = pa.OSFile(str(tmp), "wb")
                writer = ipc.new_file(sink, schema)
                self._open = (writer, tmp, final, {n: [] for n in columns}, 0)
            writer, tmp, final, crcs, rows = self._open
            writer.write_batch(pa.record_batch(list(columns.values()), names=list(columns)))
            for n, array in columns.items():
                crcs[n].append(_crc(array))
            self._open = (writer, tmp, final, crcs, rows + len(columns["reward"]))
        except (OSError, pa.ArrowException) as exc:
            self._fail(exc)

    def _close_segment(self) -> None:
        if self._open is None:
            return
        writer, tmp, final, crcs, rows = self._open
        self._open = None
        try:
            writer.close()
            size = os.stat(tmp).st_size
            os.replace(tmp, final)
        except OSError as exc:
            self._fail(exc)
            return
        self._segments.append({"file": final.name, "bytes": size, "rows": rows, "crc32": crcs})

    def _fail(self, exc: BaseException) -> None:
        self.failed = True
        if isinstance(exc, OSError):
            self._index._disable(f"writing columns into {self._directory}", exc)
        if self._open is not None:
            writer, tmp, _final, _crcs, _rows = self._open
            self._open = None
            with contextlib.suppress(Exception):  # already failing; the temp file goes anyway
                writer.close()
            _unlink(tmp, 0)

    def settle(self, reader: EpisodeLog) -> None:
        """The reader's state at the end of the refresh that fed this writer: what the columns
        entry says the columns hold. A reader that had rows before this writer saw any, or was
        reset while it wrote (a replaced file), does not match its rows: nothing is kept."""
        mark = reader.mark
        if mark is None or reader.problem is not None or reader.summary.records != self._rows:
            self.failed = True
            return
        self._settled = {
            "mark": mark.to_json(),
            "summary": reader.summary.to_json(),
            "statuses": reader.status_names,
        }

    def finish(self) -> list[dict[str, Any]] | None:
        """Close the last segment; the segments written, or None if writing failed."""
        self._flush()
        self._close_segment()
        if self.failed:
            self.abort()
            return None
        return self._segments

    def abort(self) -> None:
        """Remove what was written (a log that changed while it was read, say)."""
        self.failed = True
        self._pending = []
        if self._open is not None:
            self._fail(RuntimeError("aborted"))
        for segment in self._segments:
            _unlink(self._directory / segment["file"], 0)
        self._segments = []


def columns_entry(writer: ColumnWriter | None) -> dict[str, Any] | None:
    """The index's columns entry for what `writer` wrote while a reader read its log from the
    start (None: nothing usable was written; its segments are removed)."""
    if writer is None:
        return None
    settled = writer._settled
    segments = writer.finish()
    if segments is None or settled is None:
        writer.abort()
        return None
    return {**settled, "segments": segments}
