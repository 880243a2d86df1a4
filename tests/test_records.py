"""records.py: byte-exact encoders (FORMAT.md), the metadata parser, RFC 3339 timestamps."""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import orjson
import pytest
from budget import examples
from hypothesis import given, settings
from hypothesis import strategies as st

import runlog.format.records as records_module
from runlog.errors import MetadataError
from runlog.format.records import (
    EpisodeRecord,
    Extras,
    RunMetadata,
    encode_config,
    encode_episode_line,
    encode_eval_line,
    encode_metadata,
    format_float,
    format_rfc3339,
    now_rfc3339,
    parse_metadata,
    parse_rfc3339,
)

METADATA_BYTES = """{
  "name": "cartpole",
  "version": "v1",
  "run_id": "20260322_120000",
  "total_steps": 100000,
  "total_episodes": 0,
  "started_at": "2026-03-22T12:00:00.123456789+01:00",
  "last_updated": "2026-03-22T12:41:07.004512345+01:00"
}"""

METADATA = RunMetadata(
    name="cartpole",
    version="v1",
    run_id="20260322_120000",
    total_steps=100000,
    total_episodes=0,
    started_at="2026-03-22T12:00:00.123456789+01:00",
    last_updated="2026-03-22T12:41:07.004512345+01:00",
)

# Rust's shortest float form. The last group is zmij's own test table (serde_json's
# float formatter since 1.0.146), which covers its hardest shortest-digit cases.
RUST_FLOATS = [
    (23.0, "23.0"),
    (0.00001, "0.00001"),
    (1e-7, "1e-7"),
    (1.5e20, "1.5e+20"),
    (0.87, "0.87"),
    (0.012, "0.012"),
    (1.0, "1.0"),
    (0.0, "0.0"),
    (-0.0, "-0.0"),
    (-2.5, "-2.5"),
    (1e15, "1000000000000000.0"),
    (123456789012345.6, "123456789012345.6"),
    (1e16, "1e+16"),
    (1.25e16, "1.25e+16"),
    (0.000123, "0.000123"),
    (1e-6, "1e-6"),
    (1.234e-6, "1.234e-6"),
    (1e100, "1e+100"),
    (1.7976931348623157e308, "1.7976931348623157e+308"),
    (6.62607015e-34, "6.62607015e-34"),
    (5e-324, "5e-324"),
    (1e-323, "1e-323"),
    (1.2e-322, "1.2e-322"),
    (1.24e-322, "1.24e-322"),
    (1.234e-320, "1.234e-320"),
    (-4.932096661796888e-226, "-4.932096661796888e-226"),
    (3.439070283483335e35, "3.439070283483335e+35"),
    (6.606854224493745e-17, "6.606854224493745e-17"),
    (6.079537928711555e61, "6.079537928711555e+61"),
]

_RUST_FLOAT = re.compile(r"-?(?:[0-9]+\.[0-9]+|[1-9](?:\.[0-9]*[1-9])?e[+-][1-9][0-9]*)")

finite = st.floats(allow_nan=False, allow_infinity=False)
any_float = st.floats(allow_nan=True, allow_infinity=True)
keys = st.text(min_size=1, max_size=12)
records = st.builds(
    EpisodeRecord,
    total_reward=any_float,
    length=st.integers(0, 10**9),
    status=st.sampled_from(["Terminated", "Truncated", "Continuing"]),
    extras=st.dictionaries(keys, any_float, max_size=5),
)


# -- floats -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "text"), RUST_FLOATS)
def test_format_float_matches_rust(value: float, text: str) -> None:
    assert format_float(value) == text


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_floats_become_null(value: float) -> None:
    assert format_float(value) == "null"


