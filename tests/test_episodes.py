"""EpisodeLog: the incremental JSONL reader, one test per FORMAT.md quirk and failure mode."""

from __future__ import annotations

import itertools
import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from budget import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import runlog.read.episodes as episodes_module
import runlog.read.parse as parse_module
import runlog.read.tail as tail_module
from runlog.format.records import EpisodeRecord, encode_episode_line, encode_eval_line
from runlog.read.episodes import EpisodeLog

GOOD = b'{"total_reward":23.0,"length":23,"status":"Terminated","extras":{"epsilon":0.87}}\n'


def line(
    reward: object = 1.0, length: int = 10, status: str = "Terminated", **extras: object
) -> bytes:
    """One compact record line as the crate writes it (json.dumps for the test's own values)."""
    body = {"total_reward": reward, "length": length, "status": status, "extras": extras}
    return (json.dumps(body, separators=(",", ":")) + "\n").encode()


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as fh:
        fh.write(data)


@pytest.fixture
def train(tmp_path: Path) -> Path:
    return tmp_path / "train_episodes.jsonl"


# -- the columns ---------------------------------------------------------------------------


def test_frame_columns_and_values(train: Path) -> None:
    train.write_bytes(
        line(23.0, 23, "Terminated", epsilon=0.87)
        + line(9.5, 9, "Truncated", epsilon=0.86, loss_mean=0.012)
        + line(31.0, 31, "Continuing", epsilon=0.85)
    )
    log = EpisodeLog(train)
    assert log.refresh() == 3
    frame = log.frame
    assert list(frame.columns) == [
        "episode",
        "step",
        "reward",
        "length",
        "status",
        "extras.epsilon",
        "extras.loss_mean",
    ]
    assert frame["episode"].tolist() == [0, 1, 2]
    # FORMAT.md: no step field; the step axis is the running sum of length.
    assert frame["step"].tolist() == [23, 32, 63]
    assert frame["reward"].tolist() == [23.0, 9.5, 31.0]
    assert frame["length"].tolist() == [23, 9, 31]
    assert frame["status"].astype(str).tolist() == ["Terminated", "Truncated", "Continuing"]
    assert frame["extras.epsilon"].tolist() == [0.87, 0.86, 0.85]
    loss = frame["extras.loss_mean"].to_numpy()
    assert math.isnan(loss[0]) and loss[1] == 0.012 and math.isnan(loss[2])
    assert frame["episode"].dtype == np.int64 and frame["step"].dtype == np.int64
    assert frame["length"].dtype == np.int64 and frame["reward"].dtype == np.float64
    assert isinstance(frame["status"].dtype, pd.CategoricalDtype)
    assert log.extras_keys == ["epsilon", "loss_mean"]
    assert log.total_records == 3 and log.total_steps == 63
    assert log.offset == train.stat().st_size
    assert log.bad_lines == []


def test_crate_encoder_lines_read_back_exactly(train: Path) -> None:
    records = [
        EpisodeRecord(23.0, 23, "Terminated", {"epsilon": 0.87}),
        EpisodeRecord(math.nan, 7, "Truncated", {"epsilon": math.inf, "loss_mean": 1e-7}),
        EpisodeRecord(1.5e20, 500, "Continuing", {}),
    ]
    train.write_text("".join(encode_episode_line(r) for r in records))
    log = EpisodeLog(train)
    log.refresh()
    frame = log.frame
    assert math.isnan(frame["reward"][1])
    assert frame["reward"][2] == 1.5e20
    assert math.isnan(frame["extras.epsilon"][1])  # inf is written as null
    assert frame["extras.loss_mean"][1] == 1e-7


def test_eval_log_step_is_total_steps_at_eval(tmp_path: Path) -> None:
    path = tmp_path / "eval_episodes.jsonl"
    path.write_text(
        encode_eval_line(EpisodeRecord(500.0, 500, "Truncated"), 10000)
        + encode_eval_line(EpisodeRecord(400.0, 400, "Terminated"), 10000)
        + encode_eval_line(EpisodeRecord(450.0, 450, "Truncated"), 20000)
        # an eval line without its step is not an eval record
        + '{"total_reward":1.0,"length":1,"status":"Terminated","extras":{}}\n'
    )
    log = EpisodeLog(path, "eval")
    assert log.refresh() == 3
    assert log.frame["step"].tolist() == [10000, 10000, 20000]
    assert log.frame["reward"].tolist() == [500.0, 400.0, 450.0]
    assert log.bad_lines == [4]


def test_empty_log_has_typed_columns(train: Path) -> None:
    train.write_bytes(b"")
    log = EpisodeLog(train)
    assert log.refresh() == 0
    frame = log.frame
    assert list(frame.columns) == ["episode", "step", "reward", "length", "status"]
    assert len(frame) == 0
    assert frame["step"].dtype == np.int64 and frame["reward"].dtype == np.float64


