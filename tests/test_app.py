"""The dashboard's page logic, driven headlessly with Streamlit's AppTest.

Each test builds a small runs root with a tiny local writer (plain JSON, byte-compatible
with the crate), points the app at it through RUNLOG_ROOT and reads what the page shows.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from markdown_spans import LINK_OR_IMAGE, outside_spans
from streamlit.testing.v1 import AppTest

from dashboard.text import md_code
from runlog.read.watch import stop_all_watchers

APP = Path(__file__).resolve().parent.parent / "dashboard" / "page.py"
TIMEOUT = 60  # seconds per script run; the CI machine is shared

GOOD = "cartpole/v1/20260322_120000"
PPO = "lunar/v2/20260323_090000"
BIG = "cartpole/v2/20260324_080000"
NO_META = "broken/v1/20260101_000000"
CORRUPT = "corrupt/v1/20260102_000000"


# ----- a tiny writer of the crate's format ----------------------------------------------------


def _metadata(rel: str, total_steps: int) -> str:
    name, version, run_id = rel.split("/")
    return json.dumps(
        {
            "name": name,
            "version": version,
            "run_id": run_id,
            "total_steps": total_steps,
            "total_episodes": 0,
            "started_at": "2026-03-22T12:00:00.123456789+01:00",
            "last_updated": "2026-03-22T12:41:07.004512345+01:00",
        },
        indent=2,
    )


def _episode(reward: float | None, length: int, status: str, extras: dict[str, Any]) -> str:
    return json.dumps(
        {"total_reward": reward, "length": length, "status": status, "extras": extras},
        separators=(",", ":"),
    )


def write_run(
    root: Path,
    rel: str,
    *,
    episodes: int,
    extras: tuple[str, ...] = ("epsilon", "loss_mean"),
    eval_every: int = 0,
    config: Any = None,
    metadata: bool = True,
    bad_lines: tuple[int, ...] = (),
) -> Path:
    run = root / rel
    (run / "checkpoints").mkdir(parents=True)
    lines: list[str] = []
    evals: list[str] = []
    steps = 0
    best_mean = -math.inf
    for i in range(episodes):
        length = 10 + (i * 7) % 40
        steps += length
        status = ("Terminated", "Truncated", "Continuing")[i % 3 if i % 3 < 2 else 0]
        if i == episodes - 1:
            status = "Continuing"
        values = {key: round(1.0 / (1 + i + k), 6) for k, key in enumerate(extras)}
        lines.append(_episode(float(i % 50), length, status, values))
        if eval_every and (i + 1) % eval_every == 0:
            rewards = [float(100 + (i // eval_every) * 10 + k) for k in range(3)]
            if i // eval_every == 2:
                rewards = [500.0, 400.0, 450.0]  # the best block, mean 450
            evals += [
                json.dumps(
                    {
                        "total_steps_at_eval": steps,
                        "total_reward": r,
                        "length": 100,
                        "status": "Truncated",
                        "extras": {},
                    },
                    separators=(",", ":"),
                )
                for r in rewards
            ]
            (run / "checkpoints" / f"step_{steps}.mpk").write_bytes(b"\0" * 2048)
            (run / "checkpoints" / "latest.mpk").write_bytes(b"\0" * 2048)
            mean = sum(rewards) / len(rewards)
            if mean > best_mean:
                best_mean = mean
                (run / "checkpoints" / "best.mpk").write_bytes(b"\0" * 2048)
    for n in sorted(bad_lines):
        lines.insert(n - 1, '{"total_reward": oops')
    (run / "train_episodes.jsonl").write_text("".join(line + "\n" for line in lines))
    if evals:
        (run / "eval_episodes.jsonl").write_text("".join(line + "\n" for line in evals))
    if config is not None:
        (run / "config.json").write_text(json.dumps(config, indent=2))
    if metadata:
        (run / "metadata.json").write_text(_metadata(rel, steps))
    old = 1_700_000_000  # long finished, so states are deterministic
    for path in [run, *run.rglob("*")]:
        os.utime(path, (old, old))
    return run


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    write_run(
        root,
        GOOD,
        episodes=60,
        eval_every=10,
        config=[{"gamma": 0.99, "lr": 0.001}, {"size": 4}, {"num_actions": 2}],
    )
    write_run(
        root,
        PPO,
        episodes=40,
        extras=("policy_loss", "value_loss", "entropy", "approx_kl"),
        config={"lr": 0.0003, "net": {"hidden": [64, 64]}},
        bad_lines=(3, 7),
    )
    write_run(root, NO_META, episodes=5, metadata=False)
    corrupt = write_run(root, CORRUPT, episodes=5)
    (corrupt / "metadata.json").write_text("{not json")
    return root


@pytest.fixture(autouse=True)
def _isolated(dashboard_process: None) -> None:
    """Each test starts the app afresh (tests/conftest.py)."""


def app(root: Path, monkeypatch: pytest.MonkeyPatch, **params: str) -> AppTest:
    monkeypatch.setenv("RUNLOG_ROOT", str(root))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    for key, value in params.items():
        at.query_params[key] = value
    return at.run()


def texts(at: AppTest, kind: str) -> list[str]:
    return [str(el.value) for el in getattr(at, kind)]


def all_text(at: AppTest) -> str:
    parts: list[str] = []
    for kind in ("markdown", "caption", "error", "warning", "info", "title", "subheader"):
        parts += texts(at, kind)
    return "\n".join(parts)


def runs_table(at: AppTest) -> Any:
    return next(df.value for df in at.dataframe if "rel" in df.value.columns)


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _plain(value: Any) -> Any:
    """`value` with plotly's typed arrays ({"dtype": "f8", "bdata": <base64>}, how numpy data
    goes over the wire) decoded to lists, NaN as None, as plotly.js reads them."""
    if isinstance(value, dict) and set(value) in ({"dtype", "bdata"}, {"dtype", "bdata", "shape"}):
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        if "shape" in value:
            array = array.reshape([int(n) for n in value["shape"].split(",")])
        if array.dtype.kind == "f":
            return np.where(np.isfinite(array), array, None).tolist()
        return array.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def plotly_specs(at: AppTest) -> list[dict[str, Any]]:
    return [_plain(json.loads(el.proto.spec)) for el in at.get("plotly_chart")]


# ----- the run browser --------------------------------------------------------------------


def test_browser_lists_every_run_with_its_figures(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app(root, monkeypatch)
    assert not at.exception
    table = runs_table(at).set_index("rel")
    assert set(table.index) == {GOOD, PPO, NO_META, CORRUPT}
    good = table.loc[GOOD]
    assert (good["name"], good["version"], good["run_id"]) == ("cartpole", "v1", "20260322_120000")
    assert good["episodes"] == 60
    assert good["env steps"] == sum(10 + (i * 7) % 40 for i in range(60))
    assert good["best reward"] == 49.0
    assert good["best eval"] == 450.0
    assert list(good["state"]) == ["○ finished"]  # shown as one coloured pill
    assert good["checkpoints"].startswith("6")
    assert good["disk"] > 6 * 2048
    assert str(root) in all_text(at)  # the root in use is on the page


def test_empty_cells_show_a_dash_and_numbers_keep_one_format(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dashboard.text import NO_VALUE, TABLE_FLOAT_FORMAT, TABLE_INT_FORMAT

    at = app(root, monkeypatch)
    assert not at.exception
    [table] = [df for df in at.dataframe if "rel" in df.value.columns]
    rows = table.value.set_index("rel")
    assert math.isnan(rows.loc[PPO, "best eval"])  # no eval log: an empty cell, still numeric
    assert table.proto.placeholder == NO_VALUE == "—"  # what the grid draws there, not "None"
    formats = {
        name: column.get("type_config", {}).get("format")
        for name, column in json.loads(table.proto.columns).items()
    }
    assert formats["last reward"] == formats["best reward"] == TABLE_FLOAT_FORMAT == "%,.4g"
    assert formats["best eval"] == TABLE_FLOAT_FORMAT
    assert formats["episodes"] == formats["env steps"] == TABLE_INT_FORMAT == "%,d"

    # Every table of the run and compare views, too (no eval, a threshold never reached).
    for params in ({"run": PPO}, {"compare": f"{GOOD},{PPO}"}):
        at = app(root, monkeypatch, **params)
        assert not at.exception
        assert at.dataframe and {df.proto.placeholder for df in at.dataframe} == {NO_VALUE}


def test_chart_hovers_write_numbers_like_the_cards(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app(root, monkeypatch, run=GOOD)
    assert not at.exception
    templates = [
        trace["hovertemplate"]
        for spec in plotly_specs(at)
        for trace in spec["data"]
        if "hovertemplate" in trace
    ]
    numbers = [m for t in templates for m in re.findall(r"%\{[^}]*:([^}]*)\}", t)]
    # ",.4~r": 4 significant digits, separators, no trailing zeros; ",d" for whole numbers
    # (raw episode lengths). The percentage of each episode ending keeps its own ".1f".
    assert numbers and set(numbers) <= {",.4~r", ",d", ".1f"}
    assert ",d" in numbers and ",.4~r" in numbers
    star = next(t for t in templates if "best.mpk written here" in t)
    assert "mean 450 (n=3)" in star


def test_broken_runs_are_listed_with_their_problem_in_words(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app(root, monkeypatch)
    assert not at.exception
    table = runs_table(at).set_index("rel")
    assert "metadata.json" in table.loc[NO_META, "problem"]
    assert "missing" in table.loc[NO_META, "problem"]
    assert "metadata.json" in table.loc[CORRUPT, "problem"]
    assert table.loc[GOOD, "problem"] == ""
    assert "Traceback" not in all_text(at)


def test_the_run_table_is_kept_while_nothing_changes_and_follows_a_change(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The table's fragment polls every half second; its table (a quarter of a second to build
    for 10,000 runs) is built again only when a summary changed or a state aged."""
    from dashboard import data

    at = app(root, monkeypatch)
    # This root's provider (a provider of an earlier test may not be collected yet).
    [(provider, (key, kept))] = [
        (owner, table)
        for owner, table in data._TABLES.items()
        if getattr(owner, "root", None) == root.resolve()
    ]
    at.run()
    assert data._TABLES[provider] == (key, kept) and data._TABLES[provider][1] is kept
    assert runs_table(at).set_index("rel").loc[GOOD, "episodes"] == 60
    with open(root / GOOD / "train_episodes.jsonl", "a") as fh:
        fh.write(_episode(7.0, 12, "Terminated", {}) + "\n")
    deadline = time.monotonic() + 10
    while runs_table(at.run()).set_index("rel").loc[GOOD, "episodes"] != 61:
        assert time.monotonic() < deadline, "the appended episode never reached the table"
        time.sleep(0.05)
    assert data._TABLES[provider][1] is not kept


