"""runlog.format.rundirs: what a run directory is and where the runs under a path are."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import runlog.format.rundirs as rundirs_module
from runlog.format.records import EpisodeRecord, encode_episode_line
from runlog.format.rundirs import (
    depth_of,
    find_runs,
    is_run_dir,
    rel_parts,
    run_key,
    split_rel,
)
from runlog.read.catalog import Catalog


def make_run(
    root: Path,
    name: str = "cartpole",
    version: str = "v1",
    run_id: str = "20260322_120000",
    *,
    metadata: bool = True,
    checkpoints: tuple[str, ...] = (),
) -> Path:
    run = root / name / version / run_id
    run.mkdir(parents=True)
    if metadata:
        (run / "metadata.json").write_text("{}")
    (run / "train_episodes.jsonl").write_text(encode_episode_line(EpisodeRecord(1.0, 1)))
    if checkpoints:
        (run / "checkpoints").mkdir()
        for file_name in checkpoints:
            (run / "checkpoints" / file_name).write_bytes(b"x")
    return run


def test_find_runs_from_root_name_version_and_run(tmp_path: Path) -> None:
    a = make_run(tmp_path, "cartpole", "v1", "20260322_120000")
    b = make_run(tmp_path, "cartpole", "v2", "20260322_130000")
    c = make_run(tmp_path, "pendulum", "ppo", "20260323_090000")
    assert find_runs(tmp_path) == [a, b, c]
    assert find_runs(tmp_path / "cartpole") == [a, b]
    assert find_runs(tmp_path / "cartpole" / "v2") == [b]
    assert find_runs(b) == [b]
    assert find_runs(tmp_path / "absent") == []


def test_find_runs_lists_a_run_without_metadata_but_not_its_checkpoints(tmp_path: Path) -> None:
    run = make_run(tmp_path, metadata=False, checkpoints=("step_1.mpk",))
    assert find_runs(tmp_path) == [run]


def test_find_runs_does_not_follow_a_symlink_loop(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    (tmp_path / "cartpole" / "loop").symlink_to(tmp_path, target_is_directory=True)
    assert find_runs(tmp_path) == [run]


def test_find_runs_reports_an_unlistable_directory_as_root_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Root ignores file modes, so the permission error is simulated here.
    run = make_run(tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir()
    real_list = rundirs_module._list

    def listing(directory: Path) -> tuple[os.DirEntry[str], ...]:
        if directory == locked:
            raise PermissionError(13, "Permission denied", str(directory))
        return real_list(directory)

    monkeypatch.setattr(rundirs_module, "_list", listing)
    problems: list[str] = []
    assert find_runs(tmp_path, problems) == [run]
    assert problems == [f"permission denied: {locked}"]
    catalog = Catalog(tmp_path)
    assert [s.path for s in catalog.scan()] == [run]
    assert catalog.problems == [f"permission denied: {locked}"]


def test_is_run_dir_is_the_one_rule() -> None:
    assert is_run_dir("anything", {"metadata.json"})
    assert is_run_dir("anything", {"train_episodes.jsonl"})
    assert is_run_dir("anything", {"eval_episodes.jsonl"})
    # metadata.json lost: a run-id-like name with checkpoints/ is still a run ...
    assert is_run_dir("20260322_120000", {"checkpoints"})
    assert is_run_dir("20260322_120000_01", {"checkpoints", "notes.txt"})
    # ... but another directory with checkpoints/ is not (a version holding a stray folder)
    assert not is_run_dir("notes", {"checkpoints"})
    assert not is_run_dir("20260322_120000", {"config.json"})


def test_find_runs_does_not_enter_a_run(tmp_path: Path) -> None:
    run = make_run(tmp_path, checkpoints=("step_1.mpk",))
    nested = run / "checkpoints" / "20260101_000000"
    nested.mkdir()
    (nested / "metadata.json").write_text("{}")
    assert find_runs(tmp_path) == [run]


def test_names_of_runs_and_watched_paths() -> None:
    assert split_rel("cartpole/v1/20260322_120000") == ("cartpole", "v1", "20260322_120000")
    assert split_rel("v1/20260322_120000") == ("", "v1", "20260322_120000")
    assert depth_of(".") == 0 and depth_of("cartpole/v1") == 2
    assert rel_parts("/runs", "/runs") == []
    assert rel_parts("/runs", "/runs/a/v1/r/x.jsonl") == ["a", "v1", "r", "x.jsonl"]
    assert rel_parts("/runs", "/runs2/a") is None
    assert run_key(["a", "v1", "r", "x.jsonl"]) == "a/v1/r"
    assert run_key(["a", "v1"]) is None


def test_a_bind_mount_looping_back_is_walked_once(tmp_path: Path) -> None:
    """A real bind mount of the root inside itself: the walk ends and lists each run once."""
    if os.geteuid() != 0:
        pytest.skip("mounting needs root (CI runs as root)")
    root = tmp_path / "runs"
    run = make_run(root)
    loop = root / "cartpole" / "mirror"
    loop.mkdir()
    subprocess.run(["mount", "--bind", str(root), str(loop)], check=True)
    try:
        assert (loop / "cartpole" / "v1").is_dir()  # the loop is really there
        assert find_runs(root) == [run]
        assert [s.path for s in Catalog(root).scan()] == [run]
    finally:
        subprocess.run(["umount", str(loop)], check=True)


def test_runs_found_across_a_tree_with_links_and_strays(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    a = make_run(root, run_id="20260101_000000")
    b = make_run(root, version="v2", run_id="20260102_000000")
    # No metadata.json but run-id-like with a train log: still a run.
    c = make_run(root, version="v2", run_id="20260103_000000", metadata=False)
    # Not run-id-like and no metadata: not a run.
    (root / "cartpole" / "notes" / "checkpoints").mkdir(parents=True)
    # A symlink loop and a symlinked run outside: not followed.
    (root / "cartpole" / "loop").symlink_to(root)
    outside = make_run(tmp_path / "elsewhere")
    (root / "cartpole" / "v1" / "20260104_000000").symlink_to(outside)
    assert find_runs(root) == sorted([a, b, c])
    assert find_runs(root / "cartpole" / "v2") == sorted([b, c])
    assert find_runs(a) == [a]
    assert find_runs(root / "missing") == []
