"""runlog.read.summary and runlog.read.tail: what is kept of a log without its columns, and
where a reader stands in it, carried across processes as JSON (the persistent index)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runlog.analysis.evals import best_block, eval_blocks
from runlog.format.records import EpisodeRecord, encode_eval_line
from runlog.read.episodes import EpisodeLog
from runlog.read.summary import LogSummary, stats_from_json
from runlog.read.tail import FINGERPRINT, Mark

rewards = st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.just(math.nan))
statuses = st.sampled_from(["Terminated", "Truncated", "Continuing", "Custom"])


def write(path: Path, lines: list[str]) -> None:
    with path.open("a") as fh:
        fh.write("".join(lines))


@given(
    st.lists(st.tuples(rewards, st.integers(0, 500), statuses), max_size=60),
    st.integers(0, 60),
)
def test_a_summary_fed_in_two_reads_is_the_summary_of_one(
    episodes: list[tuple[float, int, str]], cut: int
) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.jsonl"
        # Written by hand: the crate's writer knows three statuses, a reader takes any.
        lines = [
            json.dumps(
                {
                    "total_reward": r if math.isfinite(r) else None,
                    "length": n,
                    "status": s,
                    "extras": {"k": float(n)} if n % 2 else {},
                },
                separators=(",", ":"),
            )
            + "\n"
            for r, n, s in episodes
        ]
        lines.insert(min(cut, len(lines)), "not json\n")
        live = EpisodeLog(path, columns=False)
        write(path, lines[:cut])
        live.refresh()
        write(path, lines[cut:])
        live.refresh()
        once = EpisodeLog(path)
        once.refresh()
        assert live.stats() == once.stats()
        stats = once.stats()
        finite = [r for r, _, _ in episodes if math.isfinite(r)]
        assert stats.records == len(episodes)
        assert stats.total_steps == sum(n for _, n, _ in episodes)
        assert stats.best_reward == (max(finite) if finite else None)
        last = episodes[-1][0] if episodes else math.nan
        assert stats.last_reward == (last if math.isfinite(last) else None)
        assert dict(stats.status_counts) == {
            s: sum(1 for *_, t in episodes if t == s) for s in {t for *_, t in episodes}
        }
        assert stats.bad_line_count == 1 and stats.bad_lines == (min(cut, len(episodes)) + 1,)
        # Across processes: a train summary resumes exactly where it stopped.
        again = LogSummary.from_json(once.summary.to_json(), "train")
        assert again.stats() == stats and again.continuable


def test_an_eval_summary_comes_back_with_its_results_only(tmp_path: Path) -> None:
    path = tmp_path / "eval.jsonl"
    write(
        path,
        [
            encode_eval_line(EpisodeRecord(r, 5), step)
            for step, r in ((100, 1.0), (100, 3.0), (200, 9.0), (200, math.nan), (300, 4.0))
        ],
    )
    log = EpisodeLog(path, "eval", columns=False)
    log.refresh()
    stats = log.stats()
    full = EpisodeLog(path, "eval")
    full.refresh()
    assert stats.best_eval == best_block(eval_blocks(full.frame))  # 300: 200 has a null
    assert stats.best_eval is not None and stats.best_eval.step == 300
    back = LogSummary.from_json(log.summary.to_json(), "eval")
    assert back.stats() == stats
    assert not back.continuable  # its blocks' rewards are not kept: the log is read again
    assert stats_from_json(log.summary.to_json(), "eval") == stats
    # The final block (the highest step) travels too: what a sweep's final-eval score reads.
    assert stats.last_eval is not None and stats.last_eval.step == 300
    assert stats.last_eval == eval_blocks(full.frame).pipe(lambda b: best_block(b.iloc[[-1]]))
    assert stats_from_json(log.summary.to_json(), "eval").last_eval == stats.last_eval
    # An entry written before the index kept it is refused (so the log is read again),
    # never trusted as "no eval yet".
    older = {k: v for k, v in log.summary.to_json().items() if k != "last_eval"}
    with pytest.raises(ValueError, match="last block"):
        stats_from_json(older, "eval")
    with pytest.raises(ValueError, match="last block"):
        LogSummary.from_json(older, "eval")


def test_summaries_from_the_wrong_kind_or_shape_are_refused() -> None:
    good = LogSummary("train").to_json()
    with pytest.raises(ValueError):
        LogSummary.from_json(good, "eval")
    for broken in ({**good, "records": -1}, {**good, "status_counts": 3}, {}):
        with pytest.raises((KeyError, TypeError, ValueError)):
            LogSummary.from_json(broken, "train")


def test_bad_line_numbers_are_kept_up_to_a_bound_and_all_counted(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    write(path, ["junk\n"] * 1500)
    log = EpisodeLog(path, columns=False)
    log.refresh()
    stats = log.stats()
    assert stats.bad_line_count == 1500
    assert stats.bad_lines == tuple(range(1, 1001))


# -- marks --------------------------------------------------------------------------------------


@given(st.binary(max_size=300), st.binary(max_size=300))
def test_a_mark_round_trips_and_tells_a_grown_file_from_another(old: bytes, new: bytes) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "log"
        path.write_bytes(old)
        st_ = os.stat(path)
        mark = Mark(st_.st_dev, st_.st_ino).advanced(old, len(old), old.count(b"\n"))
        assert Mark.from_json(mark.to_json()) == mark
        assert len(mark.head) == len(mark.tail) == min(FINGERPRINT, len(old))
        with path.open("ab") as fh:
            fh.write(new)  # grown: the same file
        fd = os.open(path, os.O_RDONLY)
        try:
            assert mark.still_matches(fd, os.fstat(fd))
        finally:
            os.close(fd)
        if old:
            path.write_bytes(bytes(b ^ 0xFF for b in old) + new)  # rewritten in place
            fd = os.open(path, os.O_RDONLY)
            try:
                assert not mark.still_matches(fd, os.fstat(fd))
            finally:
                os.close(fd)


@given(
    st.dictionaries(
        st.sampled_from(["device", "inode", "offset", "lines", "head", "tail", "x"]),
        st.one_of(st.integers(-5, 10**6), st.text(max_size=20), st.none(), st.booleans()),
    )
)
def test_a_mark_from_anything_else_is_refused(obj: dict[str, object]) -> None:
    try:
        mark = Mark.from_json(obj)
    except (KeyError, TypeError, ValueError):
        return
    # Whatever was accepted is a consistent mark.
    assert mark.offset >= 0 and len(mark.head) == min(FINGERPRINT, mark.offset)