def test_a_kept_table_is_one_per_provider_and_rebuilt_when_its_key_moves() -> None:
    import gc

    import pandas as pd

    from dashboard.data import _TABLES, table_for

    class Owner:
        pass

    first, second = Owner(), Owner()
    built: list[str] = []

    def build(tag: str) -> Any:
        def table() -> pd.DataFrame:
            built.append(tag)
            return pd.DataFrame({"n": [len(built)]})

        return table

    table = table_for(first, (1, ("live",)), build("first"))
    assert table_for(first, (1, ("live",)), build("again")) is table
    assert table_for(first, (1, ("stalled",)), build("aged")) is not table  # a state aged
    assert table_for(first, (2, ("stalled",)), build("changed"))["n"].tolist() == [3]
    table_for(second, (2, ("stalled",)), build("second"))  # another provider, its own table
    assert built == ["first", "aged", "changed", "second"]
    del first
    gc.collect()
    assert list(_TABLES) == [second]  # a forgotten provider's table goes with it


def test_filter_by_text_name_and_version(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = app(root, monkeypatch)
    at.text_input(key="url.q").set_value("v2").run()
    assert list(runs_table(at)["rel"]) == [PPO]
    assert at.query_params["q"] == "v2"

    at.text_input(key="url.q").set_value("").run()
    at.multiselect(key="url.name").set_value(["cartpole", "lunar"]).run()
    assert set(runs_table(at)["rel"]) == {GOOD, PPO}
    at.multiselect(key="url.version").set_value(["lunar/v2"]).run()
    assert list(runs_table(at)["rel"]) == [PPO]
    assert at.query_params["version"] == "lunar/v2"


def test_filters_come_from_the_url(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = app(root, monkeypatch, q="20260322", name="cartpole")
    assert list(runs_table(at)["rel"]) == [GOOD]


def test_selecting_one_row_opens_the_run(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = app(root, monkeypatch)
    table = next(df for df in at.dataframe if "rel" in df.value.columns)
    row = list(table.value["rel"]).index(GOOD)
    at.session_state[table.key] = {"selection": {"rows": [row], "columns": []}}
    at.run()
    open_button = next(b for b in at.button if b.label == "Open selected run")
    assert not open_button.disabled
    open_button.click().run()
    assert at.query_params["run"] == GOOD
    assert "cartpole / v1 · 20260322_120000" in texts(at, "title")


def test_selecting_several_rows_compares_them(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = app(root, monkeypatch)
    table = next(df for df in at.dataframe if "rel" in df.value.columns)
    rels = list(table.value["rel"])
    at.session_state[table.key] = {
        "selection": {"rows": [rels.index(GOOD), rels.index(PPO)], "columns": []}
    }
    at.run()
    compare = next(b for b in at.button if b.label.startswith("Compare selected"))
    assert compare.label == "Compare selected (2)"
    compare.click().run()
    assert at.query_params["compare"] == f"{GOOD},{PPO}"
    assert not at.exception


def test_open_a_run_without_the_table(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = app(root, monkeypatch)
    at.selectbox(key="browser.open_run").set_value(PPO).run()
    at.button(key="browser.open_go").click().run()
    assert at.query_params["run"] == PPO
    assert "lunar / v2 · 20260323_090000" in texts(at, "title")


def test_compare_versions_sets_the_compare_param(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app(root, monkeypatch)
    at.multiselect(key="browser.compare_versions").set_value(["cartpole/v1", "lunar/v2"]).run()
    at.button(key="browser.compare_go").click().run()
    assert at.query_params["compare"] == "cartpole/v1,lunar/v2"


def test_empty_root_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = app(tmp_path, monkeypatch)
    assert not at.exception
    assert "No runs under" in all_text(at)


def test_missing_root_is_a_message_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app(tmp_path / "nowhere", monkeypatch)
    assert not at.exception
    assert any("does not exist" in e for e in texts(at, "error"))
    assert "--root" in all_text(at)


# ----- the run view -----------------------------------------------------------------------


def test_run_view_headline_and_charts(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = app(root, monkeypatch, run=GOOD)
    assert not at.exception
    head = metrics(at)
    assert head["Episodes"] == "60"
    assert head["Env steps"] == f"{sum(10 + (i * 7) % 40 for i in range(60)):,}"
    assert head["Best reward"] == "49"
    steps_at_best = sum(10 + (i * 7) % 40 for i in range(30))
    assert head["Best eval"] == "450"
    best_eval = next(m for m in at.metric if m.label == "Best eval")
    assert best_eval.delta == f"@ {steps_at_best} steps"
    assert head["State"].endswith("finished")
    assert head["Checkpoints"] == "6"

    specs = plotly_specs(at)
    titles = [s["layout"]["title"]["text"] for s in specs]
    assert "Training reward" in titles
    assert "Eval reward per block" in titles
    assert {"epsilon", "loss_mean", "episode length", "Episode endings"} <= set(titles)
    eval_spec = specs[titles.index("Eval reward per block")]
    best = next(t for t in eval_spec["data"] if t["name"] == "best.mpk")
    assert (best["x"], best["y"]) == ([steps_at_best], [450.0])
    mean = next(t for t in eval_spec["data"] if t["name"] == "eval mean")
    assert "n=" in mean["hovertemplate"]

    checkpoints = next(df.value for df in at.dataframe if "badges" in df.value.columns)
    best_row = checkpoints[checkpoints["file"] == "best.mpk"].iloc[0]
    assert "best" in best_row["badges"]
    assert f"{steps_at_best:,}" in best_row["note"]
    assert "latest" in checkpoints[checkpoints["file"] == "latest.mpk"].iloc[0]["badges"]
    text = all_text(at)
    assert "algorithm config" in text  # the 3-element config array, labelled
    assert "quirk" in text  # total_episodes 0 explained


def _eval_trace(at: AppTest, name: str) -> dict[str, Any]:
    spec = next(
        s for s in plotly_specs(at) if s["layout"]["title"]["text"] == "Eval reward per block"
    )
    return next(t for t in spec["data"] if t["name"] == name)


def test_eval_band_std_and_minmax_draw_their_own_values(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GOOD's blocks are evenly spread (the best block is [500, 400, 450]): there the sample
    # std (50) is half the range, so add a lopsided block where the two bands differ:
    # [0, 0, 300] has mean 100, sample std sqrt(((-100)**2 * 2 + 200**2) / 2) = 173.2,
    # min 0, max 300.
    evals = root / GOOD / "eval_episodes.jsonl"
    last_step = json.loads(evals.read_text().splitlines()[-1])["total_steps_at_eval"]
    lopsided = [
        {
            "total_steps_at_eval": last_step + 1,
            "total_reward": r,
            "length": 100,
            "status": "Truncated",
            "extras": {},
        }
        for r in (0.0, 0.0, 300.0)
    ]
    with evals.open("a") as out:
        out.writelines(json.dumps(r) + "\n" for r in lopsided)
    os.utime(evals, (1_700_000_000, 1_700_000_000))
    steps_at_best = sum(10 + (i * 7) % 40 for i in range(30))
    std = math.sqrt((2 * 100.0**2 + 200.0**2) / 2)

    at = app(root, monkeypatch, run=GOOD, band="std")
    assert not at.exception
    upper, lower = _eval_trace(at, "mean ± std upper"), _eval_trace(at, "mean ± std")
    by_step = dict(zip(upper["x"], zip(lower["y"], upper["y"], strict=True), strict=True))
    assert by_step[steps_at_best] == pytest.approx((400.0, 500.0))  # 450 ± 50
    assert by_step[last_step + 1] == pytest.approx((100.0 - std, 100.0 + std))

    at = app(root, monkeypatch, run=GOOD)  # the default band: min-max
    upper, lower = _eval_trace(at, "min-max upper"), _eval_trace(at, "min-max")
    by_step = dict(zip(upper["x"], zip(lower["y"], upper["y"], strict=True), strict=True))
    assert by_step[steps_at_best] == pytest.approx((400.0, 500.0))
    assert by_step[last_step + 1] == pytest.approx((0.0, 300.0))


def test_episode_endings_show_each_status_share(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # write_run's 60 episodes: i % 3 == 1 is Truncated (20 of them), the last one (i = 59) is
    # Continuing, every other one Terminated: 60 - 20 - 1 = 39.
    at = app(root, monkeypatch, run=GOOD)
    spec = next(s for s in plotly_specs(at) if s["layout"]["title"]["text"] == "Episode endings")
    bars = {t["name"]: (t["x"][0], t["text"][0]) for t in spec["data"]}
    assert bars == {
        "Terminated (39)": (pytest.approx(65.0), "65.0%"),
        "Truncated (20)": (pytest.approx(100 / 3), "33.3%"),
        "Continuing (1)": (pytest.approx(100 / 60), "1.7%"),
    }


def test_raw_stays_visible_faded_under_the_smoothed_line(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app(root, monkeypatch, run=GOOD)
    reward = next(s for s in plotly_specs(at) if s["layout"]["title"]["text"] == "Training reward")
    raw, smoothed = reward["data"][:2]
    assert (raw["name"], smoothed["name"]) == ("raw", "smoothed")
    assert raw["opacity"] < 1
    assert len(raw["y"]) == 60


def test_smoothing_control_lives_in_the_url(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = app(root, monkeypatch, run=GOOD, smooth="0.9", x="episodes")
    assert at.slider(key="url.smooth").value == 0.9
    reward = next(s for s in plotly_specs(at) if s["layout"]["title"]["text"] == "Training reward")
    assert reward["data"][0]["x"][:3] == [0, 1, 2]  # episodes on x
    assert reward["layout"]["xaxis"]["title"]["text"] == "episode"

    at.slider(key="url.smooth").set_value(0.0).run()
    assert "smooth" in at.query_params and at.query_params["smooth"] == "0"
    reward = next(s for s in plotly_specs(at) if s["layout"]["title"]["text"] == "Training reward")
    assert [t["name"] for t in reward["data"]] == ["raw"]  # smoothing off: raw only

    at.slider(key="url.smooth").set_value(0.6).run()  # the default drops out of the URL
    assert "smooth" not in at.query_params
    at.segmented_control(key="url.x").set_value("steps").run()
    assert "x" not in at.query_params


def test_bad_lines_are_a_warning_with_line_numbers(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app(root, monkeypatch, run=PPO)
    assert not at.exception
    assert not at.error
    warning = next(w for w in texts(at, "warning") if "bad lines" in w)
    assert "2 bad lines" in warning and "3, 7" in warning
    titles = [s["layout"]["title"]["text"] for s in plotly_specs(at)]
    assert {"policy_loss", "value_loss", "entropy", "approx_kl"} <= set(titles)
    assert "No eval yet" in all_text(at)


def test_broken_run_view_shows_the_problem(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = app(root, monkeypatch, run=NO_META)
    assert not at.exception
    assert any("metadata.json" in w for w in texts(at, "warning"))
    assert metrics(at)["Episodes"] == "5"


def test_long_runs_are_downsampled_and_say_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "runs"
    write_run(root, BIG, episodes=20_000)
    at = app(root, monkeypatch, run=BIG)
    assert not at.exception
    for spec in plotly_specs(at):
        for trace in spec["data"]:
            assert len(trace.get("x") or []) <= 2000
    reward = next(s for s in plotly_specs(at) if s["layout"]["title"]["text"] == "Training reward")
    assert reward["layout"]["title"]["subtitle"]["text"].endswith("of 20,000 points")


def test_long_runs_are_smoothed_in_full_then_thinned_and_keep_a_spike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runlog.analysis.curves import ema

    root = tmp_path / "runs"
    run = write_run(root, BIG, episodes=20_000)
    log = run / "train_episodes.jsonl"
    lines = log.read_text().splitlines()
    spike = 12_345  # 0-based line; one episode far above the rest (rewards are i % 50)
    lines[spike] = _episode(1e6, 30, "Terminated", {})
    log.write_text("\n".join(lines) + "\n")
    records = [json.loads(line) for line in lines]
    rewards = np.array([r["total_reward"] for r in records])
    steps = np.cumsum([r["length"] for r in records])  # the default x axis: env steps

    at = app(root, monkeypatch, run=BIG)
    assert not at.exception
    reward = next(s for s in plotly_specs(at) if s["layout"]["title"]["text"] == "Training reward")
    traces = {t["name"]: t for t in reward["data"]}
    raw, smoothed = traces["raw"], traces["smoothed"]
    assert len(raw["x"]) <= 2000 and len(smoothed["x"]) <= 2000

    def episodes_at(trace: dict[str, Any]) -> np.ndarray:
        x = np.asarray(trace["x"], dtype=float)
        index = np.searchsorted(steps, x)
        assert (steps[index] == x).all()  # every drawn x is an episode's step count
        return index

    # The spike survives thinning: its exact value is drawn, at its own episode.
    raw_y = np.asarray(raw["y"], dtype=float)
    at_peak = int(np.nanargmax(raw_y))
    assert raw_y[at_peak] == 1e6
    assert episodes_at(raw)[at_peak] == spike

    # The smoothed trace is the EMA of every reward, read at the drawn x positions: smoothing
    # the thinned points instead would give other values (the spike alone moves the EMA by
    # 4e5 at its episode).
    full = ema(rewards, 0.6)  # the run view's default smoothing
    index = episodes_at(smoothed)
    np.testing.assert_allclose(np.asarray(smoothed["y"], dtype=float), full[index], rtol=1e-9)
    assert spike in set(index.tolist())


@pytest.mark.parametrize(
    "bad",
    ["../../etc", "/etc", "cartpole/v1/../../../..", "..", "link_out/v1/x"],
)
def test_run_paths_outside_the_root_are_refused(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    outside = tmp_path / "outside" / "v1" / "x"
    outside.mkdir(parents=True)
    (outside / "metadata.json").write_text(_metadata("secret/v1/x", 0))
    (root / "link_out").symlink_to(tmp_path / "outside")
    at = app(root, monkeypatch, run=bad)
    assert not at.exception
    assert any("not a path inside the runs root" in e for e in texts(at, "error"))
    assert not at.metric  # nothing from outside is shown


def test_unknown_run_is_a_clear_message(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = app(root, monkeypatch, run="cartpole/v9/20990101_000000")
    assert not at.exception
    assert any("There is no run" in e for e in texts(at, "error"))


def test_a_name_directory_lists_its_runs(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = app(root, monkeypatch, run="cartpole")
    assert not at.exception
    assert any("not a run directory" in w for w in texts(at, "warning"))
    assert any(b.label == GOOD for b in at.button)


def test_back_to_all_runs(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = app(root, monkeypatch, run=GOOD, smooth="0.8")
    next(b for b in at.button if b.label == "All runs").click().run()
    assert "run" not in at.query_params
    assert "Runs" in texts(at, "title")


# ----- routing to the other views ---------------------------------------------------------


def test_sidebar_navigation(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = app(root, monkeypatch)
    at.sidebar.button(key="nav.prune").click().run()
    assert at.query_params.get("view") == "prune"
    at.sidebar.button(key="nav.browser").click().run()
    assert "view" not in at.query_params
    assert "Runs" in texts(at, "title")


def test_watchers_stop_without_leaking_threads(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    app(root, monkeypatch)
    assert any(t.name.startswith("runlog-watch") for t in threading.enumerate())
    stop_all_watchers()
    assert not any(t.name.startswith("runlog-watch") for t in threading.enumerate())


# ----- untrusted text and read-only ---------------------------------------------------------

HOSTILE = "![i](https:127.0.0.1:9) `x/v`1<b>[l](https:127.0.0.1:9)/20260322_120000"
"""A run whose name and version are markdown and plotly markup (valid directory names)."""
BAIT = "![x](http://127.0.0.1:9/pixel.png)[click](http://127.0.0.1:9/)"


def shown_markdown(at: AppTest) -> list[str]:
    """Everything the page renders as markdown: text elements, labels and tooltips."""
    parts = [
        str(el.value)
        for kind in ("markdown", "caption", "error", "warning", "info", "title", "subheader")
        for el in getattr(at, kind)
    ]
    for widget in (*at.button, *at.metric, *at.multiselect, *at.selectbox):
        parts += [str(widget.label), str(getattr(widget.proto, "help", ""))]
    return parts


OWN_LINKS = ("[Back to all runs](?)",)
"""The links the pages write themselves."""


def assert_inert(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    for text in shown_markdown(at):
        outside = outside_spans(text)
        for own in OWN_LINKS:
            outside = outside.replace(own, "")
        assert not LINK_OR_IMAGE.search(outside), text
    for spec in plotly_specs(at):
        for label in [spec["layout"]["title"].get("text", "")] + [
            t.get("name", "") for t in spec["data"]
        ]:
            assert "<b>" not in label and "<a" not in label, label


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"run": HOSTILE},
        {"compare": HOSTILE.rsplit("/", 1)[0] + ",cartpole/v1"},
        {"view": "prune", "scope": HOSTILE},
        {"run": HOSTILE.split("/", 1)[0]},  # a name directory: its runs as buttons
    ],
)
def test_markup_in_run_names_is_shown_as_text(
    root: Path, monkeypatch: pytest.MonkeyPatch, params: dict[str, str]
) -> None:
    write_run(root, HOSTILE, episodes=30, eval_every=10, extras=("<b>loss</b>",))
    problem = root / HOSTILE / "eval_episodes.jsonl"
    problem.write_text(problem.read_text() + "{oops\n")
    at = app(root, monkeypatch, **params)
    assert_inert(at)
    if params.get("run") == HOSTILE:
        name, version, _ = HOSTILE.split("/")
        assert f"{md_code(name)} / {md_code(version)} · 20260322_120000" in texts(at, "title")
        assert "&lt;b&gt;loss&lt;/b&gt;" in [s["layout"]["title"]["text"] for s in plotly_specs(at)]


@pytest.mark.parametrize(
    "params, where",
    [
        ({"run": "/a` " + BAIT + " `b"}, "error"),
        ({"run": "a`` " + BAIT}, "error"),
        ({"run": BAIT}, "error"),
        ({"compare": "a` " + BAIT + " `b"}, "warning"),
        ({"view": "prune", "scope": "`" + BAIT}, "error"),
    ],
)
def test_markup_in_url_params_is_shown_as_text(
    root: Path, monkeypatch: pytest.MonkeyPatch, params: dict[str, str], where: str
) -> None:
    at = app(root, monkeypatch, **params)
    assert_inert(at)
    assert getattr(at, where), f"no {where} shown for {params}"


def test_absolute_run_path_is_refused_as_typed(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = app(root, monkeypatch, run="/etc")
    (error,) = texts(at, "error")
    assert error.startswith("Cannot open run `/etc`: it is not a path inside the runs root")
    assert "it is absolute" in error


WRITE_LABEL = re.compile(r"prune|delete", re.IGNORECASE)


@pytest.mark.parametrize(
    "params",
    [{}, {"run": GOOD}, {"view": "prune", "scope": ""}, {"view": "prune", "scope": GOOD}],
)
def test_read_only_draws_no_write_control(
    root: Path, monkeypatch: pytest.MonkeyPatch, params: dict[str, str]
) -> None:
    monkeypatch.setenv("RUNLOG_READ_ONLY", "1")
    at = app(root, monkeypatch, **params)
    assert not at.exception
    # The prune page itself previews (it writes nothing): the sidebar calls it that.
    assert at.sidebar.button(key="nav.prune").label == "Prune preview"
    assert any("read-only" in str(m.value) for m in at.sidebar.markdown)  # the badge
    writes = [b.label for b in at.main.button if WRITE_LABEL.search(b.label)]
    assert writes == [], writes
    assert "run.prune" not in {b.key for b in at.button}
    assert not at.checkbox  # nor the live-run override


def test_without_read_only_the_run_view_offers_prune(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app(root, monkeypatch, run=GOOD)
    assert at.sidebar.button(key="nav.prune").label == "Prune checkpoints"
    at.button(key="run.prune").click().run()
    assert (at.query_params["view"], at.query_params["scope"]) == ("prune", GOOD)


def test_run_view_png_exports_are_named_after_the_run_and_chart(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app(root, monkeypatch, run=GOOD)
    names = {
        el.proto.id.rsplit("-", 1)[-1]: json.loads(el.proto.config)["toImageButtonOptions"][
            "filename"
        ]
        for el in at.get("plotly_chart")
    }
    stem = "cartpole-v1-20260322_120000"
    assert names["chart.reward"] == f"{stem}-reward"
    assert names["chart.eval"] == f"{stem}-eval"
    assert names["chart.extras.loss_mean"] == f"{stem}-loss_mean"
    assert names["chart.length"] == f"{stem}-length"


# ----- a cold root: the table at once, the figures as indexing proceeds -------------------------


def test_a_cold_root_shows_its_table_at_once_with_a_progress_bar(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import runlog.provider as provider_module
    from runlog.read.catalog import Catalog

    monkeypatch.setattr(provider_module, "FOREGROUND_READ", 0)  # every log left to the reader
    gate = threading.Event()
    real = Catalog.read_logs

    def held(self: Catalog, *args: Any, **kwargs: Any) -> None:
        gate.wait(60)
        real(self, *args, **kwargs)

    monkeypatch.setattr(Catalog, "read_logs", held)
    at = app(root, monkeypatch)
    assert not at.exception
    table = runs_table(at).set_index("rel")
    assert set(table.index) == {GOOD, PPO, NO_META, CORRUPT}  # every run, at once
    assert table["episodes"].isna().all()  # ... its figures not read yet
    assert table.loc[GOOD, "name"] == "cartpole"  # the cheap columns are there
    [bar] = at.get("progress")
    assert "indexed 0 of 4 runs" in bar.proto.text
    gate.set()
    provider = provider_module.get_provider(root)
    assert provider.wait_indexed(timeout=60)
    at.run()
    assert not at.get("progress")
    table = runs_table(at).set_index("rel")
    assert table.loc[GOOD, "episodes"] == 60 and table.loc[GOOD, "best eval"] == 450.0


def test_a_live_runs_page_is_redrawn_for_a_checkpoint_not_for_each_episode(
    tmp_path: Path,
) -> None:
    """What makes the run view's headline rerun the whole page of a live run: new episodes
    (and metadata.json, rewritten after each one) only move the charts and the cards, which
    follow by themselves; a new checkpoint, a bad line or a new best eval block is drawn
    outside them, so it calls for a whole-page rerun."""
    from dashboard.run_view import _read
    from runlog.format.records import EpisodeRecord
    from runlog.format.run import TrainingRun
    from runlog.provider import RunProvider

    root = tmp_path / "runs"
    run = TrainingRun.create("cartpole", "v1", root, run_id="20260401_000000")
    for i in range(5):
        run.log_train_episode(EpisodeRecord(float(i), 10, "Terminated"))
    run.update_metadata(50, 5)
    run.log_eval_episode(EpisodeRecord(3.0, 10, "Truncated"), 50)
    rel = "cartpole/v1/20260401_000000"
    provider = RunProvider(root, watch=False, background=False, live_window=1e9, stall_window=1e9)
    first = _read(provider, rel)[0]

    for i in range(5, 8):  # as the crate trains: an episode, then metadata.json rewritten
        run.log_train_episode(EpisodeRecord(float(i), 10, "Terminated"))
        run.update_metadata(10 * (i + 1), i + 1)
    episodes = _read(provider, rel)[0]
    assert episodes.headline.episodes == 8 and episodes.stamp != first.stamp
    assert episodes.page == first.page

    run.checkpoint_path(80).write_bytes(b"weights")
    checkpoint = _read(provider, rel)[0]
    assert checkpoint.page != episodes.page

    run.log_eval_episode(EpisodeRecord(9.0, 10, "Truncated"), 80)  # a better eval block
    best = _read(provider, rel)[0]
    assert best.headline.best is not None and best.headline.best.step == 80
    assert best.page != checkpoint.page

    with (run.dir / "train_episodes.jsonl").open("a") as fh:
        fh.write("{not json\n")
    bad = _read(provider, rel)[0]
    assert bad.page != best.page
    stop_all_watchers()


@pytest.mark.parametrize("live", [True, False])
def test_the_episode_count_beside_the_metadata_quirk_is_never_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, live: bool
) -> None:
    """metadata.json says total_episodes 0 (the crate's quirk). A finished run's panel gives
    the log's count; a live run's panel is not redrawn for new episodes, so it points to the
    Episodes card instead of a count that would lag behind it."""
    from runlog.format.records import EpisodeRecord
    from runlog.format.run import TrainingRun

    run = TrainingRun.create("cartpole", "v1", tmp_path / "runs", run_id="20260401_000000")
    for i in range(7):
        run.log_train_episode(EpisodeRecord(float(i), 10, "Terminated"))
    run.update_metadata(70, 0)
    window = "1e9" if live else "0.001"
    monkeypatch.setenv("RUNLOG_LIVE_WINDOW", window)
    monkeypatch.setenv("RUNLOG_STALL_WINDOW", window)
    if not live:
        time.sleep(0.01)
    at = app(tmp_path / "runs", monkeypatch, run="cartpole/v1/20260401_000000")
    assert not at.exception
    captions = texts(at, "caption")
    quirk = [c for c in captions if c.startswith("total_episodes is 0")]
    assert len(quirk) == 1
    if live:
        assert quirk[0].endswith("the Episodes card counts the log.")
        assert any(c.startswith("As read at ") for c in captions)
    else:
        assert quirk[0].endswith("the log holds 7 episodes.")
        assert not any(c.startswith("As read at ") for c in captions)
    stop_all_watchers()
