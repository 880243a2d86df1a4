"""Regenerate `sample_runs/`: simulated ember-rl runs, written with runlog's TrainingRun.

    sample_runs/
        cartpole/      DQN, config.json as the crate's 3-element array; total_episodes
            v1/        stays 0 in metadata.json (the crate's quirk)
            v2/        lr 0.0005 (was 0.001), batch_size 128 (was 64), target_update 1000 (500)
                <run_id>/ x 3 seeds
            sweep/     a grid: lr {0.001, 0.0005} x batch_size {64, 128} x 3 seeds (the seed in
                       config.json), short runs: what `runlog sweep` and the sweep view group
        lunarlander/   PPO, config.json an object; total_episodes counted
            v1/
            v2/        lr 0.0005 (was 0.0003), batch_size 128 (was 64), hidden [128, 128]
                       (seeds start just before a daylight-saving switch: +01:00 -> +02:00)

Deterministic: fixed seeds and a simulated clock, so two runs of this script write the
same bytes. Checkpoints are random opaque bytes (1-8 KB); best.mpk is rewritten exactly
when an eval block's mean beats the best so far, as the crate does.

    .venv/bin/python scripts/make_sample_runs.py [--out sample_runs]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from runlog import EpisodeRecord, TrainingRun

REPO = Path(__file__).resolve().parent.parent
MARKER = "README.md"
EVAL_EPISODES = 5

# Central European time: +01:00, and +02:00 from 2026-03-29 01:00 UTC on.
DST_SWITCH = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
CET = timezone(timedelta(hours=1))
CEST = timezone(timedelta(hours=2))


class SimClock:
    """Simulated wall clock in Central European time, advanced by the simulation."""

    def __init__(self, start_local: datetime) -> None:
        self.utc = start_local.astimezone(UTC)

    def advance(self, seconds: float) -> None:
        self.utc += timedelta(seconds=seconds)

    def __call__(self) -> datetime:
        return self.utc.astimezone(CEST if self.utc >= DST_SWITCH else CET)


@dataclass(frozen=True)
class RunSpec:
    name: str
    version: str
    seed: int
    start: datetime  # local wall time, CET
    skill: float  # the final mean training reward this seed converges to
    budget: int  # training stops at this many steps (the unfinished episode is not logged)
    checkpoint_interval: int
    eval_interval: int
    keep: int | None  # prune_checkpoints(keep) after every checkpoint, as a trainer may
    config: object
    count_episodes: bool  # False reproduces the crate's total_episodes == 0 quirk
    seconds_per_step: float
    null_loss_at: int | None = None  # one exploded loss, written as null


@dataclass
class State:
    steps: int = 0
    episodes: int = 0
    dip: float = 0.0  # current depth of a temporary collapse, 0..1
    dip_recovery: float = 0.0
    best_eval: float = -math.inf
    checkpoint_times: dict[str, datetime] = field(default_factory=dict)


# -- environments ----------------------------------------------------------------------------


def cartpole_mean(spec: RunSpec, progress: float) -> float:
    # Random policy ~22 steps; learning begins after learning_starts, then a sigmoid rise.
    rise = 1 / (1 + math.exp(-(progress - 0.3) / 0.08))
    return 22 + (spec.skill - 22) * rise


def cartpole_episode(
    spec: RunSpec, state: State, rng: np.random.Generator
) -> tuple[float, int, str, dict[str, float]]:
    progress = state.steps / spec.budget
    mean = cartpole_mean(spec, progress) * (1 - state.dip)
    if rng.random() < 0.03:  # the pole falls early now and then, even for a good policy
        length = int(rng.integers(9, 40))
    else:
        length = int(np.clip(mean * rng.lognormal(0, 0.35), 8, 10_000))
    status = "Truncated" if length >= 500 else "Terminated"
    length = min(length, 500)
    config = spec.config
    assert isinstance(config, list)
    algo = config[0]
    decay = algo["epsilon_decay_steps"]
    epsilon = max(0.05, 1.0 - 0.95 * (state.steps + length) / decay)
    extras: dict[str, float] = {"epsilon": round(epsilon, 6)}
    if state.steps + length >= algo["learning_starts"]:  # no loss before learning starts
        loss_mean = (0.01 + 0.25 * mean / 500) * rng.lognormal(0, 0.3)
        if rng.random() < 0.01:
            loss_mean *= rng.uniform(5, 15)  # a loss spike
        loss_std = loss_mean * rng.uniform(0.3, 0.8)
        loss_max = loss_mean + loss_std * rng.uniform(2.5, 5)
        extras.update(loss_mean=loss_mean, loss_std=loss_std, loss_max=loss_max)
        if spec.null_loss_at == state.episodes:
            extras["loss_max"] = math.inf  # written as null, as the crate does
    return float(length), length, status, extras


def cartpole_eval(spec: RunSpec, state: State, rng: np.random.Generator) -> list[EpisodeRecord]:
    mean = min(500.0, cartpole_mean(spec, state.steps / spec.budget) * 1.15 * (1 - state.dip))
    records = []
    for _ in range(EVAL_EPISODES):
        length = int(np.clip(mean * rng.lognormal(0, 0.15), 8, 500))
        status = "Truncated" if length >= 500 else "Terminated"
        records.append(EpisodeRecord(float(length), length, status, {}))
    return records


def lunar_mean(spec: RunSpec, progress: float) -> float:
    rise = 1 / (1 + math.exp(-(progress - 0.35) / 0.1))
    return -180 + (spec.skill + 180) * rise


def lunar_outcome(mean: float, rng: np.random.Generator, spread: float) -> tuple[float, int]:
    if rng.random() < 0.06:  # a crash: short and costly
        return float(-100 - rng.uniform(0, 150)), int(rng.integers(60, 160))
    reward = float(mean + rng.normal(0, spread))
    if -60 < mean < 120 and rng.random() < 0.25:  # learned to hover, not yet to land
        return float(rng.uniform(-60, 60)), 1000
    if reward < -50:
        return reward, int(rng.integers(70, 220))
    length = int(np.clip(420 - reward + rng.normal(0, 60), 150, 999))
    return reward, length


def lunar_episode(
    spec: RunSpec, state: State, rng: np.random.Generator
) -> tuple[float, int, str, dict[str, float]]:
    progress = state.steps / spec.budget
    mean = lunar_mean(spec, progress) - state.dip * 250
    reward, length = lunar_outcome(mean, rng, 55)
    approx_kl = 0.008 * rng.lognormal(0, 0.5) * (6 if rng.random() < 0.015 else 1)
    extras = {
        "policy_loss": float(rng.normal(-0.004, 0.012)),
        "value_loss": float(180 * math.exp(-3 * progress) * rng.lognormal(0, 0.4) + 5),
        "entropy": float(1.386 * (1 - 0.55 * progress) + rng.normal(0, 0.02)),
        "approx_kl": float(approx_kl),
    }
    return reward, length, "Truncated" if length >= 1000 else "Terminated", extras


def lunar_eval(spec: RunSpec, state: State, rng: np.random.Generator) -> list[EpisodeRecord]:
    mean = lunar_mean(spec, state.steps / spec.budget) + 15 - state.dip * 250
    records = []
    for _ in range(EVAL_EPISODES):
        reward, length = lunar_outcome(mean, rng, 35)
        status = "Truncated" if length >= 1000 else "Terminated"
        records.append(EpisodeRecord(reward, length, status, {}))
    return records


# -- the training loop -------------------------------------------------------------------------

Episode = Callable[[RunSpec, State, np.random.Generator], tuple[float, int, str, dict[str, float]]]
Eval = Callable[[RunSpec, State, np.random.Generator], list[EpisodeRecord]]


def save_model(path: Path, model: bytes, state: State, clock: SimClock) -> None:
    path.write_bytes(model)
    state.checkpoint_times[path.name] = clock()


def random_model(rng: np.random.Generator) -> bytes:
    return rng.bytes(int(rng.integers(1024, 8193)))  # opaque, like a Burn .mpk record


def simulate(spec: RunSpec, out: Path, episode: Episode, evaluate: Eval) -> TrainingRun:
    if spec.version[1:].isdigit():
        version_key = int(spec.version[1:])
    else:  # the sweep: every config of the grid draws its own stream
        version_key = sum(map(ord, json.dumps(spec.config, sort_keys=True))) * 31
    rng = np.random.default_rng([sum(map(ord, spec.name)), version_key, spec.seed])
    clock = SimClock(spec.start)
    run = TrainingRun.create(spec.name, spec.version, out, clock=clock)
    run.write_config(spec.config)
    state = State()
    next_checkpoint = spec.checkpoint_interval
    next_eval = spec.eval_interval

    def crossed(until: int) -> None:
        nonlocal next_checkpoint, next_eval
        while min(next_checkpoint, next_eval) <= until:
            if next_checkpoint <= next_eval:
                step = next_checkpoint
                model = random_model(rng)
                save_model(run.checkpoint_path(step), model, state, clock)
                save_model(run.latest_checkpoint_path(), model, state, clock)
                if spec.keep is not None:
                    for deleted in run.prune_checkpoints(spec.keep):
                        state.checkpoint_times.pop(deleted.name, None)
                next_checkpoint += spec.checkpoint_interval
            else:
                block = evaluate(spec, state, rng)
                for record in block:
                    run.log_eval_episode(record, next_eval)
                    clock.advance(record.length * spec.seconds_per_step * 0.3)
                block_mean = sum(r.total_reward for r in block) / len(block)
                if block_mean > state.best_eval:  # strictly greater, as the crate
                    state.best_eval = block_mean
                    save_model(run.best_checkpoint_path(), random_model(rng), state, clock)
                next_eval += spec.eval_interval

    while True:
        if state.dip > 0:
            state.dip = max(0.0, state.dip - state.dip_recovery)
        elif state.steps > 0.3 * spec.budget and rng.random() < 0.006:
            state.dip = float(rng.uniform(0.25, 0.6))  # a temporary collapse
            state.dip_recovery = state.dip / float(rng.integers(15, 60))
        reward, length, status, extras = episode(spec, state, rng)
        if state.steps + length > spec.budget:
            break  # stopped on the step budget: the unfinished episode is never logged
        crossed(state.steps + length)
        clock.advance(length * spec.seconds_per_step * rng.uniform(0.9, 1.1))
        state.steps += length
        run.log_train_episode(EpisodeRecord(reward, length, status, extras))
        state.episodes += 1
        run.update_metadata(state.steps, state.episodes if spec.count_episodes else 0)
    crossed(spec.budget)
    clock.advance(2.0)
    run.update_metadata(spec.budget, state.episodes if spec.count_episodes else 0)
    set_mtimes(run, state)
    return run


def set_mtimes(run: TrainingRun, state: State) -> None:
    """Date the files by the simulated clock, so fresh samples do not look live."""
    ended = run.metadata.last_updated_datetime
    assert ended is not None
    for path in run.dir.iterdir():
        if path.is_file():
            os.utime(path, (ended.timestamp(), ended.timestamp()))
    for name, moment in state.checkpoint_times.items():
        target = run.dir / "checkpoints" / name
        if target.exists():
            os.utime(target, (moment.timestamp(), moment.timestamp()))
    last = max(state.checkpoint_times.values(), default=ended)
    os.utime(run.dir / "checkpoints", (last.timestamp(), last.timestamp()))
    os.utime(run.dir, (ended.timestamp(), ended.timestamp()))


# -- the sample set ---------------------------------------------------------------------------


def cartpole_config(version: str, seed: int) -> list[dict[str, object]]:
    v2 = version == "v2"
    return [
        {
            "gamma": 0.99,
            "lr": 0.0005 if v2 else 0.001,
            "batch_size": 128 if v2 else 64,
            "buffer_capacity": 50000,
            "learning_starts": 500,
            "epsilon_start": 1.0,
            "epsilon_end": 0.05,
            "epsilon_decay_steps": 10000,
            "target_update_freq": 1000 if v2 else 500,
            "hidden_sizes": [64, 64],
            "seed": seed,
        },
        {"size": 4},
        {"num_actions": 2},
    ]


def sweep_config(lr: float, batch_size: int, seed: int) -> list[dict[str, object]]:
    config = cartpole_config("v1", seed)
    algo = dict(config[0])
    algo.update(lr=lr, batch_size=batch_size, epsilon_decay_steps=5000, learning_starts=250)
    return [algo, *config[1:]]


def lunar_config(version: str, seed: int) -> dict[str, object]:
    v2 = version == "v2"
    return {
        "algorithm": "PPO",
        "env_id": "LunarLander-v3",
        "gamma": 0.99,
        "gae_lambda": 0.95,
        "lr": 0.0005 if v2 else 0.0003,
        "clip_epsilon": 0.2,
        "batch_size": 128 if v2 else 64,
        "n_epochs": 10,
        "rollout_steps": 2048,
        "entropy_coef": 0.01,
        "network": {"hidden_sizes": [128, 128] if v2 else [64, 64], "activation": "tanh"},
        "seed": seed,
    }


def specs() -> list[RunSpec]:
    out: list[RunSpec] = []
    # Final mean reward per seed: v2 is better on average, but its worst seed is below
    # v1's best.
    cartpole_skill = {"v1": (310.0, 255.0, 410.0), "v2": (440.0, 480.0, 380.0)}
    cartpole_keep = {"v1": (None, None, 6), "v2": (5, None, 8)}
    cartpole_start = {"v1": datetime(2026, 3, 21, 10, 0, 7), "v2": datetime(2026, 3, 22, 14, 2, 31)}
    for version in ("v1", "v2"):
        for seed in range(3):
            out.append(
                RunSpec(
                    name="cartpole",
                    version=version,
                    seed=seed,
                    start=cartpole_start[version].replace(tzinfo=CET)
                    + timedelta(minutes=6 * seed, seconds=17 * seed),
                    skill=cartpole_skill[version][seed],
                    budget=150_000,
                    checkpoint_interval=10_000,
                    eval_interval=10_000,
                    keep=cartpole_keep[version][seed],
                    config=cartpole_config(version, seed),
                    count_episodes=False,
                    seconds_per_step=0.004,
                    null_loss_at=400 if (version, seed) == ("v1", 2) else None,
                )
            )
    # The sweep: a smaller lr and a bigger batch each help; seeds scatter around the group.
    sweep_skill = {
        (0.001, 64): 290.0,
        (0.001, 128): 350.0,
        (0.0005, 64): 380.0,
        (0.0005, 128): 450.0,
    }
    sweep_start = datetime(2026, 3, 24, 9, 0, 0)
    for index, ((lr, batch_size), skill) in enumerate(sweep_skill.items()):
        for seed, offset in enumerate((-45.0, 5.0, 35.0)):
            out.append(
                RunSpec(
                    name="cartpole",
                    version="sweep",
                    seed=seed,
                    start=sweep_start.replace(tzinfo=CET)
                    + timedelta(minutes=20 * (3 * index + seed), seconds=11 * seed),
                    skill=skill + offset,
                    budget=40_000,
                    checkpoint_interval=10_000,
                    eval_interval=5_000,
                    keep=2,
                    config=sweep_config(lr, batch_size, seed),
                    count_episodes=False,
                    seconds_per_step=0.004,
                )
            )
    lunar_skill = {"v1": (150.0, 95.0, 205.0), "v2": (235.0, 180.0, 255.0)}
    lunar_keep = {"v1": (8, None, 4), "v2": (None, 6, None)}
    # v2 starts shortly before the switch to summer time, so its offsets change mid-run.
    lunar_start = {"v1": datetime(2026, 3, 27, 9, 15, 42), "v2": datetime(2026, 3, 29, 1, 24, 3)}
    for version in ("v1", "v2"):
        for seed in range(3):
            out.append(
                RunSpec(
                    name="lunarlander",
                    version=version,
                    seed=seed,
                    start=lunar_start[version].replace(tzinfo=CET)
                    + timedelta(minutes=4 * seed, seconds=29 * seed),
                    skill=lunar_skill[version][seed],
                    budget=300_000,
                    checkpoint_interval=25_000,
                    eval_interval=20_000,
                    keep=lunar_keep[version][seed],
                    config=lunar_config(version, seed),
                    count_episodes=True,
                    seconds_per_step=0.01,
                )
            )
    return out


README = """# sample_runs

Simulated ember-rl training runs for the dashboard, the docs and the tests. Generated by
`scripts/make_sample_runs.py` (deterministic: same bytes on every run); regenerate with

    .venv/bin/python scripts/make_sample_runs.py

Do not edit by hand. The script wipes this directory (it checks for this file first).
"""


def wipe(out: Path) -> None:
    if out.exists():
        children = list(out.iterdir())
        if children and not (out / MARKER).is_file():
            sys.exit(f"refusing to wipe {out}: it is not empty and has no {MARKER} marker")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text(README)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "sample_runs")
    args = parser.parse_args(argv)
    wipe(args.out)
    for spec in specs():
        if spec.name == "cartpole":
            run = simulate(spec, args.out, cartpole_episode, cartpole_eval)
        else:
            run = simulate(spec, args.out, lunar_episode, lunar_eval)
        lines = (run.dir / "train_episodes.jsonl").read_text().count("\n")
        checkpoints = len(list((run.dir / "checkpoints").glob("step_*.mpk")))
        print(f"{run.dir.relative_to(args.out)}: {lines} episodes, {checkpoints} checkpoints")
    return 0


if __name__ == "__main__":
    sys.exit(main())
