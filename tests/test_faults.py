"""Faults and abuse, through the layers the dashboard uses (catalog, provider, prune preview).

Each test breaks the runs tree the way real machines do (a trainer killed mid-line,
metadata torn by in-place rewrites, permissions, symlink loops, huge or non-UTF-8 lines,
many tabs, a writer racing the pruner) and checks what survives. Unit-level cases of the
same faults live with their modules (test_episodes, test_provider, test_prune*); these go
through the public entry points together.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from budget import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import runlog.format.metadata
import runlog.read.episodes
from dashboard.context import AppContext
from dashboard.prune_view import apply_preview, check_scope, make_preview
from runlog.errors import MetadataError, OutsideRootError, ReadOnlyError, ResolveError
from runlog.format.layout import parse_checkpoint_step
from runlog.format.paths import resolve_inside
from runlog.format.records import EpisodeRecord, RunMetadata, encode_episode_line, encode_metadata
from runlog.format.run import TrainingRun
from runlog.format.rundirs import find_runs
from runlog.provider import RunProvider
from runlog.prune import plan_prune_tree
from runlog.read.catalog import Catalog
from runlog.read.episodes import EpisodeLog

REPO = Path(__file__).resolve().parents[1]
OLD = 1_000_000_000.0
"""An mtime long ago (2001): runs stamped with it are finished, whatever the clock says."""
LIVE_WINDOW = 3600.0
"""Runs written within the hour count as live: tests never sit near the boundary."""
NOBODY = 65534


def record(i: int) -> EpisodeRecord:
    return EpisodeRecord(float(i), 10 + i % 7, "Terminated", {"epsilon": 1.0 / (1 + i)})


def make_run(
    root: Path,
    name: str = "cartpole",
    version: str = "v1",
    run_id: str = "20260322_120000",
    *,
    episodes: int = 5,
    steps: tuple[int, ...] = (),
) -> Path:
    run = TrainingRun.create(name, version, root, run_id=run_id)
    for i in range(episodes):
        run.log_train_episode(record(i))
    run.update_metadata(sum(record(i).length for i in range(episodes)), 0)
    for n in steps:
        run.checkpoint_path(n).write_bytes(b"c" * (n % 50 + 1))
    if steps:
        run.latest_checkpoint_path().write_bytes(b"latest")
        run.best_checkpoint_path().write_bytes(b"best")
    return run.dir


def age(path: Path, when: float = OLD) -> None:
    """Stamp every file and directory under `path` (not following links) with `when`."""
    for dirpath, dirnames, filenames in os.walk(path):
        for name in [*dirnames, *filenames]:
            os.utime(Path(dirpath) / name, (when, when), follow_symlinks=False)
    os.utime(path, (when, when))


def ctx(root: Path, read_only: bool = False) -> AppContext:
    return AppContext(
        root=root.resolve(), read_only=read_only, live_window=LIVE_WINDOW, stall_window=7200.0
    )


def listing(path: Path) -> dict[str, bytes | str]:
    """Every entry under `path`: file bytes, link targets, "dir" for directories."""
    out: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(path):
        for name in [*dirnames, *filenames]:
            p = Path(dirpath) / name
            rel = p.relative_to(path).as_posix()
            if p.is_symlink():
                out[rel] = "-> " + os.readlink(p)
            elif p.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = p.read_bytes()
    return out


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "runs"
    r.mkdir()
    return r


# ---------------------------------------------------------------- a trainer killed mid-line

KILLED_WRITER = r"""
import os, sys, time
from runlog.format.records import EpisodeRecord
from runlog.format.run import TrainingRun
run = TrainingRun.resume(sys.argv[1])
n = int(sys.argv[2])
for i in range(n):
    run.log_train_episode(EpisodeRecord(float(i), 10, "Terminated", {"epsilon": 0.5}))
