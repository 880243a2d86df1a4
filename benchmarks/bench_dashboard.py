"""Benchmark of the dashboard's run view on a 1,000,000-episode run, against the library load.

    .venv/bin/python benchmarks/bench_dashboard.py
    .venv/bin/python benchmarks/bench_dashboard.py --episodes 200000 --repeat 3
    .venv/bin/python benchmarks/bench_dashboard.py --train-log /tmp/bench/train.jsonl

Builds `<tmp>/runs/big/v1/20260101_000000/` (metadata.json, a DQN train log from
bench_read.dqn_lines, eval blocks every 1M env steps, step checkpoints + latest + best),
then, in this one process:

  library   the library's own load (bench_read.load_curve: EpisodeLog -> frame -> EMA ->
            downsample), median of --repeat, each on a fresh reader
  warm-up   one AppTest script run of a tiny run's view in another root: imports Streamlit,
            plotly and the dashboard, so the figures below are the big run's own cost
  first     the first script run of the big run's view (nothing parsed yet)
  cached    the same session run again, nothing changed on disk
  smoothing the smoothing slider moved (a new EMA weight: curves and figures rebuilt)
  append    100 episodes appended to the train log, then a script run (5 times per repeat:
            the curves are extended by the new episodes, not recomputed; target <= 50 ms)
  idle      a script run of the live run with nothing new since the last one

Each AppTest figure is one wall-clock script run (`AppTest.run`), printed with its ratio to
the library load. `first`, `smoothing` and `append` are measured --repeat times on fresh
providers (each repeat forgets the process-wide caches), `cached` after each `first`.

The script runs as `streamlit run dashboard/app.py` runs it (`as_the_server_runs`):
- with the options of dashboard/.streamlit/config.toml (runner.postScriptGC off: no full
  gc.collect() after each run; browser.gatherUsageStats off: no per-command telemetry);
- compiled once: the server keeps one ScriptCache per process, so a rerun executes the
  cached bytecode, while AppTest makes a new cache per run and would parse, rewrite (magic)
  and compile app.py every time (~10 ms here that no server rerun pays).
What AppTest itself adds (a thread per run, polling for the end, parsing the element tree)
is measured on a two-line page and printed as the floor.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_read  # noqa: E402  (after the sys.path fix)
from streamlit import config as streamlit_config  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from dashboard import data as dashboard_data  # noqa: E402
from dashboard.run_view import CHARTS_FRAGMENT  # noqa: E402
from dashboard.urlstate import SMOOTH, widget_key  # noqa: E402
from runlog.format.records import (  # noqa: E402
    EpisodeRecord,
    RunMetadata,
    encode_eval_line,
    encode_metadata,
)
from runlog.provider import forget_providers  # noqa: E402
from runlog.read.watch import stop_all_watchers  # noqa: E402

APP = REPO / "dashboard" / "page.py"
RUN = "big/v1/20260101_000000"
EVAL_EVERY = 1_000_000
"""Env steps between two eval blocks (5 episodes each)."""
WATCH_SETTLE = 0.3
"""Seconds given to the file watcher to report an append before the timed script run."""
APPENDS = 5
"""Appends (of 100 episodes, each followed by a timed script run) per repeat."""


def build_run(root: Path, episodes: int, train_log: Path | None) -> Path:
    run = root / RUN
    (run / "checkpoints").mkdir(parents=True)
    train = run / "train_episodes.jsonl"
    if train_log is not None:
        shutil.copyfile(train_log, train)
    else:
        bench_read.write_train_log(train, episodes)
    total_steps = 0
    with train.open("rb") as fh:
        for line in fh:
            start = line.find(b'"length":') + 9
            total_steps += int(line[start : line.index(b",", start)])
    name, version, run_id = RUN.split("/")
    meta = RunMetadata(
        name,
        version,
        run_id,
        total_steps,
        0,
        "2026-01-01T00:00:00+01:00",
        "2026-01-02T00:00:00+01:00",
    )
    (run / "metadata.json").write_text(encode_metadata(meta))
    lines = []
    for block, step in enumerate(range(EVAL_EVERY, total_steps + 1, EVAL_EVERY)):
        for i in range(5):
            reward = 100.0 + (block % 97) + i
            lines.append(encode_eval_line(EpisodeRecord(reward, 500, "Truncated"), step))
    (run / "eval_episodes.jsonl").write_text("".join(lines))
    for step in range(EVAL_EVERY * 10, total_steps + 1, EVAL_EVERY * 10):
        (run / "checkpoints" / f"step_{step}.mpk").write_bytes(b"\0" * 4096)
    for name_ in ("latest.mpk", "best.mpk"):
        (run / "checkpoints" / name_).write_bytes(b"\0" * 4096)
    return run


HELLO = 'import streamlit as st\nst.title("runlog")\nst.caption("floor")\n'


def as_the_server_runs() -> None:
    """Run scripts with the dashboard's config.toml options and one ScriptCache per process,
    as `streamlit run` does (see the module doc)."""
    import tomllib

    import streamlit.testing.v1.app_test as app_test
    import streamlit.testing.v1.local_script_runner as local_script_runner
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache

    with (REPO / "dashboard" / ".streamlit" / "config.toml").open("rb") as fh:
        options = tomllib.load(fh)
    for section, values in options.items():
        for name, value in values.items():
            streamlit_config.set_option(f"{section}.{name}", value)
    shared = ScriptCache()
    app_test.ScriptCache = local_script_runner.ScriptCache = lambda: shared


def apptest_floor(work: Path) -> float:
    """A rerun of a two-line page: what AppTest adds to every figure below."""
    script = work / "hello.py"
    script.write_text(HELLO)
    at = AppTest.from_file(str(script))
    at.run()
    return statistics.median(timed_run(at) for _ in range(20))


def forget_caches() -> None:
    """A fresh server process, as far as the dashboard's caches go (imports stay)."""
    forget_providers()
    stop_all_watchers()
    dashboard_data.clear_memo()


