"""dashboard.settings and dashboard.urlstate: how the command line, environment and URL are read."""

from __future__ import annotations

from pathlib import Path

import pytest
from markdown_spans import LINK_OR_IMAGE, outside_spans

from dashboard import urlstate
from dashboard.settings import BUNDLED_SAMPLES, parse_settings, root_problem
from runlog.read.activity import DEFAULT_LIVE_WINDOW, DEFAULT_STALL_WINDOW


def test_root_flag_beats_env_beats_runs_dir(tmp_path: Path) -> None:
    (tmp_path / "runs").mkdir()
    flag = parse_settings(["--root", "/data/a"], {"RUNLOG_ROOT": "/data/b"}, cwd=tmp_path)
    assert (flag.root, flag.root_source) == (Path("/data/a"), "--root")
    env = parse_settings([], {"RUNLOG_ROOT": "/data/b"}, cwd=tmp_path)
    assert (env.root, env.root_source) == (Path("/data/b"), "RUNLOG_ROOT")
    default = parse_settings([], {}, cwd=tmp_path)
    assert (default.root, default.root_source) == ((tmp_path / "runs").resolve(), "./runs")


def test_bundled_samples_when_there_is_no_runs_dir(tmp_path: Path) -> None:
    settings = parse_settings([], {}, cwd=tmp_path)
    assert settings.root == BUNDLED_SAMPLES
    assert settings.root_source == "bundled samples"


def test_relative_root_is_resolved_against_cwd(tmp_path: Path) -> None:
    settings = parse_settings(["--root", "some/../where"], {}, cwd=tmp_path)
    assert settings.root == (tmp_path / "where").resolve()


def test_unknown_arguments_are_ignored(tmp_path: Path) -> None:
    # Under AppTest the script sees pytest's argv.
    settings = parse_settings(["tests/test_app.py", "-x", "--timeout=5"], {}, cwd=tmp_path)
    assert settings.root == BUNDLED_SAMPLES


@pytest.mark.parametrize(
    ("argv", "env", "read_only", "warned"),
    [
        ([], {}, False, False),
        (["--read-only"], {}, True, False),
        ([], {"RUNLOG_READ_ONLY": "1"}, True, False),
        ([], {"RUNLOG_READ_ONLY": "true"}, True, False),
        ([], {"RUNLOG_READ_ONLY": "0"}, False, False),
        ([], {"RUNLOG_READ_ONLY": ""}, False, False),
        ([], {"RUNLOG_READ_ONLY": "maybe"}, True, True),  # unclear means safe
    ],
)
def test_read_only(
    tmp_path: Path, argv: list[str], env: dict[str, str], read_only: bool, warned: bool
) -> None:
    settings = parse_settings(argv, env, cwd=tmp_path)
    assert settings.read_only is read_only
    assert bool(settings.warnings) is warned
    assert settings.context().read_only is read_only


def test_windows_from_env(tmp_path: Path) -> None:
    settings = parse_settings(
        [], {"RUNLOG_LIVE_WINDOW": "5", "RUNLOG_STALL_WINDOW": "60.5"}, cwd=tmp_path
    )
    assert (settings.live_window, settings.stall_window) == (5.0, 60.5)
    ctx = settings.context()
    assert (ctx.live_window, ctx.stall_window) == (5.0, 60.5)


@pytest.mark.parametrize("bad", ["soon", "-1", "0", "nan", "inf"])
def test_bad_window_falls_back_with_a_warning(tmp_path: Path, bad: str) -> None:
    settings = parse_settings([], {"RUNLOG_LIVE_WINDOW": bad}, cwd=tmp_path)
    assert settings.live_window == DEFAULT_LIVE_WINDOW
    assert settings.stall_window == DEFAULT_STALL_WINDOW
    assert any("RUNLOG_LIVE_WINDOW" in w for w in settings.warnings)