@settings(max_examples=examples(400))
@given(finite)
def test_format_float_round_trips_in_rust_shape(value: float) -> None:
    text = format_float(value)
    assert float(text) == value
    assert math.copysign(1.0, float(text)) == math.copysign(1.0, value)
    assert _RUST_FLOAT.fullmatch(text), text
    # Exponent form exactly outside 1e-5 <= |x| < 1e16, as serde_json does.
    if value != 0:
        sci = Decimal(repr(abs(value))).normalize().adjusted()  # value = d.ddd * 10**sci
        assert ("e" in text) == (not -5 <= sci <= 15)


@settings(max_examples=examples(300))
@given(finite)
def test_format_float_is_as_short_as_python_repr(value: float) -> None:
    digits = re.sub(r"e.*|[-.]", "", format_float(value)).strip("0") or "0"
    shortest = re.sub(r"e.*|[-.]", "", repr(value)).strip("0") or "0"
    assert digits == shortest


# -- episode lines -----------------------------------------------------------------------------


def test_episode_line_golden() -> None:
    record = EpisodeRecord(23.0, 23, "Terminated", {"epsilon": 0.87, "loss_mean": 0.012})
    assert encode_episode_line(record) == (
        '{"total_reward":23.0,"length":23,"status":"Terminated",'
        '"extras":{"epsilon":0.87,"loss_mean":0.012}}\n'
    )


def test_eval_line_golden() -> None:
    record = EpisodeRecord(500.0, 500, "Truncated", {})
    assert encode_eval_line(record, 10000) == (
        '{"total_steps_at_eval":10000,"total_reward":500.0,"length":500,'
        '"status":"Truncated","extras":{}}\n'
    )


def test_non_finite_reward_and_extras_encode_as_null() -> None:
    record = EpisodeRecord(math.nan, 3, "Continuing", {"loss": math.inf, "kl": -math.inf})
    line = encode_episode_line(record)
    assert line == (
        '{"total_reward":null,"length":3,"status":"Continuing","extras":{"loss":null,"kl":null}}\n'
    )
    assert "NaN" not in line and "Infinity" not in line


def test_extras_keys_are_escaped_like_serde_json() -> None:
    record = EpisodeRecord(1.0, 1, "Terminated", {'a"b\\c\n\x01é': 1e-7})
    assert encode_episode_line(record) == (
        '{"total_reward":1.0,"length":1,"status":"Terminated",'
        '"extras":{"a\\"b\\\\c\\n\\u0001é":1e-7}}\n'
    )


@settings(max_examples=examples(150))
@given(records, st.integers(0, 2**63))
def test_lines_decode_back_to_the_record(record: EpisodeRecord, steps: int) -> None:
    def value(x: float) -> float | None:
        return x if math.isfinite(x) else None

    line = encode_episode_line(record)
    assert line.endswith("\n") and line.count("\n") == 1
    decoded = json.loads(line)
    assert decoded == {
        "total_reward": value(record.total_reward),
        "length": record.length,
        "status": record.status,
        "extras": {k: value(v) for k, v in record.extras.items()},
    }
    assert list(decoded["extras"]) == list(record.extras)
    evaluated = json.loads(encode_eval_line(record, steps))
    assert list(evaluated) == ["total_steps_at_eval", "total_reward", "length", "status", "extras"]
    assert evaluated == {"total_steps_at_eval": steps, **decoded}


# -- records ------------------------------------------------------------------------------------


def test_episode_record_is_hashable_and_order_insensitive() -> None:
    a = EpisodeRecord(1.0, 2, "Terminated", {"x": 1.0, "y": 2})
    b = EpisodeRecord(1, 2, "Terminated", {"y": 2.0, "x": 1.0})
    assert a == b and hash(a) == hash(b)
    assert len({a, b}) == 1
    assert a != EpisodeRecord(1.0, 2, "Terminated", {"x": 1.0})
    assert isinstance(a.extras, Extras) and a.extras["y"] == 2.0
    assert isinstance(a.extras["y"], float)


