"""How hard the property tests look: `examples(n)` is n in CI, far more under the deep profile.

    HYPOTHESIS_PROFILE=deep .venv/bin/python -m pytest tests/   # thousands of random examples

CI runs the default profile ("runlog", tests/conftest.py): derandomized, the same examples every
time. "deep" draws fresh random examples on every run and at least DEEP_MINIMUM per property;
a failure prints the seed and the `@reproduce_failure` blob to replay it.
"""

from __future__ import annotations

import os

DEEP = os.environ.get("HYPOTHESIS_PROFILE") == "deep"
DEEP_MINIMUM = 2_000
DEEP_FACTOR = 10
MUTATION = os.environ.get("HYPOTHESIS_PROFILE") == "mutation"
"""scripts/mutation.sh: each mutant runs the properties with a tenth of CI's examples (at
least MUTATION_MINIMUM), or one module takes a night; a mutant only they would kill can survive."""
MUTATION_MINIMUM = 20


def examples(n: int) -> int:
    """The example budget of a property that CI runs `n` times."""
    if DEEP:
        return max(DEEP_MINIMUM, n * DEEP_FACTOR)
    if MUTATION:
        return min(n, max(MUTATION_MINIMUM, n // 10))
    return n
