"""Sweeps: group runs by their config with the seeds collapsed, score the groups the way
rliable reports them, and say which parameters matter.

    configs  {run: config.json}  --group_runs-->  Grouping: the varying keys, the groups
    scores   {run: one number}   --score_groups--> SweepResult: per group n, IQM/mean, 95% CI
                                                   (sorted best first), warnings
    SweepResult                  --parameter_effects--> per varying key: each value's groups,
                                                   Spearman rho of value vs group score

Grouping. Configs are flattened as in `configs.flatten_config` (dotted keys, `key[i]` for
lists, the crate's 3-element array under config./encoder./mapper.). Seed-like keys are
ignored: a key whose last segment (after the last dot, list indexes dropped) is `seed`,
ends in `_seed` or starts with `seed_`, in any case. The *varying* keys are the others whose
value is not the same in every run (a key some runs lack varies: "—(missing)" is a value).
Runs with equal values on every varying key form one group. With `group_by`, the user picks
the keys instead (several at once); every other key is ignored.

Statistics (Agarwal et al. 2021, "Deep RL at the Edge of the Statistical Precipice", the
`rliable` package; tests cross-check against it):
- a group's value is the IQM (`stats.iqm`: int(n / 4) dropped from each end) or the mean of
  its runs' finite scores; its 95% CI a percentile bootstrap over its runs (one task, so the
  stratified bootstrap is the plain one), drawn for every group at once with numpy;
- performance profile: for each threshold tau, the fraction of runs scoring above tau;
- optimality gap: target - mean(min(score, target)), how far below a target runs fall;
- probability of improvement: P(X > Y) over run pairs, a tie counting 1/2, with a CI from
  resampling X's and Y's runs independently.
Runs without a finite score (no eval yet) are left out of their group's n (and `n_total`
keeps them). Nothing here reads files: front ends pass configs and scores in.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import numpy.typing as npt

from runlog.analysis.configs import MISSING, comparable, flatten_config
from runlog.analysis.stats import FloatArray, Statistic, _finite, _statistic_along

Score = Literal["final-eval", "best-eval", "auc", "final-train"]
SCORES: dict[str, str] = {
    "final-eval": "final_eval_mean",
    "best-eval": "best_eval_mean",
    "auc": "eval_auc_normalized",
    "final-train": "final_train_reward_smoothed",
}
"""Score name -> the `compare.run_summary` column it reads."""
SCORE_LABELS: dict[str, str] = {
    "final-eval": "final eval mean",
    "best-eval": "best eval mean",
    "auc": "normalised eval AUC",
    "final-train": "final smoothed train reward",
}
N_BOOT = 2000
CONFIDENCE = 0.95
SEED = 0
FEW_RUNS = 3
"""Groups with fewer runs than this get a warning: their interval means little."""
FEW_GROUPS = 4
"""Parameter effects on fewer distinct groups than this are "too few to tell"."""

_SEED_KEY = re.compile(r"^(seed|.+_seed|seed_.+)$", re.IGNORECASE)
_INDEX = re.compile(r"\[\d+\]")


def is_seed_key(key: str) -> bool:
    """Whether a flattened config key names a seed: its last segment is `seed`, `*_seed` or
    `seed_*` in any case (`config.seed`, `env.env_seed`, `SEED_offset`, `seeds[0]` is not)."""
    last = key.rsplit(".", 1)[-1]
    return bool(_SEED_KEY.match(_INDEX.sub("", last)))


@dataclass(frozen=True)
class Group:
    """Runs that share every varying key's value."""

    params: dict[str, object]
    """Varying key -> this group's value (`configs.MISSING` where its runs lack the key)."""
    runs: tuple[str, ...]
    name: str | None = None
    """A label of its own (a compared version), instead of one made of `params`."""

    @property
    def label(self) -> str:
        """`name`, or "lr=0.001, batch_size=64" ("all runs" when nothing varies)."""
        if self.name is not None:
            return self.name
        if not self.params:
            return "all runs"
        return ", ".join(f"{k}={_show(v)}" for k, v in self.params.items())


@dataclass(frozen=True)
class Grouping:
    varying: tuple[str, ...]
    """Keys whose values differ across the selection (the table's parameter columns)."""
    groups: tuple[Group, ...]
    ignored: tuple[str, ...]
    """Seed-like keys (or, with `group_by`, keys not picked) that vary but were ignored."""
    unknown: tuple[str, ...] = ()
    """`group_by` keys that no run's config has."""


def _show(value: object) -> str:
    return (
        value if isinstance(value, str) else repr(value) if isinstance(value, bool) else str(value)
    )