def test_episode_record_extras_cannot_be_changed() -> None:
    source = {"x": 1.0}
    record = EpisodeRecord(1.0, 1, "Terminated", source)
    source["x"] = 99.0
    assert record.extras["x"] == 1.0
    with pytest.raises(TypeError):
        record.extras["x"] = 2.0  # type: ignore[index]


def test_episode_record_rejects_bad_fields() -> None:
    with pytest.raises(ValueError, match="status"):
        EpisodeRecord(1.0, 1, "Done")
    with pytest.raises(ValueError, match="length"):
        EpisodeRecord(1.0, -1)
    with pytest.raises(TypeError, match="extras"):
        EpisodeRecord(1.0, 1, "Terminated", {"x": "high"})  # type: ignore[dict-item]


def test_episode_record_accepts_null_reward_as_nan() -> None:
    record = EpisodeRecord(None, 1, "Terminated", {"x": None})  # type: ignore[arg-type, dict-item]
    assert math.isnan(record.total_reward) and math.isnan(record.extras["x"])


# -- metadata -----------------------------------------------------------------------------------


def test_metadata_golden() -> None:
    assert encode_metadata(METADATA) == METADATA_BYTES


def test_parse_metadata_golden() -> None:
    parsed = parse_metadata(METADATA_BYTES, Path("m.json"))
    assert parsed == METADATA
    assert parsed.started_at_datetime == datetime(
        2026, 3, 22, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1))
    )


def test_parse_metadata_ignores_unknown_fields_and_order() -> None:
    data = json.loads(METADATA_BYTES)
    text = json.dumps({"extra": [1], **dict(reversed(list(data.items())))})
    assert parse_metadata(text, Path("m.json")) == METADATA


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "is empty"),
        ("  \n", "is empty"),
        (METADATA_BYTES[:40], "cut short"),
        (METADATA_BYTES[:-1], "cut short"),
        ('{"name": "cart', "cut short"),
        ("{]", "not valid JSON"),
        ("[1, 2]", "JSON list"),
        ('{"name": "x"}', "lacks the field"),
        (METADATA_BYTES.replace("100000", '"100000"'), "total_steps must be"),
        (METADATA_BYTES.replace("100000", "-1"), "total_steps must be"),
        (METADATA_BYTES.replace('"cartpole"', "7"), "name must be a string"),
    ],
)
def test_parse_metadata_errors_name_path_and_reason(text: str, reason: str) -> None:
    path = Path("runs/c/v1/r/metadata.json")
    with pytest.raises(MetadataError) as info:
        parse_metadata(text, path)
    assert str(path) in str(info.value)
    assert reason in str(info.value)


@settings(max_examples=examples(60))
@given(st.integers(0, len(METADATA_BYTES) - 1))
def test_every_prefix_of_metadata_is_reported_not_crashed(cut: int) -> None:
    with pytest.raises(MetadataError, match=r"empty|cut short"):
        parse_metadata(METADATA_BYTES[:cut], Path("metadata.json"))


_FIELD_NAMES = ["name", "version", "run_id", "total_steps", "total_episodes", "started_at"]
_JSON_VALUES = st.one_of(
    st.text(max_size=8).map(json.dumps),
    st.integers(-(2**70), 2**70).map(str),  # beyond 64 bits orjson gives a float, json an int
    st.sampled_from(['"\\ud800"', "NaN", "-Infinity", "1e400", "2.0", "true", "null", "[]", "{}"]),
)


def _json_only(text: str) -> RunMetadata | str:
    """parse_metadata's outcome (the metadata, or the error's words) with orjson turned off:
    the parse as it was before orjson read metadata.json first."""
    refused = orjson.JSONDecodeError("turned off", text, 0)
    with mock.patch.object(records_module.orjson, "loads", side_effect=refused):
        return _outcome(text)


def _outcome(text: str) -> RunMetadata | str:
    try:
        return parse_metadata(text, Path("m.json"))
    except MetadataError as exc:
        return str(exc)


