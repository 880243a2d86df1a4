"""run.py: TrainingRun writes what ember-rl writes, atomically and collision-safe."""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import runpy
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import runlog.format.run
from runlog.errors import InvalidNameError, MetadataError, ResolveError, RunlogError
from runlog.format.records import EpisodeRecord, encode_config
from runlog.format.run import TrainingRun, append_line, atomic_write_text

PLUS_ONE = timezone(timedelta(hours=1))
NOON = datetime(2026, 3, 22, 12, 0, 0, 123456, tzinfo=PLUS_ONE)


def fixed_clock() -> datetime:
    return NOON


class TickingClock:
    """Advances one second and a bit per call, like a slow training loop."""

    def __init__(self, start: datetime = NOON) -> None:
        self.now = start

    def __call__(self) -> datetime:
        moment = self.now
        self.now += timedelta(seconds=1, microseconds=1)
        return moment


def test_create_makes_the_documented_layout(tmp_path: Path) -> None:
    run = TrainingRun.create("cartpole", "v1", tmp_path, clock=fixed_clock)
    assert run.dir == tmp_path / "cartpole" / "v1" / "20260322_120000"
    assert (run.dir / "checkpoints").is_dir()
    assert (run.dir / "metadata.json").read_bytes() == (
        b"{\n"
        b'  "name": "cartpole",\n'
        b'  "version": "v1",\n'
        b'  "run_id": "20260322_120000",\n'
        b'  "total_steps": 0,\n'
        b'  "total_episodes": 0,\n'
        b'  "started_at": "2026-03-22T12:00:00.123456+01:00",\n'
        b'  "last_updated": "2026-03-22T12:00:00.123456+01:00"\n'
        b"}"
    )
    assert sorted(p.name for p in run.dir.iterdir()) == ["checkpoints", "metadata.json"]


def test_create_with_the_real_clock_writes_local_time(tmp_path: Path) -> None:
    before = datetime.now().astimezone().replace(microsecond=0)
    run = TrainingRun.create("cartpole", "v1", tmp_path)
    after = datetime.now().astimezone()
    started = run.metadata.started_at_datetime
    assert started is not None and before <= started <= after
    assert run.metadata.run_id == started.strftime("%Y%m%d_%H%M%S")
    assert run.metadata.started_at == run.metadata.last_updated


def test_naive_clock_is_taken_as_local_time(tmp_path: Path) -> None:
    naive = datetime(2026, 3, 22, 12, 0, 0)
    run = TrainingRun.create("c", "v1", tmp_path, clock=lambda: naive)
    assert run.metadata.run_id == "20260322_120000"
    assert run.metadata.started_at_datetime == naive.astimezone()


@pytest.mark.parametrize(
    ("name", "version"), [("a/b", "v1"), ("..", "v1"), ("c", ""), ("c", "v/1")]
)
def test_create_rejects_names_that_are_not_one_directory(
    tmp_path: Path, name: str, version: str
) -> None:
    with pytest.raises(InvalidNameError):
        TrainingRun.create(name, version, tmp_path, clock=fixed_clock)
    assert not any(tmp_path.iterdir())


def test_same_second_creates_get_suffixes_that_sort_after(tmp_path: Path) -> None:
    runs = [TrainingRun.create("c", "v1", tmp_path, clock=fixed_clock) for _ in range(3)]
    ids = [run.metadata.run_id for run in runs]
    assert ids == ["20260322_120000", "20260322_120000_01", "20260322_120000_02"]
    assert ids == sorted(ids)
    assert max(ids) < "20260322_120001"
    assert [run.dir.name for run in runs] == ids
    assert TrainingRun.resume(tmp_path / "c").dir == runs[-1].dir


def test_explicit_run_id_is_used_and_also_protected(tmp_path: Path) -> None:
    first = TrainingRun.create("c", "v1", tmp_path, run_id="seed0", clock=fixed_clock)
    second = TrainingRun.create("c", "v1", tmp_path, run_id="seed0", clock=fixed_clock)
    assert (first.metadata.run_id, second.metadata.run_id) == ("seed0", "seed0_01")
    with pytest.raises(InvalidNameError):
        TrainingRun.create("c", "v1", tmp_path, run_id="../x")


