"""`runlog sweep PATH... [--score S] [--group-by K,...] [--stat iqm|mean] [--json]`.

Every run under each PATH (a runs root, a name, a version or a run directory) is read through
the data provider (index warm: its summary and eval blocks without parsing a log; the train
series only for `--score final-train`), grouped by config with the seeds collapsed and scored
per group (`runlog.analysis.sweep`). Returns (text, exit code) like `runlog.report`.

JSON: {"score", "stat", "varying": [keys], "ignored": [keys],
       "groups": [{"params", "n", "n_total", "runs": ["name/version/run_id"], "value",
                   "ci": [lo, hi] | null}], "warnings": [sentences]}, groups best first.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from runlog.analysis.configs import MISSING, config_keys
from runlog.analysis.stats import Statistic
from runlog.analysis.sweep import (
    SCORE_LABELS,
    SCORES,
    SweepResult,
    group_runs,
    score_groups,
)
from runlog.provider import RunProvider
from runlog.read.index import RunIndex

EXIT_OK = 0
EXIT_ERROR = 1
SUMMARY_SCORES = ("final-eval", "best-eval")
"""Scores the run summaries hold (the index keeps each eval log's last and best block)."""
TRAIN_SMOOTH = 0.6
"""EMA weight of the train reward behind `final-train` (the dashboard's default)."""


def run_scores(provider: RunProvider, rels: Sequence[str], score: str) -> dict[str, float]:
    """{rel: score} for runs of one provider (NaN where a run has no such score yet)."""
    import numpy as np

    if score not in SCORES:
        raise ValueError(f"unknown score {score!r}: use one of {', '.join(SCORES)}")
    if score in SUMMARY_SCORES:
        # Straight from the summaries (the index keeps each eval log's last and best block):
        # no log is opened.
        out: dict[str, float] = {}
        for rel in rels:
            stats = summary.eval if (summary := provider.run(rel)) is not None else None
            block = (
                None
                if stats is None
                else (stats.last_eval if score == "final-eval" else stats.best_eval)
            )
            out[rel] = float("nan") if block is None else block.mean
        return out
    from runlog.analysis.compare import RunInputs, run_summary  # pandas: the other scores

    inputs = []
    for rel in rels:
        if score == "final-train":
            steps, smoothed = provider.smoothed(rel, "reward", TRAIN_SMOOTH)
        else:  # the eval scores need the blocks only
            steps, smoothed = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        inputs.append(RunInputs(rel, rel, steps, smoothed, provider.eval_blocks(rel)))
    table = run_summary(inputs)
    values = table[SCORES[score]].to_numpy(dtype=np.float64)
    return {rel: float(v) for rel, v in zip(rels, values, strict=True)}


def collect(
    paths: Sequence[Path], score: str, index: RunIndex | None
) -> tuple[dict[str, object | None], dict[str, float], list[str]]:
    """(configs, scores, problems) for every run under `paths`, keyed by "name/version/id"."""
    configs: dict[str, object | None] = {}
    scores: dict[str, float] = {}
    problems: list[str] = []
    for path in paths:
        if not path.is_dir():
            what = "does not exist" if not path.exists() else "is not a directory"
            problems.append(f"{path} {what}")
            continue
        listing = RunProvider(path, index=index, watch=False, background=False)
        listing.refresh()
        found = [s.path for s in listing.runs()]
        if not found:
            problems.append(f"no runs under {path}")
            continue
        # Read through a provider on the runs root (a PATH may be a name or a version): its
        # run keys are then "name/version/run_id", the labels of the output.
        root = found[0].parents[2]
        provider = (
            listing
            if root == path
            else RunProvider(root, index=index, watch=False, background=False)
        )
        rels = [run.relative_to(root).as_posix() for run in found]
        # The summary scores come from the listing (its summaries are keyed by the same
        # "name/version/run_id"); the others open logs, through the root's provider.
        by_rel = run_scores(listing if score in SUMMARY_SCORES else provider, rels, score)
        for rel in rels:
            if rel in configs:
                continue  # the same run under two PATHs
            config, problem = provider.config(rel)
            if problem is not None and config is None and "missing" not in problem:
                problems.append(f"{rel}: {problem}")
            configs[rel] = config
            scores[rel] = by_rel[rel]
    return configs, scores, problems


def sweep_json(result: SweepResult, runs_of: Mapping[str, Sequence[str]] | None = None) -> str:
    def number(value: float) -> float | None:
        return value if math.isfinite(value) else None

    def plain(value: object) -> object:
        return None if value == MISSING else value

    out: dict[str, Any] = {
        "score": result.score,
        "stat": result.statistic,
        "varying": list(result.varying),
        "ignored": list(result.ignored),
        "groups": [
            {
                "params": {k: plain(v) for k, v in g.group.params.items()},
                "n": g.n,
                "n_total": g.n_total,
                "runs": list(g.group.runs),
                "value": number(g.value),
                "ci": None if g.ci is None else [number(g.low), number(g.high)],
            }
            for g in result.groups
        ],
        "warnings": list(result.warnings),
    }
    return json.dumps(out, indent=2, allow_nan=False)


def sweep_text(result: SweepResult) -> str:
    def fmt(value: float) -> str:
        return "-" if not math.isfinite(value) else f"{value:.4g}"

    name = "IQM" if result.statistic == "iqm" else "mean"
    header = ["", *result.varying, "n", f"{name} {SCORE_LABELS[result.score]}", "95% CI"]
    rows = []
    for i, g in enumerate(result.groups):
        rows.append(
            [
                "*" if i == 0 and result.best is not None else "",
                *(str(g.group.params[k]) for k in result.varying),
                f"{g.n}" if g.n == g.n_total else f"{g.n}/{g.n_total}",
                fmt(g.value),
                "-" if g.ci is None else f"[{fmt(g.low)}, {fmt(g.high)}]",
            ]
        )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    ]
    if not result.varying:
        lines.append("No config key varies across these runs (seeds aside): one group.")
    if result.ignored:
        lines.append(f"Ignored (seeds or not picked): {', '.join(result.ignored)}")
    lines += result.warnings
    return "\n".join(lines)


def sweep_command(
    paths: Sequence[Path],
    *,
    score: str = "final-eval",
    group_by: Sequence[str] | None = None,
    statistic: Statistic = "iqm",
    as_json: bool = False,
    index: RunIndex | None = None,
) -> tuple[str, int]:
    configs, scores, problems = collect(paths, score, index)
    if not configs:
        return "; ".join(problems) or "no runs given", EXIT_ERROR
    grouping = group_runs(configs, group_by)
    if grouping.unknown:
        return (
            f"--group-by: no run's config has {', '.join(grouping.unknown)} "
            f"(keys: {', '.join(config_keys(configs.values()))})",
            EXIT_ERROR,
        )
    result = score_groups(grouping, scores, statistic, score=score)
    if problems:
        result = SweepResult(
            result.score,
            result.statistic,
            result.varying,
            result.groups,
            result.ignored,
            (*result.warnings, *problems),
        )
    return (sweep_json(result) if as_json else sweep_text(result)), EXIT_OK