@settings(max_examples=examples(300))
@given(
    st.lists(
        st.tuples(st.sampled_from([*_FIELD_NAMES, "last_updated", "extra"]), _JSON_VALUES),
        max_size=10,
    ),
    st.booleans(),
)
def test_parse_metadata_reads_what_json_alone_reads(
    pairs: list[tuple[str, str]], complete: bool
) -> None:
    # Any object of metadata.json's fields (repeated, missing, of any JSON type, values orjson
    # and json read differently): the same metadata, or the same error, as json alone gives.
    head = [f'"{name}": "x"' for name in _FIELD_NAMES] if complete else []
    body = [f"{json.dumps(key)}: {value}" for key, value in pairs]
    text = "{" + ", ".join([*head, '"last_updated": "y"', *body]) + "}"
    assert _outcome(text) == _json_only(text)


def test_parse_metadata_reads_a_big_integer_as_json_does() -> None:
    # orjson reads 2**64 + 1 as a float (2**64): the check refuses it, json's way reads it whole.
    data = json.loads(METADATA_BYTES)
    text = json.dumps({**data, "total_steps": 2**64 + 1})
    steps = parse_metadata(text, Path("m.json")).total_steps
    assert type(steps) is int and steps == 2**64 + 1


names = st.text(st.characters(codec="utf-8"), max_size=20)
timestamps = st.datetimes(
    min_value=datetime(1971, 1, 1),
    max_value=datetime(2200, 1, 1),
    timezones=st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m))),
)


@settings(max_examples=examples(100))
@given(names, names, names, st.integers(0, 2**64), st.integers(0, 2**64), timestamps)
def test_metadata_round_trips(
    name: str, version: str, run_id: str, steps: int, episodes: int, when: datetime
) -> None:
    stamp = format_rfc3339(when)
    metadata = RunMetadata(name, version, run_id, steps, episodes, stamp, stamp)
    text = encode_metadata(metadata)
    assert not text.endswith("\n")
    assert list(json.loads(text)) == [
        "name",
        "version",
        "run_id",
        "total_steps",
        "total_episodes",
        "started_at",
        "last_updated",
    ]
    assert parse_metadata(text, Path("m")) == metadata
    assert metadata.last_updated_datetime == when


def test_bad_timestamp_gives_none_not_an_exception() -> None:
    metadata = RunMetadata("n", "v", "r", 0, 0, "yesterday", "2026-03-22T12:00:00Z")
    assert metadata.started_at_datetime is None
    assert metadata.last_updated_datetime == datetime(2026, 3, 22, 12, tzinfo=UTC)


# -- config -------------------------------------------------------------------------------------


def test_config_array_shape_golden() -> None:
    config = [{"gamma": 0.99, "lr": 0.0001, "batch_size": 64}, {"size": 4}, {"num_actions": 2}]
    assert encode_config(config) == (
        "[\n"
        "  {\n"
        '    "gamma": 0.99,\n'
        '    "lr": 0.0001,\n'
        '    "batch_size": 64\n'
        "  },\n"
        "  {\n"
        '    "size": 4\n'
        "  },\n"
        "  {\n"
        '    "num_actions": 2\n'
        "  }\n"
        "]"
    )


def test_config_floats_use_rust_form_and_empty_containers_stay_inline() -> None:
    assert encode_config({"lr": 1e-5, "eps": 1e-7, "big": 1.5e20, "a": [], "o": {}}) == (
        '{\n  "lr": 0.00001,\n  "eps": 1e-7,\n  "big": 1.5e+20,\n  "a": [],\n  "o": {}\n}'
    )


def test_config_rejects_values_json_cannot_hold() -> None:
    with pytest.raises(TypeError, match="set"):
        encode_config({"x": {1, 2}})
    with pytest.raises(TypeError, match="keys must be str"):
        encode_config({1: "x"})