# Half a record, as a buffered writer flushing mid-line leaves it, then wait for SIGKILL.
fd = os.open(os.path.join(sys.argv[1], "train_episodes.jsonl"), os.O_WRONLY | os.O_APPEND)
os.write(fd, b'{"total_reward":999.0,"length":10,"sta')
print("torn", flush=True)
time.sleep(120)
"""

RESUMED_WRITER = r"""
import sys
from runlog.format.records import EpisodeRecord
from runlog.format.run import TrainingRun
run = TrainingRun.resume(sys.argv[1])
for i in range(int(sys.argv[2]), int(sys.argv[3])):
    run.log_train_episode(EpisodeRecord(float(i), 10, "Terminated", {"epsilon": 0.5}))
run.update_metadata(10 * int(sys.argv[3]), 0)
"""


def charts(root: Path) -> RunProvider:
    """What the dashboard's pages read runs through."""
    return RunProvider(root, watch=False, background=False)


def chart_rewards(provider: RunProvider, run_dir: Path) -> list[float]:
    """Every train reward the charts get (no thinning below a million points)."""
    rel = run_dir.resolve().relative_to(provider.root).as_posix()
    shown = provider.series(rel, "reward", x="episodes", smooth=0.0, max_points=1_000_000)
    return [float(v) for v in shown.ys["raw"]]


def chart_log(provider: RunProvider, run_dir: Path) -> Any:
    return provider.log(run_dir.resolve().relative_to(provider.root).as_posix(), "train")


def _python(code: str, *args: str, **kwargs: Any) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, text=True, **kwargs)


def test_writer_killed_mid_line_then_resumed(root: Path) -> None:
    run_dir = make_run(root, episodes=0)
    log = EpisodeLog(run_dir / "train_episodes.jsonl")
    store = charts(root)
    before = 40
    writer = _python(KILLED_WRITER, str(run_dir), str(before), stdout=subprocess.PIPE)
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "torn"
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        writer.wait(timeout=60)
    assert writer.returncode == -signal.SIGKILL

    # The torn tail is not data yet: every whole line is, and nothing is counted as bad.
    assert log.refresh() == before
    assert log.bad_lines == []
    assert chart_rewards(store, run_dir) == [float(i) for i in range(before)]
    assert (run_dir / "train_episodes.jsonl").stat().st_size > log.offset

    after = 60
    resumed = _python(RESUMED_WRITER, str(run_dir), str(before), str(after))
    assert resumed.wait(timeout=60) == 0

    log.refresh()
    fresh = EpisodeLog(run_dir / "train_episodes.jsonl")
    fresh.refresh()
    for rewards, bad in (
        (log.frame["reward"].tolist(), log.bad_lines),
        (fresh.frame["reward"].tolist(), fresh.bad_lines),
        (chart_rewards(store, run_dir), list(chart_log(store, run_dir).bad_lines)),
    ):
        # Everything before the kill survives in order; resume seals the torn half with a
        # newline, so it is one bad line (counted) and every resumed record is kept.
        assert rewards == [float(i) for i in range(after)]
        assert 999.0 not in rewards
        assert bad == [before + 1]
    assert log.bad_lines == fresh.bad_lines
    print(f"\nafter SIGKILL and resume: {len(log)} records, bad lines {log.bad_lines}")


# ---------------------------------------------------------------- huge and non-UTF-8 lines


def test_huge_and_non_utf8_lines_are_skipped_counted_and_survived(root: Path) -> None:
    run_dir = make_run(root, episodes=3)
    path = run_dir / "train_episodes.jsonl"
    valid_but_huge = (  # 20 MB of whitespace inside one valid record
        b'{"total_reward":7.0,'
        + b" " * (20 << 20)
        + b'"length":7,"status":"Terminated","extras":{}}\n'
    )
    with path.open("ab") as fh:
        fh.write(b'{"total_reward":' + b"9" * (20 << 20) + b"\n")  # line 4: 20 MB of garbage
        fh.write(b'{"total_reward":1.0,"length":1,"status":"Termin\xff\xfeted","extras":{}}\n')
        fh.write(b'{"total_reward":1.0,"length":1,"status":"Terminated","extras":{"\xe9ps":1}}\n')
        fh.write(b"\x00" * 4096 + b"\n")  # a crash can leave a block of NULs
        fh.write(valid_but_huge)  # line 8: 20 MB, but one valid record
        fh.write(encode_episode_line(record(3)).encode())
    store = charts(root)
    log = chart_log(store, run_dir)
    assert log.problem is None
    assert list(log.bad_lines) == [4, 5, 6, 7]
    assert chart_rewards(store, run_dir) == [0.0, 1.0, 2.0, 7.0, 3.0]

    summaries = {s.rel: s for s in Catalog(root, LIVE_WINDOW, 7200.0).scan()}
    summary = summaries["cartpole/v1/20260322_120000"]
    assert summary.train_episodes == 5
    assert summary.train_bad_lines == (4, 5, 6, 7)
    assert summary.problem == "4 bad lines in train_episodes.jsonl"


