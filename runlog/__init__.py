"""runlog: read, write, browse, compare and prune ember-rl training runs (FORMAT.md)."""

from __future__ import annotations

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


def __getattr__(name: str) -> str:
    """`runlog.__version__`, looked up when first asked for: importlib.metadata scans every
    installed distribution, a cost each `runlog` command would pay at start otherwise."""
    if name != "__version__":
        raise AttributeError(f"module 'runlog' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("runlog")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0"

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
