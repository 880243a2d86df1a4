"""Untrusted input from the URL, and abuse, against a real server in a real browser.

The loopback-only bind (read from /proc/net/tcp when started from another directory) is
tested once, in test_dashboard_e2e.py::test_binds_loopback_only_from_another_directory.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

RENDER_TIMEOUT = 60_000
NO_EXCEPTION = '[data-testid="stException"]'
MAIN = '[data-testid="stMain"]'

# What must never show up: the content or the listing of anything outside the root.
OUTSIDE_MARKERS = ("root:x:0:0", "passwd", "hostname", "SECRET-OUTSIDE-ROOT")


def _main_text(page: Any) -> str:
    return str(page.locator(MAIN).inner_text())


def test_paths_from_the_url_that_leave_the_root_are_refused(
    page: Any, runs_copy: Path, start_app: Any, tmp_path: Path, artifacts_dir: Path
) -> None:
    secret = tmp_path / "outside"
    (secret / "cartpole" / "v1" / "20260101_000000" / "checkpoints").mkdir(parents=True)
    (secret / "SECRET-OUTSIDE-ROOT.txt").write_text("SECRET-OUTSIDE-ROOT")
    run = secret / "cartpole" / "v1" / "20260101_000000"
    (run / "metadata.json").write_text("{}")
    (run / "checkpoints" / "step_1.mpk").write_bytes(b"x")
    (run / "checkpoints" / "step_2.mpk").write_bytes(b"x")
    (runs_copy / "escape").symlink_to(secret)  # a symlink inside the root leading out
    (runs_copy / "etc").symlink_to("/etc")
    server = start_app(runs_copy)

    cases = [
        ("?run=../../etc", "not a path inside the runs root"),
        ("?run=/etc/passwd", "not a path inside the runs root"),
        ("?run=etc", "not a path inside the runs root"),
        ("?run=escape/cartpole/v1/20260101_000000", "not a path inside the runs root"),
        ("?view=prune&scope=/etc", "Refused"),
        ("?view=prune&scope=../../etc", "Refused"),
        ("?view=prune&scope=..%2F..%2Fetc", "Refused"),
        ("?view=prune&scope=etc", "Refused"),
        ("?view=prune&scope=escape", "Refused"),
        ("?view=prune&scope=escape/cartpole/v1/20260101_000000", "Refused"),
        ("?view=prune&scope=" + quote("cartpole/../../.."), "Refused"),
    ]
    for query, refusal in cases:
        page.goto(server.url + query)
        page.get_by_text(refusal).first.wait_for(timeout=RENDER_TIMEOUT)
        text = _main_text(page)
        assert page.locator(NO_EXCEPTION).count() == 0, query
        for marker in OUTSIDE_MARKERS:
            assert marker not in text.replace("/etc/passwd", ""), (query, marker)
        assert page.get_by_role("button", name=re.compile("Prune…|Delete")).count() == 0
        if query == "?view=prune&scope=/etc":
            page.screenshot(path=str(artifacts_dir / "e2e_prune_refused.png"))
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_1.mpk", "step_2.mpk"]


BAIT = "![x](http://127.0.0.1:9/pixel.png)[click](http://127.0.0.1:9/)"


def _assert_no_injected_markup(page: Any, query: str) -> None:
    main = page.locator(MAIN)
    assert main.locator('img[src*="127.0.0.1:9"]').count() == 0, f"image injected by {query}"
    assert main.locator('a[href*="127.0.0.1:9"]').count() == 0, f"link injected by {query}"


def test_markdown_in_the_prune_scope_is_shown_as_text(
    page: Any, runs_copy: Path, start_app: Any
) -> None:
    """A crafted link must not make the page load an image or show a link of its choosing."""
    server = start_app(runs_copy)
    for scope in (BAIT, "/" + BAIT, "a` " + BAIT + " `b", "http://127.0.0.1:9/"):
        query = f"?view=prune&scope={quote(scope)}"
        page.goto(server.url + query)
        page.get_by_text("Refused").first.wait_for(timeout=RENDER_TIMEOUT)
        _assert_no_injected_markup(page, query)


@pytest.mark.parametrize(
    "query, refusal",
    [
        (f"?run={quote('/a` ' + BAIT + ' `b')}", "not a path inside the runs root"),
        (f"?compare={quote('a` ' + BAIT + ' `b')}", "was skipped"),
    ],
)
def test_markdown_in_run_and_compare_params_is_shown_as_text(
    page: Any, runs_copy: Path, start_app: Any, query: str, refusal: str
) -> None:
    server = start_app(runs_copy)
    page.goto(server.url + query)
    page.get_by_text(refusal).first.wait_for(timeout=RENDER_TIMEOUT)
    _assert_no_injected_markup(page, query)


def _append(run_dir: Path, n: int) -> None:
    with open(run_dir / "train_episodes.jsonl", "a", encoding="utf-8") as log:
        for _ in range(n):
            record = {"total_reward": 7.0, "length": 40, "status": "Terminated", "extras": {}}
            log.write(json.dumps(record, separators=(",", ":")) + "\n")
            log.flush()


def _episodes_shown(page: Any) -> int:
    metric = page.locator('[data-testid="stMetric"]').filter(has_text="Episodes").first
    value = metric.locator('[data-testid="stMetricValue"]').inner_text()
    return int(str(value).replace(",", "").strip())


def test_five_tabs_on_a_live_run_each_see_the_updates(
    browser: Any, runs_copy: Path, start_app: Any
) -> None:
    """Five tabs on one run: each shows every appended episode. (That the parsing is done
    once for all tabs is asserted on the store in tests/test_faults.py.)"""
    run = sorted(p.parent for p in runs_copy.glob("*/*/*/metadata.json"))[0]
    rel = run.relative_to(runs_copy).as_posix()
    server = start_app(runs_copy)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(RENDER_TIMEOUT)
    try:
        pages = [context.new_page() for _ in range(5)]
        started = time.monotonic()
        for page in pages:  # one after the other: five cold renders at once crowd 2 cores
            page.goto(f"{server.url}?run={rel}")
            page.locator('[data-testid="stMetric"]').filter(has_text="Episodes").first.wait_for(
                timeout=2 * RENDER_TIMEOUT
            )
        print(f"\nfive tabs: loaded in {time.monotonic() - started:.1f} s")
        before = {_episodes_shown(page) for page in pages}
        assert len(before) == 1, f"the tabs disagree before any update: {before}"
        (n_before,) = before
        started = time.monotonic()
        for round_ in (1, 2):
            _append(run, 3)
            expected = n_before + 3 * round_
            for page in pages:
                page.wait_for_function(
                    """([expected]) => [...document.querySelectorAll('[data-testid="stMetric"]')]
                         .some(m => m.innerText.startsWith('Episodes') &&
                                    m.querySelector('[data-testid="stMetricValue"]').innerText
                                      .replace(/,/g, '') === String(expected))""",
                    arg=[expected],
                    timeout=30_000,
                    polling=100,
                )
        print(f"\nfive tabs: updates seen by all after {time.monotonic() - started:.1f} s")
        for page in pages:
            assert page.locator(NO_EXCEPTION).count() == 0
    finally:
        context.close()
