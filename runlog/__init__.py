"""runlog: read, write, browse, compare and prune ember-rl training runs (FORMAT.md)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from runlog.errors import (
    InvalidNameError,
    MetadataError,
    OutsideRootError,
    PruneError,
    ReadOnlyError,
    ResolveError,
    RunlogError,
)
from runlog.format.records import EpisodeRecord, RunMetadata
from runlog.format.resolve import resolve_run
from runlog.format.run import TrainingRun

try:
    __version__ = version("runlog")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "EpisodeRecord",
    "InvalidNameError",
    "MetadataError",
    "OutsideRootError",
    "PruneError",
    "ReadOnlyError",
    "ResolveError",
    "RunMetadata",
    "RunlogError",
    "TrainingRun",
    "__version__",
    "resolve_run",
]
