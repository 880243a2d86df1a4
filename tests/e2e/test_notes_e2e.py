"""Notes and tags in a real browser: tag a run in its view, go back to the table, filter by it.

The server runs on a temp copy of sample_runs/ (fixtures in conftest.py); what the page says
is checked against <run>/runlog.json on disk. Waits carry hang guards only, no timings.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pages import wait_for_app

NO_EXCEPTION = '[data-testid="stException"]'
TAG = "e2e-baseline"
NOTE = "tagged from the browser\nsecond line"


def test_tag_a_run_then_filter_the_table_by_it(
    page: Any, runs_copy: Path, start_app: Any, artifacts_dir: Path
) -> None:
    runs = sorted(p.parent for p in runs_copy.glob("*/*/*/metadata.json"))
    rel = runs[0].relative_to(runs_copy).as_posix()
    server = start_app(runs_copy)
    wait_for_app(page, server, f"?run={rel}")

    page.get_by_text("Notes & tags").click()
    tags = page.locator('[data-testid="stMultiSelect"]').filter(
        has=page.get_by_text("Tags", exact=True)
    )
    tags.locator("input").click()
    tags.locator("input").fill(TAG)
    tags.locator("input").press("Enter")
    # The tag is the widget's value once its chip shows (Enter only picks the typed option
    # once the menu offers it).
    tags.locator(f'[data-tag][aria-label="{TAG}"]').wait_for()
    page.keyboard.press("Escape")
    note = page.locator('[data-testid="stTextArea"] textarea')
    note.fill(NOTE)
    note.blur()
    page.get_by_role("button", name="Save notes").click()
    page.get_by_text("Saved.").wait_for()
    saved = json.loads((runs_copy / rel / "runlog.json").read_text(encoding="utf-8"))
    assert (saved["tags"], saved["note"]) == ([TAG], NOTE)
    assert page.locator(NO_EXCEPTION).count() == 0
    expander = page.locator('[data-testid="stExpander"]').filter(has_text="Notes & tags")
    expander.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts_dir / "e2e_notes_run_view.png"))

    page.get_by_role("button", name="All runs").click()
    page.wait_for_selector('[data-testid="stDataFrame"]')
    n_runs = len(runs)
    page.get_by_text(f"Showing {n_runs} of {n_runs} runs").wait_for()
    tag_filter = page.locator('[data-testid="stMultiSelect"]').filter(
        has=page.get_by_text("Tags (all of them)")
    )
    tag_filter.click()
    page.get_by_role("option", name=TAG).click()
    page.keyboard.press("Escape")
    page.get_by_text(f"Showing 1 of {n_runs} runs").wait_for()
    assert re.search(rf"[?&]tag={TAG}(&|$)", page.evaluate("location.href"))
    assert page.locator(NO_EXCEPTION).count() == 0
    page.screenshot(path=str(artifacts_dir / "e2e_notes_table.png"))

    # A shared link with the filter shows the same rows.
    wait_for_app(page, server, f"?tag={TAG}")
    page.get_by_text(f"Showing 1 of {n_runs} runs").wait_for()
