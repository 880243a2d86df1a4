"""Sweeps at the issue's scale: 240 runs (80 configs x 3 seeds, 20,000 episodes each).

    .venv/bin/python benchmarks/bench_sweep.py [--repeat 3] [--dir DIR --keep]
        [--only cli,bootstrap,browser] [--baseline-app OTHER_CHECKOUT/dashboard/app.py]
        [--open-after SECONDS]

Generates the sweep in a temp directory (one template log per seed, copied per run: each
run its own file), indexes it (`runlog index`, so the index is warm) and prints:

- `runlog sweep ROOT --json`, whole process (interpreter start, imports, listing, scores,
  bootstrap, JSON), median of --repeat; target <= 1.5 s;
- the bootstrap alone: 80 groups x 2,000 resamples (`bootstrap_groups`, one numpy draw per
  group size) against a Python loop per resample over the same groups (the baseline),
  median of 5;
- the sweep view's first render in Debian chromium after a server restart, index warm, the
  tab reloaded in a browser that kept its cache (bench_scale.Tab; a first visit in a new
  profile printed beside): from navigation until the headline and the group table are
  drawn (its caption says "Showing 80 of 80 groups", its grid is painted); target <= 2 s.
  Then until the parallel coordinates below the table are drawn too, and from launching
  the server. Plotly draws them with WebGL, which a machine without a GPU renders in
  software (SwiftShader here: seconds of the browser's one main thread). The page holds its
  charts back until the browser has painted the table (sweep_view's module doc). Three
  floors are printed beside: the empty page (bench_scale's HELLO), that page with a one-row
  grid (HELLO_GRID: the table's floor), and with a one-row grid, then a one-line parallel
  coordinates (HELLO_DRAWN: what the view draws, in its order, with nothing in it: the
  charts' floor). With --baseline-app, another checkout's dashboard timed interleaved with
  ours (`git worktree add /tmp/base <commit>`). The page is opened as soon as the server
  answers, or --open-after seconds after its launch.

Deletes what it generated unless --keep.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_restart  # (after the sys.path fix)
import bench_scale

from runlog.format.records import (
    EpisodeRecord,
    RunMetadata,
    encode_episode_line,
    encode_eval_line,
    encode_metadata,
)

EPISODES = 20_000
SEEDS = 3
LRS = (1e-4, 3e-4, 1e-3, 3e-3)
BATCHES = (32, 64, 128, 256)
GAMMAS = (0.9, 0.95, 0.97, 0.99, 0.995)
EVAL_EVERY = 50_000
"""Env steps between eval blocks (5 episodes each)."""


def template(seed: int, out: Path) -> int:
    """One 20,000-episode train log; returns its env steps."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(20, 500, size=EPISODES)
    rewards = np.minimum(lengths, 500).astype(float) * rng.uniform(0.8, 1.2, size=EPISODES)
    with out.open("w") as fh:
        for reward, length in zip(rewards.tolist(), lengths.tolist(), strict=True):
            record = EpisodeRecord(round(reward, 3), length, "Terminated", {"epsilon": 0.05})
            fh.write(encode_episode_line(record))
    return int(lengths.sum())


def build(work: Path) -> Path:
    root = work / "runs"
    if root.is_dir():
        print(f"reusing {root}")
        return root
    started = time.perf_counter()
    sources = work / "sources"
    sources.mkdir(parents=True, exist_ok=True)
    totals = [template(seed, sources / f"seed{seed}.jsonl") for seed in range(SEEDS)]
    configs = [(lr, b, g) for lr in LRS for b in BATCHES for g in GAMMAS]
    index = 0
    for c, (lr, batch, gamma) in enumerate(configs):
        skill = 200 + 60 * np.log10(lr / 1e-4) + batch / 8 + 400 * (gamma - 0.9)
        for seed in range(SEEDS):
            run_id = f"20260401_{index:06d}"
            run = root / "grid" / "sweep" / run_id
            (run / "checkpoints").mkdir(parents=True)
            shutil.copyfile(sources / f"seed{seed}.jsonl", run / "train_episodes.jsonl")
            rng = np.random.default_rng([c, seed])
            lines = []
            for step in range(EVAL_EVERY, totals[seed] + 1, EVAL_EVERY):
                for _ in range(5):
                    reward = float(skill * step / totals[seed] + rng.normal(0, 25))
                    lines.append(
                        encode_eval_line(EpisodeRecord(round(reward, 3), 500, "Truncated"), step)
                    )
            (run / "eval_episodes.jsonl").write_text("".join(lines))
            config = {"lr": lr, "batch_size": batch, "gamma": gamma, "seed": seed}
            (run / "config.json").write_text(json.dumps(config))
            meta = RunMetadata(
                "grid",
                "sweep",
                run_id,
                totals[seed],
                0,
                "2026-04-01T12:00:00+02:00",
                "2026-04-01T14:00:00+02:00",
            )
            (run / "metadata.json").write_text(encode_metadata(meta))
            index += 1
    size = sum(p.stat().st_size for p in root.rglob("*.jsonl"))
    print(
        f"built {index} runs ({len(configs)} configs x {SEEDS} seeds, {EPISODES:,} episodes "
        f"each, {size / 1e6:,.0f} MB of logs) in {time.perf_counter() - started:.0f} s"
    )
    return root


