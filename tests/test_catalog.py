"""runlog.read.catalog: finding runs, summarising them, and serving them across rescans."""

from __future__ import annotations

import gc
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from budget import examples
from hypothesis import given, settings
from hypothesis import strategies as st

import runlog.format.metadata as metadata_module
import runlog.format.rundirs as rundirs_module
import runlog.read.catalog as catalog_module
import runlog.read.episodes as episodes_module
from runlog.analysis.evals import best_block, eval_blocks
from runlog.errors import MetadataError
from runlog.format.records import (
    EpisodeRecord,
    RunMetadata,
    encode_episode_line,
    encode_eval_line,
    encode_metadata,
    now_rfc3339,
)
from runlog.read.activity import RunState
from runlog.read.catalog import (
    Catalog,
    CheckpointInfo,
    RunSummary,
    scan_runs,
)
from runlog.read.episodes import EpisodeLog

RUN_ID = "20260322_120000"


LAST_UPDATED = "2026-03-22T12:41:07.004512345+01:00"
"""metadata.json's last_updated in the runs a test writes: set to the test's start (below),
as a trainer stamps it when it writes the file (runlog.read.activity reads a metadata.json
whose mtime is long after its last_updated as a copy)."""


@pytest.fixture(autouse=True)
def _stamped_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.modules[__name__], "LAST_UPDATED", now_rfc3339())


def metadata_for(name: str, version: str, run_id: str) -> RunMetadata:
    return RunMetadata(
        name=name,
        version=version,
        run_id=run_id,
        total_steps=100000,
        total_episodes=0,  # FORMAT.md: the crate leaves this at 0
        started_at="2026-03-22T12:00:00.123456789+01:00",
        last_updated=LAST_UPDATED,
    )


def make_run(
    root: Path,
    name: str = "cartpole",
    version: str = "v1",
    run_id: str = RUN_ID,
    *,
    rewards: tuple[float, ...] = (10.0, 30.0, 20.0),
    evals: tuple[tuple[int, float], ...] = (),
    checkpoints: tuple[str, ...] = (),
    metadata: bool = True,
) -> Path:
    run = root / name / version / run_id
    run.mkdir(parents=True)
    if metadata:
        (run / "metadata.json").write_text(encode_metadata(metadata_for(name, version, run_id)))
    (run / "train_episodes.jsonl").write_text(
        "".join(encode_episode_line(EpisodeRecord(r, 10)) for r in rewards)
    )
    if evals:
        (run / "eval_episodes.jsonl").write_text(
            "".join(encode_eval_line(EpisodeRecord(r, 5), step) for step, r in evals)
        )
    if checkpoints:
        (run / "checkpoints").mkdir()
        for i, file_name in enumerate(checkpoints):
            (run / "checkpoints" / file_name).write_bytes(b"x" * (100 + i))
    return run


def age(run: Path, seconds: float) -> None:
    """Make every file of `run` look written `seconds` ago."""
    moment = time.time() - seconds
    for path in [run, *run.rglob("*")]:
        os.utime(path, (moment, moment), follow_symlinks=False)


# -- unlistable directories ------------------------------------------------------------


def test_unlistable_run_directory_is_a_run_with_a_problem_as_root_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_run(tmp_path, "a")
    locked = make_run(tmp_path, "b")
    real_list = rundirs_module._list

    def listing(directory: Path) -> tuple[os.DirEntry[str], ...]:
        if directory == locked:
            raise PermissionError(13, "Permission denied", str(directory))
        return real_list(directory)

    monkeypatch.setattr(rundirs_module, "_list", listing)
    summaries = scan_runs(tmp_path)
    assert [s.name for s in summaries] == ["a", "b"]
    assert summaries[1].problem == f"permission denied: {locked}"
    assert summaries[1].train_episodes == 0


def test_unreadable_metadata_is_a_problem_as_root_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = make_run(tmp_path)
    opened: list[str] = []

    def locked_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        # As root here, chmod locks nothing: the read is refused where it is made.
        opened.append(os.fspath(file))
        if os.fspath(file) == str(run / "metadata.json"):
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return open(file, *args, **kwargs)

    monkeypatch.setattr(metadata_module, "open", locked_open, raising=False)
    [summary] = scan_runs(tmp_path)
    assert str(run / "metadata.json") in opened
    assert summary.problem == f"permission denied: {run / 'metadata.json'}"