json_without_floats = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | finite | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=examples(100))
@given(json_without_floats)
def test_config_layout_matches_pretty_json(value: object) -> None:
    # Without floats, serde_json's pretty layout is exactly Python's indent=2 layout.
    assert encode_config(value) == json.dumps(value, indent=2, ensure_ascii=False)


@settings(max_examples=examples(100))
@given(json_values)
def test_config_round_trips(value: object) -> None:
    assert json.loads(encode_config(value)) == value


# -- timestamps ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nanos", "fraction"),
    [
        (0, ""),
        (123_000_000, ".123"),
        (123_456_000, ".123456"),
        (123_456_789, ".123456789"),
        (1, ".000000001"),
        (4_512_345, ".004512345"),
    ],
)
def test_format_rfc3339_picks_0_3_6_or_9_digits_like_chrono(nanos: int, fraction: str) -> None:
    moment = datetime(2026, 3, 22, 12, 0, 0, tzinfo=timezone(timedelta(hours=-4)))
    assert format_rfc3339(moment, nanosecond=nanos) == f"2026-03-22T12:00:00{fraction}-04:00"


def test_format_rfc3339_writes_utc_as_offset_not_z() -> None:
    assert format_rfc3339(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01T00:00:00+00:00"


def test_format_rfc3339_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="naive"):
        format_rfc3339(datetime(2026, 1, 1))


def test_now_rfc3339_is_local_time_with_an_offset() -> None:
    text = now_rfc3339()
    pattern = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}|\.\d{6}|\.\d{9})?[+-]\d\d:\d\d"
    assert re.fullmatch(pattern, text)
    parsed = parse_rfc3339(text)
    assert parsed.utcoffset() == datetime.now().astimezone().utcoffset()


@pytest.mark.parametrize(
    "text",
    [
        "2026-03-22T12:00:00+01:00",
        "2026-03-22T12:00:00.123+01:00",
        "2026-03-22T12:00:00.123456-04:00",
        "2026-03-22T12:00:00.123456789+00:00",
    ],
)
def test_parse_rfc3339_accepts_documented_precisions(text: str) -> None:
    parsed = parse_rfc3339(text)
    assert parsed.tzinfo is not None
    assert parsed.replace(microsecond=0, tzinfo=None) == datetime(2026, 3, 22, 12)


@pytest.mark.parametrize(
    "text", ["2026-03-22T12:00:00", "2026-03-22", "2026-03-22T12:00:00.+01:00", "garbage"]
)
def test_parse_rfc3339_rejects_missing_offset_or_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_rfc3339(text)


def test_offset_may_change_between_timestamps() -> None:
    winter = parse_rfc3339("2026-03-29T01:59:59.999999999+01:00")
    summer = parse_rfc3339("2026-03-29T03:00:00.000000001+02:00")
    assert timedelta(0) < summer - winter < timedelta(seconds=1)


@settings(max_examples=examples(100))
@given(timestamps, st.integers(0, 999_999_999))
def test_rfc3339_round_trips(when: datetime, nanos: int) -> None:
    text = format_rfc3339(when, nanosecond=nanos)
    assert re.search(r"(\.\d{3}|\.\d{6}|\.\d{9})?[+-]\d\d:\d\d$", text)
    assert parse_rfc3339(text) == when.replace(microsecond=nanos // 1000)


# -- the committed samples re-encode byte for byte ------------------------------------------

SAMPLES = Path(__file__).resolve().parent.parent / "sample_runs"


def _record(obj: dict[str, object]) -> EpisodeRecord:
    return EpisodeRecord(obj["total_reward"], obj["length"], obj["status"], obj["extras"])  # type: ignore[arg-type]


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="sample_runs/ not generated")
def test_sample_runs_reencode_byte_for_byte() -> None:
    runs = sorted(path.parent for path in SAMPLES.glob("*/*/*/metadata.json"))
    assert len(runs) >= 12
    for run in runs:
        metadata_text = (run / "metadata.json").read_text()
        assert encode_metadata(parse_metadata(metadata_text, run)) == metadata_text
        for line in (run / "train_episodes.jsonl").read_text().splitlines(keepends=True):
            assert encode_episode_line(_record(json.loads(line))) == line
        for line in (run / "eval_episodes.jsonl").read_text().splitlines(keepends=True):
            obj = json.loads(line)
            assert encode_eval_line(_record(obj), obj["total_steps_at_eval"]) == line
        config_text = (run / "config.json").read_text()
        assert encode_config(json.loads(config_text)) == config_text


