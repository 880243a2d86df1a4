"""A run's tags and free-text note: `<run_dir>/runlog.json`, runlog's own file in a run.

    <run_dir>/
        metadata.json, checkpoints/, ...     the crate's files (FORMAT.md)
        runlog.json                          {"tags": ["baseline", "seed-sweep"],
                                              "note": "lr 3e-4 diverges after 200k steps",
                                              "updated": "2026-03-22T12:41:07.004512345+01:00"}

The file lives inside the run, so it travels when the run is copied or synced. The crate
never reads it, pruning only ever deletes checkpoints/step_<N>.mpk, and a directory is a run
by its own files, never by this one (runlog.format.rundirs).

Reading (`read_notes`) never raises: no file is empty notes; a corrupt or foreign file (not
UTF-8 or JSON, not an object with "tags" or "note", a wrong type, a symlink, too big) gives
empty notes, a `problem` naming the path and the reason, and the `text` it holds.

Writing (`save_notes`) is atomic (a temp file in the run directory, then os.replace) and
conditional: the caller passes the `identity` (a hash of the bytes) of the file it read, and
holding an flock of the run directory (no lock file is left behind) the file's identity is
compared right before the replace. Changed since: nothing is written and ConflictError
carries the file as it is now, so two tabs or a tab and `runlog tag` never silently lose an
edit. An unreadable file is replaced only when the caller says the user confirmed it. Keys
this version does not know are kept.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import stat
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from runlog.errors import NotesError
from runlog.format.layout import notes_path
from runlog.format.records import now_rfc3339, parse_rfc3339
from runlog.format.run import atomic_write_text

if sys.platform != "win32":
    import fcntl

__all__ = [
    "ABSENT",
    "MAX_NOTE_LENGTH",
    "MAX_TAG_LENGTH",
    "ConflictError",
    "NotesFile",
    "RunNotes",
    "UnreadableNotesError",
    "encode_notes",
    "normalise_tag",
    "normalise_tags",
    "read_notes",
    "save_notes",
    "update_notes",
]

MAX_TAG_LENGTH = 64
MAX_NOTE_LENGTH = 20_000
MAX_FILE_BYTES = 1 << 20
"""A bigger runlog.json is not read (it is no notes file of ours)."""
ABSENT = "absent"
"""The identity of a runlog.json that does not exist."""
_KNOWN_KEYS = ("tags", "note", "updated")


@dataclass(frozen=True)
class RunNotes:
    """A run's tags (normalised: see `normalise_tags`) and note; `updated` is when they were
    last saved (None: never, or not recorded)."""

    tags: tuple[str, ...] = ()
    note: str = ""
    updated: datetime | None = None


@dataclass(frozen=True)
class NotesFile:
    """One read of a run's runlog.json: the notes, and the identity `save_notes` checks."""

    path: Path
    notes: RunNotes
    identity: str
    """A hash of the bytes read ("sha256:..."), or ABSENT when there was no file."""
    problem: str | None = None
    """Why the file cannot be used as notes (naming its path), or None (fine, or absent)."""
    text: str = ""
    """What the file held ("" when absent): shown when it cannot be used."""

    @property
    def exists(self) -> bool:
        return self.identity != ABSENT


class ConflictError(NotesError):
    """runlog.json changed since the caller read it: nothing was written. `theirs` is the
    file as it is now."""

    def __init__(self, theirs: NotesFile) -> None:
        self.theirs = theirs
        if not theirs.exists:
            now = "it was deleted"
        elif theirs.problem is not None:
            now = theirs.problem
        else:
            note = theirs.notes.note.splitlines()[0] if theirs.notes.note else ""
            now = (
                f"it now holds tags [{', '.join(theirs.notes.tags)}] and the note "
                f"{_shorten(note, 60)!r}"
            )
        super().__init__(
            f"{theirs.path} was changed by someone else since it was read, so nothing was "
            f"written: {now}"
        )


class UnreadableNotesError(NotesError):
    """runlog.json cannot be used as notes and the caller did not confirm replacing it.
    `current` is the file as read (its `problem` and `text`)."""

    def __init__(self, current: NotesFile) -> None:
        self.current = current
        super().__init__(f"{current.problem}; it was not replaced")


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- tags and note ----------------------------------------------------------------------------


