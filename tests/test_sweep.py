"""runlog.analysis.sweep: grouping by config with seeds collapsed, group statistics checked
by hand and against the `rliable` package itself, and `runlog sweep` on the sample sweep."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from budget import examples
from hypothesis import given, settings
from hypothesis import strategies as st
from rliable import library as rly
from rliable import metrics as rly_metrics

from runlog.analysis.configs import MISSING
from runlog.analysis.stats import iqm
from runlog.analysis.sweep import (
    Grouping,
    bootstrap_groups,
    group_runs,
    is_seed_key,
    optimality_gap,
    optimality_gap_ci,
    parameter_effects,
    performance_profile,
    probability_of_improvement_ci,
    score_groups,
    spearman,
)
from runlog.cli import main

REPO = Path(__file__).resolve().parent.parent
SAMPLE_SWEEP = REPO / "sample_runs" / "cartpole" / "sweep"

# ---------------------------------------------------------------- seed keys


@pytest.mark.parametrize(
    "key",
    ["seed", "SEED", "config.seed", "env.env_seed", "Seed_Offset", "a.b.torch_seed", "x.seed[0]"],
)
def test_seed_like_keys(key: str) -> None:
    assert is_seed_key(key)


@pytest.mark.parametrize(
    "key", ["seeds", "seeded", "config.lr", "seed.lr", "reseed", "need", "config.seedling"]
)
def test_keys_that_only_look_like_seeds(key: str) -> None:
    assert not is_seed_key(key)


@settings(max_examples=examples(200))
@given(
    prefix=st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True), max_size=3),
    middle=st.from_regex(r"[a-zA-Z0-9]{1,6}", fullmatch=True),
    form=st.sampled_from(["{}_seed", "seed_{}", "seed", "{}"]),
)
def test_property_the_last_segment_decides(prefix: list[str], middle: str, form: str) -> None:
    last = form.format(middle)
    key = ".".join([*prefix, last])
    expected = (
        last.lower() == "seed" or last.lower().endswith("_seed") or last.lower().startswith("seed_")
    )
    assert is_seed_key(key) == expected


# ---------------------------------------------------------------- grouping


def _labels(grouping: Grouping) -> list[tuple[dict[str, object], tuple[str, ...]]]:
    return [(g.params, g.runs) for g in grouping.groups]


def test_seeds_collapse_and_only_varying_keys_show() -> None:
    configs = {
        f"r{lr}{seed}": {"lr": lr, "gamma": 0.99, "seed": seed, "env": {"env_seed": seed + 7}}
        for lr in (1, 2)
        for seed in range(3)
    }
    grouping = group_runs(configs)
    assert grouping.varying == ("lr",)
    assert set(grouping.ignored) == {"seed", "env.env_seed"}
    assert _labels(grouping) == [
        ({"lr": 1}, ("r10", "r11", "r12")),
        ({"lr": 2}, ("r20", "r21", "r22")),
    ]


def test_the_crates_three_element_array_nested_keys_and_lists() -> None:
    def crate(lr: float, hidden: list[int], seed: int) -> list[dict[str, object]]:
        return [
            {"lr": lr, "hidden_sizes": hidden, "opt": {"beta": 0.9}, "seed": seed},
            {"size": 4},
            {"num_actions": 2},
        ]

    configs = {
        "a0": crate(0.001, [64, 64], 0),
        "a1": crate(0.001, [64, 64], 1),
        "b0": crate(0.001, [64, 128], 0),
        "c0": crate(0.0005, [64, 64], 0),
    }
    grouping = group_runs(configs)
    # Lists flatten per element: only the element that differs is a parameter.
    assert grouping.varying == ("config.lr", "config.hidden_sizes[1]")
    assert grouping.ignored == ("config.seed",)
    assert _labels(grouping) == [
        ({"config.lr": 0.001, "config.hidden_sizes[1]": 64}, ("a0", "a1")),
        ({"config.lr": 0.001, "config.hidden_sizes[1]": 128}, ("b0",)),
        ({"config.lr": 0.0005, "config.hidden_sizes[1]": 64}, ("c0",)),
    ]


def test_missing_keys_and_missing_configs_are_a_value_of_their_own() -> None:
    configs = {
        "a": {"lr": 1, "clip": 0.2},
        "b": {"lr": 1},
        "c": None,  # no config.json
        "d": {"lr": 1.0, "clip": 0.2},  # 1 == 1.0: the same group as a
    }
    grouping = group_runs(configs)
    assert grouping.varying == ("lr", "clip")
    assert _labels(grouping) == [
        ({"lr": 1, "clip": 0.2}, ("a", "d")),
        ({"lr": 1, "clip": MISSING}, ("b",)),
        ({"lr": MISSING, "clip": MISSING}, ("c",)),
    ]


def test_booleans_are_not_numbers_and_strings_group_by_value() -> None:
    configs = {"a": {"x": True}, "b": {"x": 1}, "c": {"x": "1"}, "d": {"x": True}}
    assert [g.runs for g in group_runs(configs).groups] == [("a", "d"), ("b",), ("c",)]


def test_group_by_picks_several_keys_and_names_unknown_ones() -> None:
    configs = {
        f"{lr}-{bs}-{seed}": {"lr": lr, "bs": bs, "seed": seed}
        for lr in (1, 2)
        for bs in (8, 16)
        for seed in (0, 1)
    }
    by_lr = group_runs(configs, ["lr"])
    assert by_lr.varying == ("lr",)
    assert set(by_lr.ignored) == {"bs", "seed"}
    assert [len(g.runs) for g in by_lr.groups] == [4, 4]
    by_both = group_runs(configs, ["bs", "lr"])
    assert by_both.varying == ("bs", "lr") and len(by_both.groups) == 4
    by_seed = group_runs(configs, ["seed"])  # picking a seed key is allowed: per-seed groups
    assert [g.params for g in by_seed.groups] == [{"seed": 0}, {"seed": 1}]
    assert group_runs(configs, ["lr", "nope"]).unknown == ("nope",)


@settings(max_examples=examples(100))
@given(
    grid=st.dictionaries(
        st.sampled_from(["lr", "bs", "gamma", "net.width"]),
        st.lists(st.integers(0, 3), min_size=1, max_size=3, unique=True),
        min_size=1,
    ),
    seeds=st.integers(1, 3),
)
def test_property_groups_partition_the_runs_and_ignore_seeds(
    grid: dict[str, list[int]], seeds: int
) -> None:
    import itertools

    keys = sorted(grid)
    configs: dict[str, object] = {}
    for combo in itertools.product(*(grid[k] for k in keys)):
        for seed in range(seeds):
            config: dict[str, object] = {"seed": seed}
            for key, value in zip(keys, combo, strict=True):
                if "." in key:
                    outer, inner = key.split(".")
                    config[outer] = {inner: value}
                else:
                    config[key] = value
            configs[f"{combo}-{seed}"] = config
    grouping = group_runs(configs)
    assert sorted(r for g in grouping.groups for r in g.runs) == sorted(configs)
    assert set(grouping.varying) == {k for k in keys if len(grid[k]) > 1}
    expected_groups = math.prod(len(grid[k]) for k in keys)
    assert len(grouping.groups) == expected_groups
    assert all(len(g.runs) == seeds for g in grouping.groups)


# ---------------------------------------------------------------- statistics by hand


def test_group_values_by_hand() -> None:
    # IQM of 8 values drops int(8 / 4) = 2 from each end: mean(3, 4, 5, 6) = 4.5.
    point, low, high = bootstrap_groups([[8, 1, 7, 2, 6, 3, 5, 4], [10.0, 20.0], [5.0]], "iqm")
    assert point.tolist() == [4.5, 15.0, 5.0]
    # Two runs: every resample's IQM is 10, 15 or 20, so the 95% interval is [10, 20].
    assert (low[1], high[1]) == (10.0, 20.0)
    assert math.isnan(low[2]) and math.isnan(high[2])  # one run: no interval
    assert low[0] <= 4.5 <= high[0]


def test_score_groups_sorts_best_first_and_warns_plainly() -> None:
    configs = {f"{lr}-{s}": {"lr": lr, "seed": s} for lr in (1, 2, 3) for s in range(3)}
    scores = {f"1-{s}": v for s, v in enumerate([10.0, 11.0, 12.0])}
    scores |= {f"2-{s}": v for s, v in enumerate([30.0, 31.0, 32.0])}
    scores |= {"3-0": 30.0, "3-1": 34.0, "3-2": math.nan}  # one run without an eval yet
    result = score_groups(group_runs(configs), scores, "mean", score="final-eval")
    assert [g.group.params["lr"] for g in result.groups] == [3, 2, 1]
    top = result.groups[0]
    assert (top.n, top.n_total, top.value, top.ci) == (2, 3, 32.0, (30.0, 34.0))
    assert result.best is top
    text = " ".join(result.warnings)
    assert "1 run without a final eval mean" in text
    assert "1 of 3 groups have fewer than 3 runs" in text
    assert "intervals overlap" in text and "lr=3 is not clearly better than lr=2" in text


def test_no_overlap_warning_when_the_winner_is_clear() -> None:
    configs = {f"{lr}-{s}": {"lr": lr, "seed": s} for lr in (1, 2) for s in range(4)}
    scores = {f"1-{s}": float(s) for s in range(4)} | {f"2-{s}": 100.0 + s for s in range(4)}
    result = score_groups(group_runs(configs), scores, "iqm")
    assert result.warnings == ()
    assert result.groups[0].group.params == {"lr": 2}


def test_spearman_by_hand_and_with_ties() -> None:
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # Ties share ranks: x ranks (1.5, 1.5, 3, 4), y ranks (1, 2, 3, 4) -> Pearson of ranks.
    assert spearman([1, 1, 2, 3], [1, 2, 3, 4]) == pytest.approx(
        float(np.corrcoef([1.5, 1.5, 3, 4], [1, 2, 3, 4])[0, 1])
    )
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))
    assert math.isnan(spearman([1, 2], [1, 2]))


def test_parameter_effects_are_computed_on_groups() -> None:
    configs = {
        f"{lr}-{bs}-{s}": {"lr": lr, "bs": bs, "opt": "adam" if bs == 8 else "sgd", "seed": s}
        for lr in (0.1, 0.01, 0.001)
        for bs in (8, 16)
        for s in range(3)
    }
    # Score falls with lr (10x per step) and barely depends on bs.
    scores = {
        rel: {0.1: 10.0, 0.01: 20.0, 0.001: 30.0}[cfg["lr"]] + cfg["bs"] / 100 + cfg["seed"] / 10
        for rel, cfg in configs.items()
    }
    effects = {e.key: e for e in parameter_effects(score_groups(group_runs(configs), scores))}
    assert effects["lr"].rho == pytest.approx(-spearman([1, 2, 3], [1, 2, 3]) * 0.8783, abs=0.2)
    assert effects["lr"].rho is not None and effects["lr"].rho < -0.8
    assert effects["lr"].note.startswith("strongly associated with lower scores")
    assert [p.value for p in effects["lr"].points] == [0.001, 0.01, 0.1]
    assert all(len(p.groups) == 2 for p in effects["lr"].points)
    assert effects["opt"].rho is None and "not numeric" in effects["opt"].note
    few = parameter_effects(score_groups(group_runs(dict(list(configs.items())[:9])), scores))
    assert any("too few to tell" in e.note for e in few)


# ---------------------------------------------------------------- against rliable
#
# Point estimates are checked against rliable.metrics itself. Its intervals come from
# rliable.library's StratifiedBootstrap, which for one task is arch's IIDBootstrap with a
# percentile interval (StratifiedIndependentBootstrap: arch's IndependentSamplesBootstrap).
# rliable 1.2.0 hands those classes a `random_state` keyword that arch >= 8 (the first arch
# that imports under pandas 3) refuses, so the intervals are compared with arch's bootstrap
# directly, run on rliable's metric functions.

RNG = np.random.default_rng(7)
RUNS = RNG.normal(100.0, 30.0, size=12)
OTHER = RNG.normal(120.0, 30.0, size=9)
REPS = 20_000
ARCH_REPS = 4_000
"""arch's bootstrap calls the metric once per resample in Python: fewer resamples there."""


