"""Suite-wide settings: property tests are deterministic and never fail on timing."""

from __future__ import annotations

from hypothesis import settings

# A loaded 2-core CI machine must not turn a slow example into a failure (no wall-clock
# assertions, hypothesis' deadline included), and the same examples run every time.
settings.register_profile("runlog", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("runlog")