def group_runs(
    configs: Mapping[str, object | None], group_by: Sequence[str] | None = None
) -> Grouping:
    """Group runs (`{run: config}`, config None when absent) by their varying config keys.

    Groups come in order of their first run; runs keep the order given.
    """
    flat = {run: flatten_config(cfg) if cfg is not None else {} for run, cfg in configs.items()}
    keys = list(dict.fromkeys(key for values in flat.values() for key in values))
    differs = [
        key
        for key in keys
        if len({comparable(values.get(key, MISSING)) for values in flat.values()}) > 1
    ]
    if group_by is not None:
        chosen = list(dict.fromkeys(group_by))
        unknown = tuple(k for k in chosen if k not in keys)
        varying = tuple(k for k in chosen if k in keys)
        ignored = tuple(k for k in differs if k not in varying)
    else:
        unknown = ()
        varying = tuple(k for k in differs if not is_seed_key(k))
        ignored = tuple(k for k in differs if is_seed_key(k))
    by_key: dict[tuple[tuple[str, object], ...], list[str]] = {}
    params_of: dict[tuple[tuple[str, object], ...], dict[str, object]] = {}
    for run, values in flat.items():
        params = {k: values.get(k, MISSING) for k in varying}
        key = tuple(comparable(v) for v in params.values())
        by_key.setdefault(key, []).append(run)
        params_of.setdefault(key, params)
    groups = tuple(Group(params_of[k], tuple(runs)) for k, runs in by_key.items())
    return Grouping(varying, groups, ignored, unknown)


# ---------------------------------------------------------------- group statistics