def test_missing_file_is_empty_until_it_appears(tmp_path: Path) -> None:
    path = tmp_path / "eval_episodes.jsonl"  # FORMAT.md: optional, no eval yet
    log = EpisodeLog(path, "eval")
    assert log.refresh() == 0
    assert len(log.frame) == 0 and log.problem is None
    path.write_text(encode_eval_line(EpisodeRecord(1.0, 1), 100))
    assert log.refresh() == 1
    assert log.frame["step"].tolist() == [100]


def test_deleted_file_reads_as_empty(train: Path) -> None:
    train.write_bytes(GOOD * 3)
    log = EpisodeLog(train)
    log.refresh()
    version = log.revision
    train.unlink()
    assert log.refresh() == 0
    assert len(log.frame) == 0 and log.revision > version and log.offset == 0


def test_unreadable_path_sets_problem_without_raising(tmp_path: Path) -> None:
    path = tmp_path / "train_episodes.jsonl"
    path.mkdir()
    log = EpisodeLog(path)
    assert log.refresh() == 0
    assert log.problem is not None and str(path) in log.problem
    assert len(log.frame) == 0


# -- FORMAT.md quirks --------------------------------------------------------------------------


def test_partial_last_line_is_not_data_until_its_newline(train: Path) -> None:
    full = line(7.0, 7, epsilon=0.5)
    train.write_bytes(GOOD + full[:20])
    log = EpisodeLog(train)
    assert log.refresh() == 1
    assert log.offset == len(GOOD)
    assert log.bad_lines == []
    append(train, full[20:-1])  # still no newline
    assert log.refresh() == 0
    append(train, b"\n")
    assert log.refresh() == 1
    assert log.refresh() == 0
    assert log.frame["reward"].tolist() == [23.0, 7.0]  # counted once
    assert log.frame["step"].tolist() == [23, 30]
    assert log.bad_lines == []


def test_null_numbers_become_nan(train: Path) -> None:
    train.write_bytes(
        b'{"total_reward":null,"length":5,"status":"Terminated","extras":{"loss_mean":null}}\n'
        b'{"total_reward":2.0,"length":5,"status":"Terminated","extras":{"loss_mean":0.5}}\n'
    )
    log = EpisodeLog(train)
    assert log.refresh() == 2
    assert math.isnan(log.frame["reward"][0]) and log.frame["reward"][1] == 2.0
    assert math.isnan(log.frame["extras.loss_mean"][0])
    assert log.frame["step"].tolist() == [5, 10]  # a null reward still counts its steps


def test_both_exponent_spellings_parse(train: Path) -> None:
    train.write_bytes(
        b'{"total_reward":1.5e20,"length":1,"status":"Terminated","extras":{"a":1e-7}}\n'
        b'{"total_reward":1.5e+20,"length":1,"status":"Terminated","extras":{"a":0.00001}}\n'
        b'{"total_reward":-2.5E-3,"length":1,"status":"Terminated","extras":{"a":23}}\n'
    )
    log = EpisodeLog(train)
    assert log.refresh() == 3
    assert log.frame["reward"].tolist() == [1.5e20, 1.5e20, -2.5e-3]
    assert log.frame["extras.a"].tolist() == [1e-7, 1e-5, 23.0]


def test_extras_keys_appearing_mid_file(train: Path) -> None:
    # DQN: the loss keys are absent before learning starts.
    train.write_bytes(line(1.0, 1, epsilon=1.0) * 3 + line(2.0, 1, epsilon=0.9, loss_mean=0.3))
    log = EpisodeLog(train)
    log.refresh()
    append(train, line(3.0, 1, loss_max=4.0, epsilon=0.8))  # any key order
    log.refresh()
    frame = log.frame
    assert log.extras_keys == ["epsilon", "loss_mean", "loss_max"]
    assert frame["extras.epsilon"].tolist() == [1.0, 1.0, 1.0, 0.9, 0.8]
    assert np.isnan(frame["extras.loss_mean"].to_numpy()[:3]).all()
    assert frame["extras.loss_mean"].tolist()[3] == 0.3
    assert np.isnan(frame["extras.loss_max"].to_numpy()[:4]).all()
    assert frame["extras.loss_max"].tolist()[4] == 4.0


def test_extras_key_first_seen_after_several_arrow_blocks(train: Path) -> None:
    early = line(1.0, 2, epsilon=0.5)
    count = (2 * parse_module.ARROW_BLOCK) // len(early) + 10
    train.write_bytes(early * count + line(2.0, 2, epsilon=0.4, late=7.0) + early)
    log = EpisodeLog(train)
    assert log.refresh() == count + 2
    late = log.frame["extras.late"].to_numpy()
    assert np.isnan(late[:count]).all() and late[count] == 7.0 and np.isnan(late[-1])
    assert log.bad_lines == []


def test_truncated_and_rewritten_file_is_read_from_zero(train: Path) -> None:
    train.write_bytes(line(1.0, 1) * 5)
    log = EpisodeLog(train)
    log.refresh()
    version = log.revision
    train.write_bytes(line(9.0, 3) * 2)  # truncated in place: same inode, smaller
    assert log.refresh() == 2
    assert log.frame["reward"].tolist() == [9.0, 9.0]
    assert log.frame["step"].tolist() == [3, 6]
    assert log.revision > version