def normalise_tag(tag: str) -> str:
    """`tag` without surrounding blanks; NotesError when it is empty, longer than
    MAX_TAG_LENGTH, or holds a comma (tags are comma-separated in URLs) or a control
    character."""
    if not isinstance(tag, str):
        raise NotesError(f"a tag must be text, got {tag!r}")
    text = tag.strip()
    if not text:
        raise NotesError("a tag cannot be empty")
    if "," in text:
        raise NotesError(f"tag {text!r} holds a comma (commas separate tags); drop it")
    if len(text) > MAX_TAG_LENGTH:
        raise NotesError(
            f"tag {_shorten(text, 20)!r} is {len(text)} characters long; at most "
            f"{MAX_TAG_LENGTH} are allowed"
        )
    if not text.isprintable():
        raise NotesError(f"tag {text!r} holds a line break or another control character")
    return text


def normalise_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """Every tag normalised (`normalise_tag`), each once, in their first order."""
    if isinstance(tags, str):
        raise NotesError(f"tags must be a list of tags, got the text {tags!r}")
    seen: dict[str, None] = {}
    for tag in tags:
        seen.setdefault(normalise_tag(tag), None)
    return tuple(seen)


def _check_note(note: str) -> str:
    if not isinstance(note, str):
        raise NotesError(f"a note must be text, got {type(note).__name__}")
    if len(note) > MAX_NOTE_LENGTH:
        raise NotesError(
            f"the note is {len(note):,} characters long; at most {MAX_NOTE_LENGTH:,} are allowed"
        )
    try:
        note.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise NotesError(f"the note cannot be written as UTF-8 ({exc.reason})") from None
    return note


def encode_notes(
    tags: tuple[str, ...], note: str, updated: str, extra: dict[str, Any] | None = None
) -> str:
    """The text of a runlog.json: pretty-printed, "tags", "note", "updated", then any keys
    of a later version kept as they were."""
    obj: dict[str, Any] = {"tags": list(tags), "note": note, "updated": updated}
    for key, value in (extra or {}).items():
        obj.setdefault(key, value)
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


# -- reading ----------------------------------------------------------------------------------


def _identity(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _parse(data: bytes) -> tuple[RunNotes, dict[str, Any]]:
    """The notes and the unknown keys in `data`; ValueError saying what is wrong."""
    try:
        obj = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"it is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"it is not JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"it holds a JSON {type(obj).__name__}, not an object")
    if "tags" not in obj and "note" not in obj:
        raise ValueError('it has neither "tags" nor "note": not a runlog notes file')
    raw_tags = obj.get("tags", [])
    if not isinstance(raw_tags, list) or not all(isinstance(t, str) for t in raw_tags):
        raise ValueError('"tags" is not a list of strings')
    try:
        tags = normalise_tags(raw_tags)
    except NotesError as exc:
        raise ValueError(str(exc)) from None
    note = obj.get("note", "")
    if not isinstance(note, str):
        raise ValueError('"note" is not a string')
    raw_updated = obj.get("updated")
    updated = None
    if raw_updated is not None:
        if not isinstance(raw_updated, str):
            raise ValueError('"updated" is not an RFC 3339 timestamp')
        updated = parse_rfc3339(raw_updated)
    extra = {key: value for key, value in obj.items() if key not in _KNOWN_KEYS}
    return RunNotes(tags, note, updated), extra


