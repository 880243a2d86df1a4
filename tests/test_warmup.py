"""The server's head start (dashboard.warmup): what the first page finds ready, and that a
warm-up that fails or has nothing to do never holds a page back."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from dashboard import warmup
from dashboard.settings import parse_settings

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.usefixtures("dashboard_process")


@pytest.fixture
def fresh_warmup(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """dashboard.warmup as in a process that has not started one."""
    monkeypatch.setattr(warmup, "_thread", None)
    for event in ("_table", "_table_waiting", "_rest", "_done"):
        monkeypatch.setattr(warmup, event, threading.Event())
    yield


def copy_of_samples(tmp_path: Path) -> tuple[Path, list[str]]:
    """A copy of sample_runs/ and its runs' relative paths, sorted."""
    root = tmp_path / "runs"
    shutil.copytree(REPO / "sample_runs", root, symlinks=True)
    rels = sorted(p.parent.relative_to(root).as_posix() for p in root.glob("*/*/*/metadata.json"))
    assert len(rels) > 3
    return root, rels


def listed(root: Path) -> list[str]:
    """What the process-wide provider of `root` lists, without refreshing it."""
    provider = parse_settings(["--root", str(root)], os.environ).context().provider()
    return [s.rel for s in provider.runs()]


def test_warm_lists_a_local_root_before_any_page_asks(tmp_path: Path) -> None:
    root, expected = copy_of_samples(tmp_path)
    said = warmup.warm_table(["--root", str(root)], os.environ)
    assert listed(root) == expected
    assert said == f"ready, {len(expected)} runs listed under {root.resolve()}"


def test_warm_leaves_a_missing_root_to_the_page(tmp_path: Path) -> None:
    root = tmp_path / "nowhere"
    said = warmup.warm_table(["--root", str(root)], os.environ)
    assert said == "ready; the page says what is wrong with the runs root"
    assert not root.exists()
    assert listed(root) == []


@pytest.mark.usefixtures("fresh_warmup")
def test_wait_without_a_warm_up_returns_at_once() -> None:
    done = threading.Event()
    threading.Thread(target=lambda: (warmup.wait(), done.set()), daemon=True).start()
    assert done.wait(30), "wait() blocked with no warm-up started"


