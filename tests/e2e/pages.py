"""Waits shared by the browser tests: the page is loaded AND its script has run.

The status widget ("Running...") is absent both before the first run starts and after it
ends, so waiting for it to vanish can return before the page is drawn (seen: 1.2 s before
the run view's script began). The app's root element says where its script is instead:
`data-test-script-state` is "initial" until a run has begun, then "running", "notRunning", ...
Waits carry hang guards only, no timings.
"""

from __future__ import annotations

from typing import Any

SCRIPT_IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
"""The app's root once a script run (the first, or any later one) has finished."""


def wait_settled(page: Any) -> None:
    """Wait until the page's script has run to its end at least once since it was loaded."""
    page.wait_for_selector('[data-testid="stAppViewContainer"]')
    page.wait_for_selector(SCRIPT_IDLE, state="attached", timeout=60_000)


def wait_for_app(page: Any, server: Any, query: str = "") -> None:
    """Open `server`'s app at `query` and wait for its first run to finish."""
    page.goto(server.url + query)
    wait_settled(page)
