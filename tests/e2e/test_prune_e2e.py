"""Pruning from the dashboard in a real browser, checked against the files on disk.

Each test starts its own server on a temp copy of sample_runs/ (fixtures in conftest.py).
The copy is stamped old first, so no sample run counts as live whatever the checkout time.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from dashboard.data import human_size
from runlog.format.layout import parse_checkpoint_step

OLD = 1_700_000_000
RENDER_TIMEOUT = 60_000
NO_EXCEPTION = '[data-testid="stException"]'
DIALOG = '[role="dialog"]'


def stamp_old(root: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames):
            os.utime(Path(dirpath) / name, (OLD, OLD), follow_symlinks=False)


def checkpoint_files(run_dir: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in (run_dir / "checkpoints").iterdir()}


def busiest_run(root: Path) -> Path:
    """The run with the most numbered checkpoints (the one pruning frees most in)."""
    runs = sorted(p.parent for p in root.glob("*/*/*/metadata.json"))
    return max(runs, key=lambda r: sum(1 for p in r.glob("checkpoints/step_*.mpk")))


def open_prune(page: Any, server: Any, scope: str) -> None:
    page.goto(f"{server.url}?view=prune&scope={scope}")
    page.get_by_text("Prune checkpoints").first.wait_for(timeout=RENDER_TIMEOUT)
    page.get_by_text(re.compile(r"would be deleted|Refused")).first.wait_for(
        timeout=RENDER_TIMEOUT
    )


def test_prune_one_sample_run_from_the_ui(
    page: Any, runs_copy: Path, start_app: Any, artifacts_dir: Path
) -> None:
    stamp_old(runs_copy)
    run = busiest_run(runs_copy)
    rel = run.relative_to(runs_copy).as_posix()
    before = checkpoint_files(run)
    steps = sorted((s for s in map(parse_checkpoint_step, before) if s is not None), reverse=True)
    assert len(steps) > 3, "the sample run should have checkpoints to prune"
    doomed = {f"step_{n}.mpk" for n in steps[3:]}
    freed = human_size(sum(before[name] for name in doomed))
    others = {p: checkpoint_files(p) for p in runs_copy.glob("*/*/*") if p != run and p.is_dir()}

    server = start_app(runs_copy)
    # From the run table: the sidebar's prune page (whole root), then narrow to the run.
    page.goto(server.url)
    page.locator('[data-testid="stSidebar"]').get_by_role(
        "button", name="Prune checkpoints"
    ).click()
    page.get_by_text("would be deleted").first.wait_for(timeout=RENDER_TIMEOUT)
    page.get_by_role("combobox", name="Narrow to").click()
    page.keyboard.type(rel)
    page.keyboard.press("Enter")
    expect(page.get_by_text(f"Scope: run {rel}")).to_be_visible(timeout=RENDER_TIMEOUT)
    assert f"scope={rel.replace('/', '%2F')}" in page.url or f"scope={rel}" in page.url
    n = len(doomed)
    summary = page.get_by_text(f"{n} files in 1 run would be deleted, freeing {freed}")
    expect(summary).to_be_visible()
    for name in doomed:  # every file to delete is listed
        expect(page.get_by_text(name, exact=True).first).to_be_attached()
    page.screenshot(path=str(artifacts_dir / "e2e_prune_preview.png"), full_page=True)

    page.get_by_role("button", name=re.compile(r"^Prune…")).click()
    dialog = page.locator(DIALOG)
    expect(dialog).to_contain_text(f"Delete {n} checkpoint files from 1 run, freeing {freed}?")
    page.screenshot(path=str(artifacts_dir / "e2e_prune_dialog.png"))
    dialog.get_by_role("button", name=f"Delete {n} files").click()

    expect(page.get_by_text(f"Deleted {n} files, freed {freed}.")).to_be_visible(
        timeout=RENDER_TIMEOUT
    )
    expect(page.locator(DIALOG)).to_have_count(0)
    page.screenshot(path=str(artifacts_dir / "e2e_prune_result.png"), full_page=True)
    assert page.locator(NO_EXCEPTION).count() == 0

    after = checkpoint_files(run)
    assert set(after) == set(before) - doomed
    assert {f"step_{n}.mpk" for n in steps[:3]} <= set(after)
    assert {"latest.mpk", "best.mpk"} <= set(after)
    assert all(after[name] == before[name] for name in after)  # nothing else changed
    assert {p: checkpoint_files(p) for p in others} == others  # other runs untouched
    # The fresh preview shows nothing left to delete in this run.
    expect(page.get_by_text("0 files in 0 runs would be deleted")).to_be_visible()


def test_escape_dismisses_the_dialog_and_nothing_is_deleted(
    page: Any, runs_copy: Path, start_app: Any
) -> None:
    stamp_old(runs_copy)
    before = {p: checkpoint_files(p) for p in runs_copy.glob("*/*/*") if p.is_dir()}
    server = start_app(runs_copy)
    open_prune(page, server, "")
    page.get_by_role("button", name=re.compile(r"^Prune…")).click()
    expect(page.locator(DIALOG)).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator(DIALOG)).to_have_count(0)
    # A later rerun (changing K) must not bring the dialog back: the flag was cleared.
    page.get_by_role("button", name="Refresh preview").click()
    page.get_by_text("would be deleted").first.wait_for()
    page.wait_for_timeout(1000)
    expect(page.locator(DIALOG)).to_have_count(0)
    page.get_by_role("button", name=re.compile(r"^Prune…")).click()
    page.locator(DIALOG).get_by_role("button", name="Cancel").click()
    expect(page.locator(DIALOG)).to_have_count(0)
    assert {p: checkpoint_files(p) for p in before} == before
    assert page.locator(NO_EXCEPTION).count() == 0


@pytest.mark.parametrize("how", ["env", "flag"])
def test_read_only_hides_every_write_control(
    page: Any, runs_copy: Path, start_app: Any, artifacts_dir: Path, how: str
) -> None:
    stamp_old(runs_copy)
    before = {p: checkpoint_files(p) for p in runs_copy.glob("*/*/*") if p.is_dir()}
    if how == "env":
        server = start_app(runs_copy, env={"RUNLOG_READ_ONLY": "1"})
    else:
        server = start_app(runs_copy, app_args=("--read-only",))
    open_prune(page, server, "")
    expect(page.get_by_text("Read-only mode: pruning is disabled")).to_be_visible()
    sidebar = page.locator('[data-testid="stSidebar"]')
    expect(sidebar.get_by_text(re.compile(r"read-only$")).first).to_be_visible()  # the badge
    page.get_by_text("would be deleted").first.wait_for()  # the preview is still shown
    assert page.get_by_role("button", name=re.compile("Prune…|Delete")).count() == 0
    assert page.get_by_role("checkbox").count() == 0
    if how == "env":
        page.screenshot(path=str(artifacts_dir / "e2e_prune_read_only.png"), full_page=True)
    assert {p: checkpoint_files(p) for p in before} == before
    assert page.locator(NO_EXCEPTION).count() == 0