def bench_cli(root: Path, cache: Path, repeat: int) -> None:
    wall, _, _ = bench_scale.runlog_process(["index", str(root)], cache)
    print(f"runlog index (cold, builds the index): {bench_scale.fmt(wall)}")
    args = ["sweep", str(root), "--json"]
    runs = [bench_scale.runlog_process(args, cache) for _ in range(repeat)]
    wall, peak = bench_scale.medians(runs)
    out = json.loads(runs[0][2])
    assert len(out["groups"]) == 80 and all(g["n"] == 3 for g in out["groups"]), out["groups"][:2]
    bench_scale.line(
        "runlog sweep --json, 240 runs, index warm (whole process)",
        f"{bench_scale.fmt(wall)}, peak {peak:.0f} MB (median of {repeat})",
        "<= 1.5 s",
        wall <= 1.5,
    )
    best = out["groups"][0]
    print(f"  best group {best['params']}: {best['value']:.1f} {best['ci']}")


def bench_bootstrap() -> None:
    from runlog.analysis.stats import iqm
    from runlog.analysis.sweep import bootstrap_groups

    rng = np.random.default_rng(0)
    groups = [rng.normal(k, 10.0, size=SEEDS) for k in range(80)]

    def vectorised() -> float:
        started = time.perf_counter()
        bootstrap_groups(groups, "iqm", n_boot=2000)
        return time.perf_counter() - started

    def looped() -> float:  # the baseline: a Python loop per group and per resample
        started = time.perf_counter()
        loop_rng = np.random.default_rng(0)
        for values in groups:
            stats = [
                iqm(values[loop_rng.integers(0, len(values), len(values))]) for _ in range(2000)
            ]
            np.percentile(stats, [2.5, 97.5])
        return time.perf_counter() - started

    fast = statistics.median(vectorised() for _ in range(5))
    slow = statistics.median(looped() for _ in range(5))
    bench_scale.line(
        "bootstrap, 80 groups x 2,000 resamples (numpy, one draw per group size)",
        f"{bench_scale.fmt(fast)} vs {bench_scale.fmt(slow)} looped per resample: "
        f"{slow / fast:.0f}x",
    )


PARCOORDS = ".js-plotly-plot .parcoords .axis-brush"
"""Plotly's parallel coordinates drawn (their axes' brushes, after the WebGL lines)."""
TABLE_GRID = ".st-key-sweep-table " + bench_scale.GRID
"""The group table's grid drawn (not the hidden empty grid above it that loads the grid's
code: dashboard/sweep_view.py, `preload_grid`)."""
DRAWN = (TABLE_GRID, PARCOORDS)
"""The view drawn, in page order: its group table's grid (the first render: its headline and
the caption waited for come before it), then the parallel coordinates below the table."""
HELLO_DRAWN = (
    bench_scale.HELLO
    + """st.dataframe({"run": ["a/v1/1"]}, key="sweep.table", on_select="rerun")
import plotly.graph_objects as go
st.plotly_chart(go.Figure(go.Parcoords(
    line={"color": [1.0], "colorscale": "Viridis"},
    dimensions=[{"label": k, "values": [1.0]} for k in ("lr", "batch", "gamma", "score")],
)))
"""
)
"""The floor of the sweep view: a page that draws what DRAWN waits for in the same order (a
data grid, then plotly's WebGL parallel coordinates), with one row and one line."""


@dataclass(frozen=True)
class Render:
    """One page load, in seconds."""

    table: float
    """From navigation to the first render: `text` shown and the table's grid drawn."""
    charts: float
    """From navigation to the parallel coordinates drawn too."""
    launch: float
    """From launching the server to the parallel coordinates drawn."""