# -- timestamps: short fractions, leap seconds, the clock ------------------------------------


@pytest.mark.parametrize(("fraction", "micro"), [(".5", 500_000), (".123", 123_000), ("", 0)])
def test_parse_rfc3339_reads_a_short_fraction_as_tenths_first(fraction: str, micro: int) -> None:
    assert parse_rfc3339(f"2026-03-22T12:00:00{fraction}Z").microsecond == micro


def test_parse_rfc3339_keeps_a_leap_second_inside_its_minute() -> None:
    # chrono prints a leap second as :60; datetime has no such second.
    parsed = parse_rfc3339("2016-12-31T23:59:60.5+00:00")
    assert parsed == datetime(2016, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)


def test_now_rfc3339_writes_the_nanosecond_clock_in_local_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TZ", "Etc/GMT-2")  # POSIX sign: two hours east of UTC
    time.tzset()
    try:
        monkeypatch.setattr(time, "time_ns", lambda: 1_700_000_000_123_456_789)
        assert now_rfc3339() == "2023-11-15T00:13:20.123456789+02:00"
    finally:
        monkeypatch.undo()
        time.tzset()


# -- what the encoders take in ----------------------------------------------------------------


def test_config_dataclasses_encode_as_their_fields_in_order() -> None:
    @dataclass(frozen=True)
    class Optimizer:
        lr: float
        betas: tuple[float, float]

    @dataclass(frozen=True)
    class Config:
        env: str
        optimizer: Optimizer

    config = Config("CartPole-v1", Optimizer(0.001, (0.9, 0.999)))
    as_dict = {"env": "CartPole-v1", "optimizer": {"lr": 0.001, "betas": [0.9, 0.999]}}
    assert encode_config(config) == encode_config(as_dict)
    with pytest.raises(TypeError, match="cannot encode type"):
        encode_config(Config)  # the class itself is no value


def test_a_lone_surrogate_is_escaped_not_dropped() -> None:
    assert encode_config({"note": "a\ud800b"}) == '{\n  "note": "a\\ud800b"\n}'


@pytest.mark.parametrize(
    ("make", "what"),
    [
        (lambda: EpisodeRecord(1.0, True), "length must be an int, got True"),
        (lambda: EpisodeRecord("1.0", 1), "total_reward must be a number, got '1.0'"),  # type: ignore[arg-type]
        (lambda: Extras({1: 2.0}), "extras keys must be str, got 1"),  # type: ignore[dict-item]
        (lambda: encode_eval_line(EpisodeRecord(1.0, 1), True), "total_steps must be an int"),
    ],
)
def test_wrong_types_are_refused_naming_the_value(make: Any, what: str) -> None:
    with pytest.raises(TypeError) as info:
        make()
    assert what in str(info.value)


def test_negative_total_steps_are_refused_naming_the_value() -> None:
    with pytest.raises(ValueError, match="total_steps must be >= 0, got -1"):
        encode_eval_line(EpisodeRecord(1.0, 1), -1)


def test_numbers_of_any_numeric_type_are_stored_as_python_ones() -> None:
    record = EpisodeRecord(np.float32(0.5), np.int64(7))
    assert (type(record.total_reward), type(record.length)) == (float, int)
    assert record == EpisodeRecord(0.5, 7)
