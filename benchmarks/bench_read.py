"""Benchmarks of the reading layer: it generates its own data, then prints figures.

    .venv/bin/python benchmarks/bench_read.py                   # everything (a few minutes)
    .venv/bin/python benchmarks/bench_read.py --only load,refresh --episodes 200000

Measured (targets from the issue, on 2 cores):
  load     cold load of a 1,000,000-episode train log (~180 MB, DQN extras) to a smoothed,
           downsampled reward curve: EpisodeLog.refresh() + .frame + curves.ema +
           curves.downsample_many. Target <= 0.8 s median; ratio against
           pandas.read_json(lines=True) on the same file (target >= 10x).
  refresh  EpisodeLog.refresh() after 100 appended lines on that 1M log: target <= 5 ms
           median; ratio against a full re-read.
  memory   peak memory of the 1M load, in a fresh subprocess: its VmHWM from
           /proc/self/status (peak resident set, so it includes the interpreter and the
           imported libraries; the import-only baseline is printed too). Target < 3x file size.
  catalog  Catalog.scan() over 1,000 and 10,000 runs (each: metadata.json, a 100-episode
           train log, a 10-episode eval log, 5 checkpoints): cold (a new Catalog) and
           rescan of the unchanged tree (the same Catalog). Targets 0.5 s and 5 s.

"Cold" means nothing parsed yet in this process; the files are in the OS page cache (they
were just written), as they are for a dashboard reading a run that is being written.
Timings are wall-clock medians, with the median CPU time of the process (all threads)
beside them; a loaded machine makes the wall times pessimistic.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from runlog.analysis.curves import downsample_many, ema
from runlog.format.records import (
    EpisodeRecord,
    RunMetadata,
    encode_episode_line,
    encode_eval_line,
    encode_metadata,
)
from runlog.read.catalog import Catalog
from runlog.read.episodes import EpisodeLog

MAX_POINTS = 2000
EMA_WEIGHT = 0.9


# -- data ---------------------------------------------------------------------------------


def dqn_lines(n: int, seed: int = 0) -> list[str]:
    """`n` train lines as the crate writes them for DQN (loss keys absent at first)."""
    rng = random.Random(seed)
    epsilon = 1.0
    lines = []
    for i in range(n):
        epsilon = max(0.05, epsilon * 0.99999)
        length = rng.randint(8, 500)
        reward = float(length) if rng.random() < 0.97 else float("nan")
        extras: dict[str, float] = {"epsilon": epsilon}
        if i >= min(1000, n // 10):
            extras.update(
                loss_mean=rng.random() * 0.1,
                loss_std=rng.random() * 0.01,
                loss_max=rng.random(),
            )
        status = "Terminated" if length < 500 else "Truncated"
        lines.append(encode_episode_line(EpisodeRecord(reward, length, status, extras)))
    return lines


def write_train_log(path: Path, n: int) -> None:
    with path.open("w") as fh:
        step = 100_000
        for start in range(0, n, step):
            fh.write("".join(dqn_lines(min(step, n - start), seed=start)))


def write_runs(root: Path, n_runs: int, per_name: int = 1000) -> None:
    """`n_runs` runs under `root`, `per_name` per name directory (name_k/v<j>/<run_id>)."""
    train = "".join(dqn_lines(100)).encode()
    evals = "".join(
        encode_eval_line(EpisodeRecord(400.0 + i, 500, "Truncated"), 10000 * (1 + i // 5))
        for i in range(10)
    ).encode()
    for i in range(n_runs):
        name = f"env{i // per_name}"
        version = f"v{(i % per_name) // 100}"
        run_id = f"20260322_{i % 100:06d}"
        run = root / name / version / run_id
        (run / "checkpoints").mkdir(parents=True)
        meta = RunMetadata(
            name,
            version,
            run_id,
            100000,
            0,
            "2026-03-22T12:00:00+01:00",
            "2026-03-22T13:00:00+01:00",
        )
        (run / "metadata.json").write_text(encode_metadata(meta))
        (run / "train_episodes.jsonl").write_bytes(train)
        (run / "eval_episodes.jsonl").write_bytes(evals)
        for name_ in (
            "step_10000.mpk",
            "step_20000.mpk",
            "step_30000.mpk",
            "latest.mpk",
            "best.mpk",
        ):
            (run / "checkpoints" / name_).write_bytes(b"\0" * 64)


# -- measuring ----------------------------------------------------------------------------


def timed(fn: Callable[[], object], repeat: int) -> list[tuple[float, float]]:
    """(wall, cpu) seconds of `repeat` calls; cpu counts every thread of this process."""
    times = []
    for _ in range(repeat):
        cpu = time.process_time()
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start, time.process_time() - cpu))
    return times


def load_curve(path: Path) -> int:
    """The measured path: disk -> frame -> smoothed, downsampled reward curve."""
    log = EpisodeLog(path)
    log.refresh()
    frame = log.frame
    reward = frame["reward"].to_numpy()
    shown = downsample_many(
        frame["step"].to_numpy(),
        {"reward": reward, "smoothed": ema(reward, EMA_WEIGHT)},
        MAX_POINTS,
    )
    return shown.shown


def fmt(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.3f} s"


def report(label: str, times: list[tuple[float, float]], target: float | None = None) -> float:
    walls = [wall for wall, _ in times]
    median = statistics.median(walls)
    cpu = statistics.median(cpu for _, cpu in times)
    verdict = ""
    if target is not None:
        verdict = f"  target <= {fmt(target)}: {'ok' if median <= target else 'MISSED'}"
    print(
        f"  {label}: median {fmt(median)} (min {fmt(min(walls))}, max {fmt(max(walls))}, "
        f"n={len(times)}; cpu {fmt(cpu)}){verdict}"
    )
    return median


def bench_load(path: Path, repeat: int, pandas_repeat: int) -> float:
    size = path.stat().st_size
    print(f"\nload: {path.name}, {size / 1e6:.0f} MB")
    ours = report(
        "EpisodeLog -> smoothed, downsampled curve", timed(lambda: load_curve(path), repeat), 0.8
    )
    if pandas_repeat:
        theirs = report(
            "pandas.read_json(lines=True)",
            timed(lambda: pd.read_json(path, lines=True), pandas_repeat),
        )
        print(f"  ratio: {theirs / ours:.1f}x faster than pandas.read_json  (target >= 10x)")
    return ours


def bench_refresh(path: Path, full_read: float, repeat: int) -> None:
    print("\nrefresh: 100 lines appended to the 1M log, then EpisodeLog.refresh()")
    work = path.with_name("refresh_" + path.name)
    shutil.copyfile(path, work)
    log = EpisodeLog(work)
    log.refresh()
    block = "".join(dqn_lines(100, seed=99)).encode()
    times = []
    for _ in range(repeat):
        with work.open("ab") as fh:
            fh.write(block)
        cpu = time.process_time()
        start = time.perf_counter()
        added = log.refresh()
        times.append((time.perf_counter() - start, time.process_time() - cpu))
        assert added == 100, added
    median = report("refresh", times, 0.005)
    print(f"  ratio: {full_read / median:.0f}x faster than a full re-read ({fmt(full_read)})")
    work.unlink()


MEMORY_CHILD = """
import sys
from pathlib import Path
sys.path.insert(0, {bench_dir!r})
import bench_read