def bootstrap_groups(
    samples: Sequence[npt.ArrayLike],
    statistic: Statistic = "iqm",
    *,
    confidence: float = CONFIDENCE,
    n_boot: int = N_BOOT,
    seed: int = SEED,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(point, low, high) of `statistic` for each sample (one finite value per run).

    Every group is resampled independently, `n_boot` times, all groups of one size in one
    numpy draw (groups x n_boot x n), no Python loop per resample. NaN where a group has no
    value (point) or fewer than 2 (interval).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    arrays = [np.asarray(s, dtype=np.float64).ravel() for s in samples]
    for array in arrays:
        if not bool(np.all(np.isfinite(array))):
            raise ValueError("bootstrap samples must be finite (drop runs without a score first)")
    count = len(arrays)
    point = np.full(count, np.nan)
    low = np.full(count, np.nan)
    high = np.full(count, np.nan)
    rng = np.random.default_rng(seed)
    tail = (1.0 - confidence) / 2.0 * 100.0
    for n in sorted({len(a) for a in arrays}):
        members = [i for i, a in enumerate(arrays) if len(a) == n]
        if n == 0:
            continue
        matrix = np.vstack([arrays[i] for i in members])  # groups x n
        point[members] = _statistic_along(matrix, statistic, 1)
        if n < 2:
            continue
        draws = rng.integers(0, n, size=(len(members), n_boot, n))
        resampled = np.take_along_axis(matrix[:, None, :], draws, axis=2)
        stats = _statistic_along(resampled, statistic, 2)  # groups x n_boot
        lo, hi = np.percentile(stats, [tail, 100.0 - tail], axis=1)
        low[members], high[members] = lo, hi
    return point, low, high


@dataclass(frozen=True)
class GroupScore:
    group: Group
    n: int
    """Runs with a finite score."""
    n_total: int
    value: float
    low: float
    high: float
    scores: tuple[float, ...]
    """The finite scores of its runs, in run order."""

    @property
    def ci(self) -> tuple[float, float] | None:
        return None if math.isnan(self.low) else (self.low, self.high)


@dataclass(frozen=True)
class SweepResult:
    score: str
    statistic: Statistic
    varying: tuple[str, ...]
    groups: tuple[GroupScore, ...]
    """Best first (highest value; groups without a value last, in their order)."""
    ignored: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    @property
    def best(self) -> GroupScore | None:
        return self.groups[0] if self.groups and not math.isnan(self.groups[0].value) else None


def score_groups(
    grouping: Grouping,
    scores: Mapping[str, float],
    statistic: Statistic = "iqm",
    *,
    score: str = "final-eval",
    confidence: float = CONFIDENCE,
    n_boot: int = N_BOOT,
    seed: int = SEED,
) -> SweepResult:
    """Each group's `statistic` of its runs' `scores` with a bootstrap CI, best first.

    Warnings (plain sentences): groups with fewer than FEW_RUNS runs with a score; the top
    two groups' intervals overlapping (the winner is not clear); runs without a score.
    """
    finite = [
        tuple(float(scores[r]) for r in g.runs if r in scores and math.isfinite(float(scores[r])))
        for g in grouping.groups
    ]
    point, low, high = bootstrap_groups(
        finite, statistic, confidence=confidence, n_boot=n_boot, seed=seed
    )
    rows = [
        GroupScore(g, len(values), len(g.runs), float(p), float(lo), float(hi), values)
        for g, values, p, lo, hi in zip(grouping.groups, finite, point, low, high, strict=True)
    ]
    order = sorted(
        range(len(rows)), key=lambda i: (math.isnan(rows[i].value), -_or_zero(rows[i].value), i)
    )
    ranked = tuple(rows[i] for i in order)
    result = SweepResult(score, statistic, grouping.varying, ranked, grouping.ignored)
    return replace(result, warnings=sweep_warnings(result, confidence=confidence))


def sweep_warnings(
    result: SweepResult, quote: Callable[[str], str] = str, *, confidence: float = CONFIDENCE
) -> tuple[str, ...]:
    """Plain sentences on what makes `result` less sure: runs without a score, groups with
    fewer than FEW_RUNS runs, the top two intervals overlapping. `quote` wraps the group
    labels (text from config files), e.g. in markdown code spans for a page."""
    warnings: list[str] = []
    ranked = result.groups
    missing = sum(r.n_total - r.n for r in ranked)
    if missing:
        warnings.append(
            f"{missing} run{'s' if missing != 1 else ''} without a "
            f"{SCORE_LABELS.get(result.score, result.score)} (no eval yet?) left out."
        )
    few = [r for r in ranked if 0 < r.n < FEW_RUNS]
    if few:
        warnings.append(
            f"{len(few)} of {len(ranked)} groups have fewer than {FEW_RUNS} runs with a score: "
            "their intervals are wide or missing; add seeds before trusting them."
        )
    scored = [r for r in ranked if r.n > 0]
    if len(scored) >= 2:
        top, second = scored[0], scored[1]
        if top.ci is None or second.ci is None or top.low <= second.high:
            warnings.append(
                f"The top two groups' {confidence:.0%} intervals overlap: "
                f"{quote(top.group.label)} is not clearly better than "
                f"{quote(second.group.label)}."
            )
    return tuple(warnings)


def _or_zero(value: float) -> float:
    return 0.0 if math.isnan(value) else value


# ---------------------------------------------------------------- parameter effects


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (average ranks for ties); NaN when either side is constant
    or there are fewer than 3 pairs."""
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"x {a.shape} and y {b.shape} differ in length")
    if len(a) < 3:
        return float("nan")
    ra, rb = _ranks(a), _ranks(b)
    if np.ptp(ra) == 0 or np.ptp(rb) == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def _ranks(values: FloatArray) -> FloatArray:
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(1, len(values) + 1, dtype=np.float64)
    for value in np.unique(values):  # ties share their average rank
        tied = values == value
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    return ranks


@dataclass(frozen=True)
class EffectPoint:
    value: object
    groups: tuple[GroupScore, ...]


@dataclass(frozen=True)
class Effect:
    key: str
    points: tuple[EffectPoint, ...]
    """One per distinct value of the key, in sorted order (numbers by value)."""
    rho: float | None
    """Spearman rho of the key's value vs the group score, over groups (numbers and booleans
    only); None when the key is not numeric."""
    note: str
    """Plain words about `key` (not named in it): the direction and strength, or why nothing
    can be said."""


def parameter_effects(result: SweepResult) -> tuple[Effect, ...]:
    """For each varying key: the groups at each of its values, and a rank correlation of
    value vs score over the groups (never over single runs: seeds are not evidence)."""
    effects = []
    scored = [g for g in result.groups if not math.isnan(g.value)]
    for key in result.varying:
        values: dict[tuple[str, object], list[GroupScore]] = {}
        for g in scored:
            values.setdefault(comparable(g.group.params[key]), []).append(g)
        points = tuple(
            EffectPoint(groups[0].group.params[key], tuple(groups))
            for _, groups in sorted(values.items(), key=lambda kv: _sort_key(kv[0]))
        )
        numeric = [
            (float(g.group.params[key]), g.value)  # type: ignore[arg-type]
            for g in scored
            if isinstance(g.group.params[key], int | float)
        ]
        rho: float | None = None
        if len(numeric) == len(scored) and scored:
            rho = spearman([v for v, _ in numeric], [s for _, s in numeric])
        effects.append(Effect(key, points, rho, _effect_note(points, rho, len(scored))))
    return tuple(effects)


def _sort_key(comparable: tuple[str, object]) -> tuple[int, float, str]:
    kind, value = comparable
    if kind in ("number", "bool") and value != "nan":
        return (0, float(value), "")  # type: ignore[arg-type]
    return (1, 0.0, f"{kind}:{value}")


def _effect_note(points: Sequence[EffectPoint], rho: float | None, groups: int) -> str:
    if len(points) < 2:
        return "one value among the scored groups; nothing to compare."
    if groups < FEW_GROUPS:
        return f"{groups} scored groups are too few to tell."
    if rho is None:
        return "not numeric; compare the groups at each value."
    if math.isnan(rho):
        return "the scores do not move with it (no rank correlation)."
    strength = "strongly" if abs(rho) >= 0.7 else "moderately" if abs(rho) >= 0.4 else "weakly"
    direction = "higher" if rho > 0 else "lower"
    return f"{strength} associated with {direction} scores (Spearman rho {rho:+.2f})."


# ---------------------------------------------------------------- rliable's other metrics


def performance_profile(
    scores: npt.ArrayLike,
    taus: npt.ArrayLike,
    *,
    confidence: float = CONFIDENCE,
    n_boot: int = N_BOOT,
    seed: int = SEED,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(fraction, low, high) at each tau: the share of runs whose score is > tau, with a
    percentile bootstrap band over runs (rliable's run-score distribution)."""
    values = _finite(scores)
    grid = np.asarray(taus, dtype=np.float64).ravel()
    nan = np.full(len(grid), np.nan)
    if len(values) == 0:
        return nan, nan.copy(), nan.copy()
    fraction = (values[:, None] > grid[None, :]).mean(axis=0)
    if len(values) < 2:
        return fraction, nan, nan.copy()
    rng = np.random.default_rng(seed)
    draws = values[rng.integers(0, len(values), size=(n_boot, len(values)))]
    # Share above each tau per resample (n_boot x taus), in chunks of bounded memory.
    per_chunk = max(1, 4_000_000 // max(1, len(values) * len(grid)))
    above = np.concatenate(
        [
            (draws[start : start + per_chunk, :, None] > grid[None, None, :]).mean(axis=1)
            for start in range(0, n_boot, per_chunk)
        ]
    )
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(above, [tail, 100.0 - tail], axis=0)
    return fraction, np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)


