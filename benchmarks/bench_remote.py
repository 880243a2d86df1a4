"""Remote runs roots at the issue's scale (issue 11): 1,000 runs on a loopback S3 server.

    .venv/bin/python benchmarks/bench_remote.py             # ~3-5 min: generate, upload, measure
    .venv/bin/python benchmarks/bench_remote.py --runs 50 --changed 3 --keep

Starts moto's S3 server in this process (ThreadedMotoServer, 127.0.0.1, a free port; the
environment points the AWS client chain at it and at no other address), generates `--runs`
small runs (`--episodes` train episodes, 4 eval blocks of 5, config.json, metadata.json, 3 step
checkpoints + latest.mpk + best.mpk of 4 KB) and uploads them to s3://runlog-bench/runs (not
measured). Then, each with its wall time (`time.perf_counter`) and the S3 requests runlog sent,
by operation (`root.store.requests`, counted through botocore's before-call events):

  cold          `open_remote` on an empty cache: one listing (LIST pages of 1,000 keys) and one
                GET per downloaded object (metadata, config, train and eval log; checkpoints
                are sparse placeholders); then the run list built from the mirror as `runlog
                ls` builds it (RunProvider with the cache dir's RunIndex), which fills the index
  warm restart  `forget_remotes()` (a new process, as far as runlog knows) and `open_remote` on
                the same cache, then the run list with the index: LIST pages only, 0 GETs
  idle poll     one `sync()` of the open root, nothing changed: <= ceil(objects / 1000) LIST
                pages and nothing else
  live update   `--changed` train logs rewritten in the bucket with 20 more lines (a sync tool
                puts the whole grown object), then one `sync()`: one ranged GET per changed log,
                no whole GET; the bytes fetched beside the logs' full size
  CLI           `runlog ls s3://runlog-bench/runs`, whole process, on a fresh cache dir (cold)
                and again on the same (warm): wall time only (its requests are not counted)

Exits 1 when a request-count target is missed (times have no target). Deletes the generated
runs and caches and stops the server at the end, unless --keep (the directories stay).
"""

from __future__ import annotations

import argparse
import compileall
import logging
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from runlog.format.layout import TRAIN_LOG
from runlog.format.records import EpisodeRecord, encode_episode_line, encode_eval_line
from runlog.format.run import TrainingRun
from runlog.provider import RunProvider
from runlog.read.index import open_index
from runlog.remote.mirror import OVERLAP
from runlog.remote.roots import RemoteRoot, forget_remotes, open_remote
from runlog.remote.urls import RemoteURL

REPO = Path(__file__).resolve().parent.parent
BUCKET = "runlog-bench"
PREFIX = "runs"
PAGE = 1000
"""Keys per ListObjectsV2 page (S3's and moto's default MaxKeys)."""
NAMES = ("cartpole", "lunarlander", "pendulum", "acrobot", "mountaincar")
VERSIONS = ("v1", "v2")
EVAL_BLOCKS = 4
EVAL_EPISODES = 5
CHECKPOINT_BYTES = 4096
APPENDED = 20
"""Lines appended to each changed log in the live update."""
DOWNLOADED_PER_RUN = 4
"""metadata.json, config.json, train_episodes.jsonl, eval_episodes.jsonl."""

T = TypeVar("T")


# -- the server and the data --------------------------------------------------------------------


