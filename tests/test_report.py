"""runlog.report: the text and JSON of `runlog ls` and `runlog show`."""

from __future__ import annotations

import json
import math
import re
import statistics
from pathlib import Path

import pytest

from runlog.format.records import EpisodeRecord, RunMetadata, encode_episode_line, encode_metadata
from runlog.report import ls_command, show_command

RUN_ID = "20260322_120000"


def make_run(
    root: Path,
    name: str = "cartpole",
    version: str = "v1",
    run_id: str = RUN_ID,
    *,
    rewards: tuple[float, ...] = (10.0, 30.0, 20.0),
    eval_lines: str = "",
    checkpoints: tuple[str, ...] = (),
    metadata: bool = True,
    extra_train: str = "",
) -> Path:
    run = root / name / version / run_id
    run.mkdir(parents=True)
    if metadata:
        meta = RunMetadata(name, version, run_id, 1000, 0, "2026-03-22T12:00:00+01:00", "x")
        (run / "metadata.json").write_text(encode_metadata(meta))
    (run / "train_episodes.jsonl").write_text(
        "".join(encode_episode_line(EpisodeRecord(r, 10, extras={"epsilon": 0.5})) for r in rewards)
        + extra_train
    )
    if eval_lines:
        (run / "eval_episodes.jsonl").write_text(eval_lines)
    if checkpoints:
        (run / "checkpoints").mkdir()
        for file_name in checkpoints:
            (run / "checkpoints" / file_name).write_bytes(b"ckpt")
    return run


EVALS = (
    '{"total_steps_at_eval":100,"total_reward":5.0,"length":5,"status":"Truncated","extras":{}}\n'
    '{"total_steps_at_eval":100,"total_reward":7.0,"length":5,"status":"Truncated","extras":{}}\n'
    '{"total_steps_at_eval":200,"total_reward":6.0,"length":5,"status":"Truncated","extras":{}}\n'
)


def test_ls_json_lists_every_run_with_the_promised_fields(tmp_path: Path) -> None:
    make_run(tmp_path, "cartpole", "v1", eval_lines=EVALS, checkpoints=("step_5.mpk",))
    make_run(tmp_path, "cartpole", "v2", metadata=False)
    text, code = ls_command(tmp_path, as_json=True)
    assert code == 0
    runs = json.loads(text)
    assert [r["rel"] for r in runs] == [f"cartpole/v1/{RUN_ID}", f"cartpole/v2/{RUN_ID}"]
    first, second = runs
    for key in ("path", "name", "version", "run_id", "ok", "problem", "state"):
        assert key in first
    assert first["path"] == str(tmp_path / "cartpole" / "v1" / RUN_ID)
    assert (first["name"], first["version"], first["run_id"]) == ("cartpole", "v1", RUN_ID)
    assert first["ok"] is True and first["problem"] is None and first["state"] == "live"
    assert (first["train_episodes"], first["eval_episodes"]) == (3, 3)
    assert first["best_eval"]["step"] == 100 and first["best_eval"]["mean"] == 6.0
    assert first["checkpoints"] == {"steps": [5], "latest": False, "best": False}
    assert second["ok"] is False and second["problem"] == "metadata.json is missing"


def test_ls_json_has_no_nan(tmp_path: Path) -> None:
    make_run(tmp_path, rewards=(math.nan,))
    text, code = ls_command(tmp_path, as_json=True)
    assert code == 0 and "NaN" not in text
    [run] = json.loads(text)
    assert run["last_reward"] is None and run["best_reward"] is None


def test_ls_table_shows_runs_states_and_problems(tmp_path: Path) -> None:
    make_run(tmp_path, "cartpole", "v1", checkpoints=("step_5.mpk", "latest.mpk", "best.mpk"))
    make_run(tmp_path, "pendulum", "ppo", extra_train="junk\n")
    text, code = ls_command(tmp_path, as_json=False)
    assert code == 0
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["RUN", "STATE", "EPISODES"]
    cartpole = next(line for line in lines if line.startswith("cartpole/v1/"))
    assert " live " in cartpole and "1+LB" in cartpole
    pendulum = next(line for line in lines if line.startswith("pendulum/ppo/"))
    assert pendulum.endswith("1 bad line in train_episodes.jsonl")
    assert "2 runs, 1 with problems" in text


