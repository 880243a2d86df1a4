"""A fake training run that writes in real time, for demos and end-to-end tests.

    .venv/bin/python scripts/live_run.py --root runs --name cartpole --version v3 \
        [--interval 0.2] [--episodes 200] [--seed 0] [--checkpoint-every 10] \
        [--eval-every 25] [--keep 5]

Prints the run directory on its first stdout line (flushed), then writes one episode
every `interval` seconds, like ember-rl's DQN loop: a train line, a metadata update,
and every few episodes a checkpoint (step_<N>.mpk + latest.mpk) or an eval block of
5 episodes (best.mpk when its mean beats the best so far). Stops after `--episodes`
(0 = until interrupted); Ctrl-C or SIGTERM end it cleanly with exit code 0.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import time
from pathlib import Path
from types import FrameType

import numpy as np

from runlog import EpisodeRecord, TrainingRun

EVAL_EPISODES = 5


class Stop(Exception):
    pass


def _stop(signum: int, frame: FrameType | None) -> None:
    raise Stop


def skill(episode: int) -> float:
    """Mean episode length the fake agent reaches after `episode` episodes."""
    return 20 + 380 / (1 + math.exp(-(episode - 60) / 15))


def sample_length(mean: float, rng: np.random.Generator) -> int:
    return int(np.clip(mean * rng.lognormal(0, 0.3), 8, 500))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a fake ember-rl run in real time.")
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--interval", type=float, default=0.2, help="seconds per episode")
    parser.add_argument("--episodes", type=int, default=0, help="stop after K (0: never)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint-every", type=int, default=10, metavar="EPISODES")
    parser.add_argument("--eval-every", type=int, default=25, metavar="EPISODES")
    parser.add_argument("--keep", type=int, default=None, help="prune to K checkpoints")
    args = parser.parse_args(argv)

    signal.signal(signal.SIGTERM, _stop)
    rng = np.random.default_rng(args.seed)
    run = TrainingRun.create(args.name, args.version, args.root)
    run.write_config(
        [
            {"gamma": 0.99, "lr": 0.001, "batch_size": 64, "seed": args.seed},
            {"size": 4},
            {"num_actions": 2},
        ]
    )
    print(run.dir, flush=True)

    steps = 0
    best = -math.inf
    episode = 0
    try:
        while args.episodes <= 0 or episode < args.episodes:
            time.sleep(args.interval)
            length = sample_length(skill(episode), rng)
            status = "Truncated" if length >= 500 else "Terminated"
            epsilon = max(0.05, 1.0 - steps / 5000)
            extras = {"epsilon": round(epsilon, 4)}
            if steps >= 500:
                loss = 0.05 * rng.lognormal(0, 0.3)
                extras.update(loss_mean=loss, loss_std=loss / 2, loss_max=loss * 3)
            steps += length
            episode += 1
            run.log_train_episode(EpisodeRecord(float(length), length, status, extras))
            run.update_metadata(steps, episode)
            if episode % args.checkpoint_every == 0:
                model = rng.bytes(int(rng.integers(1024, 4097)))
                run.checkpoint_path(steps).write_bytes(model)
                run.latest_checkpoint_path().write_bytes(model)
                if args.keep is not None:
                    run.prune_checkpoints(args.keep)
            if episode % args.eval_every == 0:
                rewards = []
                for _ in range(EVAL_EPISODES):
                    eval_length = sample_length(skill(episode) * 1.1, rng)
                    eval_status = "Truncated" if eval_length >= 500 else "Terminated"
                    record = EpisodeRecord(float(eval_length), eval_length, eval_status, {})
                    run.log_eval_episode(record, steps)
                    rewards.append(record.total_reward)
                if sum(rewards) / len(rewards) > best:
                    best = sum(rewards) / len(rewards)
                    run.best_checkpoint_path().write_bytes(rng.bytes(2048))
    except (KeyboardInterrupt, Stop):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