def test_rewritten_to_a_larger_size_in_place_is_noticed(train: Path) -> None:
    train.write_bytes(line(1.0, 1) * 2)
    log = EpisodeLog(train)
    log.refresh()
    inode = train.stat().st_ino
    with train.open("r+b") as fh:  # same inode, grows past the old offset
        fh.truncate(0)
        fh.write(line(5.0, 2) * 4)
    assert train.stat().st_ino == inode
    log.refresh()
    assert log.frame["reward"].tolist() == [5.0] * 4


def test_rewrite_with_the_same_head_but_a_different_tail_is_noticed(train: Path) -> None:
    train.write_bytes(line(1.0, 1) + line(2.0, 2))
    log = EpisodeLog(train)
    log.refresh()
    with train.open("r+b") as fh:
        fh.truncate(0)
        fh.write(line(1.0, 1) + line(7.0, 2) + line(8.0, 3))
    log.refresh()
    assert log.frame["reward"].tolist() == [1.0, 7.0, 8.0]


def test_rewrite_with_the_same_tail_but_a_different_head_is_noticed(train: Path) -> None:
    train.write_bytes(line(1.0, 1) + line(2.0, 2))
    log = EpisodeLog(train)
    log.refresh()
    with train.open("r+b") as fh:
        fh.truncate(0)
        fh.write(line(6.0, 1) + line(2.0, 2) + line(8.0, 3))
    log.refresh()
    assert log.frame["reward"].tolist() == [6.0, 2.0, 8.0]


def test_replaced_file_is_noticed_by_inode(train: Path, tmp_path: Path) -> None:
    train.write_bytes(line(1.0, 1) * 2)
    log = EpisodeLog(train)
    log.refresh()
    other = tmp_path / "new.jsonl"
    other.write_bytes(line(1.0, 1) * 2 + line(2.0, 1))
    os.replace(other, train)
    assert log.refresh() == 3
    assert log.frame["reward"].tolist() == [1.0, 1.0, 2.0]


# -- bad lines ----------------------------------------------------------------------------


BAD_LINES = [
    b"not json",
    b"",  # a blank line is not a record either
    b"   ",
    b'{"total_reward":1.0,"length":-1,"status":"Terminated","extras":{}}',
    b'{"total_reward":1.0,"length":2.5,"status":"Terminated","extras":{}}',
    b'{"total_reward":1.0,"length":99999999999999999999,"status":"Terminated","extras":{}}',
    b'{"total_reward":"x","length":1,"status":"Terminated","extras":{}}',
    b'{"total_reward":1.0,"status":"Terminated","extras":{}}',
    b'{"total_reward":1.0,"length":1,"extras":{}}',
    b'{"total_reward":1.0,"length":1,"status":null,"extras":{}}',
    b'{"total_reward":1.0,"length":1,"status":"Terminated","extras":{"a":"s"}}',
    b'{"total_reward":1.0,"length":1,"status":"Terminated","extras":{"a":true}}',
    b'{"total_reward":1.0,"length":1,"status":"Terminated","extras":{"a":{"b":1}}}',
    b'{"total_reward":1.0,"length":1,"status":"Terminated","extras":5}',
    b'{"total_reward":true,"length":1,"status":"Terminated","extras":{}}',
    b"[1, 2]",
    b"5",
    b'{"total_reward":1.0,"length":1,"status":"Terminated","extras":{}}{"total_reward":1.0}',
    b'{"total_reward":1.0,"length":1,"status":"Terminated","extras":{}} trailing',
    b'{"total_reward":1.0,"length":1,"status":"\xff\xfe","extras":{}}',
    b'{"total_reward":1.0,"length":1,"status":"Terminated","extras":{"\xff":1.0}}',
    b'{"total_reward":1.0,"length":1,"status":"Terminated","extras":{},"note":"\xc3("}',
    b'{"total_reward":1.0,"length":1,',  # a record cut short, then the writer restarted
]


@pytest.mark.parametrize("bad", BAD_LINES, ids=range(len(BAD_LINES)))
def test_each_kind_of_bad_line_is_skipped_alone(train: Path, bad: bytes) -> None:
    """Alone among good lines, so the fast (pyarrow) path itself must reject it."""
    train.write_bytes(line(1.0, 1) + bad + b"\n" + line(2.0, 2) + line(3.0, 3))
    log = EpisodeLog(train)
    assert log.refresh() == 3
    assert log.bad_lines == [2]
    assert log.frame["reward"].tolist() == [1.0, 2.0, 3.0]
    assert log.frame["step"].tolist() == [1, 3, 6]


@pytest.mark.parametrize(
    "bad",
    [
        b'{"total_reward":1.0,"length":1,"status":"Terminated","extras":5}',
        b'{"total_reward":1.0,"status":"Terminated","extras":{}}',
        b'{"total_reward":1.0,"length":1,"extras":{}}',
        b'{"total_reward":1.0,"length":1,"status":"Terminated","extras":{"a":"s"}}',
    ],
)
def test_a_log_of_one_wrong_shape_is_all_bad(train: Path, bad: bytes) -> None:
    # No good line in the region to disagree with, so the shape itself must be checked.
    train.write_bytes((bad + b"\n") * 3)
    log = EpisodeLog(train)
    assert log.refresh() == 0
    assert log.bad_lines == [1, 2, 3]


