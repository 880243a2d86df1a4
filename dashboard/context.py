"""What every view of the dashboard needs to know, decided once per script run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


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
