"""Reading metadata.json, which the crate rewrites in place after every episode.

A reader of a live run will sometimes catch the file empty or cut short (FORMAT.md): that is
a transient state, told apart from a broken file by its shape (the crate writes the whole
object with no final newline, so anything not ending in "}" is a rewrite caught midway).
`read_metadata_file` says which of the four outcomes a read had; the callers choose their
policy: `read_metadata` retries a few times and raises (the resume rule, the CLI); the catalog
retries once and serves the last good copy (a dashboard listing live runs), until the file has
been left unchanged for the stall window: a rewrite takes milliseconds, so by then the file is
corrupt (a writer killed midway, a disk that filled up) and `MetadataRead.settled` says so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from runlog.errors import MetadataError
from runlog.format.layout import METADATA_FILE, metadata_path
from runlog.format.records import RunMetadata, parse_metadata

__all__ = ["MetadataRead", "is_half_written", "read_metadata", "read_metadata_file"]

Outcome = Literal["ok", "missing", "half-written", "corrupt"]


@dataclass(frozen=True)
class MetadataRead:
    """One read of metadata.json: the metadata (outcome "ok"), or why there is none."""

    outcome: Outcome
    metadata: RunMetadata | None = None
    problem: str | None = None
    """What is wrong, in words naming the file ("ok": None)."""
    size: int | None = None
    """Bytes read ("half-written" and "corrupt" reads of a file that could be read)."""
    reason: str | None = None
    """Why the bytes are not metadata, without the path: "empty", "cut short (JSON ends
    early)", ... (a "half-written" read)."""

    def settled(self) -> MetadataRead:
        """This read, taken as final: a half-written file that stopped changing is corrupt,
        "corrupt metadata.json (N bytes): <reason>". Any other read is returned as it is."""
        if self.outcome != "half-written":
            return self
        return MetadataRead(
            "corrupt",
            problem=f"corrupt {METADATA_FILE} ({self.size} bytes): {self.reason}",
            size=self.size,
            reason=self.reason,
        )


def is_half_written(text: str) -> bool:
    """Whether `text` looks like a rewrite caught midway: empty, or not ending in "}"."""
    return not text.strip() or not text.rstrip().endswith("}")


def read_metadata_file(path: str | Path) -> MetadataRead:
    """Read and parse the metadata.json at `path` once. Never raises."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        return MetadataRead("missing", problem=f"{METADATA_FILE} is missing")
    except PermissionError:
        return MetadataRead("corrupt", problem=f"permission denied: {path}")
    except IsADirectoryError:
        return MetadataRead("corrupt", problem=f"{METADATA_FILE} is corrupt: {path} is a directory")
    except OSError as exc:
        return MetadataRead(
            "corrupt",
            problem=f"{METADATA_FILE} is corrupt: cannot read {path}: {exc.strerror or exc}",
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # Cut short in the middle of a multi-byte character is still half-written.
        if is_half_written(data.decode("utf-8", "replace")):
            return _half_written(path, len(data), "cut short (in a multi-byte character)")
        return MetadataRead(
            "corrupt",
            problem=f"{METADATA_FILE} is corrupt: {path} is not UTF-8 "
            f"({exc.reason} at byte {exc.start})",
        )
    try:
        return MetadataRead("ok", metadata=parse_metadata(text, path))
    except MetadataError as exc:
        if is_half_written(text):
            if not text.strip():
                reason = "empty" if not text else "blank (only white space)"
            else:
                reason = "cut short (no closing brace)"
            return _half_written(path, len(data), reason)
        return MetadataRead("corrupt", problem=f"{METADATA_FILE} is corrupt: {exc}", size=len(data))


def _half_written(path: str | Path, size: int, reason: str) -> MetadataRead:
    return MetadataRead(
        "half-written",
        problem=f"{path} is empty or cut short ({size} bytes)",
        size=size,
        reason=reason,
    )


def read_metadata(run_dir: Path, *, attempts: int = 3, delay: float = 0.05) -> RunMetadata:
    """Load `run_dir`/metadata.json, retrying briefly while it is empty or cut short.

    Raises MetadataError naming the file when it is missing, unreadable or still corrupt.
    """
    path = metadata_path(run_dir)
    for attempt in range(max(1, attempts)):
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise MetadataError(f"{path} does not exist; {run_dir} is not a run") from None
        except IsADirectoryError:
            raise MetadataError(f"{path} is a directory, not a file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise MetadataError(f"cannot read {path}: {exc}") from None
        try:
            return parse_metadata(text, path)
        except MetadataError:
            if not is_half_written(text) or attempt == attempts - 1:
                raise
        time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
