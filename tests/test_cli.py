"""cli.py: `runlog resolve | prune | ls | show | index | cache`, via main() and `python -m`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from runlog import __version__
from runlog.cli import main
from runlog.format.records import EpisodeRecord
from runlog.format.run import TrainingRun

NOON = datetime(2026, 3, 22, 12, 0, 0, tzinfo=timezone(timedelta(hours=1)))
HOUR_AGO = time.time() - 3600


def make_run(root: Path, version: str, steps: list[int], *, age: bool = True) -> TrainingRun:
    run = TrainingRun.create("cartpole", version, root, clock=lambda: NOON)
    for index, step in enumerate(steps):
        run.checkpoint_path(step).write_bytes(b"\x01" * (10 + index))
    run.latest_checkpoint_path().write_bytes(b"latest")
    run.best_checkpoint_path().write_bytes(b"best")
    if age:  # a finished run: nothing written within the live window
        for path in (run.dir / "metadata.json", run.dir / "checkpoints"):
            os.utime(path, (HOUR_AGO, HOUR_AGO))
    return run


def names(run: TrainingRun) -> list[str]:
    return sorted(p.name for p in (run.dir / "checkpoints").iterdir())


# -- resolve ---------------------------------------------------------------------------------


def test_resolve_prints_the_run_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = make_run(tmp_path, "v1", [])
    assert main(["resolve", str(tmp_path / "cartpole")]) == 0
    assert capsys.readouterr().out == f"{run.dir}\n"


def test_resolve_error_is_one_line_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["resolve", str(tmp_path / "missing")]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("runlog: error: ")
    assert str(tmp_path / "missing") in captured.err
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err


def test_resolve_corrupt_metadata_names_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_run(tmp_path, "v1", [])
    (run.dir / "metadata.json").write_text("")
    assert main(["resolve", str(run.dir)]) == 1
    assert f"{run.dir / 'metadata.json'} is empty" in capsys.readouterr().err


# -- prune -----------------------------------------------------------------------------------


def test_prune_dry_run_lists_and_deletes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_run(tmp_path, "v1", [1000, 2000, 3000, 4000, 10000])
    before = names(run)
    assert main(["prune", str(run.dir), "--keep", "3", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"would delete {run.checkpoint_path(1000)} (10 B)" in out
    assert f"would delete {run.checkpoint_path(2000)} (11 B)" in out
    assert "step_3000" not in out and "latest" not in out and "best" not in out
    assert out.rstrip().endswith("freeing 21 bytes (21 B)")
    assert names(run) == before


def test_prune_deletes_all_but_the_largest_steps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_run(tmp_path, "v1", [9, 10, 100, 1000, 20])
    assert main(["prune", str(run.dir), "--keep", "2"]) == 0
    out = capsys.readouterr().out
    assert "deleted 3 checkpoint(s) in 1 run(s)" in out
    assert names(run) == ["best.mpk", "latest.mpk", "step_100.mpk", "step_1000.mpk"]


def test_prune_json_is_one_object(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = make_run(tmp_path, "v1", [1, 2, 3, 4])
    assert main(["prune", str(run.dir), "--keep", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    report["deleted"].sort()
    assert report == {
        "deleted": [str(run.checkpoint_path(step)) for step in (1, 2, 3)],
        "bytes_freed": 10 + 11 + 12,
        "dry_run": False,
        "failed": [],
        "skipped": [],
    }
    assert names(run) == ["best.mpk", "latest.mpk", "step_4.mpk"]


def test_prune_a_tree_covers_every_run_and_skips_live_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old_v1 = make_run(tmp_path, "v1", [1, 2, 3])
    old_v2 = make_run(tmp_path, "v2", [5, 6, 7])
    live = make_run(tmp_path, "v3", [8, 9, 10], age=False)
    assert main(["prune", str(tmp_path), "--keep", "1", "--dry-run", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dry_run"] is True
    assert sorted(report["deleted"]) == sorted(
        str(run.checkpoint_path(step))
        for run, steps in ((old_v1, (1, 2)), (old_v2, (5, 6)))
        for step in steps
    )
    assert [s["path"] for s in report["skipped"]] == [str(live.dir)]
    assert "live" in report["skipped"][0]["reason"]


def test_prune_include_live(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    live = make_run(tmp_path, "v1", [1, 2, 3], age=False)
    assert main(["prune", str(tmp_path), "--keep", "1", "--include-live"]) == 0
    assert names(live) == ["best.mpk", "latest.mpk", "step_3.mpk"]
    assert "skipped" not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "env"),
    [
        (["prune", "PATH", "--keep", "1"], "1"),
        (["prune", "PATH", "--keep", "1"], "TRUE"),
        (["--read-only", "prune", "PATH", "--keep", "1"], None),
        (["prune", "PATH", "--keep", "1", "--read-only"], None),
    ],
)
def test_read_only_refuses_to_prune(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    env: str | None,
) -> None:
    if env is None:
        monkeypatch.delenv("RUNLOG_READ_ONLY", raising=False)
    else:
        monkeypatch.setenv("RUNLOG_READ_ONLY", env)
    run = make_run(tmp_path, "v1", [1, 2, 3])
    before = names(run)
    argv = [str(run.dir) if arg == "PATH" else arg for arg in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "read-only" in err and "--dry-run" in err
    assert names(run) == before


def test_read_only_still_allows_a_dry_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNLOG_READ_ONLY", "1")
    run = make_run(tmp_path, "v1", [1, 2, 3])
    assert main(["prune", str(run.dir), "--keep", "1", "--dry-run"]) == 0
    assert "would delete" in capsys.readouterr().out


def test_read_only_env_zero_means_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RUNLOG_READ_ONLY", "0")
    run = make_run(tmp_path, "v1", [1, 2])
    assert main(["prune", str(run.dir), "--keep", "1"]) == 0
    assert names(run) == ["best.mpk", "latest.mpk", "step_2.mpk"]


@pytest.mark.parametrize(
    ("keep", "message"), [("-1", "must be >= 0"), ("three", "expected a whole number")]
)
def test_bad_keep_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], keep: str, message: str
) -> None:
    assert main(["prune", str(tmp_path), "--keep", keep]) == 2
    assert message in capsys.readouterr().err


def test_prune_of_a_missing_path_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["prune", str(tmp_path / "nope"), "--keep", "1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("runlog: error: ") and "Traceback" not in err


# -- ls / show / index / cache: the real commands on real runs --------------------------------


def logged_run(root: Path, version: str, rewards: list[float]) -> TrainingRun:
    run = make_run(root, version, [10])
    for reward in rewards:
        run.log_train_episode(EpisodeRecord(reward, 10, "Terminated", {"epsilon": 0.5}))
    return run


def test_ls_json_lists_the_real_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = logged_run(tmp_path, "v1", [1.0, 5.0, 3.0])
    b = logged_run(tmp_path, "v2", [7.0])
    assert main(["ls", str(tmp_path), "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    rows = json.loads(captured.out)
    assert [r["rel"] for r in rows] == [
        f"cartpole/v1/{a.dir.name}",
        f"cartpole/v2/{b.dir.name}",
    ]
    assert [(r["train_episodes"], r["best_reward"], r["last_reward"]) for r in rows] == [
        (3, 5.0, 3.0),
        (1, 7.0, 7.0),
    ]
    assert rows[0]["checkpoints"] == {"steps": [10], "latest": True, "best": True}


def test_show_json_of_a_real_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = logged_run(tmp_path, "v1", [1.0, 2.0])
    assert main(["show", str(run.dir), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert (record["train_episodes"], record["total_steps"], record["best_reward"]) == (2, 20, 2.0)
    assert record["statuses"] == {"Terminated": 2} and record["extras_keys"] == ["epsilon"]


@pytest.mark.parametrize("command", ["ls", "show"])
def test_a_missing_path_is_one_line_on_stderr(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, str(tmp_path / "nope")]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and str(tmp_path / "nope") in captured.err


def test_index_then_ls_lists_from_the_index(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], _private_cache: Path
) -> None:
    logged_run(tmp_path / "runs", "v1", [1.0, 2.0, 3.0])
    assert main(["index", str(tmp_path / "runs")]) == 0
    captured = capsys.readouterr()
    assert "indexed 1 run under" in captured.out and str(_private_cache) in captured.out
    assert ": 1 read (" in captured.out and "0 unchanged" in captured.out
    assert "indexed 1 of 1 runs" in captured.err  # the progress line (not a terminal here)
    roots = list((_private_cache / "v1" / "roots").iterdir())
    assert len(roots) == 1 and roots[0].stat().st_size > 0
    assert main(["ls", str(tmp_path / "runs"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["train_episodes"] == 3
    assert main(["index", str(tmp_path / "runs")]) == 0  # again: nothing to read
    assert ": 0 read (" in capsys.readouterr().out


def test_no_cache_neither_reads_nor_writes_the_index(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], _private_cache: Path
) -> None:
    logged_run(tmp_path / "runs", "v1", [1.0])
    assert main(["--no-cache", "ls", str(tmp_path / "runs")]) == 0
    assert main(["ls", "--no-cache", str(tmp_path / "runs")]) == 0
    assert not (_private_cache / "v1").exists()
    assert main(["--no-cache", "index", str(tmp_path / "runs")]) == 2
    assert "turned off" in capsys.readouterr().err


def test_cache_info_and_clear(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], _private_cache: Path
) -> None:
    logged_run(tmp_path / "runs", "v1", [1.0])
    logged_run(tmp_path / "runs", "v2", [1.0])
    assert main(["ls", str(tmp_path / "runs")]) == 0
    capsys.readouterr()
    assert main(["cache", "info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["directory"] == str(_private_cache)
    assert (info["roots"], info["runs"]) == (1, 2) and info["bytes"] > 0
    assert main(["cache", "info"]) == 0
    text = capsys.readouterr().out
    assert f"location  {_private_cache}" in text and "2 runs under 1 runs roots" in text
    assert main(["cache", "clear"]) == 0
    assert "emptied the run index" in capsys.readouterr().out
    assert main(["cache", "info", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["bytes"] == 0


def test_an_unwritable_cache_is_said_once_and_is_no_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    logged_run(tmp_path / "runs", "v1", [4.0])
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("RUNLOG_CACHE_DIR", str(blocker / "cache"))
    assert main(["ls", str(tmp_path / "runs"), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)[0]["best_reward"] == 4.0
    notes = [line for line in captured.err.splitlines() if line.startswith("runlog: note: ")]
    assert len(notes) == 1 and "cannot be written" in notes[0] and str(blocker) in notes[0]


# -- the program -----------------------------------------------------------------------------


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: runlog" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"runlog {__version__}\n"


def test_python_dash_m_runlog(tmp_path: Path) -> None:
    run = make_run(tmp_path, "v1", [])
    ok = subprocess.run(
        [sys.executable, "-m", "runlog", "resolve", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, f"{run.dir}\n", "")
    bad = subprocess.run(
        [sys.executable, "-m", "runlog", "resolve", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.startswith("runlog: error: ") and "Traceback" not in bad.stderr