def start_server() -> tuple[Any, str]:
    """A moto S3 server on loopback and the environment pointed at it (only at it)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    if host != "127.0.0.1":
        server.stop()
        raise SystemExit(f"the S3 server is on {host}, not on loopback")
    endpoint = f"http://{host}:{port}"
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "AKIABENCHRUNLOG00001",
            "AWS_SECRET_ACCESS_KEY": "runlog-bench-secret-0123456789abcdef",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": "/nonexistent/runlog-bench-aws-config",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/runlog-bench-aws-credentials",
        }
    )
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "RUNLOG_NO_CACHE"):
        os.environ.pop(name, None)
    return server, endpoint


def generate(root: Path, runs: int, episodes: int) -> None:
    """`runs` small runs under `root`, spread over 5 names x 2 versions. The run directory and
    metadata come from TrainingRun; each log is written in one go with the format's encoders
    (the crate writes one line at a time; the bytes are the same)."""
    rng = np.random.default_rng(11)
    for i in range(runs):
        name = NAMES[i % len(NAMES)]
        version = VERSIONS[(i // len(NAMES)) % len(VERSIONS)]
        run = TrainingRun.create(name, version, root, run_id=f"20260401_{i:06d}")
        run.write_config({"lr": float(10 ** rng.uniform(-4, -2)), "seed": i % 5, "gamma": 0.99})
        lengths = rng.integers(20, 500, size=episodes)
        rewards = lengths * rng.uniform(0.8, 1.2, size=episodes)
        epsilons = np.linspace(1.0, 0.05, episodes)
        lines = [
            encode_episode_line(
                EpisodeRecord(round(r, 3), n, "Terminated", {"epsilon": round(e, 4)})
            )
            for r, n, e in zip(rewards.tolist(), lengths.tolist(), epsilons.tolist(), strict=True)
        ]
        (run.dir / TRAIN_LOG).write_text("".join(lines))
        steps = int(lengths.sum())
        evals = []
        for block in range(1, EVAL_BLOCKS + 1):
            at = steps * block // EVAL_BLOCKS
            for _ in range(EVAL_EPISODES):
                reward = round(float(400 * block / EVAL_BLOCKS + rng.normal(0, 20)), 3)
                evals.append(encode_eval_line(EpisodeRecord(reward, 500, "Truncated"), at))
        (run.dir / "eval_episodes.jsonl").write_text("".join(evals))
        for block in range(1, 4):
            run.checkpoint_path(steps * block // 3).write_bytes(os.urandom(CHECKPOINT_BYTES))
        run.latest_checkpoint_path().write_bytes(os.urandom(CHECKPOINT_BYTES))
        run.best_checkpoint_path().write_bytes(os.urandom(CHECKPOINT_BYTES))
        run.update_metadata(steps, episodes)


def upload(fs: Any, local: Path) -> None:
    """Every file under `local` to s3://BUCKET/PREFIX/..., in parallel (s3fs batches the PUTs)."""
    fs.put(f"{local}/", f"{BUCKET}/{PREFIX}", recursive=True)


# -- measuring ----------------------------------------------------------------------------------


@dataclass
class Row:
    figure: str
    wall: float
    requests: str
    target: str = ""
    ok: bool | None = None


def fmt(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def size(n: float) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} KB"


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - started


def shown(requests: Counter[str]) -> str:
    """The requests by operation, LIST and GETs first: "ListObjectsV2 9, GetObject 4,000"."""
    first = ("ListObjectsV2", "GetObject", "GetObject ranged", "HeadObject")
    order = [op for op in first if requests.get(op)] + sorted(set(requests) - set(first))
    return ", ".join(f"{op} {requests[op]:,}" for op in order if requests[op]) or "none"


def only(requests: Counter[str], allowed: dict[str, Callable[[int], bool]]) -> bool:
    """Every request is of an allowed operation, and each allowed count passes its check."""
    return set(requests) <= set(allowed) and all(
        check(requests.get(op, 0)) for op, check in allowed.items()
    )


def listing(root: RemoteRoot, cache: Path) -> tuple[RunProvider, int, float]:
    """The run list as `runlog ls` builds it: the cache dir's index, no watcher, read now."""

    def build() -> tuple[RunProvider, int]:
        index = open_index({"RUNLOG_CACHE_DIR": str(cache)})
        provider = RunProvider(root.local_root, index=index, watch=False, background=False)
        provider.refresh()
        return provider, len(provider.runs())

    (provider, count), wall = timed(build)
    return provider, count, wall


def runlog_ls(url: str, cache: Path) -> tuple[float, str]:
    """(wall seconds, stdout) of one whole `runlog ls URL` process on the cache dir `cache`."""
    exe = Path(sys.executable).with_name("runlog")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "runlog"]
    env = {**os.environ, "RUNLOG_CACHE_DIR": str(cache)}
    started = time.perf_counter()
    proc = subprocess.run([*command, "ls", url], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"runlog ls {url} failed ({proc.returncode}):\n{proc.stderr}")
    return wall, proc.stdout


def listed_runs(stdout: str) -> int:
    match = re.search(r"^([0-9]+) runs?\b", stdout, re.MULTILINE)
    return int(match.group(1)) if match else -1


# -- the figures --------------------------------------------------------------------------------