@pytest.mark.usefixtures("fresh_warmup")
def test_a_failing_warm_up_is_logged_and_releases_the_page(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    release = threading.Event()
    calls: list[list[str]] = []

    def fail(argv: list[str], environ: object) -> str:
        calls.append(argv)
        release.wait(30)
        raise OSError("the disk went away")

    monkeypatch.setattr(warmup, "warm_table", fail)
    with caplog.at_level(logging.WARNING, logger="dashboard.warmup"):
        warmup.start(["--root", "/x"], {})
        warmup.start(["--root", "/y"], {})  # a second start does nothing
        waited = threading.Event()
        threading.Thread(target=lambda: (warmup.wait(), waited.set()), daemon=True).start()
        assert not waited.wait(0.2), "wait() returned while the warm-up was still running"
        release.set()
        assert waited.wait(30), "wait() never returned after the warm-up failed"
        warmup._thread.join(30)  # type: ignore[union-attr]
    assert calls == [["--root", "/x"]]
    assert "warm-up failed" in caplog.text
    assert "the disk went away" in caplog.text


class Parts:
    """Stand-ins for the warm-up's two parts that say when each ran."""

    def __init__(self) -> None:
        self.table_started = threading.Event()
        self.views_started = threading.Event()
        self.release_table = threading.Event()

    def table(self, argv: list[str], environ: object) -> str:
        self.table_started.set()
        assert self.release_table.wait(30)
        return "ready"

    def views(self) -> None:
        self.views_started.set()


def in_thread(fn: object) -> threading.Event:
    """An event set once `fn()` returns, run in a thread."""
    done = threading.Event()
    threading.Thread(target=lambda: (fn(), done.set()), daemon=True).start()  # type: ignore[operator]
    return done


@pytest.fixture
def parts(monkeypatch: pytest.MonkeyPatch) -> Parts:
    made = Parts()
    monkeypatch.setattr(warmup, "warm_table", made.table)
    monkeypatch.setattr(warmup, "warm_views", made.views)
    return made


def start_with_a_table_waiting(parts: Parts) -> None:
    """Start the warm-up, have a run table wait for its first part, then let that part end:
    returns once the table's page is released."""
    warmup.start(["--root", "/x"], {})
    assert parts.table_started.wait(30)
    table_page = in_thread(lambda: warmup.wait(table_only=True))
    assert warmup._table_waiting.wait(30)
    parts.release_table.set()
    assert table_page.wait(30)


@pytest.mark.usefixtures("fresh_warmup")
def test_the_run_table_waits_for_its_part_only_and_the_rest_starts_once_it_is_drawn(
    monkeypatch: pytest.MonkeyPatch, parts: Parts
) -> None:
    monkeypatch.setattr(warmup, "REST_AFTER", 60.0)
    warmup.start(["--root", "/x"], {})
    assert parts.table_started.wait(30)
    table_page = in_thread(lambda: warmup.wait(table_only=True))
    assert warmup._table_waiting.wait(30)
    assert not table_page.wait(0.2), "the run table did not wait for its part"
    parts.release_table.set()
    assert table_page.wait(30), "the run table waited for more than its part"
    # The rest waits while the first page is being served...
    assert not parts.views_started.wait(0.2)
    # ...and starts once the table is drawn.
    warmup.table_drawn()
    assert parts.views_started.wait(30)
    assert in_thread(warmup.wait).wait(30)


@pytest.mark.usefixtures("fresh_warmup")
def test_another_page_starts_the_rest_at_once_and_waits_for_all_of_it(
    monkeypatch: pytest.MonkeyPatch, parts: Parts
) -> None:
    monkeypatch.setattr(warmup, "REST_AFTER", 60.0)
    start_with_a_table_waiting(parts)
    assert not parts.views_started.wait(0.2)  # the table is not drawn yet
    run_page = in_thread(warmup.wait)  # a run, compare, sweep or prune page
    assert parts.views_started.wait(30)
    assert run_page.wait(30)


@pytest.mark.usefixtures("fresh_warmup")
def test_with_no_run_table_waiting_the_rest_follows_the_first_part_at_once(
    monkeypatch: pytest.MonkeyPatch, parts: Parts
) -> None:
    monkeypatch.setattr(warmup, "REST_AFTER", 60.0)
    parts.release_table.set()
    warmup.start(["--root", "/x"], {})
    assert parts.views_started.wait(30), "the rest waited with no run table to serve"
    assert in_thread(warmup.wait).wait(30)


@pytest.mark.usefixtures("fresh_warmup")
def test_a_waiting_table_never_drawn_lets_the_rest_start_after_rest_after(
    monkeypatch: pytest.MonkeyPatch, parts: Parts
) -> None:
    monkeypatch.setattr(warmup, "REST_AFTER", 0.05)
    start_with_a_table_waiting(parts)
    assert parts.views_started.wait(30), "the rest never started without a drawn table"
    warmup._thread.join(30)  # type: ignore[union-attr]
    assert warmup._done.is_set()


PROBE = """
import json, os, sys
sys.path.insert(0, {repo!r})
from dashboard import warmup
from dashboard.settings import parse_settings
heavy = ("pandas", "pyarrow", "plotly.graph_objects", "plotly.graph_objs._parcoords",
         "pandas.io.formats.style", "dashboard.run_view", "dashboard.sweep_view")
table = ("dashboard.browser", "streamlit.emojis")
before = [m for m in heavy + table if m in sys.modules]
warmup.REST_AFTER = 600.0  # the rest waits for a page: the table's part is seen alone
warmup.start(["--root", {root!r}], dict(os.environ))
warmup.wait(table_only=True)
provider = parse_settings(["--root", {root!r}], os.environ).context().provider()
listed = [s.rel for s in provider.runs()]
table_part = [m for m in heavy + table if m in sys.modules]
import streamlit.delta_generator as dg
use_check = getattr(dg, "_use_warning_has_been_displayed", "renamed")
warmup.wait()
print(json.dumps({{"before": before, "table": table_part, "use_check": use_check,
                  "after": [m for m in heavy if m in sys.modules], "runs": listed}}))
"""


def test_start_imports_the_pages_libraries_and_lists_the_root_in_a_new_process(
    tmp_path: Path,
) -> None:
    root, expected = copy_of_samples(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNLOG_")}
    env["RUNLOG_CACHE_DIR"] = str(tmp_path / "cache")
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(repo=str(REPO), root=str(root))],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["before"] == []
    # What the run table needs, and the root listed, before the rest (plotly's figure
    # classes, the other views, the Styler) is imported. plotly.graph_objects comes with
    # Streamlit (a lazy module: its classes are imported on first use).
    assert seen["table"] == [
        "pandas",
        "pyarrow",
        "plotly.graph_objects",
        "dashboard.browser",
        "streamlit.emojis",
    ]
    # Streamlit's once-per-process check for a script run outside `streamlit run` (an
    # inspect.stack() costing the first page tens of ms) is marked done; "renamed" would
    # mean a Streamlit release dropped the flag, and the warm-up no longer skips it.
    assert seen["use_check"] is True
    assert seen["after"] == [
        "pandas",
        "pyarrow",
        "plotly.graph_objects",
        "plotly.graph_objs._parcoords",
        "pandas.io.formats.style",
        "dashboard.run_view",
        "dashboard.sweep_view",
    ]
    assert seen["runs"] == expected
    assert f"runlog: ready, {len(expected)} runs listed under {root.resolve()} (" in out.stderr