def test_bad_lines_are_skipped_counted_and_numbered(train: Path) -> None:
    content = b""
    for i, text in enumerate(BAD_LINES):
        content += line(float(i), 1) + text + b"\n"
    content += line(99.0, 1)
    train.write_bytes(content)
    log = EpisodeLog(train)
    assert log.refresh() == len(BAD_LINES) + 1
    assert log.bad_lines == [2 * (i + 1) for i in range(len(BAD_LINES))]
    assert log.frame["reward"].tolist() == [float(i) for i in range(len(BAD_LINES))] + [99.0]


def test_one_bad_line_in_a_big_log_keeps_every_good_line(train: Path) -> None:
    good = line(1.0, 4, epsilon=0.1)
    n = 40_000
    lines = [good] * n
    lines[12_345] = b"{garbage\n"
    train.write_bytes(b"".join(lines))
    log = EpisodeLog(train)
    assert log.refresh() == n - 1
    assert log.bad_lines == [12_346]
    assert log.frame["step"].iloc[-1] == 4 * (n - 1)


def test_a_20_mb_bad_line_is_skipped(train: Path) -> None:
    train.write_bytes(GOOD + b'{"total_reward":' + b"1" * (20 << 20) + b"\n" + GOOD)
    log = EpisodeLog(train)
    assert log.refresh() == 2
    assert log.bad_lines == [2]


def test_lines_longer_than_the_read_buffer(train: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A tiny read buffer makes every line straddle reads and forces the buffer to grow.
    monkeypatch.setattr(tail_module, "READ_CHUNK", 16)
    records = [line(float(i), i + 1, note=float(i) * 1e10) for i in range(50)]
    train.write_bytes(b"".join(records[:30]) + b"x" * 300 + b"\n" + b"".join(records[30:]))
    log = EpisodeLog(train)
    assert log.refresh() == 50
    assert log.frame["reward"].tolist() == [float(i) for i in range(50)]
    assert log.bad_lines == [31]


def test_unknown_status_is_kept_as_a_category(train: Path) -> None:
    train.write_bytes(line(1.0, 1, "Terminated") + line(1.0, 1, "Exploded"))
    log = EpisodeLog(train)
    log.refresh()
    assert log.frame["status"].astype(str).tolist() == ["Terminated", "Exploded"]


# -- caching ------------------------------------------------------------------------------


def test_frame_is_cached_until_revision_changes_and_is_read_only(train: Path) -> None:
    train.write_bytes(GOOD * 2)
    log = EpisodeLog(train)
    log.refresh()
    first = log.frame
    assert log.refresh() == 0
    assert log.frame is first
    with pytest.raises(ValueError, match="read-only"):
        first.loc[0, "reward"] = 5.0
    append(train, line(4.0, 4))
    log.refresh()
    second = log.frame
    assert second is not first
    assert first["reward"].tolist() == [23.0, 23.0]  # an old frame never changes
    assert second["reward"].tolist() == [23.0, 23.0, 4.0]


def test_revision_bumps_on_new_records_and_bad_lines_only(train: Path) -> None:
    log = EpisodeLog(train)
    log.refresh()
    v0 = log.revision
    train.write_bytes(GOOD)
    log.refresh()
    v1 = log.revision
    log.refresh()
    assert log.revision == v1 > v0
    append(train, b"junk\n")
    log.refresh()
    assert log.revision > v1 and log.bad_lines == [2]


def test_column_views_match_the_frame(train: Path) -> None:
    train.write_bytes(line(1.0, 3, epsilon=0.5) + line(2.0, 4, epsilon=0.25))
    log = EpisodeLog(train)
    log.refresh()
    assert log.column("step").tolist() == [3, 7]
    assert log.column("extras.epsilon").tolist() == [0.5, 0.25]
    assert log.column("episode").tolist() == [0, 1]
    with pytest.raises(KeyError):
        log.column("extras.nope")


def test_growing_log_across_many_refreshes_keeps_every_row(train: Path) -> None:
    log = EpisodeLog(train)
    expected_steps = []
    total = 0
    for i in range(3000):  # crosses several capacity doublings
        append(train, line(float(i), i % 7 + 1, k=float(i)))
        total += i % 7 + 1
        expected_steps.append(total)
        if i % 13 == 0:
            log.refresh()
    log.refresh()
    assert log.frame["step"].tolist() == expected_steps
    assert log.frame["extras.k"].tolist() == [float(i) for i in range(3000)]


# -- property tests ---------------------------------------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
rewards = st.one_of(finite, st.just(math.nan), st.just(math.inf))
extras_maps = st.dictionaries(
    st.sampled_from(["epsilon", "loss_mean", "loss_std", "loss_max", "entropy", "ключ"]),
    st.one_of(finite, st.just(math.nan)),
    max_size=4,
)
records = st.builds(
    EpisodeRecord,
    total_reward=rewards,
    length=st.integers(min_value=0, max_value=10**6),
    status=st.sampled_from(["Terminated", "Truncated", "Continuing"]),
    extras=extras_maps,
)


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def _expected_reward(record: EpisodeRecord) -> float:
    return record.total_reward if math.isfinite(record.total_reward) else math.nan


def _assert_frame_holds(log: EpisodeLog, expected: list[EpisodeRecord]) -> None:
    frame = log.frame
    assert len(frame) == len(expected)
    assert frame["length"].tolist() == [r.length for r in expected]
    assert frame["status"].astype(str).tolist() == [r.status for r in expected]
    got = frame["reward"].tolist()
    assert all(_same(g, _expected_reward(r)) for g, r in zip(got, expected, strict=True))
    for i, record in enumerate(expected):
        for key in log.extras_keys:
            value = record.extras.get(key, math.nan)
            want = value if math.isfinite(value) else math.nan
            assert _same(frame[f"extras.{key}"].iloc[i], want)
    assert frame["step"].tolist() == list(np.cumsum([r.length for r in expected]))


_names = itertools.count()
garbage = st.binary(min_size=0, max_size=80).filter(lambda b: b"status" not in b)


@settings(
    max_examples=examples(120),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    items=st.lists(st.one_of(records, garbage), max_size=25),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=6),
)
@pytest.mark.parametrize("split_below", [parse_module.LINE_BY_LINE_BELOW, 1])
def test_garbage_between_valid_lines_never_raises(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    split_below: int,
    items: list[EpisodeRecord | bytes],
    cuts: list[int],
) -> None:
    """Any bytes between good lines: never raises, reads every good line in order, and
    reports each garbage line's number, however the writes are split across refreshes.
    With `split_below` 1, a rejected region is halved down to single lines (the path a
    bad line in a big log takes)."""
    monkeypatch.setattr(parse_module, "LINE_BY_LINE_BELOW", split_below)
    content = b""
    expected: list[EpisodeRecord] = []
    bad_numbers: list[int] = []
    line_no = 0
    for item in items:
        if isinstance(item, EpisodeRecord):
            content += encode_episode_line(item).encode()
            expected.append(item)
            line_no += 1
        else:
            for _piece in item.split(b"\n"):
                line_no += 1
                bad_numbers.append(line_no)
            content += item + b"\n"
    path = tmp_path / f"garbage_{next(_names)}.jsonl"
    log = EpisodeLog(path)
    written = 0
    for cut in [*sorted({min(c, len(content)) for c in cuts}), len(content)]:
        append(path, content[written:cut])
        written = cut
        log.refresh()
    _assert_frame_holds(log, expected)
    assert log.bad_lines == bad_numbers
    path.unlink()


@settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(batches=st.lists(st.lists(records, max_size=30), min_size=1, max_size=5))
def test_refreshing_in_batches_equals_one_read(
    tmp_path: Path, batches: list[list[EpisodeRecord]]
) -> None:
    path = tmp_path / f"batches_{next(_names)}.jsonl"
    path.write_bytes(b"")
    incremental = EpisodeLog(path)
    for batch in batches:
        append(path, "".join(encode_episode_line(r) for r in batch).encode())
        incremental.refresh()
    expected = [r for batch in batches for r in batch]
    _assert_frame_holds(incremental, expected)
    once = EpisodeLog(path)
    once.refresh()
    pd.testing.assert_frame_equal(once.frame, incremental.frame)
    path.unlink()


# -- refresh_many: many small logs, one pyarrow call ----------------------------------------


def _assert_same_log(batched: EpisodeLog, alone: EpisodeLog) -> None:
    pd.testing.assert_frame_equal(batched.frame, alone.frame)
    assert batched.extras_keys == alone.extras_keys
    assert batched.bad_lines == alone.bad_lines
    assert (batched.offset, batched.line_count) == (alone.offset, alone.line_count)


@pytest.mark.parametrize("alone_above", [episodes_module.ALONE_ABOVE, 0])
def test_refresh_many_matches_refreshing_each_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, alone_above: int
) -> None:
    # alone_above 0: every log has "much" new data and is refreshed on its own.
    monkeypatch.setattr(episodes_module, "ALONE_ABOVE", alone_above)
    contents = [
        line(1.0, 1, epsilon=0.5) + line(2.0, 2, epsilon=0.4, loss_mean=0.1),
        line(3.0, 3, policy_loss=1.0) + line(4.0, 4, entropy=0.2),  # PPO keys only
        line(5.0, 5, epsilon=None) + line(6.0, 6, epsilon=None),  # key present, all null
        line(7.0, 7) + b"garbage\n" + line(8.0, 8),  # a bad line in one log of many
        b"",
        line(9.0, 9, "Exploded") + line(9.5, 1, epsilon=2.0)[:10],  # new status, cut line
        b'{"total_reward":1.0,"length":1,"status":"Terminated","__runlog_batch__":0}\n',
    ]
    paths = []
    for i, content in enumerate(contents):
        path = tmp_path / f"log{i}.jsonl"
        path.write_bytes(content)
        paths.append(path)
    paths.append(tmp_path / "missing.jsonl")
    batched = [EpisodeLog(p) for p in paths]
    episodes_module.refresh_many(batched)
    for log, path in zip(batched, paths, strict=True):
        alone = EpisodeLog(path)
        alone.refresh()
        _assert_same_log(log, alone)
    assert "extras.epsilon" in batched[2].frame.columns  # present with nulls only
    assert "extras.epsilon" not in batched[1].frame.columns  # absent
    assert batched[3].bad_lines == [2]


