"""A restarted dashboard, timed in Debian chromium: ours against another checkout's.

    .venv/bin/python benchmarks/bench_restart.py --root ROOT --text "Showing 10000 of 10000 runs"
        [--query "?sweep=a/b"] [--open-after 5] [--repeat 3] [--grid]
        [--baseline-app OTHER_CHECKOUT/dashboard/app.py] [--cache DIR]

For each round it launches `streamlit run dashboard/app.py -- --root ROOT` (ours, then the
baseline's, interleaved: the machine drifts), opens the page at --query --open-after seconds
after the launch (0: as soon as the server answers) and waits for --text, in a tab of its own
browser profile on a port of its own (`bench_scale.Tab`: the first visit fetches and compiles
everything, the later ones reload with the cache a user's browser keeps). It prints, per app,
the median time from navigation and from launch over the restarts, and the first visit's.
Use it on a root you have (a 10,000-run tree from `bench_scale.py --only small --keep`, the
sweep of `bench_sweep.py --keep`); the index (--cache, default: a fresh one, built on our
first visit, whose time then includes it) is shared by both apps.
It writes nothing but the index.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_scale


def timed_page(
    tab: bench_scale.Tab,
    root: Path,
    cache: Path,
    query: str,
    text: str,
    open_after: float = 0.0,
    drawn: tuple[str, ...] = (),
    marks: list[float] | None = None,
) -> tuple[float, float]:
    """Launch `tab.app` (None: ours) on `root`, open `query` in the tab `open_after` s after
    the launch (0: once the server answers) and wait for `text`, then for each selector of
    `drawn` (e.g. bench_scale.GRID: the data grid drawn, which comes after its caption):
    (seconds from navigation, from launch). `marks` gets the seconds from navigation to
    `text` and to each of `drawn`, in turn (waited for in that order)."""
    launched = time.perf_counter()
    proc, url = bench_scale._server(root, cache, False, script=tab.app, port=tab.port)
    try:
        page = tab.browser.new_page()
        page.set_default_timeout(600_000)
        time.sleep(max(0.0, open_after - (time.perf_counter() - launched)))
        started = time.perf_counter()
        page.goto(url + query)
        page.get_by_text(text).first.wait_for()
        seen = [time.perf_counter() - started]
        for selector in drawn:
            page.locator(selector).first.wait_for()
            seen.append(time.perf_counter() - started)
        done = time.perf_counter()
        if marks is not None:
            marks += seen
        page.close()
        return done - started, done - launched
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--text", required=True, help="what the page shows once it is drawn")
    parser.add_argument("--query", default="")
    parser.add_argument("--open-after", type=float, default=0.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline-app", type=Path, default=None)
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument(
        "--grid", action="store_true", help="then wait for the page's first data grid drawn"
    )
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    cache = args.cache or Path(tempfile.mkdtemp(prefix="bench-restart-"))
    apps: list[tuple[str, Path | None]] = [("ours", None)]
    if args.baseline_app is not None:
        apps.append((f"baseline {args.baseline_app}", args.baseline_app))
    times: dict[str, list[tuple[float, float]]] = {label: [] for label, _ in apps}

    profiles = Path(tempfile.mkdtemp(prefix="bench-restart-browser-"))
    firsts: dict[str, tuple[float, float]] = {}
    with sync_playwright() as pw:
        tabs = {
            label: bench_scale.Tab(pw, profiles / str(k), app)
            for k, (label, app) in enumerate(apps)
        }

        def render(tab: bench_scale.Tab) -> tuple[float, float]:
            return timed_page(
                tab,
                args.root,
                cache,
                args.query,
                args.text,
                args.open_after,
                drawn=(bench_scale.GRID,) if args.grid else (),
            )

        # Each tab's first visit (with no --cache, ours builds the index first: every timed
        # start below finds it warm).
        for label, tab in tabs.items():
            firsts[label] = render(tab)
        for _ in range(args.repeat):
            for label, tab in tabs.items():
                times[label].append(render(tab))
        for tab in tabs.values():
            tab.close()
    shutil.rmtree(profiles, ignore_errors=True)

    print(
        f"{args.root}{args.query}: until {args.text!r}"
        + (" and the grid drawn" if args.grid else "")
        + ", page opened "
        + (f"{args.open_after:g} s after launch" if args.open_after else "once the server answers")
        + f" (median of {args.repeat})"
    )
    medians = {}
    for label, rounds in times.items():
        medians[label] = statistics.median(r[0] for r in rounds)
        bench_scale.line(
            label,
            f"{bench_scale.fmt(medians[label])} after navigation, "
            f"{bench_scale.fmt(statistics.median(r[1] for r in rounds))} from launch "
            f"(after navigation: {', '.join(bench_scale.fmt(r[0]) for r in rounds)}); "
            f"first visit {bench_scale.fmt(firsts[label][0])}",
        )
    if len(medians) == 2:
        ours, base = medians.values()
        print(f"  ours / baseline after navigation: {ours / base:.2f}x")


if __name__ == "__main__":
    main()
