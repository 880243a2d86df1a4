"""A local mirror of a remote runs root, kept in the cache directory and fed by few requests.

    <cache dir>/remote/<protocol>/<bucket>/
        manifest.json        key -> (etag, size, mtime) of what the tree holds
        lock                 flock'ed while a process syncs (two dashboards and a CLI share it)
        tree/<key>           the objects: logs, metadata.json, config.json, runlog.json with
                             their bytes; checkpoints and anything else as sparse placeholders
                             of the right size (never downloaded)

Everything that reads a local runs root (the catalog, the persistent index, the watcher, the
activity rules, prune plans) reads the tree as it is, so a remote root behaves as a local one.
One `sync` costs one recursive listing (LIST pages) plus, per changed object:
- a log that grew: one ranged GET from the mirrored size minus OVERLAP bytes; the overlap must
  equal the mirrored bytes (an object rewritten by a sync tool with more lines keeps its old
  bytes), else the log is read again whole;
- a log that shrank or changed at equal size, or any other downloaded file: one whole GET;
- a placeholder: no request.
An unchanged object costs nothing, so a restart with a warm mirror is LIST pages only.

The tree is written with temp files and renames (appends are one write), so the local readers
never see a half-written file. Objects whose keys cannot be files (`..`, empty segments, a key
that is also a "directory") are skipped and reported, never written outside the tree.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from runlog.format.layout import (
    CONFIG_FILE,
    EVAL_LOG,
    METADATA_FILE,
    NOTES_FILE,
    TRAIN_LOG,
)
from runlog.remote.store import ObjectInfo, ObjectStore, RemoteError
from runlog.remote.urls import RemoteURL

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the thread lock alone
    fcntl = None  # type: ignore[assignment]

__all__ = ["OVERLAP", "Mirror", "SyncProgress", "SyncReport", "key_to_parts"]

OVERLAP = 1024
"""Bytes of a grown log fetched again to check that its old bytes are unchanged."""
SMALL_JSON = 1 << 20
"""Other *.json objects up to this size are downloaded; larger ones are placeholders."""

_CHUNK = 256
"""Objects fetched per batch (sent concurrently); progress is reported between batches."""
_DOWNLOADED = frozenset({METADATA_FILE, CONFIG_FILE, NOTES_FILE, TRAIN_LOG, EVAL_LOG})
_LOGS = frozenset({TRAIN_LOG, EVAL_LOG})
_TMP = ".runlog-tmp-"
_MANIFEST_FORMAT = "runlog-mirror"
_MANIFEST_VERSION = 1


def key_to_parts(rel: str) -> list[str] | None:
    """The path segments of a key relative to the root, or None when it cannot be a file
    inside the tree (empty, `.`/`..`, an empty segment, NUL, a name the mirror uses)."""
    if not rel or "\x00" in rel:
        return None
    parts = rel.split("/")
    for p in parts:  # a plain loop: this runs for every listed object on every poll
        if p in ("", ".", "..") or p.startswith(_TMP) or (len(p) > 63 and len(p.encode()) > 255):
            return None
    return parts


@dataclass(frozen=True)
class SyncProgress:
    """A sync under way: listing, then fetching `fetched` of `to_fetch` objects."""

    listed: int = -1
    """Objects listed (-1 while the listing runs)."""
    to_fetch: int = 0
    fetched: int = 0

    def label(self) -> str:
        if self.listed < 0:
            return "listing the objects"
        return (
            f"{self.listed:,} objects listed; fetched {self.fetched:,} of {self.to_fetch:,} "
            "(logs, metadata, configs: checkpoints are not downloaded)"
        )


@dataclass(frozen=True)
class SyncReport:
    """What one sync did, by request type."""

    objects: int
    """Objects listed under the root."""
    whole_gets: int
    ranged_gets: int
    placeholders: int
    removed: int
    bytes_fetched: int
    skipped: tuple[str, ...]
    """Keys that were not mirrored, each with the reason."""
    seconds: float

    @property
    def changed(self) -> bool:
        return bool(self.whole_gets or self.ranged_gets or self.placeholders or self.removed)


def _downloaded(name: str, size: int) -> bool:
    return name in _DOWNLOADED or (name.endswith(".json") and size <= SMALL_JSON)


class Mirror:
    """The mirror of one remote root (see the module doc). Thread-safe; process-safe via flock."""

    def __init__(self, store: ObjectStore, cache: Path) -> None:
        self.store = store
        self.url: RemoteURL = store.url
        self.base = Path(cache) / "remote" / _safe(self.url.protocol) / _safe(self.url.bucket)
        tree = self.base / "tree"
        self.root = tree.joinpath(*self.url.prefix.split("/")) if self.url.prefix else tree
        """The local runs root every reader is given."""
        self._tree = tree
        self._manifest_path = self.base / "manifest.json"
        self._lock = threading.Lock()
        self._objects: dict[str, tuple[str | None, int, float]] = {}
        self.progress = SyncProgress()
        """Where the sync under way is (replaced as it goes: read it from any thread)."""

    # -- paths --------------------------------------------------------------------------

    def _rel(self, key: str) -> str | None:
        prefix = self.url.prefix
        if not prefix:
            return key
        return key[len(prefix) + 1 :] if key.startswith(prefix + "/") else None

    def path_of(self, key: str) -> Path | None:
        """Where the object `key` lies in the tree, or None when it cannot lie there."""
        rel = self._rel(key)
        parts = None if rel is None else key_to_parts(rel)
        return None if parts is None else self.root.joinpath(*parts)

    def key_of(self, path: Path) -> str | None:
        """The key of a tree path (None when the path is outside this root)."""
        try:
            rel = Path(os.path.abspath(path)).relative_to(self._tree)
        except ValueError:
            return None
        parts = rel.parts
        if not parts or any(p in ("", ".", "..") for p in parts):
            return None
        key = "/".join(parts)
        return key if self._rel(key) is not None else None

    def shown(self, text: str) -> str:
        """`text` with tree paths written as the URLs they mirror."""
        text = text.replace(str(self._tree) + "/", f"{self.url.protocol}://{self.url.bucket}/")
        return text.replace(str(self.root), str(self.url))

    # -- manifest -----------------------------------------------------------------------

    def _load_manifest(self) -> dict[str, tuple[str | None, int, float]]:
        try:
            payload = json.loads(self._manifest_path.read_bytes())
        except (OSError, ValueError):
            return {}
        if (
            not isinstance(payload, dict)
            or payload.get("format") != _MANIFEST_FORMAT
            or payload.get("version") != _MANIFEST_VERSION
            or not isinstance(payload.get("objects"), dict)
        ):
            return {}
        out: dict[str, tuple[str | None, int, float]] = {}
        for key, value in payload["objects"].items():
            if (
                isinstance(value, list)
                and len(value) == 3
                and (value[0] is None or isinstance(value[0], str))
                and isinstance(value[1], int)
                and isinstance(value[2], int | float)
            ):
                out[str(key)] = (value[0], value[1], float(value[2]))
        return out

    def _save_manifest(self, objects: dict[str, tuple[str | None, int, float]]) -> None:
        data = json.dumps(
            {
                "format": _MANIFEST_FORMAT,
                "version": _MANIFEST_VERSION,
                "url": f"{self.url.protocol}://{self.url.bucket}",
                "objects": {k: list(v) for k, v in sorted(objects.items())},
            },
            separators=(",", ":"),
        ).encode()
        _write_atomic(self._manifest_path, data)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock:
            self.base.mkdir(parents=True, exist_ok=True)
            with open(self.base / "lock", "a+b") as handle:
                if fcntl is not None:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    if fcntl is not None:
                        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    # -- sync ---------------------------------------------------------------------------

    def sync(self) -> SyncReport:
        """Bring the tree up to date with one listing; raises RemoteError when the store
        cannot be listed (the tree is then left as it was). The objects to fetch are fetched
        concurrently (one request each)."""
        start = time.monotonic()
        self.progress = SyncProgress()
        listing = self.store.list_objects()
        self.progress = SyncProgress(len(listing))
        with self._locked():
            self.root.mkdir(parents=True, exist_ok=True)
            loaded = self._load_manifest()
            objects = dict(loaded)
            counts = {"whole": 0, "ranged": 0, "placeholder": 0, "removed": 0, "bytes": 0}
            skipped: list[str] = []
            rels: dict[str, str] = {}
            for key in sorted(listing):
                rel = self._rel(key)
                if rel is None or key_to_parts(rel) is None:
                    skipped.append(f"{self.url.key_url(key)}: not a name a file can have here")
                    continue
                rels[rel] = key
            folders: set[str] = set()
            for rel in rels:
                cut = rel.find("/")
                while cut != -1:
                    folders.add(rel[:cut])
                    cut = rel.find("/", cut + 1)
            fetches: list[_Fetch] = []
            root = str(self.root)
            for rel, key in rels.items():
                if rel in folders:
                    skipped.append(
                        f"{self.url.key_url(key)}: both an object and a folder; the folder is kept"
                    )
                    continue
                try:
                    fetch = self._plan(listing[key], f"{root}/{rel}", objects, counts)
                except OSError as exc:
                    skipped.append(f"{self.url.key_url(key)}: cannot be mirrored ({exc})")
                    continue
                if fetch is not None:
                    fetches.append(fetch)
            self.progress = SyncProgress(len(listing), len(fetches))
            again: list[_Fetch] = []
            for first in range(0, len(fetches), _CHUNK):
                chunk = fetches[first : first + _CHUNK]
                again += self._fetch(chunk, objects, counts, skipped)
                self.progress = SyncProgress(len(listing), len(fetches), first + len(chunk))
            self._fetch(again, objects, counts, skipped)
            for key in [k for k in objects if self._rel(k) is not None and k not in listing]:
                del objects[key]
                path = self.path_of(key)
                if path is not None and _remove(path, self.root):
                    counts["removed"] += 1
            if objects != loaded:
                self._save_manifest(objects)
            self._objects = {k: v for k, v in objects.items() if self._rel(k) is not None}
        return SyncReport(
            objects=len(listing),
            whole_gets=counts["whole"],
            ranged_gets=counts["ranged"],
            placeholders=counts["placeholder"],
            removed=counts["removed"],
            bytes_fetched=counts["bytes"],
            skipped=tuple(skipped),
            seconds=time.monotonic() - start,
        )

    def _plan(
        self,
        info: ObjectInfo,
        where: str,
        objects: dict[str, tuple[str | None, int, float]],
        counts: dict[str, int],
    ) -> _Fetch | None:
        """What bringing one object up to date takes: nothing (None: unchanged, or a
        placeholder written here), or a fetch. `where` is its tree path (a string: this runs
        for every listed object on every poll, and a Path costs more than the stat)."""
        known = objects.get(info.key)
        try:
            local_size: int | None = os.stat(where).st_size
        except FileNotFoundError:
            local_size = None
        # Without an ETag (some stores), the modification time stands in for it.
        same = (
            known is not None
            and known[0] == info.etag
            and known[1] == info.size
            and (info.etag is not None or known[2] == info.mtime)
            and local_size == info.size
        )
        if same:
            return None
        path = Path(where)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not _downloaded(path.name, info.size):
            _write_atomic(path, None, size=info.size)
            counts["placeholder"] += 1
            _done(info, path, objects)
            return None
        if path.name in _LOGS and local_size and info.size > local_size:
            return _Fetch(info, path, max(0, local_size - OVERLAP), local_size)
        return _Fetch(info, path, 0, 0)

    def _fetch(
        self,
        fetches: list[_Fetch],
        objects: dict[str, tuple[str | None, int, float]],
        counts: dict[str, int],
        skipped: list[str],
    ) -> list[_Fetch]:
        """Fetch and write; returns the tails whose overlap did not match (to read whole)."""
        results = self.store.get_many([(f.info.key, f.start) for f in fetches])
        again: list[_Fetch] = []
        for fetch, data in zip(fetches, results, strict=True):
            if isinstance(data, RemoteError):
                skipped.append(f"{self.url.key_url(fetch.info.key)}: {data}")
                continue
            counts["ranged" if fetch.start else "whole"] += 1
            counts["bytes"] += len(data)
            try:
                if fetch.mirrored:
                    overlap = fetch.mirrored - fetch.start
                    if data[:overlap] == _read_range(fetch.path, fetch.start, overlap):
                        with open(fetch.path, "ab") as handle:
                            handle.write(data[overlap:])
                    elif fetch.start == 0:
                        _write_atomic(fetch.path, data)
                    else:  # the old bytes changed: not an append, read it whole
                        again.append(_Fetch(fetch.info, fetch.path, 0, 0))
                        continue
                else:
                    _write_atomic(fetch.path, data)
                _done(fetch.info, fetch.path, objects)
            except OSError as exc:
                skipped.append(f"{self.url.key_url(fetch.info.key)}: cannot be mirrored ({exc})")
        return again

    # -- one object: writing back (tags and notes) ------------------------------------------

    def _record(self, key: str, entry: tuple[str | None, int, float] | None) -> None:
        """Set (or drop) one manifest entry, on disk too (called under `_locked`)."""
        objects = self._load_manifest()
        if entry is None:
            objects.pop(key, None)
        else:
            objects[key] = entry
        self._save_manifest(objects)
        self._objects = {k: v for k, v in objects.items() if self._rel(k) is not None}

    def refresh(self, path: Path, *, force: bool = False) -> bool:
        """Bring one tree file up to date with its object now (a HEAD, and a GET when it
        changed, is gone locally, or `force`); returns whether the tree file changed."""
        key = self._own_key(path)
        now = self.store.head(key)
        with self._locked():
            known = self._objects.get(key)
            if now is None:  # the store has no such object: neither has the tree
                if known is not None:
                    self._record(key, None)
                return _remove(path, self.root)
            try:
                local_size: int | None = os.stat(path).st_size
            except FileNotFoundError:
                local_size = None
            same = known is not None and known[:2] == (now.etag, now.size)
            if same and local_size == now.size and not force:
                return False
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_atomic(path, self.store.get(key))
            if now.mtime > 0:
                os.utime(path, (now.mtime, now.mtime))
            self._record(key, (now.etag, now.size, now.mtime))
            return True

    def upload(self, path: Path) -> None:
        """Write a tree file back to its object (one PUT, one HEAD for its new identity)."""
        key = self._own_key(path)
        with self._locked():
            info = self.store.put(key, path.read_bytes())
            if info is None:
                raise RemoteError(f"{self.url.key_url(key)} is gone right after it was written")
            if info.mtime > 0:
                os.utime(path, (info.mtime, info.mtime))
            self._record(key, (info.etag, info.size, info.mtime))

    def _own_key(self, path: Path) -> str:
        key = self.key_of(path)
        if key is None:
            raise RemoteError(f"{self.shown(str(path))} is not an object of {self.url}")
        return key

    # -- deleting (pruning) ----------------------------------------------------------------

    def delete_unchanged(self, path: Path) -> str | None:
        """A runlog.prune.Remover: delete a tree file's object from the store when its ETag
        and size are still the ones the tree shows (one HEAD, then the DELETE); else the
        reason it is kept."""
        key = self.key_of(path)
        if key is None:
            return f"{self.shown(str(path))} is not an object of {self.url}"
        known = self._objects.get(key)
        if known is None:
            return "the bucket listing does not show it (sync again)"
        etag, size, _ = known
        if etag is None:
            return (
                f"{self.url.protocol}:// reports no identity (ETag) for it, so it cannot be "
                "pruned safely"
            )
        now = self.store.head(key)
        if now is None:
            return "it is already gone from the bucket"
        if (now.etag, now.size) != (etag, size):
            return "replaced or rewritten in the bucket since the preview"
        self.store.delete(key)
        with self._lock:
            self._objects.pop(key, None)
        return None

    def can_prune(self) -> bool:
        """Whether the store reported an identity for every object (a prune needs one)."""
        return all(etag is not None for etag, _, _ in self._objects.values())


@dataclass(frozen=True)
class _Fetch:
    """An object to fetch from byte `start`; `mirrored` > 0 for a tail: the bytes the tree
    holds, of which those from `start` must equal the first fetched ones."""

    info: ObjectInfo
    path: Path
    start: int
    mirrored: int


def _done(info: ObjectInfo, path: Path, objects: dict[str, tuple[str | None, int, float]]) -> None:
    if info.mtime > 0:
        os.utime(path, (info.mtime, info.mtime))
    objects[info.key] = (info.etag, info.size, info.mtime)


def _safe(segment: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in segment) or "_"


def _read_range(path: Path, start: int, length: int) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(start)
        return handle.read(length)


def _write_atomic(target: Path, data: bytes | None, size: int = 0) -> None:
    """Write `data` (or a sparse file of `size` bytes when data is None) to a temp file in the
    same directory, then rename it over `target`."""
    tmp = target.with_name(f"{_TMP}{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        with open(tmp, "wb") as handle:
            if data is None:
                handle.truncate(size)
            else:
                handle.write(data)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _remove(path: Path, root: Path) -> bool:
    """Remove a tree file and the folders it leaves empty (up to `root`)."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    parent = path.parent
    while parent != root and root in parent.parents:
        try:
            parent.rmdir()
        except OSError:
            break
        parent = parent.parent
    return True