def app_for(root: Path, rel: str) -> AppTest:
    os.environ["RUNLOG_ROOT"] = str(root)
    os.environ["RUNLOG_CACHE_DIR"] = str(root.parent / "cache")
    at = AppTest.from_file(str(APP), default_timeout=600)
    at.query_params["run"] = rel
    return at


def timed_run(at: AppTest, before: Callable[[], None] | None = None) -> float:
    if before is not None:
        before()
    start = time.perf_counter()
    at.run()
    elapsed = time.perf_counter() - start
    if at.exception:
        trace = "\n".join(at.exception[0].stack_trace)
        raise RuntimeError(f"the script raised: {at.exception[0].message}\n{trace}")
    return elapsed


def fragment_run(at: AppTest, key: str, before: Callable[[], None] | None = None) -> float:
    """One rerun of the fragment `key` alone, as the browser requests it every `run_every`
    seconds (a BackMsg naming the fragment, is_auto_rerun): AppTest has no call for it, so
    its script runner's RerunData is given the fragment's id for this one run."""
    import functools

    import streamlit.testing.v1.local_script_runner as local_script_runner

    ids = list(at._fragment_storage._ids_by_target_key.get(key, {}))
    if len(ids) != 1:
        raise RuntimeError(f"fragment {key!r}: {len(ids)} registered, 1 expected")
    original = local_script_runner.RerunData
    local_script_runner.RerunData = functools.partial(  # type: ignore[misc]
        original, fragment_id=ids[0], is_auto_rerun=True
    )
    try:
        return timed_run(at, before)
    finally:
        local_script_runner.RerunData = original  # type: ignore[misc]


