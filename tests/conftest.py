"""Suite-wide settings: property tests are deterministic and never fail on timing, and no test
reads or writes the user's own run index (each test gets an empty cache directory)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from budget import DEEP, DEEP_MINIMUM, MUTATION, MUTATION_MINIMUM
from hypothesis import settings

# The loopback S3 server and buckets for the tests of remote roots (tests/s3fixtures.py).
pytest_plugins = ["s3fixtures"]

# A loaded 2-core CI machine must not turn a slow example into a failure (no wall-clock
# assertions, hypothesis' deadline included), and the same examples run every time.
settings.register_profile("runlog", deadline=None, derandomize=True, print_blob=True)
# Local bug hunting (README, "Tests"): fresh random examples each run, many more of them
# (tests/budget.py scales each property's budget), the failing seed printed.
settings.register_profile(
    "deep", deadline=None, derandomize=False, print_blob=True, max_examples=DEEP_MINIMUM
)
# Mutation testing (scripts/mutation.sh): CI's fixed examples, a tenth as many (tests/budget.py).
settings.register_profile(
    "mutation", deadline=None, derandomize=True, print_blob=True, max_examples=MUTATION_MINIMUM
)
settings.load_profile("deep" if DEEP else "mutation" if MUTATION else "runlog")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """RUNLOG_CACHE_DIR points at a fresh directory for the length of each test."""
    cache = tmp_path_factory.mktemp("runlog-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RUNLOG_CACHE_DIR", str(cache))
        # Where the default would be, should a test drop RUNLOG_CACHE_DIR: never ~/.cache.
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
        patch.delenv("RUNLOG_NO_CACHE", raising=False)
        yield cache


@pytest.fixture
def dashboard_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A dashboard test's process state: `streamlit run dashboard/app.py` with no argument and
    no RUNLOG_* setting but the private cache (a test sets what it needs); afterwards the
    process-wide providers, watchers and remote roots it made are forgotten."""
    import sys

    from runlog.provider import forget_providers
    from runlog.read.watch import stop_all_watchers
    from runlog.remote.roots import forget_remotes

    monkeypatch.setattr(sys, "argv", ["dashboard/app.py"])
    for name in list(os.environ):
        if name.startswith("RUNLOG_") and name != "RUNLOG_CACHE_DIR":  # _private_cache's
            monkeypatch.delenv(name)
    yield
    forget_remotes()
    stop_all_watchers()
    forget_providers()