def test_create_gives_up_when_every_name_is_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runlog.format.run, "MAX_SAME_SECOND_RUNS", 3)
    for _ in range(3):
        TrainingRun.create("c", "v1", tmp_path, clock=fixed_clock)
    with pytest.raises(RunlogError, match="all taken"):
        TrainingRun.create("c", "v1", tmp_path, clock=fixed_clock)


def test_concurrent_creates_in_threads_get_distinct_dirs(tmp_path: Path) -> None:
    barrier = threading.Barrier(8)
    runs: list[TrainingRun] = []
    lock = threading.Lock()

    def create() -> None:
        barrier.wait()
        run = TrainingRun.create("c", "v1", tmp_path, clock=fixed_clock)
        with lock:
            runs.append(run)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    dirs = {run.dir for run in runs}
    assert len(dirs) == 8
    assert dirs == set((tmp_path / "c" / "v1").iterdir())
    for run in runs:
        on_disk = json.loads((run.dir / "metadata.json").read_text())
        assert on_disk["run_id"] == run.dir.name


def _create_in_process(root: str, start: object, queue: object) -> None:
    start.wait()  # type: ignore[attr-defined]
    run = TrainingRun.create("c", "v1", root, clock=fixed_clock)
    queue.put(str(run.dir))  # type: ignore[attr-defined]