def optimality_gap(scores: npt.ArrayLike, target: float) -> float:
    """target - mean(min(score, target)): how far below `target` the runs fall on average
    (0 when every run reaches it); NaN without a finite score."""
    values = _finite(scores)
    if len(values) == 0:
        return float("nan")
    return float(target - np.minimum(values, target).mean())


def optimality_gap_ci(
    scores: npt.ArrayLike,
    target: float,
    *,
    confidence: float = CONFIDENCE,
    n_boot: int = N_BOOT,
    seed: int = SEED,
) -> tuple[float, float, float]:
    """(gap, low, high): `optimality_gap` with a percentile bootstrap over runs."""
    values = _finite(scores)
    gap = optimality_gap(values, target)
    if len(values) < 2:
        return gap, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    draws = values[rng.integers(0, len(values), size=(n_boot, len(values)))]
    gaps = target - np.minimum(draws, target).mean(axis=1)
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(gaps, [tail, 100.0 - tail])
    return gap, float(low), float(high)


def probability_of_improvement_ci(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    confidence: float = CONFIDENCE,
    n_boot: int = N_BOOT,
    seed: int = SEED,
) -> tuple[float, float, float]:
    """(P(X > Y), low, high): the Mann-Whitney share of run pairs where X wins (a tie 1/2),
    its interval from resampling X's runs and Y's runs independently (rliable's
    StratifiedIndependentBootstrap on one task)."""
    a, b = _finite(x), _finite(y)
    if len(a) == 0 or len(b) == 0:
        nan = float("nan")
        return nan, nan, nan
    point = float(_poi(a[None, :], b[None, :])[0])
    if len(a) < 2 and len(b) < 2:
        return point, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    da = a[rng.integers(0, len(a), size=(n_boot, len(a)))]
    db = b[rng.integers(0, len(b), size=(n_boot, len(b)))]
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(_poi(da, db), [tail, 100.0 - tail])
    return point, float(low), float(high)


def _poi(a: FloatArray, b: FloatArray) -> FloatArray:
    """P(a > b) per row of resamples a (r x m) and b (r x n)."""
    wins = (a[:, :, None] > b[:, None, :]).sum(axis=(1, 2))
    ties = (a[:, :, None] == b[:, None, :]).sum(axis=(1, 2))
    return np.asarray((wins + 0.5 * ties) / (a.shape[1] * b.shape[1]), dtype=np.float64)
