"""`RunLogger`: a Gymnasium wrapper that logs each finished episode to a `TrainingRun`.

    run = TrainingRun.create("cartpole", "v1", root="runs")
    env = RunLogger(gymnasium.make("CartPole-v1"), run)               # train_episodes.jsonl
    eval_env = RunLogger(gymnasium.make("CartPole-v1"), run, kind="eval")  # eval_episodes.jsonl

In the style of `gymnasium.wrappers.RecordEpisodeStatistics`: `step` sums the reward and counts
the steps, and the step that returns `terminated` or `truncated` writes one line. gymnasium is
an optional extra (`pip install -e '.[gym]'`); `import runlog` never imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal, SupportsFloat

try:
    import gymnasium as gym
    from gymnasium.core import ActType, ObsType
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "runlog.gym needs gymnasium, an optional extra: pip install -e '.[gym]' "
        "(or pip install 'gymnasium>=1.0')"
    ) from exc

from runlog.format.records import EpisodeRecord
from runlog.format.run import TrainingRun

__all__ = ["ExtrasFn", "LogKind", "RunLogger"]

LogKind = Literal["train", "eval"]

ExtrasFn = Callable[[dict[str, Any]], Mapping[str, float]]
"""Called with the `info` of an episode's last step; returns the record's extras."""


class RunLogger(gym.Wrapper[ObsType, ActType, ObsType, ActType], gym.utils.RecordConstructorArgs):
    """Logs every episode that ends with `terminated` or `truncated` to `run`.

    Each such episode becomes one `EpisodeRecord`: the sum of its rewards, its number of
    steps, status "Terminated" (also when both flags are set) or "Truncated", and the extras
    `extras(info)` returns for the final step's `info` (no extras when `extras` is None).

    - `kind="train"` appends to train_episodes.jsonl and then adds the episode (and every
      step taken since the last write) to the run's `total_steps` / `total_episodes` in
      metadata.json, as the crate's training loop does.
    - `kind="eval"` appends to eval_episodes.jsonl, tagged with `run.metadata.total_steps`:
      the step count the train logger (or your own `update_metadata`) last wrote.
      Eval episodes leave metadata.json alone.

    An episode cut off by `reset()` before it terminated or truncated is NOT logged, and
    neither is one left unfinished by `close()`; the steps of a cut-off train episode still
    count towards `total_steps` (they were taken). Raises TypeError for a vectorised env and
    ValueError for an unknown `kind`; `step` raises OSError when the disk refuses a write.
    """

    def __init__(
        self,
        env: gym.Env[ObsType, ActType],
        run: TrainingRun,
        *,
        kind: LogKind = "train",
        extras: ExtrasFn | None = None,
    ) -> None:
        if isinstance(env, gym.vector.VectorEnv):
            raise TypeError(
                f"RunLogger wraps one gymnasium.Env, got the vectorised {type(env).__name__}; "
                "vector envs are not supported: log their episodes with "
                "TrainingRun.log_train_episode yourself"
            )
        if kind not in ("train", "eval"):
            raise ValueError(f"kind must be 'train' or 'eval', got {kind!r}")
        gym.utils.RecordConstructorArgs.__init__(self, run=run, kind=kind, extras=extras)
        gym.Wrapper.__init__(self, env)
        self.run = run
        self.kind: LogKind = kind
        self._extras = extras
        self.episode_count = 0
        """Episodes this wrapper has logged."""
        self.last_record: EpisodeRecord | None = None
        """The record of the last episode logged, or None before the first."""
        self._episode_reward = 0.0
        self._episode_length = 0
        self._unwritten_steps = 0  # steps not yet added to metadata.json (train only)

    def step(self, action: ActType) -> tuple[ObsType, SupportsFloat, bool, bool, dict[str, Any]]:
        """Steps the env; when the episode ends, appends its record (and, for train, updates
        metadata.json) before returning."""
        obs, reward, terminated, truncated, info = super().step(action)
        self._episode_reward += float(reward)
        self._episode_length += 1
        self._unwritten_steps += 1
        if terminated or truncated:
            self._log_episode("Terminated" if terminated else "Truncated", info)
        return obs, reward, terminated, truncated, info

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[ObsType, dict[str, Any]]:
        """Resets the env and starts a new episode; an unfinished one is dropped unlogged."""
        obs, info = super().reset(seed=seed, options=options)
        self._episode_reward = 0.0
        self._episode_length = 0
        return obs, info

    def _log_episode(self, status: str, info: dict[str, Any]) -> None:
        extras = {} if self._extras is None else self._extras(info)
        record = EpisodeRecord(self._episode_reward, self._episode_length, status, extras)
        if self.kind == "train":
            self.run.log_train_episode(record)
            before = self.run.metadata
            self.run.update_metadata(
                before.total_steps + self._unwritten_steps, before.total_episodes + 1
            )
            self._unwritten_steps = 0
        else:
            self.run.log_eval_episode(record, self.run.metadata.total_steps)
        self.episode_count += 1
        self.last_record = record
        # A step after the end without a reset() starts counting a new episode from zero.
        self._episode_reward = 0.0
        self._episode_length = 0