def test_stall_window_shorter_than_live_is_raised(tmp_path: Path) -> None:
    settings = parse_settings(
        [], {"RUNLOG_LIVE_WINDOW": "100", "RUNLOG_STALL_WINDOW": "10"}, cwd=tmp_path
    )
    assert settings.stall_window == 100.0
    assert settings.warnings


def test_root_problem(tmp_path: Path) -> None:
    assert root_problem(tmp_path) is None
    assert "does not exist" in (root_problem(tmp_path / "nope") or "")
    (tmp_path / "file").write_text("x")
    assert "not a directory" in (root_problem(tmp_path / "file") or "")


# ----- urlstate (pure parts) ---------------------------------------------------------------


def test_route_priorities() -> None:
    assert urlstate.route({}) == urlstate.Route("browser")
    assert urlstate.route({"run": "a/b/c"}) == urlstate.Route("run", run="a/b/c")
    assert urlstate.route({"run": "a/b/c", "compare": "a/b,a/c"}) == urlstate.Route(
        "compare", compare=("a/b", "a/c")
    )
    assert urlstate.route({"view": "prune", "scope": "a/b/", "run": "x"}) == urlstate.Route(
        "prune", scope="a/b"
    )
    assert urlstate.route({"view": "prune"}) == urlstate.Route("prune", scope="")


def test_compare_accepts_commas_and_repeats() -> None:
    route = urlstate.route({"compare": ["a/v1,a/v2", "a/v2", " b/v1 "]})
    assert route.compare == ("a/v1", "a/v2", "b/v1")


def test_paths_are_kept_as_typed_so_absolute_ones_are_refused_as_such() -> None:
    # Trailing slashes go; a leading one stays, so "/etc" is not read as "etc" in the root.
    assert urlstate.route({"view": "prune", "scope": "/etc"}).scope == "/etc"
    assert urlstate.route({"view": "prune", "scope": "/"}).scope == "/"  # not the whole root
    assert urlstate.route({"run": " /etc/passwd/ "}).run == "/etc/passwd"
    assert urlstate.route({"run": "//"}).run == "//"
    assert urlstate.route({"compare": "/etc,a/v1/"}).compare == ("/etc", "a/v1")


def test_settings_problems_show_the_values_as_typed_in_code(tmp_path: Path) -> None:
    bait = "![x](http://127.0.0.1:9/p.png)"
    settings = parse_settings([], {"RUNLOG_READ_ONLY": bait, "RUNLOG_LIVE_WINDOW": bait}, tmp_path)
    assert settings.read_only
    for warning in settings.warnings:
        assert f"`{bait}`" in warning
        assert not LINK_OR_IMAGE.search(outside_spans(warning))
    odd = tmp_path / "a` ![x](http:h) `b"
    problem = root_problem(odd) or ""
    assert "does not exist" in problem and not LINK_OR_IMAGE.search(outside_spans(problem))


def test_view_setting_parsers() -> None:
    assert urlstate.parse_smooth("0.9") == 0.9
    assert urlstate.parse_smooth("5") == urlstate.MAX_SMOOTH
    assert urlstate.parse_smooth("-1") == 0.0
    assert urlstate.parse_smooth("nan") == urlstate.DEFAULT_SMOOTH
    assert urlstate.parse_smooth("x") == urlstate.DEFAULT_SMOOTH
    assert urlstate.parse_x("episodes") == "episodes"
    assert urlstate.parse_x("time") == urlstate.DEFAULT_X
    assert urlstate.parse_band("std") == "std"
    assert urlstate.parse_band(None) == urlstate.DEFAULT_BAND


def test_links() -> None:
    assert urlstate.run_link("cartpole/v1/20260322_120000", {"smooth": "0.9"}) == (
        "?run=cartpole/v1/20260322_120000&smooth=0.9"
    )
    assert urlstate.compare_link(["a/v1", "a/v2"]) == "?compare=a/v1,a/v2"
    assert urlstate.prune_link("") == "?view=prune&scope="
    assert urlstate.link(run="a b&c") == "?run=a+b%26c"
