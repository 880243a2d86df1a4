"""Where the runs are and how the dashboard behaves, from the command line and the environment.

    streamlit run dashboard/app.py -- --root PATH|URL [--read-only] [--no-cache]
        [--poll] [--poll-interval SECONDS] [--storage-option KEY=VALUE ...]

Precedence for the runs root: `--root`, then `RUNLOG_ROOT`, then `./runs` when it exists,
else the bundled `sample_runs/`. A root may be an object store URL (s3://bucket/prefix, gs://,
any fsspec protocol): it is mirrored locally and polled every `--poll-interval` seconds
(runlog.remote). A local root on a network filesystem is polled too; `--poll` forces polling.
Read-only: `--read-only` or `RUNLOG_READ_ONLY=1`.
No persistent run index: `--no-cache` or `RUNLOG_NO_CACHE=1` (runlog.read.index).
Activity windows: `RUNLOG_LIVE_WINDOW` / `RUNLOG_STALL_WINDOW` (seconds).
Nothing here touches Streamlit, so the rules are testable as plain functions (opening a remote
root is the one I/O, in `Settings.context()`).
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from dashboard.context import AppContext
from dashboard.text import md_code
from runlog.errors import RunlogError
from runlog.read.activity import DEFAULT_LIVE_WINDOW, DEFAULT_STALL_WINDOW
from runlog.read.index import cache_dir, cache_disabled
from runlog.remote.roots import DEFAULT_POLL_INTERVAL
from runlog.remote.urls import RemoteURL, parse_storage_options, parse_url

ROOT_ENV = "RUNLOG_ROOT"
READ_ONLY_ENV = "RUNLOG_READ_ONLY"
LIVE_WINDOW_ENV = "RUNLOG_LIVE_WINDOW"
STALL_WINDOW_ENV = "RUNLOG_STALL_WINDOW"

DEFAULT_RUNS_DIR = "runs"
BUNDLED_SAMPLES = Path(__file__).resolve().parent.parent / "sample_runs"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


@dataclass(frozen=True)
class Settings:
    root: Path
    """The runs root, absolute and resolved (it may not exist: see `root_problem`); for a
    remote root, the mirror's tree (known once `context()` has opened it)."""
    root_source: str
    """Where the root came from, in words: "--root", "RUNLOG_ROOT", "./runs", "bundled samples"."""
    read_only: bool
    live_window: float
    stall_window: float
    warnings: tuple[str, ...] = ()
    """Settings that could not be used as given (and the fallback chosen): markdown for the
    page, the values as given in code spans (`md_code`)."""

    no_cache: bool = False
    remote: RemoteURL | None = None
    """The object store root given by URL, or None for a local root."""
    storage_options: tuple[tuple[str, object], ...] = ()
    poll: bool = False
    """Poll a local root even where inotify works (`--poll`)."""
    poll_interval: float = DEFAULT_POLL_INTERVAL
    remote_error: str | None = None
    """Why the root URL given cannot be used (no bucket, credentials in it), or None."""

    def context(self) -> AppContext:
        """The context of one script run. A remote root is started on first use in the process
        (listed, mirrored and then polled in its own thread: `remote.ready` says when the tree
        holds it); a store that cannot be made gives the one-line reason in `remote_problem`."""
        common = {
            "read_only": self.read_only,
            "live_window": self.live_window,
            "stall_window": self.stall_window,
            "no_cache": self.no_cache,
            "poll": self.poll,
            "poll_interval": self.poll_interval,
        }
        if self.remote_error is not None:
            return AppContext(root=self.root, remote_problem=self.remote_error, **common)  # type: ignore[arg-type]
        if self.remote is None:
            return AppContext(root=self.root, **common)  # type: ignore[arg-type]
        from runlog.remote.roots import start_remote

        try:
            remote = start_remote(
                self.remote,
                dict(self.storage_options),
                cache=None if self.no_cache else cache_dir(),
                interval=self.poll_interval,
            )
        except RunlogError as exc:
            return AppContext(root=self.root, remote_problem=str(exc), **common)  # type: ignore[arg-type]
        return AppContext(root=remote.local_root, remote=remote, **common)  # type: ignore[arg-type]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dashboard/app.py", add_help=False)
    parser.add_argument("--root", default=None)
    parser.add_argument("--read-only", action="store_true", default=False)
    parser.add_argument("--no-cache", action="store_true", default=False)
    parser.add_argument("--poll", action="store_true", default=False)
    parser.add_argument("--poll-interval", default=None)
    parser.add_argument("--storage-option", action="append", default=[])
    return parser