def _read(run_dir: Path) -> tuple[NotesFile, dict[str, Any]]:
    path = notes_path(Path(run_dir))
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return NotesFile(path, RunNotes(), ABSENT), {}
    except OSError as exc:
        try:
            st = os.lstat(path)
            identity = f"stat:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"
            link = stat.S_ISLNK(st.st_mode)
        except OSError:
            identity, link = f"error:{exc.errno}", False
        if link or exc.errno == errno.ELOOP:
            reason = "it is a symlink, which runlog does not follow"
        else:
            reason = f"it cannot be read ({exc.strerror or exc})"
        return NotesFile(path, RunNotes(), identity, f"{path} is not usable: {reason}"), {}
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            identity = f"stat:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"
            return NotesFile(path, RunNotes(), identity, f"{path} is not a regular file"), {}
        if st.st_size > MAX_FILE_BYTES:
            identity = f"stat:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"
            problem = (
                f"{path} is not usable: it is {st.st_size:,} bytes, more than runlog notes "
                f"ever take ({MAX_FILE_BYTES:,})"
            )
            return NotesFile(path, RunNotes(), identity, problem), {}
        chunks: list[bytes] = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        data = b"".join(chunks)
    except OSError as exc:
        return (
            NotesFile(path, RunNotes(), f"error:{exc.errno}", f"cannot read {path}: {exc}"),
            {},
        )
    finally:
        os.close(fd)
    identity = _identity(data)
    text = data.decode("utf-8", "replace")
    try:
        notes, extra = _parse(data)
    except ValueError as exc:
        return NotesFile(path, RunNotes(), identity, f"{path} is not usable: {exc}", text), {}
    return NotesFile(path, notes, identity, None, text), extra


def read_notes(run_dir: Path) -> NotesFile:
    """The tags and note of the run at `run_dir`, read now. Never raises (see the module doc);
    an absent file is empty notes with identity ABSENT."""
    return _read(run_dir)[0]


# -- writing ----------------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(run_dir: Path) -> Iterator[None]:
    """An exclusive flock of the run directory for as long as the block runs, so a check and
    the replace that follows it are one step for every runlog writer (threads included: each
    holds its own descriptor). Nothing is created in the run for it."""
    if sys.platform == "win32":  # pragma: no cover
        yield
        return
    try:
        fd = os.open(run_dir, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | os.O_CLOEXEC)
    except OSError as exc:
        raise NotesError(f"cannot save notes in {run_dir}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _write(run_dir: Path, notes: RunNotes, extra: dict[str, Any]) -> NotesFile:
    tags = normalise_tags(notes.tags)
    note = _check_note(notes.note)
    updated = now_rfc3339()
    text = encode_notes(tags, note, updated, extra)
    path = notes_path(run_dir)
    try:
        atomic_write_text(path, text)
    except OSError as exc:
        raise NotesError(f"cannot write {path}: {exc.strerror or exc}") from None
    written = RunNotes(tags, note, parse_rfc3339(updated))
    return NotesFile(path, written, _identity(text.encode("utf-8")), None, text)


def _check_dir(run_dir: Path) -> Path:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise NotesError(f"cannot save notes in {run_dir}: it is not a directory")
    return run_dir


def save_notes(
    run_dir: Path, notes: RunNotes, expected: str, *, replace_unreadable: bool = False
) -> NotesFile:
    """Write `notes` (tags normalised, `updated` stamped now) to `run_dir`/runlog.json if the
    file is still the one whose identity is `expected`; return the file as written.

    Raises ConflictError (nothing written) when the file changed since it was read;
    UnreadableNotesError for a file that cannot be used as notes, unless `replace_unreadable`
    (the user confirmed); NotesError for a bad tag or note, a run directory that is not one,
    or a failed write.
    """
    tags = normalise_tags(notes.tags)  # a bad tag fails before any lock is taken
    _check_note(notes.note)
    run_dir = _check_dir(run_dir)
    with _locked(run_dir):
        current, extra = _read(run_dir)
        if current.identity != expected:
            raise ConflictError(current)
        if current.problem is not None and not replace_unreadable:
            raise UnreadableNotesError(current)
        return _write(run_dir, RunNotes(tags, notes.note), extra)


def update_notes(
    run_dir: Path,
    change: Callable[[RunNotes], RunNotes],
    *,
    replace_unreadable: bool = False,
) -> NotesFile:
    """Read `run_dir`/runlog.json, apply `change` and write the result, as one step for every
    runlog writer (an edit like "add this tag" cannot conflict). Raises NotesError as
    `save_notes` does."""
    run_dir = _check_dir(run_dir)
    with _locked(run_dir):
        current, extra = _read(run_dir)
        if current.problem is not None and not replace_unreadable:
            raise UnreadableNotesError(current)
        return _write(run_dir, change(current.notes), extra)
