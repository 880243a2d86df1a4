#!/usr/bin/env bash
# Mutation testing of one module (README, "Mutation testing"): slow, run it locally, never in CI.
#
#   scripts/mutation.sh evals        # or paths, prune, curves, stats, resolve, records, curve-prep
#
# mutmut (configured in pyproject.toml, [tool.mutmut]) copies the project into ./mutants/,
# runs the selected unit tests once to learn which test reaches which function, then runs
# each mutant of MODULE against just those tests. Results stay in ./mutants/: a second run
# retests this module's mutants; `.venv/bin/mutmut results` lists survivors and
# `.venv/bin/mutmut show NAME` prints one mutant's diff. Ends with MODULE's score.
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
    evals | curves | stats) globs=("runlog.analysis.$1.*") ;;
    paths | resolve | records) globs=("runlog.format.$1.*") ;;
    prune) globs=("runlog.prune.*") ;;
    # The provider's curve preparation: smooth the full series, then thin (_Curve,
    # _Smoothed, and RunProvider.series/smoothed that cache them).
    curve-prep)
        globs=("runlog.provider.x*_Curve*" "runlog.provider.x*_Smoothed*"
            "runlog.provider.x*RunProvider*series__*" "runlog.provider.x*RunProvider*smoothed__*")
        ;;
    *)
        echo "usage: $0 evals|paths|prune|curves|stats|resolve|records|curve-prep" >&2
        exit 2
        ;;
esac

# Two workers at low priority: the machine stays usable. Property tests run a tenth of CI's
# examples (HYPOTHESIS_PROFILE=mutation, tests/budget.py): curves.py's Thinner mutants would
# otherwise take ~80 s each.
export HYPOTHESIS_PROFILE="${HYPOTHESIS_PROFILE:-mutation}"
nice -n 10 .venv/bin/mutmut run --max-children "${MUTMUT_WORKERS:-2}" "${globs[@]}"

.venv/bin/mutmut results --all true | .venv/bin/python -c '
import collections, fnmatch, sys
globs = sys.argv[1:]
counts = collections.Counter()
for line in sys.stdin:
    name, _, status = line.strip().rpartition(": ")
    if any(fnmatch.fnmatch(name, g) for g in globs):
        counts[status] += 1
total = sum(counts.values())
killed = counts["killed"] + counts["caught by type check"]
print(f"{total} mutants: " + ", ".join(f"{n} {s}" for s, n in counts.most_common()))
print(f"score: {killed}/{total} killed ({100 * killed / max(total, 1):.1f}%)")
' "${globs[@]}"