def test_refresh_many_parses_clean_logs_in_one_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = parse_module.arrow_parse

    def counting(data: memoryview | bytes, kind: str, **options: bool) -> object:
        calls.append(len(data))
        return real(data, kind, **options)

    monkeypatch.setattr(parse_module, "arrow_parse", counting)
    logs = []
    for i in range(50):
        path = tmp_path / f"log{i}.jsonl"
        path.write_bytes(line(float(i), i + 1, epsilon=0.5) * (i + 1))
        logs.append(EpisodeLog(path))
    episodes_module.refresh_many(logs)
    assert len(calls) == 1
    assert [log.total_records for log in logs] == list(range(1, 51))
    assert logs[49].frame["step"].iloc[-1] == 50 * 50
    # Appending to a few: the next call reads only the new lines, again in one call.
    for log in logs[:3]:
        append(log.path, line(100.0, 1))
    calls.clear()
    episodes_module.refresh_many(logs)
    assert len(calls) == 1
    assert [log.total_records for log in logs[:4]] == [2, 3, 4, 4]


def test_refresh_many_in_several_groups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(episodes_module, "BATCH_BYTES", 300)  # a few logs per pyarrow call
    calls: list[int] = []
    real = parse_module.arrow_parse

    def counting(data: memoryview | bytes, kind: str, **options: bool) -> object:
        calls.append(len(data))
        return real(data, kind, **options)

    monkeypatch.setattr(parse_module, "arrow_parse", counting)
    logs = []
    for i in range(20):
        path = tmp_path / f"log{i}.jsonl"
        path.write_bytes(line(float(i), 1, k=float(i)) * 3)
        logs.append(EpisodeLog(path))
    episodes_module.refresh_many(logs)
    assert [log.frame["extras.k"].tolist() for log in logs] == [[float(i)] * 3 for i in range(20)]
    assert 1 < len(calls) < 20 and max(calls) < 300 + 3 * len(line(1.0, 1, k=1.0)) + 30


def test_first_load_parses_in_one_thread_what_the_pool_parses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # FirstLoad.prepare runs beside a scan: pyarrow parses there with one thread of its own.
    # A group of several of pyarrow's blocks reads the same either way.
    options: list[bool] = []
    real = parse_module.arrow_parse

    def recording(data: memoryview | bytes, kind: str, *, threads: bool = True) -> object:
        options.append(threads and len(data) > parse_module.ARROW_BLOCK)
        return real(data, kind, threads=threads)

    monkeypatch.setattr(parse_module, "arrow_parse", recording)
    rows = [line(float(i), 3, epsilon=0.1, loss=float(i)) for i in range(6)]
    per_log = parse_module.ARROW_BLOCK // len(rows[0]) // 2  # six logs: three blocks
    contents = [row * per_log for row in rows]
    paths = []
    for i, content in enumerate(contents):
        paths.append(tmp_path / f"log{i}.jsonl")
        paths[-1].write_bytes(content)
    logs: list[tuple[Path, parse_module.LogKind]] = [(p, "train") for p in paths]
    load = episodes_module.FirstLoad(logs)
    load.prepare()
    alone = load.parse()
    assert options == [False]  # one call for the group, on one thread
    pooled = episodes_module.read_first(logs)  # parsed in `parse`: the pool may help
    assert options == [False, True]
    assert all(read is not None for read in alone)
    assert alone == pooled
    assert [read.summary.records for read in alone if read is not None] == [per_log] * 6


def _read_together(
    tmp_path: Path, contents: list[bytes]
) -> tuple[list[Path], list[EpisodeLog], list[episodes_module.FirstRead | None]]:
    """Train logs with these contents, read by `refresh_many` and by `read_first`."""
    paths = []
    for i, content in enumerate(contents):
        paths.append(tmp_path / f"log{i}.jsonl")
        paths[-1].write_bytes(content)
    batched = [EpisodeLog(p) for p in paths]
    episodes_module.refresh_many(batched)
    return paths, batched, episodes_module.read_first([(p, "train") for p in paths])


def _as_read_alone(
    paths: list[Path], batched: list[EpisodeLog], first: list[episodes_module.FirstRead | None]
) -> list[EpisodeLog]:
    """Each log read alone, checked to hold what `refresh_many` and `read_first` (where it
    took the log) made of it together; the readers, for the caller's own checks."""
    readers = []
    for log, path, read in zip(batched, paths, first, strict=True):
        alone = EpisodeLog(path)
        alone.refresh()
        _assert_same_log(log, alone)
        assert log.status_names == alone.status_names
        if read is not None:
            assert list(read.summary.extras_keys) == alone.extras_keys
            assert read.statuses == alone.status_names
        readers.append(alone)
    return readers