def test_concurrent_creates_in_processes_get_distinct_dirs(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    start = context.Event()
    queue = context.Queue()
    workers = [
        context.Process(target=_create_in_process, args=(str(tmp_path), start, queue))
        for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    start.set()
    dirs = {queue.get(timeout=30) for _ in workers}
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    assert len(dirs) == 4
    names = sorted(Path(d).name for d in dirs)
    assert names == ["20260322_120000"] + [f"20260322_120000_0{i}" for i in (1, 2, 3)]


def test_write_config_writes_pretty_json(tmp_path: Path) -> None:
    run = TrainingRun.create("c", "v1", tmp_path, clock=fixed_clock)
    config = [{"gamma": 0.99, "lr": 1e-5}, {"size": 4}, {"num_actions": 2}]
    run.write_config(config)
    text = (run.dir / "config.json").read_text()
    assert text == encode_config(config)
    assert '"lr": 0.00001' in text
    assert json.loads(text) == config


def test_log_episodes_appends_one_line_each(tmp_path: Path) -> None:
    run = TrainingRun.create("c", "v1", tmp_path, clock=fixed_clock)
    run.log_train_episode(EpisodeRecord(23.0, 23, "Terminated", {"epsilon": 0.87}))
    run.log_train_episode(EpisodeRecord(500.0, 500, "Truncated", {"epsilon": 0.5}))
    run.log_eval_episode(EpisodeRecord(500.0, 500, "Truncated"), 10000)
    train = (run.dir / "train_episodes.jsonl").read_text()
    assert train == (
        '{"total_reward":23.0,"length":23,"status":"Terminated","extras":{"epsilon":0.87}}\n'
        '{"total_reward":500.0,"length":500,"status":"Truncated","extras":{"epsilon":0.5}}\n'
    )
    evals = [
        json.loads(line) for line in (run.dir / "eval_episodes.jsonl").read_text().splitlines()
    ]
    assert evals == [
        {
            "total_steps_at_eval": 10000,
            "total_reward": 500.0,
            "length": 500,
            "status": "Truncated",
            "extras": {},
        }
    ]


def test_non_finite_reward_never_crashes_the_loop(tmp_path: Path) -> None:
    run = TrainingRun.create("c", "v1", tmp_path, clock=fixed_clock)
    run.log_train_episode(EpisodeRecord(math.nan, 1, "Terminated", {"loss_mean": math.inf}))
    run.log_eval_episode(EpisodeRecord(-math.inf, 1, "Terminated"), 5)
    train = json.loads((run.dir / "train_episodes.jsonl").read_text())
    assert train["total_reward"] is None and train["extras"] == {"loss_mean": None}
    assert json.loads((run.dir / "eval_episodes.jsonl").read_text())["total_reward"] is None


def test_each_line_is_one_write_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = TrainingRun.create("c", "v1", tmp_path, clock=fixed_clock)
    real_write = os.write
    writes: list[bytes] = []

    def recording_write(fd: int, data: bytes) -> int:
        writes.append(bytes(data))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", recording_write)
    record = EpisodeRecord(1.5, 2, "Terminated", {f"k{i}": i / 7 for i in range(200)})
    run.log_train_episode(record)
    assert len(writes) == 1
    assert writes[0].endswith(b"\n") and writes[0].count(b"\n") == 1


def test_short_writes_still_finish_the_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = os.write

    def half_write(fd: int, data: bytes) -> int:
        return real_write(fd, data[: max(1, len(data) // 2)])

    monkeypatch.setattr(os, "write", half_write)
    append_line(tmp_path / "log.jsonl", '{"a":1}\n')
    assert (tmp_path / "log.jsonl").read_text() == '{"a":1}\n'


def test_concurrent_appends_never_interleave(tmp_path: Path) -> None:
    run = TrainingRun.create("c", "v1", tmp_path, clock=fixed_clock)
    extras = {f"metric_{i}": i * 0.001 for i in range(120)}  # ~3 KB lines

    def log(worker: int) -> None:
        for episode in range(100):
            run.log_train_episode(EpisodeRecord(float(worker), episode, "Terminated", extras))

    threads = [threading.Thread(target=log, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = (run.dir / "train_episodes.jsonl").read_text().splitlines()
    assert len(lines) == 400
    decoded = [json.loads(line) for line in lines]
    for worker in range(4):
        mine = [d["length"] for d in decoded if d["total_reward"] == worker]
        assert mine == list(range(100))


def test_update_metadata_rewrites_counts_and_last_updated(tmp_path: Path) -> None:
    clock = TickingClock()
    run = TrainingRun.create("c", "v1", tmp_path, clock=clock)
    updated = run.update_metadata(1234, 0)
    assert updated is run.metadata
    on_disk = json.loads((run.dir / "metadata.json").read_text())
    assert on_disk["total_steps"] == 1234 and on_disk["total_episodes"] == 0
    assert on_disk["started_at"] == "2026-03-22T12:00:00.123456+01:00"
    assert on_disk["last_updated"] == "2026-03-22T12:00:01.123457+01:00"
    assert TrainingRun.resume(run.dir).metadata == run.metadata
    assert sorted(p.name for p in run.dir.iterdir()) == ["checkpoints", "metadata.json"]


def test_update_metadata_rejects_negative_counts(tmp_path: Path) -> None:
    run = TrainingRun.create("c", "v1", tmp_path, clock=fixed_clock)
    with pytest.raises(ValueError, match="total_steps"):
        run.update_metadata(-1, 0)
    assert run.metadata.total_steps == 0


def test_failed_metadata_write_leaves_the_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = TrainingRun.create("c", "v1", tmp_path, clock=fixed_clock)
    before = (run.dir / "metadata.json").read_bytes()

    def failing_replace(src: str, dst: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="No space"):
        run.update_metadata(10, 0)
    assert (run.dir / "metadata.json").read_bytes() == before
    assert sorted(p.name for p in run.dir.iterdir()) == ["checkpoints", "metadata.json"]


def test_atomic_write_replaces_the_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    target.write_text("x" * 1000)
    atomic_write_text(target, "short")
    assert target.read_text() == "short"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_checkpoint_paths_are_pure(tmp_path: Path) -> None:
    run = TrainingRun.create("c", "v1", tmp_path, clock=fixed_clock)
    assert run.checkpoint_path(10000) == run.dir / "checkpoints" / "step_10000.mpk"
    assert run.latest_checkpoint_path() == run.dir / "checkpoints" / "latest.mpk"
    assert run.best_checkpoint_path() == run.dir / "checkpoints" / "best.mpk"
    assert not run.checkpoint_path(10000).exists()


def test_resume_finds_the_newest_run_and_keeps_writing(tmp_path: Path) -> None:
    clock = TickingClock()
    TrainingRun.create("c", "v1", tmp_path, clock=clock)
    newest = TrainingRun.create("c", "v1", tmp_path, clock=clock)
    newest.update_metadata(50, 0)
    resumed = TrainingRun.resume(tmp_path / "c", clock=clock)
    assert resumed.dir == newest.dir
    assert resumed.metadata == newest.metadata
    resumed.log_train_episode(EpisodeRecord(3.0, 3))
    assert (newest.dir / "train_episodes.jsonl").read_text().count("\n") == 1


def test_resume_seals_a_line_torn_by_a_killed_writer(tmp_path: Path) -> None:
    run = TrainingRun.create("c", "v1", tmp_path, clock=fixed_clock)
    run.log_train_episode(EpisodeRecord(1.0, 1))
    log = run.dir / "train_episodes.jsonl"
    with open(log, "ab") as f:
        f.write(b'{"total_reward":2.0,"len')  # killed mid-line
    resumed = TrainingRun.resume(run.dir, clock=fixed_clock)
    resumed.log_train_episode(EpisodeRecord(3.0, 3))
    lines = log.read_text().splitlines()
    assert len(lines) == 3
    assert json.loads(lines[0])["total_reward"] == 1.0
    assert lines[1] == '{"total_reward":2.0,"len'  # the torn half stays one bad line
    assert json.loads(lines[2])["total_reward"] == 3.0  # the next record is not lost
    # An intact log and a missing eval log are left exactly as they were.
    before = log.read_bytes()
    TrainingRun.resume(run.dir, clock=fixed_clock)
    assert log.read_bytes() == before
    assert not (run.dir / "eval_episodes.jsonl").exists()


def test_resume_errors(tmp_path: Path) -> None:
    with pytest.raises(ResolveError):
        TrainingRun.resume(tmp_path)
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "metadata.json").write_text('{"name": "c"')
    with pytest.raises(MetadataError, match="cut short"):
        TrainingRun.resume(tmp_path / "r")


def test_prune_checkpoints_keeps_the_largest_steps(tmp_path: Path) -> None:
    run = TrainingRun.create("c", "v1", tmp_path, clock=fixed_clock)
    for step in (9, 10, 100, 1000, 20, 5):
        run.checkpoint_path(step).write_bytes(b"\x00" * 16)
    run.latest_checkpoint_path().write_bytes(b"latest")
    run.best_checkpoint_path().write_bytes(b"best")
    deleted = run.prune_checkpoints(3)
    assert sorted(p.name for p in deleted) == ["step_10.mpk", "step_5.mpk", "step_9.mpk"]
    remaining = sorted(p.name for p in (run.dir / "checkpoints").iterdir())
    assert remaining == ["best.mpk", "latest.mpk", "step_100.mpk", "step_1000.mpk", "step_20.mpk"]


def test_live_run_script_writes_a_growing_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = Path(__file__).resolve().parent.parent / "scripts" / "live_run.py"
    namespace = runpy.run_path(str(script), run_name="live_run")
    argv = ["--root", str(tmp_path), "--name", "cartpole", "--version", "v1"]
    argv += ["--interval", "0", "--episodes", "50", "--checkpoint-every", "10"]
    argv += ["--eval-every", "25", "--keep", "3"]
    assert namespace["main"](argv) == 0
    run_dir = Path(capsys.readouterr().out.splitlines()[0])
    assert run_dir.parent == tmp_path / "cartpole" / "v1"
    train = [json.loads(line) for line in (run_dir / "train_episodes.jsonl").open()]
    evals = [json.loads(line) for line in (run_dir / "eval_episodes.jsonl").open()]
    assert len(train) == 50 and len(evals) == 10
    metadata = TrainingRun.resume(run_dir).metadata
    assert metadata.total_episodes == 50
    assert metadata.total_steps == sum(t["length"] for t in train)
    steps = sorted(int(p.stem[5:]) for p in (run_dir / "checkpoints").glob("step_*.mpk"))
    assert len(steps) == 3 and steps[-1] == metadata.total_steps
    assert (run_dir / "checkpoints" / "latest.mpk").exists()
    assert (run_dir / "checkpoints" / "best.mpk").exists()
