"""config.json: loading, flattening both shapes, and diffing runs side by side."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runlog.analysis.configs import (
    DIFFERS,
    MISSING,
    diff_configs,
    differing_only,
    flatten_config,
    load_config,
)

CRATE_CONFIG = [
    {"gamma": 0.99, "learning_rate": 0.001, "hidden": [64, 64]},
    {"size": 4},
    {"num_actions": 2},
]


# ---------------------------------------------------------------- load


def test_load_config_parses_the_crate_array(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(CRATE_CONFIG, indent=2))
    assert load_config(tmp_path) == (CRATE_CONFIG, None)


def test_missing_config_is_not_an_error(tmp_path: Path) -> None:
    assert load_config(tmp_path) == (None, "config.json is missing")


def test_corrupt_config_names_the_problem_and_the_file(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"gamma": 0.9')
    config, problem = load_config(tmp_path)
    assert config is None
    assert problem is not None
    assert problem.startswith("config.json is corrupt: ")
    assert str(tmp_path / "config.json") in problem


def test_empty_config_file_is_corrupt(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("")
    config, problem = load_config(tmp_path)
    assert config is None and problem is not None and "corrupt" in problem


# ---------------------------------------------------------------- flatten


def test_flatten_crate_array_uses_prefixes() -> None:
    assert flatten_config(CRATE_CONFIG) == {
        "config.gamma": 0.99,
        "config.learning_rate": 0.001,
        "config.hidden[0]": 64,
        "config.hidden[1]": 64,
        "encoder.size": 4,
        "mapper.num_actions": 2,
    }


def test_flatten_crate_array_with_scalar_parts() -> None:
    assert flatten_config([{"gamma": 0.9}, "Identity", None]) == {
        "config.gamma": 0.9,
        "encoder": "Identity",
        "mapper": None,
    }


def test_flatten_object_nested() -> None:
    obj = {"lr": 0.001, "net": {"hidden": 64, "act": "relu"}, "seeds": [{"a": 1}], "e": {}}
    assert flatten_config(obj) == {
        "lr": 0.001,
        "net.hidden": 64,
        "net.act": "relu",
        "seeds[0].a": 1,
        "e": "{}",
    }


def test_flatten_scalars_and_other_lists() -> None:
    assert flatten_config(0.5) == {"value": 0.5}
    assert flatten_config(None) == {"value": None}
    assert flatten_config([1, 2]) == {"[0]": 1, "[1]": 2}
    assert flatten_config([]) == {"value": "[]"}


# ---------------------------------------------------------------- diff


def test_diff_configs_side_by_side() -> None:
    a = [{"gamma": 0.99, "lr": 0.001}, {"size": 4}, {"num_actions": 2}]
    b = [{"gamma": 0.95, "lr": 0.001}, {"size": 4}, {"num_actions": 2, "extra": True}]
    diff = diff_configs({"cartpole/v1/r1": a, "cartpole/v2/r1": b})
    assert list(diff.columns) == ["cartpole/v1/r1", "cartpole/v2/r1", DIFFERS]
    assert diff.index.tolist() == [
        "config.gamma",
        "config.lr",
        "encoder.size",
        "mapper.extra",
        "mapper.num_actions",
    ]
    assert diff.loc["config.gamma"].tolist() == [0.99, 0.95, True]
    assert diff.loc["config.lr"].tolist() == [0.001, 0.001, False]
    assert diff.loc["mapper.extra"].tolist() == [MISSING, True, True]
    assert diff[DIFFERS].tolist() == [True, False, False, True, False]
    assert differing_only(diff).index.tolist() == ["config.gamma", "mapper.extra"]


def test_diff_compares_numbers_by_value_but_not_across_types() -> None:
    diff = diff_configs(
        {
            "a": {"x": 1, "flag": True, "name": "1", "n": None},
            "b": {"x": 1.0, "flag": 1, "name": 1, "n": None},
        }
    )
    assert diff[DIFFERS].to_dict() == {"flag": True, "n": False, "name": True, "x": False}


def test_diff_with_absent_config_and_mixed_shapes() -> None:
    diff = diff_configs({"arr": [{"g": 1}, {}, {}], "obj": {"g": 1}, "none": None})
    assert diff.index.tolist() == ["config.g", "encoder", "g", "mapper"]
    assert diff.loc["config.g"].tolist() == [1, MISSING, MISSING, True]
    assert diff["none"].tolist() == [MISSING] * 4
    assert diff[DIFFERS].all()


def test_diff_of_one_config_never_differs() -> None:
    diff = diff_configs({"only": {"a": 1, "b": [1, 2]}})
    assert diff.index.tolist() == ["a", "b[0]", "b[1]"]
    assert not diff[DIFFERS].any()


def test_diff_rejects_reserved_label() -> None:
    with pytest.raises(ValueError, match="reserved"):
        diff_configs({DIFFERS: {}})