def test_logs_parsed_together_keep_their_own_order_of_extras_keys(tmp_path: Path) -> None:
    # pyarrow orders a group's extras keys as the group first writes them; each log's own
    # order (the frame's columns, extras_keys) is the one it has when read alone.
    contents = [
        line(1.0, 1, epsilon=0.5, loss=1.0),
        line(2.0, 2, loss=0.1, epsilon=0.2),
        line(3.0, 3, epsilon=None, loss=0.3) + line(4.0, 4, epsilon=0.1, loss=0.2),
        line(5.0, 5, loss=0.1) + line(6.0, 6, epsilon=0.3, loss=0.2),
        line(7.0, 7, "epsilon", loss=0.1) + line(8.0, 8, epsilon=0.3),  # the name as a status
        line(9.0, 9, epsilon=0.1) + line(9.5, 1, epsilon=0.2, loss=0.1),
    ]
    paths, batched, first = _read_together(tmp_path, contents)
    orders = [alone.extras_keys for alone in _as_read_alone(paths, batched, first)]
    assert orders == [["epsilon", "loss"], ["loss", "epsilon"]] * 2 + [
        ["loss", "epsilon"],
        ["epsilon", "loss"],
    ]
    # Logs in the group's order are taken from the group's parse; the others parse alone.
    assert [read is not None for read in first] == [True, False, False, False, False, True]


def test_a_log_without_another_logs_unusual_key_is_taken_from_the_group(tmp_path: Path) -> None:
    # A key outside [A-Za-z0-9_.-] in one log made every other log of the group parse alone:
    # is it absent there, or written escaped? With no backslash in a log, it is absent.
    raw = '{"total_reward":1.0,"length":1,"status":"Terminated","extras":{"ключ":0.5}}\n'
    escaped = '{"total_reward":2.0,"length":2,"status":"Terminated","extras":{"\\u043a":0.5}}\n'
    contents = [raw.encode(), line(3.0, 3) * 2, line(4.0, 4) + escaped.encode()]
    paths, batched, first = _read_together(tmp_path, contents)
    assert [read is not None for read in first] == [True, True, False]
    _as_read_alone(paths, batched, first)
    assert batched[0].extras_keys == ["ключ"] and batched[1].extras_keys == []
    assert batched[2].extras_keys == ["к"]


def test_logs_parsed_together_number_new_statuses_as_each_log_first_uses_them(
    tmp_path: Path,
) -> None:
    contents = [
        line(1.0, 1, "Exploded") + line(2.0, 2, "Timeout"),
        line(3.0, 3, "Timeout") + line(4.0, 4, "Truncated") + line(5.0, 5, "Exploded"),
    ]
    paths, batched, first = _read_together(tmp_path, contents)
    known = ["Terminated", "Truncated", "Continuing"]
    assert [log.status_names for log in batched] == [
        [*known, "Exploded", "Timeout"],
        [*known, "Timeout", "Exploded"],
    ]
    assert all(read is not None for read in first)
    _as_read_alone(paths, batched, first)


def test_refresh_many_with_the_marker_key_in_data(tmp_path: Path) -> None:
    """A data line carrying the batch marker's key must not pass for a marker."""
    paths = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    paths[0].write_bytes(line(1.0, 1) * 2)
    paths[1].write_bytes(
        b'{"total_reward":1.0,"status":"Terminated","__runlog_batch__":-1}\n'  # no length
        b'{"total_reward":2.0,"length":2,"status":"Terminated","__runlog_batch__":5}\n'
    )
    logs = [EpisodeLog(p) for p in paths]
    episodes_module.refresh_many(logs)
    assert logs[1].bad_lines == [1]
    assert logs[1].frame["reward"].tolist() == [2.0]
    assert logs[0].frame["reward"].tolist() == [1.0, 1.0]


def test_refresh_many_handles_eval_logs_and_resets(tmp_path: Path) -> None:
    train_path = tmp_path / "train.jsonl"
    eval_path = tmp_path / "eval.jsonl"
    train_path.write_bytes(line(1.0, 1) * 3)
    eval_path.write_text(encode_eval_line(EpisodeRecord(5.0, 5), 100) * 2)
    train, evals = EpisodeLog(train_path), EpisodeLog(eval_path, "eval")
    episodes_module.refresh_many([train, evals])
    assert evals.frame["step"].tolist() == [100, 100]
    train_path.write_bytes(line(2.0, 2))  # truncated and rewritten
    episodes_module.refresh_many([train, evals])
    assert train.frame["reward"].tolist() == [2.0]


@settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    logs=st.lists(
        st.lists(st.one_of(records, garbage.filter(lambda b: b"\n" not in b)), max_size=8),
        min_size=2,
        max_size=6,
    )
)
def test_refresh_many_equals_refresh_property(
    tmp_path: Path, logs: list[list[EpisodeRecord | bytes]]
) -> None:
    batched = []
    paths = []
    for items in logs:
        path = tmp_path / f"many_{next(_names)}.jsonl"
        path.write_bytes(
            b"".join(
                encode_episode_line(i).encode() if isinstance(i, EpisodeRecord) else i + b"\n"
                for i in items
            )
        )
        paths.append(path)
        batched.append(EpisodeLog(path))
    episodes_module.refresh_many(batched)
    for log, path in zip(batched, paths, strict=True):
        alone = EpisodeLog(path)
        alone.refresh()
        _assert_same_log(log, alone)
        path.unlink()


# -- read_first: many small logs read from their start without a reader -----------------------


def _with_status(encoded: str, status: str) -> bytes:
    """A line as the crate writes it, with a status EpisodeRecord does not know (FORMAT.md
    allows any string)."""
    return encoded.encode().replace(b'"status":"Truncated"', b'"status":"%s"' % status.encode())


log_lines = st.one_of(
    records.map(lambda r: encode_episode_line(r).encode()),
    st.builds(
        lambda r, status: _with_status(
            encode_episode_line(EpisodeRecord(r, 3, "Truncated")), status
        ),
        rewards,
        st.sampled_from(["Exploded", "Timeout", "Truncated"]),
    ),
    garbage.filter(lambda b: b"\n" not in b).map(lambda b: b + b"\n"),
)
eval_lines = st.builds(
    lambda r, step, status: _with_status(
        encode_eval_line(EpisodeRecord(r, 5, "Truncated"), step), status
    ),
    rewards,
    st.sampled_from([100, 200, 300]),
    st.sampled_from(["Terminated", "Truncated", "Stuck"]),
)


@settings(
    max_examples=examples(40),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    logs=st.lists(
        st.tuples(
            st.sampled_from(["train", "eval"]),
            st.lists(st.integers(0, 10**6), max_size=8),  # seeds for the lines below
            st.binary(max_size=12),  # an unfinished last line
        ),
        min_size=1,
        max_size=7,
    ),
    data=st.data(),
)
def test_read_first_holds_what_a_new_reader_holds_after_one_refresh(
    tmp_path: Path, logs: list[tuple[str, list[int], bytes]], data: st.DataObject
) -> None:
    paths: list[tuple[Path, episodes_module.LogKind]] = []
    for kind, seeds, tail in logs:
        strategy = log_lines if kind == "train" else eval_lines
        body = b"".join(data.draw(strategy) for _ in seeds)
        path = tmp_path / f"first_{next(_names)}.jsonl"
        path.write_bytes(body + tail.replace(b"\n", b""))
        paths.append((path, "train" if kind == "train" else "eval"))
    paths.append((tmp_path / f"missing_{next(_names)}.jsonl", "train"))
    got = episodes_module.read_first(paths)
    assert got[-1] is None  # missing: left to a reader, which says so
    readers = []
    for path, kind in paths[:-1]:
        readers.append(EpisodeLog(path, kind, columns=False))
        readers[-1].refresh()
    # Left to a reader: only the logs of a group the group parse doubts, for a line it would
    # not take or a null extras value (a key with only nulls in a log: written, or absent?).
    spoilt = {
        log.kind
        for log in readers
        if log.bad_line_count or re.search(rb'"extras":\{[^}]*null', log.path.read_bytes())
    }
    for (path, kind), first, reader in zip(paths, got, readers, strict=False):
        if first is None:
            assert kind in spoilt
            continue
        assert first.mark == reader.mark
        assert first.statuses == reader.status_names
        assert first.summary.to_json() == reader.summary.to_json()
        assert first.summary.stats() == reader.stats()
        # A reader restored from it takes new lines as the reader that read them does.
        restored = EpisodeLog(path, kind, columns=False)
        restored.restore(first.mark, first.summary, first.statuses)
        append(path, data.draw(log_lines if kind == "train" else eval_lines))
        restored.refresh()
        reader.refresh()
        assert restored.stats() == reader.stats()
        assert restored.status_names == reader.status_names


def test_read_first_leaves_big_and_unreadable_logs_to_a_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(episodes_module, "ALONE_ABOVE", 200)
    small, big, directory = tmp_path / "small.jsonl", tmp_path / "big.jsonl", tmp_path / "dir"
    small.write_bytes(line(1.0, 2) + line(3.0, 4, "Exploded"))
    big.write_bytes(line(1.0, 2) * 10)
    directory.mkdir()
    got = episodes_module.read_first([(small, "train"), (big, "train"), (directory, "train")])
    assert got[1] is None and got[2] is None
    first = got[0]
    assert first is not None
    assert first.summary.records == 2 and first.summary.total_steps == 6
    assert first.summary.best_reward == 3.0 and first.summary.last_reward == 3.0
    assert first.statuses == ["Terminated", "Truncated", "Continuing", "Exploded"]
    assert first.summary.status_counts == {"Terminated": 1, "Exploded": 1}
    assert first.mark.offset == small.stat().st_size and first.mark.lines == 2