def measure(args: argparse.Namespace, work: Path, fs: Any) -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    notes: list[str] = []
    url = RemoteURL("s3", BUCKET, PREFIX)
    objects = len(fs.find(f"{BUCKET}/{PREFIX}"))
    pages = math.ceil(objects / PAGE)
    expected_gets = DOWNLOADED_PER_RUN * args.runs
    cache = work / "cache"

    def lists_only(n: int) -> Callable[[int], bool]:
        return lambda got: got == n

    # a. cold: the first listing and the GETs of what is downloaded.
    root, wall = timed(lambda: open_remote(url, cache=cache))
    cold = Counter(root.store.requests)
    report = root.last
    assert report is not None and report.objects == objects, report
    per_run = cold["GetObject"] / max(args.runs, 1)
    rows.append(
        Row(
            "cold: open_remote, empty cache",
            wall,
            f"{shown(cold)} ({per_run:g} GETs a run)",
            f"{pages} LIST, {DOWNLOADED_PER_RUN} GETs a run",
            only(
                cold, {"ListObjectsV2": lists_only(pages), "GetObject": lists_only(expected_gets)}
            ),
        )
    )
    notes.append(
        f"cold sync: {report.whole_gets:,} whole GETs, {report.placeholders:,} placeholders "
        f"(checkpoints, never fetched), {size(report.bytes_fetched)} fetched"
    )
    # b. the run list from the fresh mirror, filling the index.
    before = Counter(root.store.requests)
    _, count, wall = listing(root, cache)
    assert count == args.runs, f"listed {count} runs, generated {args.runs}"
    rows.append(
        Row(
            "cold: run list from the mirror (index built)",
            wall,
            shown(root.store.requests - before),
        )
    )
    rows.append(
        Row(
            "cold: total, as the CLI's listing in process",
            rows[-2].wall + rows[-1].wall,
            "",
        )
    )

    # c. warm restart: a new store and mirror on the same cache, the run list from the index.
    forget_remotes()
    root, wall = timed(lambda: open_remote(url, cache=cache))
    warm = Counter(root.store.requests)
    rows.append(
        Row(
            "warm restart: open_remote, same cache",
            wall,
            shown(warm),
            f"{pages} LIST, 0 GETs",
            only(warm, {"ListObjectsV2": lists_only(pages)}),
        )
    )
    before = Counter(root.store.requests)
    provider, count, wall = listing(root, cache)
    assert count == args.runs, f"listed {count} runs, generated {args.runs}"
    rows.append(
        Row("warm restart: run list with the index", wall, shown(root.store.requests - before))
    )
    rows.append(Row("warm restart: total", rows[-2].wall + rows[-1].wall, ""))

    # d. one poll of an idle root.
    root.store.requests.clear()
    report, wall = timed(root.sync)
    idle = Counter(root.store.requests)
    assert report is not None, root.problem
    rows.append(
        Row(
            "idle poll: sync(), nothing changed",
            wall,
            shown(idle),
            f"<= {pages} LIST, nothing else",
            only(idle, {"ListObjectsV2": lambda got: 1 <= got <= pages}) and not report.changed,
        )
    )
    _, bare = timed(root.store.list_objects)
    notes.append(
        f"the listing alone (store.list_objects(), {pages} LIST pages, the server's time "
        "included): "
        f"{fmt(bare)}; the idle poll is that plus comparing {objects:,} objects to the manifest"
    )

    # e. one live update: K train logs grown by APPENDED lines, each put whole.
    changed = sorted(s.rel for s in provider.runs())[:: max(1, args.runs // max(args.changed, 1))]
    changed = changed[: args.changed]
    full = 0
    grown: dict[str, bytes] = {}
    for rel in changed:
        key = f"{BUCKET}/{PREFIX}/{rel}/{TRAIN_LOG}"
        old: bytes = fs.cat_file(key)
        extra = "".join(
            encode_episode_line(EpisodeRecord(450.0 + k, 480, "Terminated", {"epsilon": 0.05}))
            for k in range(APPENDED)
        ).encode()
        fs.pipe_file(key, old + extra)
        grown[rel] = old + extra
        full += len(old) + len(extra)
    root.store.requests.clear()
    report, wall = timed(root.sync)
    live = Counter(root.store.requests)
    assert report is not None, root.problem
    rows.append(
        Row(
            f"live update: sync(), {len(changed)} logs grown",
            wall,
            shown(live),
            f"{pages} LIST, {len(changed)} ranged GETs, 0 whole",
            only(
                live,
                {
                    "ListObjectsV2": lambda got: 1 <= got <= pages,
                    "GetObject ranged": lists_only(len(changed)),
                },
            ),
        )
    )
    same = all(
        (root.local_root / rel / TRAIN_LOG).read_bytes() == data for rel, data in grown.items()
    )
    notes.append(
        f"live update: {size(report.bytes_fetched)} fetched for {len(changed)} logs of "
        f"{size(full)} in all ({OVERLAP} B overlap + {APPENDED} new lines each); "
        f"mirrored logs equal the bucket's: {'yes' if same else 'NO'}"
    )
    before = Counter(root.store.requests)
    _, wall = timed(provider.refresh)
    seen = [provider.run(rel) for rel in changed]
    episodes = [s.train_episodes if s is not None else -1 for s in seen]
    rows.append(
        Row("live update: provider.refresh() after it", wall, shown(root.store.requests - before))
    )
    notes.append(
        f"after the live update the run list shows {episodes} train episodes for the changed "
        f"runs (generated {args.episodes} + {APPENDED})"
    )
    ok = same and all(n == args.episodes + APPENDED for n in episodes)
    if not ok:
        rows[-1].target, rows[-1].ok = "the new lines listed", False

    # f. the CLI, whole process: a fresh cache (cold), then the same cache again (warm).
    compileall.compile_dir(REPO / "runlog", quiet=1)
    text = f"s3://{BUCKET}/{PREFIX}"
    cli_cache = work / "cli-cache"
    for label in ("cold, fresh cache dir", "warm, same cache dir"):
        wall, stdout = runlog_ls(text, cli_cache)
        listed = listed_runs(stdout)
        row = Row(f"runlog ls {text} ({label})", wall, "(not counted: another process)")
        if listed != args.runs:
            row.target, row.ok = f"{args.runs} runs listed", False
            notes.append(f"runlog ls listed {listed} runs:\n{stdout[-2000:]}")
        rows.append(row)
    return rows, notes


def table(rows: list[Row]) -> None:
    header = ("figure", "wall", "S3 requests (by operation)", "target", "")
    body = [
        (
            r.figure,
            fmt(r.wall),
            r.requests,
            r.target,
            "" if r.ok is None else ("PASS" if r.ok else "MISS"),
        )
        for r in rows
    ]
    widths = [max(len(line[c]) for line in [header, *body]) for c in range(len(header))]
    for i, line in enumerate([header, *body]):
        cells = [
            cell.rjust(w) if c == 1 else cell.ljust(w)
            for c, (cell, w) in enumerate(zip(line, widths, strict=True))
        ]
        print("  " + "  ".join(cells).rstrip())
        if i == 0:
            print("  " + "  ".join("-" * w for w in widths))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--episodes", type=int, default=200, help="train episodes a run")
    parser.add_argument("--changed", type=int, default=3, help="logs grown in the live update")
    parser.add_argument("--keep", action="store_true", help="keep the temp dirs")
    args = parser.parse_args()
    if args.runs < 1 or not 1 <= args.changed <= args.runs:
        parser.error("need --runs >= 1 and 1 <= --changed <= --runs")
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}")
    work = Path(tempfile.mkdtemp(prefix="runlog-bench-remote-"))
    server = None
    try:
        server, endpoint = start_server()
        import fsspec

        fs = fsspec.filesystem("s3", skip_instance_cache=True)
        fs.mkdir(BUCKET)
        local = work / "runs"
        _, gen = timed(lambda: generate(local, args.runs, args.episodes))
        files = [p for p in local.rglob("*") if p.is_file()]
        total = sum(p.stat().st_size for p in files)
        _, up = timed(lambda: upload(fs, local))
        objects = len(fs.find(f"{BUCKET}/{PREFIX}"))
        if objects != len(files):
            raise SystemExit(f"uploaded {objects} objects of {len(files)} files")
        print(
            f"{args.runs:,} runs ({args.episodes} train episodes each): {objects:,} objects, "
            f"{size(total)}, on {endpoint} (moto, in this process); generated in {fmt(gen)}, "
            f"uploaded in {fmt(up)} (not measured); LIST pages of {PAGE:,} keys: "
            f"{math.ceil(objects / PAGE)}\n"
        )
        rows, notes = measure(args, work, fs)
        table(rows)
        print()
        for note in notes:
            print(f"  {note}")
        missed = [r.figure for r in rows if r.ok is False]
        targets = sum(1 for r in rows if r.ok is not None)
        print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")
        if missed:
            print(
                f"bench_remote: {len(missed)} of {targets} request targets MISSED: "
                + "; ".join(missed)
            )
            return 1
        print(
            f"bench_remote: {args.runs:,} runs, {objects:,} objects: "
            f"all {targets} request targets met"
        )
        return 0
    finally:
        forget_remotes()
        if server is not None:
            server.stop()
        if args.keep:
            print(f"kept {work} (runs/, cache/, cli-cache/)")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
