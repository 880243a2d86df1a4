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
    else:  # written now, so stamped now, as a trainer does (not a copy: runlog.read.activity)
        TrainingRun.resume(run.dir).update_metadata(0, 0)
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
        "refused_symlinks": [],
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


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def test_prune_refuses_a_checkpoints_symlink_leading_outside_the_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "runs"
    elsewhere = make_run(root, "v1", [1, 2, 3])
    ordinary = make_run(root, "v2", [4, 5, 6])
    big_disk = tmp_path / "big_disk" / "ckpts"
    big_disk.parent.mkdir()
    (elsewhere.dir / "checkpoints").rename(big_disk)
    (elsewhere.dir / "checkpoints").symlink_to(big_disk)
    link, target = elsewhere.dir / "checkpoints", big_disk.resolve()
    refusal = (
        f"runlog: error: refusing to prune through {link}: a symlink to {target}, outside "
        f"{root} (pass --follow-symlinks to prune there)\n"
    )
    before = files_under(big_disk)

    assert main(["prune", str(root), "--keep", "1", "--dry-run"]) == 1
    out, err = capsys.readouterr()
    assert err == refusal  # one line: the link and where it really leads
    assert "1 run(s) refused" in out and f"would delete {ordinary.checkpoint_path(4)}" in out

    assert main(["prune", str(root), "--keep", "1"]) == 1
    out, err = capsys.readouterr()
    assert err == refusal
    assert files_under(big_disk) == before  # nothing outside the path is deleted
    assert names(ordinary) == ["best.mpk", "latest.mpk", "step_6.mpk"]  # the rest is pruned

    assert main(["prune", str(root), "--keep", "1", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["refused_symlinks"] == [{"link": str(link), "target": str(target)}]
    assert report["deleted"] == [] and files_under(big_disk) == before


def test_prune_follows_a_symlink_outside_only_when_asked_and_names_the_real_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_run(tmp_path / "runs", "v1", [1, 2, 3])
    big_disk = tmp_path / "big_disk"
    (run.dir / "checkpoints").rename(big_disk)
    (run.dir / "checkpoints").symlink_to(big_disk)

    assert main(["prune", str(run.dir), "--keep", "1", "--dry-run", "--follow-symlinks"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    for step, size in ((1, 10), (2, 11)):
        assert (
            f"would delete {run.checkpoint_path(step)} ({size} B) "
            f"(really {big_disk.resolve() / f'step_{step}.mpk'})"
        ) in out.splitlines()
    assert len(files_under(big_disk)) == 5  # a dry run deletes nothing

    assert main(["prune", str(run.dir), "--keep", "1", "--follow-symlinks"]) == 0
    assert files_under(big_disk) == ["best.mpk", "latest.mpk", "step_3.mpk"]


def test_prune_refuses_a_symlinked_checkpoint_file_leading_outside_the_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_run(tmp_path / "runs", "v1", [2, 3])
    precious = tmp_path / "elsewhere" / "weights.bin"
    precious.parent.mkdir()
    precious.write_bytes(b"w" * 1000)
    link = run.checkpoint_path(1)
    link.symlink_to(precious)

    assert main(["prune", str(run.dir), "--keep", "1"]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"runlog: error: refusing to prune through {link}: a symlink to {precious}, outside "
        f"{run.dir} (pass --follow-symlinks to prune there)\n"
    )
    assert names(run) == ["best.mpk", "latest.mpk", "step_1.mpk", "step_2.mpk", "step_3.mpk"]

    assert main(["prune", str(run.dir), "--keep", "1", "--dry-run", "--follow-symlinks"]) == 0
    out = capsys.readouterr().out
    assert f"would delete {link} (" in out
    assert f"(a symlink to {precious}: the link goes, its target stays)" in out
    assert main(["prune", str(run.dir), "--keep", "1", "--follow-symlinks"]) == 0
    assert names(run) == ["best.mpk", "latest.mpk", "step_3.mpk"]
    assert precious.read_bytes() == b"w" * 1000  # a link is removed, never its target


def test_prune_goes_through_a_checkpoints_symlink_inside_the_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "runs"
    run = make_run(root, "v1", [1, 2, 3])
    store = root / "_store"
    (run.dir / "checkpoints").rename(store)
    (run.dir / "checkpoints").symlink_to(store)
    assert main(["prune", str(root), "--keep", "1"]) == 0
    assert capsys.readouterr().err == ""
    assert files_under(store) == ["best.mpk", "latest.mpk", "step_3.mpk"]


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


# -- tag / note ------------------------------------------------------------------------------


def notes_json(run: TrainingRun) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((run.dir / "runlog.json").read_text(encoding="utf-8"))
    return loaded


def test_tag_adds_and_removes_tags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = make_run(tmp_path, "v1", [1, 2])
    assert main(["tag", str(run.dir), "baseline", " seed-sweep ", "baseline"]) == 0
    assert capsys.readouterr().out == f"{run.dir}: tags baseline, seed-sweep\n"
    assert notes_json(run)["tags"] == ["baseline", "seed-sweep"]
    assert main(["tag", str(run.dir), "lr-3e-4"]) == 0
    assert notes_json(run)["tags"] == ["baseline", "seed-sweep", "lr-3e-4"]
    assert main(["tag", str(run.dir), "baseline", "never-there", "--remove"]) == 0
    out, err = capsys.readouterr()
    assert out.endswith(f"{run.dir}: tags seed-sweep, lr-3e-4\n")
    assert err == f"runlog: note: {run.dir} had no tag 'never-there'\n"


def test_note_sets_and_clears_the_note_and_keeps_the_tags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_run(tmp_path, "v1", [])
    assert main(["tag", str(run.dir), "baseline"]) == 0
    assert main(["note", str(run.dir), "diverged at 200k\nretry with lr 1e-4"]) == 0
    assert capsys.readouterr().out.endswith("note saved (35 characters)\n")
    assert notes_json(run)["note"] == "diverged at 200k\nretry with lr 1e-4"
    assert notes_json(run)["tags"] == ["baseline"]
    assert main(["show", str(run.dir)]) == 0
    shown = capsys.readouterr().out
    assert "tags         baseline\n" in shown
    assert "note         diverged at 200k\n             retry with lr 1e-4" in shown
    assert main(["note", str(run.dir), ""]) == 0
    assert capsys.readouterr().out == f"{run.dir}: note cleared\n"
    assert notes_json(run)["note"] == ""


def test_ls_and_show_json_carry_tags_and_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_run(tmp_path, "v1", [])
    make_run(tmp_path, "v2", [])
    assert main(["tag", str(run.dir), "baseline"]) == 0
    assert main(["note", str(run.dir), "hello"]) == 0
    capsys.readouterr()
    assert main(["--no-cache", "ls", str(tmp_path), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(r["tags"], r["note"]) for r in listed] == [(["baseline"], "hello"), ([], "")]
    assert main(["--no-cache", "show", str(run.dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tags"] == ["baseline"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["tag", "RUN", "a,b"], "holds a comma"),
        (["tag", "RUN", " "], "cannot be empty"),
        (["tag", "MISSING", "x"], "does not exist"),
        (["tag", "VERSION", "x"], "is not a run directory"),
        (["note", "FILE", "x"], "is not a directory"),
    ],
)
def test_notes_errors_are_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    run = make_run(tmp_path, "v1", [])
    paths = {
        "RUN": run.dir,
        "MISSING": tmp_path / "nope",
        "VERSION": run.dir.parent,  # a version: the resume rule is no target for a write
        "FILE": run.dir / "metadata.json",
    }
    argv = [str(paths[a]) if a in paths else a for a in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("runlog: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (run.dir / "runlog.json").exists()


def test_a_corrupt_runlog_json_is_replaced_only_with_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_run(tmp_path, "v1", [])
    (run.dir / "runlog.json").write_text("{written by hand")
    assert main(["tag", str(run.dir), "x"]) == 1
    err = capsys.readouterr().err
    assert str(run.dir / "runlog.json") in err and "--force" in err and err.count("\n") == 1
    assert (run.dir / "runlog.json").read_text() == "{written by hand"
    assert main(["tag", str(run.dir), "x", "--force"]) == 0
    assert notes_json(run)["tags"] == ["x"]


@pytest.mark.parametrize(
    ("argv", "env"),
    [
        (["tag", "RUN", "x"], "1"),
        (["--read-only", "tag", "RUN", "x"], None),
        (["tag", "RUN", "x", "--read-only"], None),
        (["note", "RUN", "text"], "yes"),
        (["--read-only", "note", "RUN", "text"], None),
    ],
)
def test_read_only_refuses_tags_and_notes(
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
    run = make_run(tmp_path, "v1", [])
    assert main([str(run.dir) if a == "RUN" else a for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("runlog: error: ") and "read-only" in err
    assert not (run.dir / "runlog.json").exists()


def test_runlog_tag_as_a_real_process(tmp_path: Path) -> None:
    run = make_run(tmp_path, "v1", [])
    env = {k: v for k, v in os.environ.items() if k != "RUNLOG_READ_ONLY"}
    done = subprocess.run(
        [sys.executable, "-m", "runlog", "tag", str(run.dir), "baseline"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, f"{run.dir}: tags baseline\n", "")
    refused = subprocess.run(
        [sys.executable, "-m", "runlog", "note", str(run.dir), "x"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**env, "RUNLOG_READ_ONLY": "1"},
    )
    assert refused.returncode == 2 and refused.stderr.startswith("runlog: error: ")
    assert (notes_json(run)["tags"], notes_json(run)["note"]) == (["baseline"], "")