# ---------------------------------------------------------------- metadata torn in place


METADATA_REWRITER = r"""
import os, sys
path, progress, stop = sys.argv[1], sys.argv[2], sys.argv[3]
texts = [t.encode() for t in sys.argv[4:]]
fd = os.open(path, os.O_WRONLY)
n = 0
while not os.path.exists(stop):
    # Like the crate: truncate, then write the new text in place (here in two halves).
    text = texts[n % len(texts)]
    os.ftruncate(fd, 0)
    os.pwrite(fd, text[: len(text) // 2], 0)
    os.pwrite(fd, text[len(text) // 2 :], len(text) // 2)
    n += 1
    if n % 250 == 0:
        with open(progress + ".tmp", "w") as out:
            out.write(str(n))
        os.replace(progress + ".tmp", progress)
os.close(fd)
"""


def test_metadata_rewritten_in_place_thousands_of_times_while_the_catalog_reads(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = make_run(root, episodes=3)
    meta = run_dir / "metadata.json"
    base = json.loads(meta.read_text())
    first_steps = base["total_steps"]
    steps = (100, 2_000_000, 30)  # different lengths: a shorter text must leave no tail
    texts = [encode_metadata(RunMetadata(**{**base, "total_steps": s})) for s in steps]

    torn: list[str] = []
    real_parse = runlog.format.metadata.parse_metadata

    def counting_parse(text: str, path: Path) -> RunMetadata:
        try:
            return real_parse(text, path)
        except MetadataError:
            torn.append(text)
            raise

    monkeypatch.setattr(runlog.format.metadata, "parse_metadata", counting_parse)
    catalog = Catalog(root, LIVE_WINDOW, 7200.0)
    assert catalog.scan()[0].ok
    progress, stop = tmp_path / "progress", tmp_path / "stop"
    writer = _python(METADATA_REWRITER, str(meta), str(progress), str(stop), *texts)
    scans = 0

    def rewrites() -> int:
        try:
            return int(progress.read_text())
        except (OSError, ValueError):
            return 0

    try:
        # Until thousands of rewrites happened and the catalog caught some half-written.
        while rewrites() < 3000 or len(torn) < 3 or scans < 100:
            assert scans < 200_000, f"no torn read seen in {scans} scans"
            assert writer.poll() is None, "the rewriter died"
            (summary,) = catalog.scan()
            scans += 1
            # A torn read is transient: the catalog serves the last good metadata, no problem.
            assert summary.ok, summary.problem
            assert summary.metadata is not None
            assert summary.metadata.total_steps in (first_steps, *steps)
            assert summary.train_episodes == 3
    finally:
        stop.touch()
        writer.wait(timeout=120)
    assert writer.returncode == 0
    print(f"\n{rewrites()} rewrites, {scans} scans, {len(torn)} torn reads survived")
    assert all(not t.rstrip().endswith("}") for t in torn)  # each was a cut-short text
    meta.write_text(texts[0])
    (summary,) = catalog.scan()
    assert summary.ok and summary.metadata is not None
    assert summary.metadata.total_steps == steps[0]


# ---------------------------------------------------------------- permission denied

UNPRIVILEGED_CHECK = r"""
import json, os, sys
from pathlib import Path
from runlog.read.catalog import Catalog
from runlog.prune import apply_prune_plans, plan_prune_tree
from runlog.provider import RunProvider
import runlog.read.episodes  # read lazily by the catalog: imported while the files can be read
if sys.argv[2] == "drop":
    # Dropped here, after the imports: the interpreter may live where nobody cannot read.
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
    assert os.geteuid() == 65534
root = Path(sys.argv[1])
catalog = Catalog(root, 3600.0, 7200.0)
out = {"catalog": {s.rel: s.problem for s in catalog.scan()}, "problems": catalog.problems}
log = RunProvider(root, watch=False, background=False).log("cartpole/v1/20260322_120000", "train")
out["store"] = [log.rows, log.problem]
plans = plan_prune_tree(root, 1, root=root, live_window=3600.0)
out["plans"] = {str(p.run_dir.relative_to(root)): [p.files, p.skipped_reason] for p in plans}
results = apply_prune_plans(plans, root=root)
out["deleted"] = sorted(str(p.relative_to(root)) for r in results for p in r.deleted)
out["failed"] = sorted([str(p.relative_to(root)), why] for r in results for p, why in r.failed)
print(json.dumps(out))
"""


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A temp dir that an unprivileged user can traverse (pytest's tmp_path is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="runlog-faults-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        for dirpath, _dirnames, _filenames in os.walk(path):
            os.chmod(dirpath, 0o755)
        shutil.rmtree(path, ignore_errors=True)


def test_permission_denied_dirs_and_files_are_listed_with_the_problem(shared_tmp: Path) -> None:
    """As root (tests run as root here and in CI) chmod denies nothing, so the readers run
    in a child that really drops to user nobody (65534) before reading; as any other user,
    chmod alone does it."""
    root = shared_tmp / "runs"
    root.mkdir()
    unreadable_log = make_run(root, run_id="20260322_120000", steps=(1, 2, 3))
    unreadable_meta = make_run(root, run_id="20260322_130000", steps=(1, 2, 3))
    closed_ckpts = make_run(root, "lunar", "v1", "20260322_140000", steps=(1, 2, 3))
    closed_run = make_run(root, "lunar", "v1", "20260322_160000", steps=(1, 2))
    hidden = make_run(root, "secret", "v1", "20260322_150000", steps=(1, 2))
    age(root)
    (unreadable_log / "train_episodes.jsonl").chmod(0o000)
    (unreadable_meta / "metadata.json").chmod(0o000)
    (closed_ckpts / "checkpoints").chmod(0o000)  # cannot be listed
    closed_run.chmod(0o000)  # a permission-denied run directory
    hidden.parent.chmod(0o000)  # secret/v1: a permission-denied version directory
    # Deleting needs write permission on the checkpoints dir: one run's is writable for
    # the child, the other's is not, so its deletes fail with EACCES.
    deletable, undeletable = unreadable_meta, unreadable_log
    if os.geteuid() == 0:
        os.chown(deletable / "checkpoints", NOBODY, NOBODY)
        mode = "drop"
    else:
        (undeletable / "checkpoints").chmod(0o555)
        mode = "as-is"
    child = subprocess.run(
        [sys.executable, "-c", UNPRIVILEGED_CHECK, str(root), mode],
        env={**os.environ, "PYTHONPATH": str(REPO), "HOME": str(shared_tmp)},
        cwd=shared_tmp,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 0, child.stderr
    out = json.loads(child.stdout)

    log_path = unreadable_log / "train_episodes.jsonl"
    assert out["catalog"] == {
        "cartpole/v1/20260322_120000": f"permission denied: {log_path}",
        "cartpole/v1/20260322_130000": f"permission denied: {unreadable_meta / 'metadata.json'}",
        "lunar/v1/20260322_140000": None,
        "lunar/v1/20260322_160000": f"permission denied: {closed_run}",
    }
    assert out["problems"] == [f"permission denied: {hidden.parent}"]
    assert out["store"] == [0, f"permission denied: {log_path}"]

    plans = out["plans"]
    assert set(plans) == {
        "cartpole/v1/20260322_120000",
        "cartpole/v1/20260322_130000",
        "lunar/v1/20260322_140000",
    }
    assert plans["cartpole/v1/20260322_120000"] == [2, None]
    assert plans["cartpole/v1/20260322_130000"] == [2, None]
    files, reason = plans["lunar/v1/20260322_140000"]
    assert files == 0 and "Permission denied" in reason
    d_rel = deletable.relative_to(root).as_posix()
    u_rel = undeletable.relative_to(root).as_posix()
    assert out["deleted"] == [f"{d_rel}/checkpoints/step_1.mpk", f"{d_rel}/checkpoints/step_2.mpk"]
    # The failures are reported per file, and they did not stop the other run's deletes.
    assert [p for p, _ in out["failed"]] == [
        f"{u_rel}/checkpoints/step_1.mpk",
        f"{u_rel}/checkpoints/step_2.mpk",
    ]
    assert all("Permission denied" in why for _, why in out["failed"])
    assert (undeletable / "checkpoints" / "step_1.mpk").exists()


# ---------------------------------------------------------------- symlink loops


@pytest.mark.timeout(60)
def test_symlink_loops_under_the_root_terminate(root: Path) -> None:
    run_dir = make_run(root, steps=(1, 2, 3, 4))
    age(root)
    (root / "cartpole" / "v1" / "up").symlink_to("..")  # cartpole/v1/up -> cartpole
    (root / "cartpole" / "self").symlink_to("self")  # a link to itself
    (root / "ping").symlink_to("pong")
    (root / "pong").symlink_to("ping")
    (run_dir / "checkpoints" / "step_9.mpk").symlink_to("step_9.mpk")
    (root / "lunar" / "v1").mkdir(parents=True)
    (root / "lunar" / "v1" / "20260322_120000").symlink_to(root / "lunar")  # a run-like loop

    assert [p.name for p in find_runs(root)] == ["20260322_120000"]
    assert [s.rel for s in Catalog(root, LIVE_WINDOW, 7200.0).scan()] == [
        "cartpole/v1/20260322_120000"
    ]
    assert list(find_runs(root)) in ([run_dir], [run_dir.resolve()])
    for bad in ("ping", "cartpole/self", "cartpole/self/x"):
        with pytest.raises(OutsideRootError):
            check_scope(root, bad)
    assert check_scope(root, "cartpole/v1/up") == (root / "cartpole").resolve()

    plans = plan_prune_tree(root, 1, root=root, live_window=LIVE_WINDOW)
    (plan,) = plans
    # The self-link is a step_<N>.mpk name: the largest N, so the kept one (as a link).
    assert [f.path.name for f in plan.keep_files] == ["step_9.mpk"]
    assert sorted(f.step for f in plan.delete) == [1, 2, 3, 4]


# ---------------------------------------------------------------- five tabs on a live run

LIVE_WRITER = r"""
import os, sys, time
path, n = sys.argv[1], int(sys.argv[2])
fd = os.open(path, os.O_WRONLY | os.O_APPEND)
for i in range(n):
    line = ('{"total_reward":%d.0,"length":10,"status":"Terminated","extras":{}}\n' % i).encode()
    os.write(fd, line[:20])  # a torn write, like a buffered writer flushing mid-line
    time.sleep(0.001)
    os.write(fd, line[20:])
    time.sleep(0.002)
"""


class CountingLog(EpisodeLog):
    """An EpisodeLog that counts its refreshes and the records all its instances parsed."""

    parsed = 0
    refreshes = 0
    lock = threading.Lock()

    def refresh(self, sink: Any = None) -> int:
        with CountingLog.lock:
            CountingLog.refreshes += 1
        return super().refresh(sink)

    def _read_pending(self) -> Any:  # the listing's batched read of small logs
        with CountingLog.lock:
            CountingLog.refreshes += 1
        return super()._read_pending()

    def _take(self, batch: Any, sink: Any = None) -> None:  # every parsed batch comes here
        super()._take(batch, sink)
        with CountingLog.lock:
            CountingLog.parsed += batch.rows


def test_five_tabs_on_a_live_run_see_updates_and_share_the_parsing(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runlog.read.episodes, "EpisodeLog", CountingLog)
    monkeypatch.setattr(CountingLog, "parsed", 0)
    monkeypatch.setattr(CountingLog, "refreshes", 0)
    run_dir = make_run(root, episodes=0)
    (run_dir / "train_episodes.jsonl").touch()
    store = charts(root)
    n, tabs = 200, 5
    seen: dict[int, list[int]] = {t: [] for t in range(tabs)}
    errors: list[BaseException] = []
    done = threading.Event()

    def tab(t: int) -> None:
        try:
            while True:
                finished = done.is_set()
                rewards = chart_rewards(store, run_dir)
                assert rewards == [float(i) for i in range(len(rewards))]  # never torn
                seen[t].append(len(rewards))
                if finished:
                    return
                time.sleep(0.0005)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=tab, args=(t,)) for t in range(tabs)]
    for thread in threads:
        thread.start()
    writer = _python(LIVE_WRITER, str(run_dir / "train_episodes.jsonl"), str(n))
    try:
        assert writer.wait(timeout=120) == 0
    finally:
        done.set()
        for thread in threads:
            thread.join(timeout=60)
    assert not errors, errors
    for t in range(tabs):
        assert seen[t][-1] == n, f"tab {t} did not see the last episode"
        assert seen[t] == sorted(seen[t]), f"tab {t} went backwards"
        assert len(set(seen[t])) > 2, f"tab {t} saw no intermediate updates"
    # Each record was parsed once for all five tabs (per-tab readers would parse 5n).
    assert CountingLog.parsed == n
    # And a read happens only when the file's stat changed: about once per write (2n),
    # not once per poll of each tab. (A stat mid-write can see mtime and size move apart.)
    assert CountingLog.refreshes <= 2 * (2 * n + 1)
    assert sum(len(v) for v in seen.values()) > CountingLog.refreshes


# ---------------------------------------------------------------- prune racing writers

CHECKPOINT_WRITER = r"""
import os, sys, time
ckpt, stop, log = sys.argv[1], sys.argv[2], sys.argv[3]
step = int(sys.argv[4])
train = os.path.join(os.path.dirname(ckpt), "train_episodes.jsonl")
with open(log, "a", buffering=1) as out, open(train, "a", buffering=1) as episodes:
    while not os.path.exists(stop):
        episodes.write('{"total_reward":1.0,"length":10,"status":"Terminated","extras":{}}\n')
        step += 10
        name = "step_%d.mpk" % step
        with open(os.path.join(ckpt, name), "wb") as f:
            f.write(b"c" * 32)
        out.write(name + "\n")
        with open(os.path.join(ckpt, "latest.mpk"), "wb") as f:
            f.write(b"l" * 32)
        time.sleep(0.002)
"""


def test_tree_prune_from_the_ui_racing_writers_deletes_only_what_it_showed(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = [
        make_run(root, "cartpole", "v1", f"2026032{i}_120000", steps=tuple(range(1, 30)))
        for i in range(3)
    ]
    idle = make_run(root, "cartpole", "v2", "20260322_120000", steps=tuple(range(1, 30)))
    age(root)
    unlinked: list[str] = []
    real_unlink = os.unlink

    def spy(path: Any, *args: Any, **kwargs: Any) -> None:
        real_unlink(path, *args, **kwargs)
        unlinked.append(os.path.basename(os.fspath(path)))

    monkeypatch.setattr(os, "unlink", spy)
    stop = tmp_path / "stop"
    logs = [tmp_path / f"created{i}.log" for i in range(len(runs))]
    writers = [
        # Each writer's steps are its own (100010, 100020, ... for the first): names differ
        # between runs, and all are above the 29 steps already there.
        _python(CHECKPOINT_WRITER, str(run / "checkpoints"), str(stop), str(log), str(base))
        for run, log, base in zip(runs, logs, (100_000, 200_000, 300_000), strict=True)
    ]
    context = ctx(root)
    deleted: list[Path] = []
    left_for_next_preview = 0
    try:
        while not all(log.exists() and log.read_text() for log in logs):
            time.sleep(0.01)
        first = make_preview(context, "cartpole", 3)
        assert {p.run_dir for p in first.live_plans} == set(runs)  # the writers are live
        assert [p.run_dir for p in first.plans if p.delete] == [idle]  # the idle run is not
        for _ in range(15):
            preview = make_preview(context, "cartpole", 3)
            time.sleep(0.01)  # new checkpoints land between the preview and the confirm
            outcome = apply_preview(context, preview, include_live=True)
            shown = {f.path for p in preview.to_apply(True) for f in p.delete}
            got = [p for r in outcome.results for p in r.deleted]
            assert set(got) <= shown, "deleted something the preview did not show"
            assert outcome.failed == 0
            deleted += got
            # Checkpoints that arrived after the preview stay until a preview shows them.
            left_for_next_preview += sum(
                len(list((run / "checkpoints").glob("step_*.mpk"))) > 3 for run in runs
            )
    finally:
        stop.touch()
        for w in writers:
            w.wait(timeout=60)
    assert all(w.returncode == 0 for w in writers)
    assert deleted, "the race should have deleted something"
    assert left_for_next_preview, "no checkpoint arrived mid-prune: the race was not exercised"
    assert sorted(unlinked) == sorted(p.name for p in deleted), "an unlink outside the results"
    for run, log in zip(runs, logs, strict=True):
        created = log.read_text().split()
        on_disk = {p.name for p in (run / "checkpoints").iterdir()}
        assert {"latest.mpk", "best.mpk"} <= on_disk
        # The 3 newest checkpoints the writer ever made are all still there.
        assert set(created[-3:]) <= on_disk
    # The idle run was pruned once to its 3 largest steps, as its preview showed.
    assert sorted(p.name for p in (idle / "checkpoints").glob("step_*")) == [
        "step_27.mpk",
        "step_28.mpk",
        "step_29.mpk",
    ]


def test_read_only_context_refuses_to_apply(root: Path) -> None:
    make_run(root, steps=(1, 2, 3, 4))
    age(root)
    before = listing(root)
    preview = make_preview(ctx(root, read_only=True), "", 1)
    assert preview.files(False) == 3
    with pytest.raises(ReadOnlyError):
        apply_preview(ctx(root, read_only=True), preview, include_live=True)
    assert listing(root) == before


# ---------------------------------------------------------------- property: tree-level guards

run_spec = st.fixed_dictionaries(
    {
        "steps": st.lists(st.integers(0, 3000), max_size=8, unique=True),
        "padded": st.lists(st.integers(0, 3000), max_size=2, unique=True),
        "junk": st.lists(
            st.sampled_from(["notes.txt", "step_5.mpk.tmp", "step_x.mpk", "Step_1.mpk"]),
            unique=True,
        ),
        "protected": st.booleans(),
        "live": st.booleans(),
        "ckpt": st.sampled_from(["dir", "outside_link", "inside_link", "missing"]),
        "linked_file": st.booleans(),
    }
)


def _build_tree(base: Path, specs: list[dict[str, Any]]) -> tuple[Path, Path]:
    root = base / "runs"
    outside = base / "outside"
    outside.mkdir()
    (outside / "precious.bin").write_bytes(b"p" * 100)
    for i, spec in enumerate(specs):
        run = root / ("cartpole" if i % 2 else "lunar") / f"v{i % 3}" / f"20260322_12000{i}"
        run.mkdir(parents=True)
        (run / "metadata.json").write_text("{}")
        if spec["ckpt"] == "missing":
            continue
        if spec["ckpt"] == "dir":
            ckpt = run / "checkpoints"
            ckpt.mkdir()
        else:
            store = (outside if spec["ckpt"] == "outside_link" else root / "_store") / f"c{i}"
            store.mkdir(parents=True)
            (run / "checkpoints").symlink_to(store)
            ckpt = store
        for n in spec["steps"]:
            (ckpt / f"step_{n}.mpk").write_bytes(b"s" * (n % 13 + 1))
        for n in spec["padded"]:
            if n not in spec["steps"]:
                (ckpt / f"step_00{n}.mpk").write_bytes(b"z")
        for name in spec["junk"]:
            (ckpt / name).write_bytes(b"j")
        if spec["protected"]:
            (ckpt / "latest.mpk").write_bytes(b"latest")
            (ckpt / "best.mpk").write_bytes(b"best")
        if spec["linked_file"]:
            (ckpt / "step_1234567.mpk").symlink_to(outside / "precious.bin")
    age(root)
    age(outside)
    now = time.time()
    for i, spec in enumerate(specs):
        if spec["live"]:
            run = root / ("cartpole" if i % 2 else "lunar") / f"v{i % 3}" / f"20260322_12000{i}"
            os.utime(run / "metadata.json", (now, now))
    return root, outside


@settings(
    max_examples=examples(40),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    specs=st.lists(run_spec, min_size=1, max_size=5),
    keep=st.integers(0, 5),
    include_live=st.booleans(),
    data=st.data(),
)
def test_property_tree_prune_deletes_exactly_the_preview_minus_guards(
    specs: list[dict[str, Any]], keep: int, include_live: bool, data: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root, outside = _build_tree(Path(tmp), specs)
        # The scope is drawn from the folders the tree has: the root, a name, a version.
        names = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name != "_store")
        versions = sorted(f"{n}/{v.name}" for n in names for v in (root / n).iterdir())
        scope = data.draw(st.sampled_from(["", *names, *versions]), label="scope")
        context = ctx(root)
        before_root = listing(root)
        before_outside = listing(outside)
        preview = make_preview(context, scope, keep)

        for plan in (*preview.plans, *preview.live_plans):
            for f in plan.delete:
                # Guards at the UI level: only step_<N>.mpk, only inside the root.
                assert parse_checkpoint_step(f.path.name) == f.step
                assert f.path.name not in ("latest.mpk", "best.mpk")
                assert os.path.realpath(f.path.parent).startswith(os.path.realpath(root))
            if plan.run_dir.joinpath("checkpoints").is_symlink() and not os.path.realpath(
                plan.run_dir / "checkpoints"
            ).startswith(os.path.realpath(root)):
                assert plan.delete == () and plan.skipped_reason is not None
        live_runs = {p.run_dir for p in preview.live_plans}
        for plan in preview.plans:
            if plan.run_dir in live_runs:
                assert plan.delete == ()

        outcome = apply_preview(context, preview, include_live)
        expected = {
            f.path.relative_to(root).as_posix()
            for p in preview.to_apply(include_live)
            for f in p.delete
        }
        # Paths through an inside symlinked checkpoints dir are listed under the store.
        deleted = {p for r in outcome.results for p in r.deleted}
        assert {p.relative_to(root).as_posix() for p in deleted} == expected
        assert outcome.failed == 0 and outcome.skipped == 0
        after_root = listing(root)
        gone = set(before_root) - set(after_root)
        resolved_expected = {
            Path(os.path.realpath((root / rel).parent))
            .joinpath(Path(rel).name)
            .relative_to(os.path.realpath(root))
            .as_posix()
            for rel in expected
        }
        assert gone == resolved_expected
        assert all(after_root[k] == v for k, v in before_root.items() if k in after_root)
        assert listing(outside) == before_outside  # nothing outside the root is touched
        if not include_live:
            for run in live_runs:
                assert not any(run == p.parent.parent for p in deleted)


def test_scope_paths_from_the_url_are_refused_outside_the_root(root: Path, tmp_path: Path) -> None:
    make_run(root)
    (root / "escape").symlink_to(tmp_path)
    (root / "etc").symlink_to("/etc")
    for bad in ("..", "../..", "/etc", "cartpole/../../x", "escape", "etc", "C:/x", "a\\..\\b"):
        with pytest.raises(OutsideRootError):
            check_scope(root, bad)
    with pytest.raises(ResolveError, match="nothing called"):
        check_scope(root, "nope")
    with pytest.raises(ResolveError, match="not a run"):
        check_scope(root, "cartpole/v1/20260322_120000/metadata.json")
    assert check_scope(root, "") == root.resolve()
    assert resolve_inside(root, "cartpole") == (root / "cartpole").resolve()