def high_water_kib():
    # VmHWM: this process's peak resident set. (ru_maxrss would not do: Linux carries it
    # over exec from the parent that forked this child.)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

baseline = high_water_kib()
bench_read.load_curve(Path({path!r}))
print(baseline, high_water_kib())
"""


def bench_memory(path: Path) -> None:
    print("\nmemory: the 1M load in a fresh subprocess (peak resident set, VmHWM)")
    code = MEMORY_CHILD.format(bench_dir=str(Path(__file__).parent), path=str(path))
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    baseline_kib, peak_kib = (int(v) for v in out.split())
    size = path.stat().st_size
    peak = peak_kib * 1024
    above = (peak_kib - baseline_kib) * 1024
    print(f"  after imports: {baseline_kib / 1024:.0f} MiB; peak: {peak / 2**20:.0f} MiB")
    print(
        f"  peak / file size: {peak / size:.2f}x, target < 3x: "
        f"{'ok' if peak < 3 * size else 'MISSED'}  ({above / size:.2f}x above the import baseline)"
    )


def bench_catalog(root: Path, runs: int, repeat: int) -> None:
    print(f"\ncatalog: {runs:,} runs")
    write_runs(root, runs)
    cases = [(1000, 0.5, root / "env0")] if runs >= 1000 else []
    if runs != 1000:
        cases.append((runs, 5.0 if runs >= 10_000 else 0.5 * runs / 1000, root))
    for count, target, path in cases:
        n = len(Catalog(path).scan())
        assert n == count, n
        cold = timed(lambda p=path: Catalog(p).scan(), repeat)  # type: ignore[misc]
        report(f"{count:,} runs, cold scan", cold, target)
        catalog = Catalog(path)
        catalog.scan()
        report(f"{count:,} runs, rescan unchanged", timed(catalog.scan, repeat), target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pandas-repeat", type=int, default=1, help="0 skips pandas")
    parser.add_argument("--only", default="load,refresh,memory,catalog")
    parser.add_argument("--dir", type=Path, help="work directory (default: a temp dir)")
    args = parser.parse_args()
    only = set(args.only.split(","))

    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}")
    work = Path(tempfile.mkdtemp(prefix="runlog-bench-", dir=args.dir))
    try:
        train = work / "train_episodes.jsonl"
        if only & {"load", "refresh", "memory"}:
            start = time.perf_counter()
            write_train_log(train, args.episodes)
            print(f"generated {args.episodes:,} episodes in {time.perf_counter() - start:.1f} s")
        full_read = 0.0
        if only & {"load", "refresh"}:
            full_read = bench_load(train, args.repeat, args.pandas_repeat if "load" in only else 0)
        if "refresh" in only:
            bench_refresh(train, full_read, max(50, args.repeat))
        if "memory" in only:
            bench_memory(train)
        if "catalog" in only:
            bench_catalog(work / "runs", args.runs, args.repeat)
        print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
