"""runlog.gym: RunLogger logs exactly the episodes a real CartPole-v1 plays, as runlog reads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, TypeVar

import gymnasium as gym
import pytest
from gymnasium.wrappers import RecordEpisodeStatistics

from runlog import EpisodeRecord, TrainingRun
from runlog.format.records import encode_episode_line, encode_eval_line
from runlog.gym import RunLogger
from runlog.provider import RunProvider
from runlog.read.episodes import EpisodeLog

REPO = Path(__file__).resolve().parent.parent
E = TypeVar("E", bound=gym.Env[Any, Any])


def play(env: gym.Env[Any, Any], action: int | None = None) -> EpisodeRecord:
    """One episode to its end (random actions unless `action` is given), summed up by hand."""
    env.reset()
    total, length = 0.0, 0
    while True:
        chosen = env.action_space.sample() if action is None else action
        _, reward, terminated, truncated, _ = env.step(chosen)
        total += float(reward)
        length += 1
        if terminated or truncated:
            return EpisodeRecord(total, length, "Terminated" if terminated else "Truncated")


def seeded(env: E, seed: int = 0) -> E:
    env.reset(seed=seed)
    env.action_space.seed(seed)
    return env


def read(run: TrainingRun, kind: str = "train") -> EpisodeLog:
    log = EpisodeLog(run.dir / f"{kind}_episodes.jsonl", "eval" if kind == "eval" else "train")
    log.refresh()
    return log


@pytest.fixture
def run(tmp_path: Path) -> TrainingRun:
    return TrainingRun.create("cartpole", "v1", tmp_path)


def test_the_episodes_logged_are_the_episodes_played(run: TrainingRun) -> None:
    env = seeded(RunLogger(gym.make("CartPole-v1"), run))
    played = [play(env) for _ in range(12)]

    lines = (run.dir / "train_episodes.jsonl").read_text().splitlines(keepends=True)
    assert lines == [encode_episode_line(record) for record in played]
    frame = read(run).frame
    assert frame["reward"].tolist() == [r.total_reward for r in played]
    assert frame["length"].tolist() == [r.length for r in played]
    assert frame["status"].tolist() == [r.status for r in played]
    assert env.episode_count == 12 and env.last_record == played[-1]
    # metadata.json follows the log after every episode, as the crate's loop writes it
    steps = sum(r.length for r in played)
    assert (run.metadata.total_steps, run.metadata.total_episodes) == (steps, 12)
    resumed = TrainingRun.resume(run.dir)
    assert (resumed.metadata.total_steps, resumed.metadata.total_episodes) == (steps, 12)


def test_status_comes_from_the_flags(run: TrainingRun) -> None:
    short = seeded(RunLogger(gym.make("CartPole-v1", max_episode_steps=5), run))
    truncated = [play(short) for _ in range(3)]
    falls = seeded(RunLogger(gym.make("CartPole-v1"), run))
    terminated = [play(falls, action=1) for _ in range(3)]  # always pushing right: the pole falls

    assert [(r.status, r.length) for r in truncated] == [("Truncated", 5)] * 3
    assert {r.status for r in terminated} == {"Terminated"}
    assert read(run).frame["status"].tolist() == ["Truncated"] * 3 + ["Terminated"] * 3


def test_extras_come_from_the_final_steps_info(run: TrainingRun) -> None:
    # RecordEpisodeStatistics puts the episode's return and length in the last step's info.
    calls: list[dict[str, Any]] = []

    def extras(info: dict[str, Any]) -> dict[str, float]:
        calls.append(info)
        return {"r": info["episode"]["r"], "l": info["episode"]["l"], "call": len(calls)}

    env = seeded(RunLogger(RecordEpisodeStatistics(gym.make("CartPole-v1")), run, extras=extras))
    played = [play(env) for _ in range(3)]

    frame = read(run).frame
    assert frame["extras.r"].tolist() == [r.total_reward for r in played]
    assert frame["extras.l"].tolist() == [r.length for r in played]
    assert frame["extras.call"].tolist() == [1, 2, 3]  # once per episode, at its end
    assert env.last_record is not None and dict(env.last_record.extras) == {
        "r": played[-1].total_reward,
        "l": played[-1].length,
        "call": 3,
    }


def test_an_episode_cut_off_by_reset_or_close_is_not_logged(run: TrainingRun) -> None:
    env = seeded(RunLogger(gym.make("CartPole-v1"), run))
    for _ in range(3):
        env.step(0)
    env.reset()
    assert not (run.dir / "train_episodes.jsonl").exists()
    assert env.episode_count == 0

    finished = play(env)
    env.reset()
    for _ in range(2):
        env.step(0)
    env.close()

    assert read(run).frame["length"].tolist() == [finished.length]
    # The 3 cut-off steps were taken: they count in total_steps, though in no episode. The 2
    # before close() would be added by the next episode to end; none does.
    assert run.metadata.total_steps == 3 + finished.length
    assert run.metadata.total_episodes == 1


def test_eval_episodes_are_tagged_with_the_train_step_count(run: TrainingRun) -> None:
    train = seeded(RunLogger(gym.make("CartPole-v1"), run))
    evaluate = seeded(RunLogger(gym.make("CartPole-v1"), run, kind="eval"), seed=1)
    expected: list[str] = []
    for _ in range(2):
        for _ in range(3):
            play(train)
        steps = run.metadata.total_steps
        expected += [encode_eval_line(play(evaluate), steps) for _ in range(2)]
        assert run.metadata.total_steps == steps  # eval steps are not train steps

    assert (run.dir / "eval_episodes.jsonl").read_text().splitlines(keepends=True) == expected
    assert read(run).total_records == 6
    assert len(read(run, "eval").frame["step"].unique()) == 2  # two eval blocks


def test_a_resumed_run_keeps_counting(run: TrainingRun) -> None:
    first = play(seeded(RunLogger(gym.make("CartPole-v1"), run)))
    resumed = TrainingRun.resume(run.dir)
    env = seeded(RunLogger(gym.make("CartPole-v1"), resumed), seed=3)
    second = [play(env) for _ in range(2)]
    assert resumed.metadata.total_steps == first.length + sum(r.length for r in second)
    assert resumed.metadata.total_episodes == 3
    assert read(run).total_records == 3


def test_the_dashboard_lists_a_logged_run(tmp_path: Path) -> None:
    run = TrainingRun.create("cartpole", "gym", tmp_path)
    env = seeded(RunLogger(gym.make("CartPole-v1"), run))
    evaluate = seeded(RunLogger(gym.make("CartPole-v1"), run, kind="eval"))
    played = [play(env) for _ in range(5)]
    play(evaluate)

    provider = RunProvider(tmp_path, watch=False, background=False)
    provider.refresh()
    summary = provider.run(f"cartpole/gym/{run.dir.name}")
    assert summary is not None and summary.problem is None
    assert (summary.train_episodes, summary.eval_episodes) == (5, 1)
    assert summary.total_steps == sum(r.length for r in played)
    assert summary.last_reward == played[-1].total_reward


def test_a_vector_env_is_refused(run: TrainingRun) -> None:
    vector = gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync")
    with pytest.raises(TypeError, match=r"RunLogger wraps one gymnasium\.Env.*SyncVectorEnv"):
        RunLogger(vector, run)  # type: ignore[arg-type]
    vector.close()
    with pytest.raises(ValueError, match="kind must be 'train' or 'eval'"):
        RunLogger(gym.make("CartPole-v1"), run, kind="test")  # type: ignore[arg-type]


def test_gymnasium_is_optional() -> None:
    """`import runlog` never loads gymnasium; without it, runlog.gym says how to install it."""
    code = (
        "import sys\n"
        "import runlog, runlog.provider, runlog.cli\n"
        "assert 'gymnasium' not in sys.modules\n"
        "sys.modules['gymnasium'] = None  # what an interpreter without gymnasium sees\n"
        "try:\n"
        "    import runlog.gym\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert "pip install -e '.[gym]'" in result.stdout


def test_the_example_script_runs_end_to_end(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "cartpole_random.py"),
            *("--root", str(tmp_path), "--episodes", "6", "--eval-every", "3"),
            *("--eval-episodes", "2", "--sleep", "0.01"),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    run_dir = Path(result.stdout.splitlines()[0])
    assert run_dir.parent == tmp_path / "cartpole" / "random-search"
    assert TrainingRun.resume(run_dir).dir == run_dir
    assert '"agent": "linear random search"' in (run_dir / "config.json").read_text()

    provider = RunProvider(tmp_path, watch=False, background=False)
    provider.refresh()
    [summary] = provider.runs()
    assert summary.problem is None
    assert (summary.train_episodes, summary.eval_episodes) == (6, 4)
    assert len(provider.eval_blocks(summary.rel)) == 2
    assert provider.config(summary.rel)[0] == {
        "env": "CartPole-v1",
        "agent": "linear random search",
        "episodes": 6,
        "eval_every": 3,
        "eval_episodes": 2,
        "seed": 0,
    }