def fmt(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def show(label: str, times: list[float], library: float) -> None:
    median = statistics.median(times)
    spread = f" (min {fmt(min(times))}, max {fmt(max(times))}, n={len(times)})"
    print(
        f"  {label:<34} {fmt(median):>9}{spread if len(times) > 1 else ''}"
        f"   {median / library:5.2f}x library load"
    )


def warm_up(work: Path) -> float:
    """One script run of a tiny run's view: every import the dashboard needs, done once."""
    root = work / "tiny"
    run = root / "tiny/v1/20260101_000000"
    run.mkdir(parents=True)
    (run / "train_episodes.jsonl").write_text("".join(bench_read.dqn_lines(50)))
    meta = RunMetadata(
        "tiny",
        "v1",
        "20260101_000000",
        1,
        0,
        "2026-01-01T00:00:00+01:00",
        "2026-01-01T00:00:00+01:00",
    )
    (run / "metadata.json").write_text(encode_metadata(meta))
    elapsed = timed_run(app_for(root, "tiny/v1/20260101_000000"))
    forget_caches()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--train-log", type=Path, help="copy this train log instead of generating")
    parser.add_argument("--dir", type=Path, help="work directory (default: a temp dir)")
    args = parser.parse_args()

    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}")
    as_the_server_runs()
    work = Path(tempfile.mkdtemp(prefix="runlog-bench-dash-", dir=args.dir))
    try:
        start = time.perf_counter()
        root = work / "runs"
        run = build_run(root, args.episodes, args.train_log)
        train = run / "train_episodes.jsonl"
        print(
            f"built {RUN}: {train.stat().st_size / 1e6:.0f} MB train log "
            f"in {time.perf_counter() - start:.1f} s"
        )

        library = statistics.median(
            wall for wall, _ in bench_read.timed(lambda: bench_read.load_curve(train), args.repeat)
        )
        print(f"\n  {'library load (bench_read)':<34} {fmt(library):>9}")
        print(f"  {'warm-up: tiny run (imports)':<34} {fmt(warm_up(work)):>9}")
        print(f"  {'AppTest floor (a two-line page)':<34} {fmt(apptest_floor(work)):>9}")

        block = "".join(bench_read.dqn_lines(100, seed=7)).encode()
        first, cached, smoothing, append, idle, page = [], [], [], [], [], []
        for i in range(args.repeat):
            forget_caches()
            at = app_for(root, RUN)
            first.append(timed_run(at))
            cached.append(timed_run(at))
            slider = at.slider(key=widget_key(SMOOTH))
            slider.set_value(0.8 + i / 100)  # a new weight each repeat: nothing memoised
            smoothing.append(timed_run(at))

            def grow() -> None:
                with train.open("ab") as fh:
                    fh.write(block)
                time.sleep(WATCH_SETTLE)

            timed_run(at)  # settle: the first rerun after a slider move may still redraw
            for _ in range(APPENDS):  # the whole page after an append (not the live path)
                page.append(timed_run(at, grow))
            for _ in range(APPENDS):  # a live run: 100 episodes, the charts' own rerun; again
                append.append(fragment_run(at, CHARTS_FRAGMENT, grow))
                idle.append(fragment_run(at, CHARTS_FRAGMENT))
        show("first run of the run view", first, library)
        show("cached rerun (nothing changed)", cached, library)
        show("rerun, smoothing moved", smoothing, library)
        show("live: 100 episodes appended", append, library)
        show("live: charts, nothing new", idle, library)
        show("whole page, 100 episodes appended", page, library)
        ratio = statistics.median(smoothing) / statistics.median(append)
        print(
            f"\n  a live run's update (the charts' fragment rerun after 100 appended episodes) "
            f"costs {fmt(statistics.median(append))}: {ratio:.1f}x less than redoing the "
            "curves (smoothing moved); target <= 50 ms: "
            + ("ok" if statistics.median(append) <= 0.050 else "MISSED")
        )
        forget_caches()
        print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
