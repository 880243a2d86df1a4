"""What every view of the dashboard needs to know, decided once per script run, and the one
data provider every view reads runs from (runlog.provider)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from runlog.provider import RunProvider, get_provider
from runlog.prune import Remover
from runlog.read.index import open_index
from runlog.remote.roots import DEFAULT_POLL_INTERVAL, RemoteRoot

POLL_INTERVAL = 0.5
"""Seconds between two polls of a live fragment (the run table, a run's headline, compare)."""
CHART_REFRESH = 2.0
"""Seconds at least between two full redraws of a page following live runs (charts cost)."""


@dataclass(frozen=True)
class AppContext:
    root: Path
    """The runs root, resolved. Every path from the UI or URL must lie inside it."""
    read_only: bool
    """When true, no write control is shown and no write is attempted."""
    live_window: float
    """Seconds since the last write within which a run counts as live."""
    stall_window: float
    """Seconds since the last write within which a silent run counts as stalled."""
    no_cache: bool = False
    """When true, the persistent run index is neither read nor written."""
    poll: bool = False
    """Poll the root for changes even where inotify works (`--poll`)."""
    poll_interval: float = DEFAULT_POLL_INTERVAL
    remote: RemoteRoot | None = None
    """The object store root this context browses (its mirror is `root`), or None."""
    remote_problem: str | None = None
    """Why the remote root given cannot be browsed (one line, no secret), or None."""

    def provider(self) -> RunProvider:
        """The process-wide data provider of this root (shared by every session)."""
        return get_provider(
            self.root,
            self.live_window,
            self.stall_window,
            make_index=lambda: open_index(no_cache=self.no_cache),
            poll=self.poll,
            poll_interval=self.poll_interval,
        )

    @property
    def display_root(self) -> str:
        """The root as the user gave it: the URL of a remote root, else the path."""
        return str(self.remote.url) if self.remote is not None else str(self.root)

    def shown(self, text: str) -> str:
        """`text` with mirror paths written as the URLs they stand for."""
        return self.remote.mirror.shown(text) if self.remote is not None else text

    def remover(self) -> Remover | None:
        """What deletes a checkpoint where it is stored, for a remote root (else None)."""
        return self.remote.mirror.delete_unchanged if self.remote is not None else None