def parse_settings(
    argv: Sequence[str], env: Mapping[str, str], cwd: Path | None = None
) -> Settings:
    """Settings from script arguments (after `--`) and the environment; never raises.

    Unknown arguments are ignored (under AppTest, argv is pytest's). A bad value falls back
    to its default and is reported in `warnings`; an unparsable read-only flag means read-only.
    """
    base = Path.cwd() if cwd is None else cwd
    args, _unknown = _parser().parse_known_args(list(argv))
    warnings: list[str] = []

    remote: RemoteURL | None = None
    if args.root:
        text, source = str(args.root), "--root"
    elif env.get(ROOT_ENV, "").strip():
        text, source = env[ROOT_ENV].strip(), ROOT_ENV
    elif (base / DEFAULT_RUNS_DIR).is_dir():
        text, source = DEFAULT_RUNS_DIR, f"./{DEFAULT_RUNS_DIR}"
    else:
        text, source = str(BUNDLED_SAMPLES), "bundled samples"
    remote_error: str | None = None
    try:
        parsed: RemoteURL | str = parse_url(text)
    except RunlogError as exc:
        remote_error, parsed = str(exc), "/nonexistent-root-url"
    if isinstance(parsed, RemoteURL):
        remote = parsed
        root = Path(str(remote))  # shown until the mirror is open; never read as a path
    else:
        root = Path(parsed).expanduser()
        if not root.is_absolute():
            root = base / root
        root = root.resolve()

    read_only = bool(args.read_only)
    raw_flag = env.get(READ_ONLY_ENV)
    if raw_flag is not None and not read_only:
        flag = raw_flag.strip().lower()
        if flag in _TRUE:
            read_only = True
        elif flag not in _FALSE:
            read_only = True
            warnings.append(
                f"{READ_ONLY_ENV}={md_code(raw_flag)} is not a yes/no value (use 1 or 0): "
                "running read-only to be safe."
            )

    live = _window(env, LIVE_WINDOW_ENV, DEFAULT_LIVE_WINDOW, warnings)
    stall = _window(env, STALL_WINDOW_ENV, DEFAULT_STALL_WINDOW, warnings)
    if stall < live:
        warnings.append(
            f"{STALL_WINDOW_ENV} ({stall:g} s) is shorter than {LIVE_WINDOW_ENV} ({live:g} s): "
            f"using {live:g} s for both."
        )
        stall = live
    no_cache = bool(args.no_cache) or cache_disabled(env)
    poll_interval = DEFAULT_POLL_INTERVAL
    if args.poll_interval is not None:
        poll_interval = _seconds("--poll-interval", args.poll_interval, poll_interval, warnings)
    try:
        options = parse_storage_options(args.storage_option)
    except RunlogError as exc:
        warnings.append(f"{md_code(str(exc))}: storage options ignored.")
        options = {}
    return Settings(
        root,
        source,
        read_only,
        live,
        stall,
        tuple(warnings),
        no_cache,
        remote,
        tuple(sorted(options.items())),
        bool(args.poll),
        poll_interval,
        remote_error,
    )


def _window(env: Mapping[str, str], name: str, default: float, warnings: list[str]) -> float:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    return _seconds(name, raw, default, warnings)


def _seconds(name: str, raw: str, default: float, warnings: list[str]) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        warnings.append(
            f"{name}={md_code(raw)} is not a positive number of seconds: using {default:g}."
        )
        return default
    return value


def root_problem(root: Path) -> str | None:
    """Why `root` cannot be browsed, in words (markdown: the path in a code span), or None."""
    where = md_code(str(root))
    if not root.exists():
        return f"The runs root {where} does not exist."
    if not root.is_dir():
        return f"The runs root {where} is not a directory."
    if not os.access(root, os.R_OK | os.X_OK):
        return f"The runs root {where} is not readable by this process."
    return None
