"""Random search for a linear CartPole-v1 policy, logged live with `runlog.gym.RunLogger`.

    .venv/bin/pip install -e '.[gym]'
    .venv/bin/python scripts/cartpole_random.py --root runs --episodes 300 --sleep 0.1
    .venv/bin/streamlit run dashboard/app.py -- --root runs        # watch it in another terminal

Each train episode tries the best weights so far plus Gaussian noise (push right when
weights . observation > 0) and keeps the candidate if it scores at least as well; every
`--eval-every` episodes the best weights play an eval block. Prints the run directory on its
first stdout line, then one line per eval block.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import numpy.typing as npt

from runlog import TrainingRun
from runlog.gym import RunLogger

Weights = npt.NDArray[np.float64]


def play(env: gym.Env[npt.NDArray[np.float32], int], weights: Weights) -> float:
    """One episode with the linear policy `weights`; returns its total reward."""
    obs, _ = env.reset()
    total = 0.0
    while True:
        obs, reward, terminated, truncated, _ = env.step(int(obs @ weights > 0))
        total += float(reward)
        if terminated or truncated:
            return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Log a CartPole-v1 random search with runlog.")
    parser.add_argument("--root", type=Path, default=Path("runs"), help="runs root (./runs)")
    parser.add_argument("--name", default="cartpole")
    parser.add_argument("--version", default="random-search")
    parser.add_argument("--episodes", type=int, default=200, help="train episodes")
    parser.add_argument("--eval-every", type=int, default=20, metavar="EPISODES")
    parser.add_argument("--eval-episodes", type=int, default=5, help="episodes per eval block")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sleep", type=float, default=0.0, help="seconds between episodes")
    args = parser.parse_args(argv)

    run = TrainingRun.create(args.name, args.version, args.root)
    run.write_config(
        {
            "env": "CartPole-v1",
            "agent": "linear random search",
            "episodes": args.episodes,
            "eval_every": args.eval_every,
            "eval_episodes": args.eval_episodes,
            "seed": args.seed,
        }
    )
    print(run.dir, flush=True)

    rng = np.random.default_rng(args.seed)
    best: Weights = np.zeros(4)
    best_reward = 0.0
    env = RunLogger(gym.make("CartPole-v1"), run, extras=lambda _info: {"best": best_reward})
    eval_env = RunLogger(gym.make("CartPole-v1"), run, kind="eval")
    env.reset(seed=args.seed)
    eval_env.reset(seed=args.seed + 1)
    try:
        for episode in range(1, args.episodes + 1):
            candidate = best + rng.normal(size=4)  # the policy ignores scale: unit noise will do
            reward = play(env, candidate)
            if reward >= best_reward:
                best, best_reward = candidate, reward
            if episode % args.eval_every == 0:
                rewards = [play(eval_env, best) for _ in range(args.eval_episodes)]
                print(f"episode {episode}: eval mean {np.mean(rewards):.1f}", flush=True)
            time.sleep(args.sleep)
    except KeyboardInterrupt:
        pass
    finally:
        env.close()
        eval_env.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
