"""Fixtures for browser tests of the dashboard (headless Chromium through Playwright).

    browser                      session: one Chromium (/usr/bin/chromium or $RUNLOG_CHROMIUM)
    page                         function: a fresh context + page (1600x1000), closed after
    runs_copy                    function: a temp copy of sample_runs/ (safe to append to)
    start_app(root, ...)         function: a factory starting `streamlit run dashboard/app.py`
                                 on a free port; every server it started is killed afterwards
    artifacts_dir                session: <repo>/artifacts/ (gitignored) for screenshots

A missing Chromium FAILS the tests (CI installs it); it never skips them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "dashboard" / "app.py"
SAMPLE_RUNS = REPO / "sample_runs"
ARTIFACTS = REPO / "artifacts"
CHROMIUM = Path(os.environ.get("RUNLOG_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Several tabs of one test must all keep running their timers and rendering.
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]
STARTUP_TIMEOUT = 90.0
"""Seconds to wait for /_stcore/health (the CI machine may be busy)."""


@dataclass
class AppServer:
    url: str
    """http://127.0.0.1:<port>/ (append `?run=...` for a view)."""
    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    """The server's combined stdout/stderr."""

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""


StartApp = Callable[..., AppServer]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
            return r.status == 200 and r.read().strip() == b"ok"
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """One headless Chromium for the session (playwright sync API `Browser`)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: install it (apt-get install chromium) or set "
            "RUNLOG_CHROMIUM; the browser tests never skip.",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        # launch() gives every context a fresh temporary profile, removed on close.
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    """A fresh browser context and page (playwright `Page`), 1600x1000, closed afterwards."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000})  # type: ignore[attr-defined]
    context.set_default_timeout(30_000)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def runs_copy(tmp_path: Path) -> Path:
    """A private copy of sample_runs/ (symlinks kept as links) that a test may change."""
    target = tmp_path / "runs"
    if SAMPLE_RUNS.is_dir() and any(SAMPLE_RUNS.iterdir()):
        shutil.copytree(SAMPLE_RUNS, target, symlinks=True)
    else:  # before scripts/make_sample_runs.py has generated them
        make_small_tree(target)
    return target


@pytest.fixture
def start_app() -> Iterator[StartApp]:
    """Factory: start the dashboard on `root`; returns an AppServer once it answers health.

        start_app(root, extra_args=("--read-only",), env={...}, server_args=(), cwd=REPO)

    `extra_args` (alias: keyword `app_args`) go after `--` (the app's own flags),
    `server_args` before it (Streamlit's, e.g. "--server.address=0.0.0.0"). `env` is added
    to a copy of os.environ without RUNLOG_*, with RUNLOG_CACHE_DIR set to a fresh directory
    (the user's own run index is never touched). `cwd` defaults to the repo root; the app is
    always given by absolute path.
    """
    servers: list[AppServer] = []
    caches: list[str] = []

    def _start(
        root: Path,
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        *,
        app_args: Sequence[str] = (),
        server_args: Sequence[str] = (),
        cwd: Path = REPO,
    ) -> AppServer:
        port = free_port()
        cmd = [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(APP),
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            *server_args,
            "--",
            "--root",
            str(root),
            *app_args,
            *extra_args,
        ]
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("RUNLOG_")}
        child_env["PYTHONUNBUFFERED"] = "1"
        cache = tempfile.mkdtemp(prefix="runlog-e2e-cache-")
        caches.append(cache)
        child_env["RUNLOG_CACHE_DIR"] = cache
        child_env.update(env or {})
        log = Path(tempfile.mkstemp(prefix=f"streamlit-{port}-", suffix=".log")[1])
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                cmd,
                cwd=cwd,
                env=child_env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = AppServer(url=f"http://127.0.0.1:{port}/", port=port, proc=proc, log=log)
        servers.append(server)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not _healthy(port):
            if proc.poll() is not None:
                pytest.fail(f"streamlit exited with {proc.returncode}:\n{server.log_text()}")
            if time.monotonic() > deadline:
                pytest.fail(
                    f"streamlit not healthy after {STARTUP_TIMEOUT:g} s:\n{server.log_text()}"
                )
            time.sleep(0.2)
        return server

    yield _start
    for server in servers:
        _stop(server.proc)
        with contextlib.suppress(OSError):
            server.log.unlink()
    for cache in caches:
        shutil.rmtree(cache, ignore_errors=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(autouse=True)
def _no_leaked_watchers() -> Iterator[None]:
    """Stop any in-process watcher a test started (servers run theirs in their own process)."""
    yield
    from runlog.read.watch import stop_all_watchers

    stop_all_watchers()


def make_small_tree(root: Path) -> None:
    """Two small runs in the crate's format (a fallback while sample_runs/ is empty)."""
    from runlog.format.records import EpisodeRecord
    from runlog.format.run import TrainingRun

    for version, run_id, n in (("v1", "20260322_120000", 300), ("v2", "20260323_090000", 200)):
        run = TrainingRun.create("cartpole", version, root, run_id=run_id)
        run.write_config([{"gamma": 0.99, "lr": 0.001}, {"size": 4}, {"num_actions": 2}])
        steps = 0
        for i in range(n):
            length = 10 + (i * 7) % 90
            steps += length
            run.log_train_episode(
                EpisodeRecord(
                    float(length),
                    length,
                    "Terminated" if i % 4 else "Truncated",
                    {"epsilon": max(0.05, 1 - i / n), "loss_mean": 1.0 / (1 + i)},
                )
            )
            if i % 50 == 49:
                for k in range(3):
                    run.log_eval_episode(EpisodeRecord(100.0 + i + k, 100, "Truncated"), steps)
                (run.dir / "checkpoints" / f"step_{steps}.mpk").write_bytes(b"\0" * 64)
                (run.dir / "checkpoints" / "latest.mpk").write_bytes(b"\0" * 64)
                (run.dir / "checkpoints" / "best.mpk").write_bytes(b"\0" * 64)
        run.update_metadata(steps, 0)