def test_ls_of_an_empty_root_and_of_a_missing_one(tmp_path: Path) -> None:
    assert ls_command(tmp_path, as_json=False) == (f"no runs under {tmp_path}", 0)
    assert ls_command(tmp_path, as_json=True) == ("[]", 0)
    text, code = ls_command(tmp_path / "nope", as_json=False)
    assert code == 1 and "does not exist" in text


def test_show_json_has_the_promised_fields(tmp_path: Path) -> None:
    run = make_run(
        tmp_path,
        eval_lines=EVALS,
        checkpoints=("step_5.mpk", "step_10.mpk", "latest.mpk"),
        extra_train="oops\n" + encode_episode_line(EpisodeRecord(1.0, 3)),
    )
    text, code = show_command(run, as_json=True)
    assert code == 0
    shown = json.loads(text)
    assert shown["train_episodes"] == 4
    assert shown["bad_train_lines"] == [4]
    assert shown["eval_episodes"] == 3
    assert shown["total_steps"] == 33
    assert shown["best_eval"] == {
        "step": 100,
        "mean": 6.0,
        "n": 2,
        "std": pytest.approx(statistics.stdev([5.0, 7.0])),  # sample std (ddof=1): sqrt(2)
        "min": 5.0,
        "max": 7.0,
        "median": 6.0,
    }
    assert shown["checkpoints"]["steps"] == [5, 10]
    assert shown["checkpoints"]["latest"] is True and shown["checkpoints"]["best"] is False
    assert shown["metadata_ok"] is True
    assert shown["problem"] == "1 bad line in train_episodes.jsonl"
    assert shown["extras_keys"] == ["epsilon"]
    assert shown["statuses"] == {"Terminated": 4}


def test_show_of_a_run_without_metadata_or_evals(tmp_path: Path) -> None:
    run = make_run(tmp_path, metadata=False)
    shown = json.loads(show_command(run, as_json=True)[0])
    assert shown["metadata_ok"] is False and shown["metadata"] is None
    assert shown["problem"] == "metadata.json is missing"
    assert shown["best_eval"] is None and shown["eval_episodes"] == 0
    assert shown["checkpoints"] == {"steps": [], "latest": False, "best": False, "files": []}


def test_show_resolves_a_name_directory_by_the_format_rule(tmp_path: Path) -> None:
    make_run(tmp_path, "cartpole", "v10", rewards=(1.0,))
    make_run(tmp_path, "cartpole", "v2", rewards=(1.0, 2.0))
    shown = json.loads(show_command(tmp_path / "cartpole", as_json=True)[0])
    assert shown["version"] == "v2"  # string order: "v10" < "v2"
    assert shown["train_episodes"] == 2


def test_show_text(tmp_path: Path) -> None:
    run = make_run(tmp_path, eval_lines=EVALS, checkpoints=("step_5.mpk", "best.mpk"))
    text, code = show_command(run, as_json=False)
    assert code == 0
    fields = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in text.splitlines())
    assert fields["run"] == f"cartpole/v1/{RUN_ID}"
    assert fields["problem"] == "none"
    assert fields["episodes"] == "3 train, 3 eval"
    assert fields["checkpoints"] == "step_5, best"
    assert fields["best eval"] == "mean 6 over 2 episodes at step 100"


def test_show_errors(tmp_path: Path) -> None:
    text, code = show_command(tmp_path / "missing", as_json=False)
    assert code == 1 and "does not exist" in text
    (tmp_path / "empty").mkdir()
    text, code = show_command(tmp_path / "empty", as_json=True)
    assert code == 1 and "no run found" in text