def _arch_interval(func: Any, *samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from arch.bootstrap import IIDBootstrap, IndependentSamplesBootstrap

    cls = IIDBootstrap if len(samples) == 1 else IndependentSamplesBootstrap
    bootstrap = cls(*samples, seed=0)
    interval = bootstrap.conf_int(func, reps=ARCH_REPS, method="percentile", size=0.95)
    return interval[0], interval[1]


def test_iqm_and_its_interval_agree_with_rliable() -> None:
    point, low, high = bootstrap_groups([RUNS], "iqm", n_boot=REPS)
    assert point[0] == pytest.approx(rly_metrics.aggregate_iqm(RUNS[:, None]), rel=1e-12)
    lo, hi = _arch_interval(lambda s: np.array([rly_metrics.aggregate_iqm(s[:, None])]), RUNS)
    # Two bootstraps with different random streams: equal up to Monte Carlo error (a 2.5%
    # percentile of 20,000 resamples moves by ~1% of the data's spread).
    spread = float(RUNS.max() - RUNS.min())
    assert low[0] == pytest.approx(lo[0], abs=0.03 * spread)
    assert high[0] == pytest.approx(hi[0], abs=0.03 * spread)


def test_mean_agrees_with_rliable() -> None:
    point, _, _ = bootstrap_groups([RUNS, OTHER], "mean", n_boot=10)
    assert point.tolist() == pytest.approx(
        [rly_metrics.aggregate_mean(RUNS[:, None]), rly_metrics.aggregate_mean(OTHER[:, None])]
    )


def test_performance_profile_agrees_with_rliable() -> None:
    taus = np.linspace(40.0, 180.0, 15)
    fraction, low, high = performance_profile(RUNS, taus, n_boot=REPS)
    expected = rly.score_distributions(RUNS[:, None], taus)  # rliable's run-score profile
    np.testing.assert_allclose(fraction, expected, rtol=1e-12)
    lo, hi = _arch_interval(lambda s: rly.score_distributions(s[:, None], taus), RUNS)
    # The band's ends are multiples of 1/12 (shares of 12 runs): at most one step apart.
    np.testing.assert_allclose(low, lo, atol=1 / 12 + 1e-9)
    np.testing.assert_allclose(high, hi, atol=1 / 12 + 1e-9)
    assert (low <= fraction).all() and (fraction <= high).all()


def test_optimality_gap_agrees_with_rliable() -> None:
    for target in (50.0, 100.0, 500.0):
        expected = rly_metrics.aggregate_optimality_gap(RUNS[:, None], gamma=target)
        assert optimality_gap(RUNS, target) == pytest.approx(expected, rel=1e-12)
    gap, low, high = optimality_gap_ci(RUNS, 120.0, n_boot=REPS)
    lo, hi = _arch_interval(
        lambda s: np.array([rly_metrics.aggregate_optimality_gap(s[:, None], gamma=120.0)]), RUNS
    )
    spread = float(RUNS.max() - RUNS.min())
    assert low == pytest.approx(lo[0], abs=0.03 * spread)
    assert high == pytest.approx(hi[0], abs=0.03 * spread)
    assert low <= gap <= high
    assert optimality_gap([600.0, 700.0], 500.0) == 0.0  # every run reaches the target


def test_probability_of_improvement_agrees_with_rliable() -> None:
    point, low, high = probability_of_improvement_ci(OTHER, RUNS, n_boot=REPS)
    assert point == pytest.approx(
        rly_metrics.probability_of_improvement(OTHER[:, None], RUNS[:, None]), rel=1e-12
    )
    # The resampling scheme (X's and Y's runs drawn independently) is arch's; the share of
    # pairs is computed with numpy there (scipy's per-call cost times 4,000 is a minute).
    lo, hi = _arch_interval(
        lambda x, y: np.array([((x[:, None] > y) + 0.5 * (x[:, None] == y)).mean()]), OTHER, RUNS
    )
    assert low == pytest.approx(lo[0], abs=0.03)
    assert high == pytest.approx(hi[0], abs=0.03)
    tied = np.array([1.0, 2.0, 3.0])
    assert probability_of_improvement_ci(tied, tied, n_boot=10)[0] == 0.5  # rliable's 0.5


def test_vectorised_bootstrap_matches_one_group_at_a_time() -> None:
    # Drawing 80 groups in one numpy call must give each group the distribution it would get
    # alone: compare with stats.iqm on explicit resamples drawn the same way.
    groups = [RNG.normal(k, 1.0, size=3) for k in range(80)]
    point, low, high = bootstrap_groups(groups, "iqm", n_boot=2000, seed=3)
    rng = np.random.default_rng(3)
    draws = rng.integers(0, 3, size=(80, 2000, 3))
    for k in (0, 41, 79):
        resampled = [iqm(groups[k][d]) for d in draws[k]]
        lo, hi = np.percentile(resampled, [2.5, 97.5])
        assert (low[k], high[k]) == pytest.approx((lo, hi), rel=1e-12)
        assert point[k] == pytest.approx(iqm(groups[k]))


def test_bad_bootstrap_input_is_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        bootstrap_groups([[1.0, math.nan]])
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_groups([[1.0]], confidence=1.0)


# ---------------------------------------------------------------- runlog sweep, the sample


@pytest.fixture
def sweep_root(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    shutil.copytree(SAMPLE_SWEEP, root / "cartpole" / "sweep")
    return root


def test_sweep_json_on_the_sample_sweep(
    sweep_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sweep", str(sweep_root / "cartpole" / "sweep"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["score"], out["stat"]) == ("final-eval", "iqm")
    assert out["varying"] == ["config.lr", "config.batch_size"]
    assert out["ignored"] == ["config.seed"]
    assert len(out["groups"]) == 4 and all(g["n"] == 3 for g in out["groups"])
    values = [g["value"] for g in out["groups"]]
    assert values == sorted(values, reverse=True)
    best = out["groups"][0]
    assert best["params"] == {"config.lr": 0.0005, "config.batch_size": 128}
    # The value, recomputed from the eval logs by hand: IQM of 3 runs = their mean.
    finals = []
    for rel in best["runs"]:
        lines = (sweep_root / rel / "eval_episodes.jsonl").read_text().splitlines()
        records = [json.loads(line) for line in lines]
        last = max(r["total_steps_at_eval"] for r in records)
        block = [r["total_reward"] for r in records if r["total_steps_at_eval"] == last]
        finals.append(sum(block) / len(block))
    assert best["value"] == pytest.approx(sum(finals) / 3)
    assert best["ci"][0] == pytest.approx(min(finals)) or best["ci"][0] >= min(finals)
    assert best["ci"][0] <= best["value"] <= best["ci"][1] <= max(finals)
    assert all(r.startswith("cartpole/sweep/") for g in out["groups"] for r in g["runs"])


def test_sweep_text_group_by_and_errors(
    sweep_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(sweep_root)
    assert main(["sweep", path, "--group-by", "config.lr", "--stat", "mean"]) == 0
    text = capsys.readouterr().out
    header, first = text.splitlines()[:2]
    assert header.split() == ["config.lr", "n", "mean", "final", "eval", "mean", "95%", "CI"]
    assert first.startswith("*") and "0.0005" in first and " 6 " in first
    assert "Ignored (seeds or not picked): config.batch_size, config.seed" in text

    assert main(["sweep", path, "--group-by", "config.nope"]) == 1
    err = capsys.readouterr().err
    assert "no run's config has config.nope" in err and err.count("\n") == 1
    assert main(["sweep", str(sweep_root / "missing")]) == 1
    assert "missing does not exist" in capsys.readouterr().err


def test_final_train_score_reads_the_train_series(
    sweep_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from runlog.analysis.curves import ema

    assert main(["sweep", str(sweep_root), "--score", "final-train", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    group = out["groups"][-1]
    finals = []
    for rel in group["runs"]:
        lines = (sweep_root / rel / "train_episodes.jsonl").read_text().splitlines()
        rewards = np.array([json.loads(line)["total_reward"] for line in lines])
        finals.append(float(ema(rewards, 0.6)[-1]))
    assert group["value"] == pytest.approx(iqm(finals))