def test_unreadable_log_recovers_once_readable_though_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = make_run(tmp_path, rewards=(1.0, 2.0))
    train = run / "train_episodes.jsonl"
    real_open = os.open
    locked = True

    def fake_open(path: object, flags: int, *args: object) -> int:
        if locked and str(path) == str(train):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(episodes_module.os, "open", fake_open)
    catalog = Catalog(tmp_path)
    [summary] = catalog.scan()
    assert summary.problem == f"permission denied: {train}"
    assert summary.train_episodes == 0
    locked = False  # e.g. chmod fixed it; the file itself did not change
    [summary] = catalog.scan()
    assert summary.ok and summary.train_episodes == 2


UNPRIVILEGED_SCAN = r"""
import json, os, sys
from pathlib import Path
from runlog.format.rundirs import find_runs
from runlog.read.catalog import Catalog
import runlog.read.episodes  # the log reader is imported when needed: import it while we can
if os.geteuid() == 0:
    # Dropped after the imports: the interpreter may live where nobody cannot read.
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
root = Path(sys.argv[1])
catalog = Catalog(root)
summaries = {s.rel: [s.problem, s.train_episodes] for s in catalog.scan()}
found: list[str] = []
runs = [str(p) for p in find_runs(root, found)]
print(json.dumps({"summaries": summaries, "problems": catalog.problems, "found": runs,
                  "find_problems": found}))
"""


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A temp dir that nobody can traverse to (pytest's own is private to its user)."""
    path = Path(tempfile.mkdtemp(prefix="runlog-catalog-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_permission_denied_for_real(open_tmp: Path) -> None:
    """Real modes, read by an unprivileged process (root drops to nobody after imports)."""
    root = open_tmp / "runs"
    make_run(root, "a")
    locked_run = make_run(root, "b")
    locked_files = make_run(root, "c")
    locked_dir = root / "zz"
    locked_dir.mkdir()
    for path in (locked_run, locked_dir):
        path.chmod(0o700 if os.geteuid() == 0 else 0)
    for path in (locked_files / "metadata.json", locked_files / "train_episodes.jsonl"):
        path.chmod(0o600 if os.geteuid() == 0 else 0)
    try:
        out = subprocess.run(
            [sys.executable, "-c", UNPRIVILEGED_SCAN, str(root)],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
    finally:
        for path in (locked_run, locked_dir):
            path.chmod(0o755)
    result = json.loads(out)
    assert result["summaries"] == {
        f"a/v1/{RUN_ID}": [None, 3],
        f"b/v1/{RUN_ID}": [f"permission denied: {locked_run}", 0],
        f"c/v1/{RUN_ID}": [
            f"permission denied: {locked_files / 'metadata.json'}; "
            f"permission denied: {locked_files / 'train_episodes.jsonl'}",
            0,
        ],
    }
    assert result["problems"] == [f"permission denied: {locked_dir}"]
    assert result["found"] == [str(root / "a" / "v1" / RUN_ID), str(locked_files)]
    assert result["find_problems"] == [
        f"permission denied: {locked_run}",
        f"permission denied: {locked_dir}",
    ]


# -- one run's summary ------------------------------------------------------------------------


def test_disk_size_counts_the_files_of_nested_directories(tmp_path: Path) -> None:
    """Directories inside checkpoints/ and inside the run are walked for the disk size (a
    symlink counted as itself), and a directory in checkpoints/ is no checkpoint."""
    run = make_run(tmp_path, rewards=(1.0,), checkpoints=("step_10.mpk", "latest.mpk"))
    nested = run / "checkpoints" / "old" / "deeper"
    nested.mkdir(parents=True)
    (nested.parent / "step_5.mpk").write_bytes(b"\0" * 300)
    (nested / "step_1.mpk").write_bytes(b"\0" * 70)
    (run / "videos" / "ep0").mkdir(parents=True)
    (run / "videos" / "ep0" / "clip.mp4").write_bytes(b"\0" * 1234)
    (run / "videos" / "link").symlink_to(run / "videos" / "ep0" / "clip.mp4")
    [summary] = scan_runs(tmp_path)
    assert [c.name for c in summary.checkpoints] == ["step_10.mpk", "latest.mpk"]
    files = [p for p in run.rglob("*") if p.is_file() and not p.is_symlink()]
    link = (run / "videos" / "link").lstat().st_size
    assert summary.disk_bytes == sum(p.stat().st_size for p in files) + link
    assert summary.disk_bytes > 300 + 70 + 1234


def test_summary_of_a_complete_run(tmp_path: Path) -> None:
    run = make_run(
        tmp_path,
        rewards=(10.0, 30.0, 20.0),
        evals=((100, 5.0), (100, 7.0), (200, 9.0), (200, 3.0), (300, 6.0)),
        checkpoints=("step_10.mpk", "step_9.mpk", "latest.mpk", "best.mpk", "notes.txt"),
    )
    [summary] = scan_runs(tmp_path)
    assert summary.ok and summary.problem is None
    assert (summary.path, summary.rel) == (run, f"cartpole/v1/{RUN_ID}")
    assert (summary.name, summary.version, summary.run_id) == ("cartpole", "v1", RUN_ID)
    assert summary.metadata == metadata_for("cartpole", "v1", RUN_ID)
    assert summary.train_episodes == 3 and summary.eval_episodes == 5
    assert summary.total_steps == 30
    assert summary.last_reward == 20.0 and summary.best_reward == 30.0
    assert summary.best_eval is not None
    # FORMAT.md: best.mpk is written at the first block with the highest mean.
    assert (summary.best_eval.step, summary.best_eval.mean, summary.best_eval.n) == (100, 6.0, 2)
    # step_9 < step_10 as numbers; notes.txt is not a checkpoint.
    assert [c.name for c in summary.checkpoints] == [
        "step_9.mpk",
        "step_10.mpk",
        "latest.mpk",
        "best.mpk",
    ]
    assert summary.checkpoint_steps == (9, 10)
    assert summary.has_latest and summary.has_best
    step_10 = summary.checkpoints[1]
    assert step_10.path == run / "checkpoints" / "step_10.mpk"
    assert step_10.directory == run / "checkpoints"
    assert step_10 == CheckpointInfo(
        name="step_10.mpk",
        run_dir=run,
        step=10,
        size=100,
        mtime=step_10.mtime,
        is_latest=False,
        is_best=False,
    )
    files = [p for p in run.rglob("*") if p.is_file()]
    assert summary.disk_bytes == sum(p.stat().st_size for p in files)
    assert summary.state is RunState.LIVE  # just written


def test_run_without_metadata_is_listed_with_its_problem(tmp_path: Path) -> None:
    make_run(tmp_path, metadata=False)
    [summary] = scan_runs(tmp_path)
    assert not summary.ok
    assert summary.problem == "metadata.json is missing"
    assert summary.metadata is None
    assert summary.train_episodes == 3  # the logs are still read


def test_corrupt_metadata_is_a_problem(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    (run / "metadata.json").write_text('{"name": "cartpole"}')
    [summary] = scan_runs(tmp_path)
    assert summary.problem is not None
    assert summary.problem.startswith("metadata.json is corrupt: ")
    assert "total_steps" in summary.problem
    assert summary.metadata is None


def test_bad_lines_are_a_problem_in_words(tmp_path: Path) -> None:
    run = make_run(tmp_path, evals=((100, 1.0),))
    with (run / "train_episodes.jsonl").open("a") as fh:
        fh.write("garbage\n{also bad\n")
    with (run / "eval_episodes.jsonl").open("a") as fh:
        fh.write("nope\n")
    [summary] = scan_runs(tmp_path)
    assert summary.problem == (
        "2 bad lines in train_episodes.jsonl; 1 bad line in eval_episodes.jsonl"
    )
    assert summary.train_bad_lines == (4, 5) and summary.eval_bad_lines == (2,)
    assert summary.train_episodes == 3


def test_run_with_no_episodes_yet(tmp_path: Path) -> None:
    run = make_run(tmp_path, rewards=())
    [summary] = scan_runs(tmp_path)
    assert summary.ok
    assert (summary.train_episodes, summary.total_steps) == (0, 0)
    assert summary.last_reward is None and summary.best_reward is None
    assert summary.best_eval is None and summary.checkpoints == ()
    assert summary.disk_bytes == (run / "metadata.json").stat().st_size


def test_null_rewards_are_not_last_or_best(tmp_path: Path) -> None:
    make_run(tmp_path, rewards=(5.0, math.nan), evals=((100, math.nan), (200, 2.0)))
    [summary] = scan_runs(tmp_path)
    assert summary.last_reward is None  # the last episode's reward was null
    assert summary.best_reward == 5.0
    assert summary.best_eval is not None and summary.best_eval.step == 200


def test_states_live_stalled_finished(tmp_path: Path) -> None:
    live = make_run(tmp_path, "a", "v1", RUN_ID)
    stalled = make_run(tmp_path, "b", "v1", RUN_ID)
    finished = make_run(tmp_path, "c", "v1", RUN_ID)
    age(live, 1)
    age(stalled, 120)
    age(finished, 3600)
    by_name = {s.name: s for s in Catalog(tmp_path, live_window=30, stall_window=600).scan()}
    assert by_name["a"].state is RunState.LIVE
    assert by_name["b"].state is RunState.STALLED
    assert by_name["c"].state is RunState.FINISHED
    assert by_name["c"].last_write == pytest.approx(time.time() - 3600, abs=5)
    # The windows are configurable.
    wide = {s.name: s.state for s in Catalog(tmp_path, live_window=7200).scan()}
    assert wide == {"a": RunState.LIVE, "b": RunState.LIVE, "c": RunState.LIVE}


def test_summary_of_one_run(tmp_path: Path) -> None:
    run = make_run(tmp_path, rewards=(1.0, 2.0))
    summary = Catalog(tmp_path).summary(run)
    assert isinstance(summary, RunSummary)
    assert summary.train_episodes == 2 and summary.ok


# -- half-written metadata.json ---------------------------------------------------------------


def test_half_written_metadata_without_a_good_copy_says_so(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    text = encode_metadata(metadata_for("cartpole", "v1", RUN_ID))
    (run / "metadata.json").write_text(text[:40])  # the crate's in-place rewrite, caught midway
    catalog = Catalog(tmp_path)
    [summary] = catalog.scan()
    assert summary.problem == "metadata.json is being written (half-written); retrying"
    assert summary.metadata is None
    (run / "metadata.json").write_text(text)
    [summary] = catalog.scan()
    assert summary.ok and summary.metadata == metadata_for("cartpole", "v1", RUN_ID)


def test_half_written_metadata_serves_the_last_good_copy(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    good = metadata_for("cartpole", "v1", RUN_ID)
    catalog = Catalog(tmp_path)
    assert catalog.scan()[0].metadata == good
    for partial in ("", encode_metadata(good)[:55]):
        (run / "metadata.json").write_text(partial)
        [summary] = catalog.scan()
        assert summary.ok, summary.problem
        assert summary.metadata == good


def test_metadata_cut_inside_a_multibyte_character_is_half_written(tmp_path: Path) -> None:
    run = make_run(tmp_path, "cartpole", "v1")
    meta = RunMetadata("cartpole", "v1", RUN_ID, 1, 0, "2026-03-22T12:00:00+01:00", "é")
    data = encode_metadata(meta).encode()
    cut = data.index("é".encode()) + 1  # between the two bytes of "é"
    (run / "metadata.json").write_bytes(data[:cut])
    [summary] = scan_runs(tmp_path)
    assert summary.problem == "metadata.json is being written (half-written); retrying"


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"", "empty"),
        (b"  \n", "blank (only white space)"),
        (b'{\n  "name": "cartpole",\n  "run_id": "2026', "cut short (no closing brace)"),
        ('{"name": "é'.encode()[:-1], "cut short (in a multi-byte character)"),
    ],
)
def test_half_written_metadata_left_past_the_stall_window_is_corrupt(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    run = make_run(tmp_path)
    path = run / "metadata.json"
    path.write_bytes(content)
    catalog = Catalog(tmp_path, live_window=30, stall_window=600)
    # Just written: a rewrite caught midway, retried.
    [summary] = catalog.scan()
    assert summary.problem == "metadata.json is being written (half-written); retrying"
    # Unchanged for longer than the stall window: no rewrite takes that long.
    old = time.time() - 601
    os.utime(path, (old, old))
    [summary] = catalog.scan()
    assert summary.problem == f"corrupt metadata.json ({len(content)} bytes): {reason}"
    assert summary.metadata is None
    # A fresh catalog (a restarted dashboard, `runlog ls`) says the same at once.
    [summary] = Catalog(tmp_path, stall_window=600).scan()
    assert summary.problem == f"corrupt metadata.json ({len(content)} bytes): {reason}"


def test_an_old_half_written_metadata_is_corrupt_even_after_a_good_read(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    catalog = Catalog(tmp_path, stall_window=600)
    assert catalog.scan()[0].ok
    path = run / "metadata.json"
    path.write_text(path.read_text()[:50])  # a writer killed midway, long ago
    old = time.time() - 3600
    os.utime(path, (old, old))
    [summary] = catalog.scan()
    assert summary.problem == "corrupt metadata.json (50 bytes): cut short (no closing brace)"
    assert summary.metadata is None  # no last good copy stands in for a broken file


def test_a_half_written_metadata_is_looked_at_again_once_it_settles(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    (run / "metadata.json").write_text("")
    catalog = Catalog(tmp_path, stall_window=600)
    written = (run / "metadata.json").stat().st_mtime
    [summary] = catalog.scan(now=written)
    assert summary.problem == "metadata.json is being written (half-written); retrying"
    assert catalog.settling(now=written + 600) == []
    assert catalog.settling(now=written + 601) == [run]  # no file event will come: ask here
    summary = catalog.summary(run, now=written + 601)
    assert summary.problem == "corrupt metadata.json (0 bytes): empty"
    assert catalog.settling(now=written + 601) == []


def test_metadata_that_is_not_utf8_is_corrupt(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    (run / "metadata.json").write_bytes(b'{"name": "\xff"}')
    [summary] = scan_runs(tmp_path)
    assert summary.problem is not None
    assert summary.problem.startswith("metadata.json is corrupt: ")
    assert "not UTF-8" in summary.problem


def test_half_written_metadata_is_retried_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = make_run(tmp_path)
    text = encode_metadata(metadata_for("cartpole", "v1", RUN_ID))
    (run / "metadata.json").write_text("")

    def finish_the_write(_seconds: float) -> None:  # the writer completes during the pause
        (run / "metadata.json").write_text(text)

    monkeypatch.setattr(catalog_module.time, "sleep", finish_the_write)
    [summary] = Catalog(tmp_path).scan()
    assert summary.ok and summary.metadata == metadata_for("cartpole", "v1", RUN_ID)


def test_metadata_rewritten_in_place_during_scans_is_never_reported_corrupt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer thread rewrites metadata.json in place (truncate, then write in pieces) the
    way the crate does, while the catalog rescans: never a corrupt report, never a missing
    run, and once a good copy was read, never a problem at all."""
    run = make_run(tmp_path)
    texts = [
        encode_metadata(
            RunMetadata("cartpole", "v1", RUN_ID, 100000, 0, "2026-03-22T12:00:00+01:00", f"t{i}")
        )
        for i in range(50)
    ]
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            text = texts[i % len(texts)].encode()
            with (run / "metadata.json").open("r+b") as fh:
                fh.truncate(0)
                fh.write(text[:30])
                fh.flush()
                fh.write(text[30:])
            i += 1

    half_written_reads = 0
    real_parse = metadata_module.parse_metadata

    def counting_parse(text: str, path: Path) -> RunMetadata:
        nonlocal half_written_reads
        try:
            return real_parse(text, path)
        except MetadataError:
            half_written_reads += 1
            raise

    monkeypatch.setattr(metadata_module, "parse_metadata", counting_parse)
    catalog = Catalog(tmp_path)
    catalog.scan()  # one good read first
    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(300):
            [summary] = catalog.scan()
            assert summary.problem is None, summary.problem
            assert summary.metadata is not None and summary.metadata.name == "cartpole"
    finally:
        stop.set()
        thread.join()
    assert half_written_reads > 0  # the scans really did catch the file mid-rewrite


# -- rescans --------------------------------------------------------------------------------


def test_rescan_reads_only_appended_lines_and_sees_new_runs(tmp_path: Path) -> None:
    run = make_run(tmp_path, rewards=(1.0, 2.0))
    catalog = Catalog(tmp_path)
    first = catalog.scan()
    assert catalog.scan() == first
    with (run / "train_episodes.jsonl").open("a") as fh:
        fh.write(encode_episode_line(EpisodeRecord(9.0, 10)))
    other = make_run(tmp_path, "b", rewards=(4.0,))
    summaries = catalog.scan()
    assert [s.path for s in summaries] == [other, run]
    assert summaries[1].train_episodes == 3 and summaries[1].best_reward == 9.0
    train_log = catalog.reader(run, "train")
    assert train_log.line_count == 3  # read incrementally, not re-read


def test_unchanged_rescan_returns_the_same_summary_objects(tmp_path: Path) -> None:
    make_run(tmp_path, "a")
    make_run(tmp_path, "b", checkpoints=("step_1.mpk",))
    catalog = Catalog(tmp_path)
    first = catalog.scan()
    second = catalog.scan()
    assert all(a is b for a, b in zip(first, second, strict=True))


def test_removed_run_disappears_from_the_next_scan(tmp_path: Path) -> None:
    gone = make_run(tmp_path, "a")
    make_run(tmp_path, "b")
    catalog = Catalog(tmp_path)
    assert len(catalog.scan()) == 2
    for path in sorted(gone.rglob("*"), reverse=True):
        path.unlink()
    gone.rmdir()
    assert [s.name for s in catalog.scan()] == ["b"]


def test_truncated_log_is_reread_on_rescan(tmp_path: Path) -> None:
    run = make_run(tmp_path, rewards=(1.0, 2.0, 3.0))
    catalog = Catalog(tmp_path)
    catalog.scan()
    (run / "train_episodes.jsonl").write_text(encode_episode_line(EpisodeRecord(7.0, 4)))
    [summary] = catalog.scan()
    assert (summary.train_episodes, summary.total_steps, summary.best_reward) == (1, 4, 7.0)


def test_a_cold_scan_read_chunk_by_chunk_in_a_thread_lists_what_an_inline_scan_lists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cold root's small logs are read without a reader each (`read_first`), pyarrow
    parsing one chunk in a thread while the scan looks at the next runs: the same listing,
    and later appends read from where that first read stopped."""
    runs = []
    for i in range(24):
        run = make_run(
            tmp_path,
            f"env{i % 3}",
            f"v{i % 2}",
            f"20260322_{i:06d}",
            rewards=() if i % 4 == 2 else tuple(float(r) for r in range(i % 5 + 1)),
            evals=((100, 1.0 + i), (100, 2.0), (200, float(i))) if i % 4 == 1 else (),
            checkpoints=("step_100.mpk", "best.mpk") if i % 2 else (),
        )
        train = run / "train_episodes.jsonl"
        if i % 4 == 0:
            append_bytes(train, b"not json\n")
        if i % 4 == 3:
            append_bytes(train, b'{"total_reward":5.0,"length":5,"status":"Exploded"}\n')
        runs.append(run)
    now = time.time()
    inline = Catalog(tmp_path).scan(now)
    took: list[str] = []
    prepare = episodes_module.FirstLoad.prepare

    def recorded(self: episodes_module.FirstLoad) -> None:
        took.append(threading.current_thread().name)
        prepare(self)

    monkeypatch.setattr(episodes_module.FirstLoad, "prepare", recorded)
    monkeypatch.setattr(catalog_module, "READ_CHUNK_LOGS", 5)
    monkeypatch.setattr(catalog_module, "LOOK_CHUNK", 3)
    catalog = Catalog(tmp_path)
    assert catalog.scan(now) == inline
    assert len(took) > 3 and all(name.startswith("runlog-scan") for name in took)
    assert [s.train_bad_lines for s in inline[:2]] == [(2,), ()]  # env0/v0: runs 0 and 6
    assert sum(s.eval_episodes for s in inline) == 6 * 3
    for run in runs[::5]:
        append_bytes(
            run / "train_episodes.jsonl", encode_episode_line(EpisodeRecord(99.0, 7)).encode()
        )
    again = catalog.scan(now)
    assert again == Catalog(tmp_path).scan(now)
    assert [s.best_reward for s in again if s.path in runs[::5]] == [99.0] * len(runs[::5])
    reader = catalog.reader(runs[5], "train")
    assert reader.line_count == runs[5].joinpath("train_episodes.jsonl").read_bytes().count(b"\n")


def test_a_cold_scan_lists_checkpoints_while_it_waits_for_a_parse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a chunk's parse is still running, the scan lists the checkpoints of the runs it
    looked at (each parse here waits until that happens): the same listing as inline."""
    for i in range(12):
        make_run(
            tmp_path,
            f"env{i % 3}",
            "v1",
            f"20260322_{i:06d}",
            rewards=tuple(float(r) for r in range(i % 4 + 1)),
            evals=((100, float(i)),),
            checkpoints=("step_100.mpk", "latest.mpk") if i % 2 else ("best.mpk",),
        )
    now = time.time()
    inline = Catalog(tmp_path).scan(now)
    events: list[str] = []
    """"parse", "listed" and "parsed" as they happen (list.append is atomic: no lost count)."""
    prepare, files = episodes_module.FirstLoad.prepare, Catalog._files

    def waiting_prepare(self: episodes_module.FirstLoad) -> None:
        events.append("parse")
        seen = len(events)
        deadline = time.monotonic() + 3
        while events.count("parse") == 1 and "listed" not in events[seen:]:
            if time.monotonic() > deadline:
                break
            time.sleep(0.001)
        prepare(self)
        events.append("parsed")

    def noted_files(self: Catalog, *args: Any) -> Any:
        events.append("listed")
        return files(self, *args)

    monkeypatch.setattr(episodes_module.FirstLoad, "prepare", waiting_prepare)
    monkeypatch.setattr(Catalog, "_files", noted_files)
    monkeypatch.setattr(catalog_module, "READ_CHUNK_LOGS", 4)
    monkeypatch.setattr(catalog_module, "LOOK_CHUNK", 2)
    monkeypatch.setattr(catalog_module, "FILES_STEP", 1)
    assert Catalog(tmp_path).scan(now) == inline
    # The first parse was waited for by the scan (once the next chunk was loaded), which
    # listed checkpoints meanwhile (without that the parse waits 3 s, and none are listed
    # before it ends).
    first = events.index("parse")
    assert "listed" in events[first : events.index("parsed")]
    assert sum(len(s.checkpoints) for s in inline) == 6 * 2 + 6


def append_bytes(path: Path, data: bytes) -> None:
    with path.open("ab") as fh:
        fh.write(data)


# -- best eval block: same answer as runlog.analysis.evals -----------------------------

eval_rows = st.lists(
    st.tuples(
        st.sampled_from([0, 100, 200, 300]),
        st.one_of(st.integers(-50, 50).map(lambda v: v / 2), st.just(math.nan)),
    ),
    max_size=30,
)


@settings(max_examples=examples(200), deadline=None)
@given(rows=eval_rows)
def test_best_eval_matches_runlog_evals(rows: list[tuple[int, float]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        run = make_run(root, evals=tuple(rows))
        [summary] = scan_runs(root)
        log = EpisodeLog(run / "eval_episodes.jsonl", "eval")
        log.refresh()
        theirs = best_block(eval_blocks(log.frame))
    ours = summary.best_eval
    if ours is None or theirs is None:
        assert ours is None and theirs is None
        return
    assert ours == theirs  # one rule, one implementation: the very same block and figures


# ----- the collector around a listing ---------------------------------------------------------


class _Held:
    """A plain object the cyclic collector tracks (it has a __dict__) and a weakref can follow."""


def test_a_big_listing_freezes_what_it_left_behind_and_a_small_one_does_not() -> None:
    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    with catalog_module.gc_paused():
        assert not gc.isenabled()
        small = [_Held() for _ in range(1_000)]
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen  # a rescan leaves the collector as it was
    try:
        with catalog_module.gc_paused():
            big = [_Held() for _ in range(catalog_module.FREEZE_AFTER + 1_000)]
        assert gc.isenabled()
        # Out of the collector's sight: its next passes do not walk them.
        assert gc.get_freeze_count() >= frozen + len(small) + len(big)
        # Still freed when the last reference goes (reference counting, not the collector).
        watched = weakref.ref(big[0])
        del big
        assert watched() is None
    finally:
        gc.unfreeze()


def test_a_listing_that_made_and_dropped_many_objects_freezes_nothing() -> None:
    frozen = gc.get_freeze_count()
    with catalog_module.gc_paused():
        for _ in range(3 * catalog_module.FREEZE_AFTER):
            _Held()  # made and freed at once: nothing is left behind
    assert gc.get_freeze_count() == frozen
