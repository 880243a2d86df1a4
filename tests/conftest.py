"""Suite-wide settings: property tests are deterministic and never fail on timing, and no test
reads or writes the user's own run index (each test gets an empty cache directory)."""

from __future__ import annotations

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