def bench_browser(
    root: Path,
    work: Path,
    cache: Path,
    repeat: int,
    baseline: Path | None = None,
    open_after: float = 0.0,
) -> None:
    from playwright.sync_api import sync_playwright

    def render(tab: bench_scale.Tab, query: str, text: str) -> Render:
        marks: list[float] = []
        charts, launch = bench_restart.timed_page(
            tab, root, cache, query, text, open_after, drawn=DRAWN, marks=marks
        )
        return Render(table=marks[1], charts=charts, launch=launch)

    hello, hello_grid, hello_drawn = (
        work / name / "app.py" for name in ("hello", "hello_grid", "hello_drawn")
    )
    for app, text in (
        (hello, bench_scale.HELLO),
        (hello_grid, bench_scale.HELLO_GRID),
        (hello_drawn, HELLO_DRAWN),
    ):
        app.parent.mkdir(exist_ok=True)
        app.write_text(text)
    profiles = Path(tempfile.mkdtemp(prefix="bench-sweep-browser-", dir=work))
    sweep, groups, empty = "?sweep=grid/sweep", "Showing 80 of 80 groups", "Showing 0 of 0 runs"
    with sync_playwright() as pw:

        def tab(name: str, app: Path | None) -> bench_scale.Tab:
            return bench_scale.Tab(pw, profiles / name, app, height=1400)

        hello_tab, grid_tab, drawn_tab, ours = (
            tab("hello", hello),
            tab("grid", hello_grid),
            tab("drawn", hello_drawn),
            tab("ours", None),
        )

        def grid_floor() -> float:
            return bench_restart.timed_page(
                grid_tab, root, cache, "", empty, open_after, drawn=(bench_scale.GRID,)
            )[0]

        old_tab = tab("baseline", baseline) if baseline is not None else None
        # First visits (a new profile: nothing cached), then restarts (the tab reloaded).
        first_floor = bench_restart.timed_page(hello_tab, root, cache, "", empty, open_after)
        first_floor_grid = grid_floor()
        first_floor_drawn = render(drawn_tab, "", empty)
        first_view = render(ours, sweep, groups)
        if old_tab is not None:
            render(old_tab, sweep, groups)
        floors = [
            bench_restart.timed_page(hello_tab, root, cache, "", empty, open_after)
            for _ in range(repeat)
        ]
        floors_grid = [grid_floor() for _ in range(repeat)]
        floors_drawn = [render(drawn_tab, "", empty) for _ in range(repeat)]
        views: list[Render] = []
        olds: list[Render] = []
        for _ in range(repeat):  # interleaved with the baseline: the machine drifts
            views.append(render(ours, sweep, groups))
            if old_tab is not None:
                olds.append(render(old_tab, sweep, groups))
        for each in (hello_tab, grid_tab, drawn_tab, ours, old_tab):
            if each is not None:
                each.close()
    shutil.rmtree(profiles, ignore_errors=True)

    def median(renders: list[Render], field: str) -> float:
        return statistics.median(getattr(r, field) for r in renders)

    floor = statistics.median(f[0] for f in floors)
    table, charts = median(views, "table"), median(views, "charts")
    bench_scale.line(
        "sweep view first render after a restart, 240 runs, index warm (chromium): its "
        "headline and group table drawn",
        f"{bench_scale.fmt(table)} after navigation (median of {repeat}); an empty page: "
        f"{bench_scale.fmt(floor)}, {bench_scale.fmt(statistics.median(f[1] for f in floors))}"
        " from launch",
        "<= 2 s",
        table <= 2.0,
    )
    bench_scale.line(
        "  then its parallel coordinates drawn (WebGL: in software here, no GPU)",
        f"{bench_scale.fmt(charts)} after navigation, "
        f"{bench_scale.fmt(median(views, 'launch'))} from launch",
    )
    bench_scale.line(
        "  the same on a first visit (a new browser profile)",
        f"table {bench_scale.fmt(first_view.table)}, parallel coordinates "
        f"{bench_scale.fmt(first_view.charts)}; an empty page {bench_scale.fmt(first_floor[0])}"
        f", the floors of what it draws {bench_scale.fmt(first_floor_grid)} / "
        f"{bench_scale.fmt(first_floor_drawn.charts)}",
    )
    floor_table = statistics.median(floors_grid)
    floor_charts = median(floors_drawn, "charts")
    bench_scale.line(
        "  the floors of what it draws: the empty page with a one-row grid; with a one-row "
        "grid, then a one-line parallel coordinates",
        f"grid {bench_scale.fmt(floor_table)}; parallel coordinates "
        f"{bench_scale.fmt(floor_charts)} after navigation (ours is "
        f"{bench_scale.fmt(table - floor_table)} / {bench_scale.fmt(charts - floor_charts)} "
        "above them)",
    )
    if olds:
        old_table, old_charts = median(olds, "table"), median(olds, "charts")
        bench_scale.line(
            f"  the same with the baseline app {baseline}",
            f"table {bench_scale.fmt(old_table)}, parallel coordinates "
            f"{bench_scale.fmt(old_charts)} after navigation: ours takes "
            f"{table / old_table:.2f}x / {charts / old_charts:.2f}x its time",
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--only", default="cli,bootstrap,browser")
    parser.add_argument(
        "--open-after",
        type=float,
        default=0.0,
        help="open the page this many seconds after launching the server (default: as soon "
        "as it answers; a user clicking the printed URL comes a few seconds later)",
    )
    parser.add_argument(
        "--baseline-app",
        type=Path,
        default=None,
        help="another checkout's dashboard/app.py, timed interleaved with ours in the browser",
    )
    args = parser.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="runlog-bench-sweep-"))
    parts = set(args.only.split(","))
    try:
        root = build(work)
        cache = work / "cache"
        if "cli" in parts or "browser" in parts:
            bench_cli(root, cache, args.repeat)
        if "bootstrap" in parts:
            bench_bootstrap()
        if "browser" in parts:
            bench_browser(root, work, cache, args.repeat, args.baseline_app, args.open_after)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
