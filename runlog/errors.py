"""One exception family for the library: every message names the path or value at fault."""

from __future__ import annotations


class RunlogError(Exception):
    """Base class of every error runlog raises on purpose."""


class InvalidNameError(RunlogError, ValueError):
    """A run name or version that would escape its directory (separators, `..`, empty)."""


class ResolveError(RunlogError):
    """A path could not be resolved to a run directory (FORMAT.md, "Resolving a run")."""


class MetadataError(RunlogError):
    """metadata.json is missing, unreadable or not the documented shape."""


class OutsideRootError(RunlogError):
    """A path from the UI, the URL or the CLI does not lie inside the runs root."""


class ReadOnlyError(RunlogError):
    """A write was requested while read-only mode is on."""


class NotesError(RunlogError):
    """A run's runlog.json (tags and note) cannot be read as one, or a write was refused."""


class PruneError(RunlogError):
    """A prune request is invalid (keep < 0, not a run directory, plan/apply roots differ)."""
