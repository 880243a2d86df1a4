"""Checks for untrusted paths (from the UI, the URL or the CLI) against the runs root.

A candidate is a root-relative string such as ``cartpole/v1/20260322_120000``. It is
refused before touching the disk when it is empty, absolute, drive-prefixed, holds a
NUL byte, a backslash or a ``..`` segment; then it is resolved (symlinks followed)
and refused unless the result still lies inside the resolved root.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from runlog.errors import OutsideRootError

_DRIVE = re.compile(r"[A-Za-z]:")


def _refuse(candidate: object, why: str) -> OutsideRootError:
    return OutsideRootError(f"refusing path {candidate!r}: {why}")


def _lexical_problem(text: str) -> str | None:
    """Why `text` is unsafe as a root-relative path before any disk access, or None."""
    if text == "" or text.strip() == "":
        return "it is empty (use '.' for the root itself)"
    if "\x00" in text:
        return "it contains a NUL byte"
    if "\\" in text:
        # A backslash is a separator on Windows (`..\..\etc`); no valid run path holds one.
        return "it contains a backslash"
    if text.startswith("/"):
        return "it is absolute; give a path relative to the runs root"
    if _DRIVE.match(text):
        return "it starts with a drive letter; give a path relative to the runs root"
    if ".." in text.split("/"):
        return "it contains a '..' segment"
    return None


def resolve_inside(root: Path, candidate: str | Path) -> Path:
    """Resolve root-relative `candidate` under `root`; raise OutsideRootError if it escapes.

    Returns the fully resolved path (symlinks followed), which lies inside
    ``root.resolve()`` or equals it. The target need not exist.
    """
    text = os.fspath(candidate)
    problem = _lexical_problem(text)
    if problem is not None:
        raise _refuse(text, problem)
    try:
        real_root = root.resolve()
        resolved = (real_root / text).resolve(strict=False)
    except (OSError, RuntimeError, ValueError) as exc:
        # RuntimeError: symlink loop (Python 3.11); ValueError: not encodable as a file name.
        raise _refuse(text, f"it cannot be resolved under {root} ({exc})") from exc
    if not resolved.is_relative_to(real_root):
        raise _refuse(text, f"it resolves to {resolved}, outside the runs root {real_root}")
    return resolved


def is_inside(root: Path, path: Path) -> bool:
    """True when `path`, with symlinks resolved, is `root` or lies under it."""
    try:
        return path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError, ValueError):
        return False
