"""runlog.read.index: the persistent run index. It must never change an answer: listing (and
charting) with the index gives exactly what reading every log gives, whatever happened to the
logs or to the index files, with several processes sharing it or the directory vanishing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from budget import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import runlog.format.rundirs as rundirs_module
import runlog.provider as provider_module
import runlog.read.catalog as catalog_module
import runlog.read.index as index_module
from runlog.format.layout import EVAL_LOG, METADATA_FILE, TRAIN_LOG
from runlog.format.notes import RunNotes, update_notes
from runlog.format.records import (
    EpisodeRecord,
    RunMetadata,
    encode_episode_line,
    encode_eval_line,
    encode_metadata,
)
from runlog.provider import RunProvider
from runlog.read.episodes import EpisodeLog
from runlog.read.index import ORPHAN_AGE, ROOT_FORMAT, IndexCorrupt, RunIndex, open_index
from runlog.read.watch import stop_all_watchers

REPO = Path(__file__).resolve().parents[1]
RUNS = ("cartpole/v1/20260322_120000", "cartpole/v2/20260322_130000")
WINDOW = 1e9  # every run stays "live": the state never depends on when a listing ran


@pytest.fixture(autouse=True)
def _stop() -> Iterator[None]:
    yield
    stop_all_watchers()


def line(i: int, **extras: float) -> str:
    status = "Terminated" if i % 3 else "Truncated"
    return encode_episode_line(EpisodeRecord(float(i % 97) - 20.0, 5 + i % 11, status, extras))


def metadata(run_id: str, steps: int) -> str:
    return encode_metadata(
        RunMetadata("cartpole", "v1", run_id, steps, 0, "2026-03-22T12:00:00+01:00", "x")
    )


def make_runs(root: Path, lines: int = 30) -> None:
    for rel in RUNS:
        run = root / rel
        (run / "checkpoints").mkdir(parents=True)
        (run / METADATA_FILE).write_text(metadata(run.name, 100))
        (run / TRAIN_LOG).write_text("".join(line(i, epsilon=1.0 / (1 + i)) for i in range(lines)))
        evals = (encode_eval_line(EpisodeRecord(float(i), 5), 100 * (1 + i // 3)) for i in range(9))
        (run / EVAL_LOG).write_text("".join(evals))
        (run / "checkpoints" / "step_100.mpk").write_bytes(b"c" * 10)


def settle(root: Path) -> None:
    """Age every directory changed within RACY_SECONDS, as time passing would: a listing of it
    taken now then stands for later looks (the catalog lists a younger one again)."""
    recent = time.time_ns() - int(2 * catalog_module.RACY_SECONDS * 1e9)
    for directory in [root, *(p for p in root.rglob("*") if p.is_dir())]:
        st = directory.stat()
        if st.st_mtime_ns > recent:
            os.utime(directory, ns=(st.st_atime_ns, recent - 10**9))


def listing(p: RunProvider) -> list[tuple[object, ...]]:
    p.refresh()
    return [
        (
            s.rel,
            s.problem,
            s.metadata,
            s.train,
            s.eval,
            s.checkpoints,
            s.disk_bytes,
            s.log_bytes,
            s.last_write,
            s.state,
            s.tags,
            s.note,
        )
        for s in p.runs()
    ]


def provider(root: Path, index: RunIndex | None) -> RunProvider:
    return RunProvider(
        root,
        index=index,
        watch=False,
        background=False,
        live_window=WINDOW,
        stall_window=WINDOW,
    )


# -- root files: what is not exactly what was written is dropped ---------------------------------


def test_a_root_file_round_trips_and_any_damage_drops_it(tmp_path: Path) -> None:
    index = RunIndex(tmp_path / "cache")
    root = tmp_path / "runs"
    assert index.save_root(root, {"a/v1/r": {"metadata": None, "train": None, "eval": None}})
    path = index.root_file(root)
    good = path.read_bytes()
    assert index.load_root(root) == {"a/v1/r": {"metadata": None, "train": None, "eval": None}}
    assert index.load_root(tmp_path / "other") == {}  # another root's file is not read
    header, body = good.split(b"\n", 1)
    damaged = {
        "cut": good[: len(good) - 7],
        "flipped": good[:-3] + bytes([good[-3] ^ 0x20]) + good[-2:],
        "wrong version": json.dumps({**json.loads(header), "version": 9}).encode() + b"\n" + body,
        "no header": body,
        "empty": b"",
    }
    for why, data in damaged.items():
        path.write_bytes(data)
        assert index.load_root(root) == {}, why
    path.write_bytes(good)
    assert index.load_root(root) != {}


def _rewrite_payload(path: Path, payload: bytes, version: int = ROOT_FORMAT) -> None:
    """Replace a root file's payload, with a header that is right for it."""
    header = {"format": "runlog-index", "version": version, "bytes": len(payload)}
    header["crc32"] = zlib.crc32(payload)
    path.write_bytes(json.dumps(header).encode() + b"\n" + payload)


def test_a_root_file_naming_a_place_outside_its_bytes_is_dropped(tmp_path: Path) -> None:
    # The checksum holds (the file is as written), but a run's span points past the end or
    # backwards: the whole file is dropped, not half trusted.
    index = RunIndex(tmp_path / "cache")
    root = tmp_path / "runs"
    assert index.save_root(root, {"a/v1/r": {"metadata": None, "train": None, "eval": None}})
    path = index.root_file(root)
    head, blob = path.read_bytes().split(b"\n", 1)[1].split(b"\n", 1)
    spans = json.loads(head)["runs"]["a/v1/r"]
    for bad in ([0, 0, 0, len(blob) + 1], [0, 0, 5, 2], [0, 0, -1, 3], [0, 0, 0], "x"):
        _rewrite_payload(
            path, json.dumps({"root": str(root), "runs": {"a/v1/r": bad}}).encode() + b"\n" + blob
        )
        assert index.load_root(root) == {}, bad
    _rewrite_payload(
        path, json.dumps({"root": str(root), "runs": {"a/v1/r": spans}}).encode() + b"\n" + blob
    )
    assert index.load_root(root) == {"a/v1/r": {"metadata": None, "train": None, "eval": None}}


def test_a_version_1_root_file_is_still_read_and_saved_as_the_current_version(
    tmp_path: Path,
) -> None:
    index = RunIndex(tmp_path / "cache")
    root = tmp_path / "runs"
    row = [1, [[1, 2]], ["summary"]]
    old = {
        "a/v1/r1": {"metadata": None, "train": None, "eval": None, "row": row},
        "a/v1/r2": {"metadata": {"signature": [1, 2, 3, 4]}, "train": None, "eval": None},
    }
    path = index.root_file(root)
    path.parent.mkdir(parents=True)
    payload = json.dumps({"root": str(root), "runs": old}).encode()
    _rewrite_payload(path, payload, version=True)  # type: ignore[arg-type]
    assert index.load_root(root) == {}  # JSON's true is not version 1
    _rewrite_payload(path, payload, version=1)
    loaded = index.load_root(root)
    assert loaded == old
    assert loaded.row("a/v1/r1") == row and loaded.row("a/v1/r2") is None
    entry = {"metadata": None, "train": None, "eval": None}
    assert index.save_root(root, {"a/v1/r3": entry})
    assert json.loads(path.read_bytes().split(b"\n", 1)[0])["version"] == ROOT_FORMAT
    assert index.load_root(root) == {**old, "a/v1/r3": entry}


def test_saving_copies_the_runs_it_does_not_touch_byte_for_byte(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    index = RunIndex(tmp_path / "cache")
    kept = {"metadata": None, "train": None, "eval": {"x": [1.5, "é"]}, "row": [1, [], []]}
    index.save_root(root, {"a/v1/kept": kept, "a/v1/other": {"train": None}})
    before = index.load_root(root).raw("a/v1/kept")
    index.save_root(root, {"a/v1/other": {"train": 1}, "a/v1/new": {"eval": 2}})
    after = index.load_root(root)
    assert after.raw("a/v1/kept") == before
    assert after == {"a/v1/kept": kept, "a/v1/other": {"train": 1}, "a/v1/new": {"eval": 2}}
    assert after.entry("a/v1/kept") == {"metadata": None, "train": None, "eval": {"x": [1.5, "é"]}}
    # A row may come encoded already (the catalog keeps its rows so): stored as given.
    index.save_root(root, {"a/v1/other": {"train": 1, "row": b'[1,["x"]]'}})
    assert index.load_root(root).row("a/v1/other") == [1, ["x"]]
    assert index.load_root(root).raw("a/v1/other") == (b'[1,["x"]]', b'{"train":1}')


def test_saving_merges_with_what_another_process_saved(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    ours, theirs = RunIndex(tmp_path / "cache"), RunIndex(tmp_path / "cache")
    entry = {"metadata": None, "train": None, "eval": None}
    theirs.save_root(root, {"a/v1/r1": entry, "a/v1/gone": entry})
    ours.save_root(root, {"a/v1/r2": entry}, gone=["a/v1/gone"])
    assert sorted(ours.load_root(root)) == ["a/v1/r1", "a/v1/r2"]


# -- column files ---------------------------------------------------------------------------------


def write_columns(tmp_path: Path, text: str) -> tuple[RunIndex, dict[str, Any], EpisodeLog]:
    log_path = tmp_path / "train.jsonl"
    log_path.write_text(text)
    index = RunIndex(tmp_path / "cache")
    writer = index.column_writer(tmp_path, "a/v1/r", "train")
    assert writer is not None
    reader = EpisodeLog(log_path, columns=False)
    reader.refresh(sink=writer)
    entry = index_module.columns_entry(writer)
    assert entry is not None
    plain = EpisodeLog(log_path)
    plain.refresh()
    return index, entry, plain


def test_columns_come_back_as_the_reader_builds_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_module, "WRITE_BATCH_BYTES", 2000)  # several batches
    monkeypatch.setattr("runlog.read.tail.READ_CHUNK", 4096)  # several parsed chunks
    # A key that first appears mid-file starts a second segment.
    text = "".join(line(i) for i in range(300)) + "".join(line(i, loss=i / 7) for i in range(300))
    index, entry, plain = write_columns(tmp_path, text)
    assert len(entry["segments"]) == 2
    columns = index.load_columns(entry, "train")
    for name in ("reward", "length", "step", "extras.loss"):
        np.testing.assert_array_equal(columns.column(name), plain.column(name))
    assert columns.n == 600


def test_a_flipped_byte_in_a_column_is_caught_when_that_column_is_read(tmp_path: Path) -> None:
    index, entry, _plain = write_columns(tmp_path, "".join(line(i) for i in range(2000)))
    [segment] = entry["segments"]
    path = index.base / "columns" / segment["file"]
    columns = index.load_columns(entry, "train")
    rewards = columns.column("reward").copy()
    data = bytearray(path.read_bytes())
    # Flip a byte inside the reward column's data (found by its value's bytes).
    spot = bytes(data).find(rewards[1000:1001].tobytes())
    assert spot > 0
    data[spot] ^= 0x01
    path.write_bytes(bytes(data))
    damaged = index.load_columns(entry, "train")  # the structure is intact: it loads ...
    np.testing.assert_array_equal(damaged.column("step"), columns.column("step"))
    with pytest.raises(IndexCorrupt, match="checksum"):
        damaged.column("reward")  # ... and the damaged column is refused when read


def test_a_damaged_column_of_a_run_that_grew_is_read_again_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening a run restores its columns from the index and appends the lines logged since;
    appending checks every restored column first. A damaged one means reading the log again
    from its start (found by the property below: it used to raise out of `series`)."""
    monkeypatch.setattr(index_module, "COLUMNS_ABOVE", 1)
    monkeypatch.setattr(provider_module, "COLUMNS_ABOVE", 1)
    root, cache = tmp_path / "runs", tmp_path / "cache"
    make_runs(root)
    first = provider(root, RunIndex(cache))
    listing(first)
    first.catalog.save_index()
    with (root / RUNS[0] / TRAIN_LOG).open("a") as fh:
        fh.write(line(500, epsilon=0.5))
    for path in (cache / "v1" / "columns").glob("*.arrow"):
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x10
        path.write_bytes(bytes(data))
    restarted = provider(root, RunIndex(cache))
    plain = provider(root, None)
    assert charted(restarted, RUNS[0]) == charted(plain, RUNS[0])
    assert len(charted(restarted, RUNS[0])) == 31
    assert listing(restarted) == listing(plain)


def test_a_cut_or_missing_segment_is_refused(tmp_path: Path) -> None:
    index, entry, _plain = write_columns(tmp_path, "".join(line(i) for i in range(500)))
    path = index.base / "columns" / entry["segments"][0]["file"]
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(IndexCorrupt):
        index.load_columns(entry, "train")
    path.unlink()
    with pytest.raises(IndexCorrupt):
        index.load_columns(entry, "train")


# -- the property: with or without the index, the same answers -----------------------------------

OPS = (
    "append",
    "torn",
    "finish_torn",
    "bad_line",
    "truncate",
    "replace_same_size",
    "eval_append",
    "metadata_rewrite",
    "metadata_half",
    "metadata_restore",
    "cut_index",
    "flip_index",
    "version_index",
    "flip_column",
    "drop_column",
    "drop_cache",
    "tag",
    "drop_checkpoint",
)


def apply(op: str, run: Path, cache: Path, counter: list[int]) -> None:
    counter[0] += 1
    n = counter[0]
    train = run / TRAIN_LOG
    if op == "append":
        with train.open("a") as fh:
            new = (line(n * 100 + i, epsilon=0.5, loss=float(i)) for i in range(n % 5 + 1))
            fh.write("".join(new))
    elif op == "torn":
        with train.open("a") as fh:
            fh.write(line(n)[:17])
    elif op == "finish_torn":
        data = train.read_bytes()
        tail = data[data.rfind(b"\n") + 1 :]
        if tail:
            whole = line(n).encode()
            with train.open("ab") as fh:
                fh.write(whole[len(tail) :] if whole.startswith(tail) else b"\n")
    elif op == "bad_line":
        with train.open("a") as fh:
            fh.write('{"total_reward": oops}\n')
    elif op == "truncate":
        data = train.read_bytes()
        keep = data[: data.find(b"\n", len(data) // 3) + 1]
        with train.open("r+b") as fh:  # the same file, made shorter
            fh.truncate(0)
            fh.write(keep)
    elif op == "replace_same_size":
        data = train.read_bytes()
        lines = data.splitlines(keepends=True)
        other = b"".join(reversed(lines))  # same size, other bytes, a new inode
        tmp = run / "train.tmp"
        tmp.write_bytes(other)
        os.replace(tmp, train)
    elif op == "eval_append":
        with (run / EVAL_LOG).open("a") as fh:
            fh.write(encode_eval_line(EpisodeRecord(float(n), 5), 10_000 + 100 * n))
    elif op == "metadata_rewrite":
        (run / METADATA_FILE).write_text(metadata(run.name, 1000 + n))
    elif op == "metadata_half":
        (run / METADATA_FILE).write_text(metadata(run.name, 1000 + n)[:40])
    elif op == "metadata_restore":
        (run / METADATA_FILE).write_text(metadata(run.name, 7))
    elif op in ("cut_index", "flip_index", "version_index"):
        for path in (cache / "v1" / "roots").glob("*.json"):
            data = path.read_bytes()
            if op == "cut_index":
                path.write_bytes(data[: len(data) // 2])
            elif op == "flip_index":
                at = len(data) * 2 // 3
                path.write_bytes(data[:at] + bytes([data[at] ^ 0x04]) + data[at + 1 :])
            else:
                path.write_bytes(data.replace(b'"version": %d' % ROOT_FORMAT, b'"version": 9', 1))
    elif op in ("flip_column", "drop_column"):
        for path in (cache / "v1" / "columns").glob("*.arrow"):
            if op == "drop_column":
                path.unlink()
            else:
                data = bytearray(path.read_bytes())
                data[len(data) // 2] ^= 0x10
                path.write_bytes(bytes(data))
    elif op == "drop_cache":
        shutil.rmtree(cache, ignore_errors=True)
    elif op == "tag":
        update_notes(run, lambda old: RunNotes((*old.tags, f"t{n}"), f"note {n}"))
    elif op == "drop_checkpoint":
        for path in sorted((run / "checkpoints").glob("*.mpk"))[:1]:
            path.unlink()


def charted(p: RunProvider, rel: str) -> list[float]:
    shown = p.series(rel, "reward", x="episodes", max_points=1_000_000)
    return [float(v) for v in shown.ys["raw"]]


@settings(
    max_examples=examples(int(os.environ.get("RUNLOG_INDEX_EXAMPLES", "30"))),
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 1)), min_size=1, max_size=8))
@pytest.mark.parametrize("aged", [False, True], ids=["young", "aged"])
def test_listing_with_the_index_is_listing_without_it(
    aged: bool, ops: list[tuple[str, int]]
) -> None:
    """`aged`: every directory is aged after each change (`settle`), so the catalog keeps its
    listings and a restart or a rescan does not list a run directory whose mtime stands
    (`Catalog._listing_stands`); young, every listing is taken again (the racy rule)."""
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as patch:
        # Every log is "big" here, so every log has columns in the index to break.
        patch.setattr(index_module, "COLUMNS_ABOVE", 1)
        patch.setattr(provider_module, "COLUMNS_ABOVE", 1)
        root, cache = Path(tmp) / "runs", Path(tmp) / "cache"
        make_runs(root)
        if aged:
            settle(root)
        # Long-lived: a dashboard that keeps running, with and without the index.
        kept = provider(root, RunIndex(cache))
        kept_plain = provider(root, None)
        assert listing(kept) == listing(kept_plain)
        counter = [0]
        for op, which in ops:
            apply(op, root / RUNS[which], cache, counter)
            if aged:
                settle(root)
            # Restarted: a new process that finds the index on disk, against no index at all.
            restarted = provider(root, RunIndex(cache))
            plain = provider(root, None)
            expected = listing(plain)
            assert listing(restarted) == expected, op
            assert listing(kept) == listing(kept_plain), op
            for rel in RUNS:
                assert charted(restarted, rel) == charted(plain, rel), op
            restarted.catalog.save_index()
        stop_all_watchers()


def test_a_run_that_vanishes_and_comes_back_is_listed_as_without_the_index(
    tmp_path: Path,
) -> None:
    """A restarted catalog takes each run's entry out of the root file as it lists the run (it
    does not hold the whole file): a run moved away and back, changed meanwhile, is read again."""
    root, cache = tmp_path / "runs", tmp_path / "cache"
    make_runs(root)
    warm = provider(root, RunIndex(cache))
    warm.refresh()
    warm.catalog.save_index()
    restarted = provider(root, RunIndex(cache))
    assert listing(restarted) == listing(provider(root, None))
    run, away = root / RUNS[0], tmp_path / "away"
    shutil.move(run, away)
    assert [s[0] for s in listing(restarted)] == [RUNS[1]]
    with (away / TRAIN_LOG).open("a") as fh:
        fh.write(line(1234, epsilon=0.5))
    shutil.move(away, run)
    back = listing(restarted)
    assert back == listing(provider(root, None))
    assert back[0][3] is not None and back[0][3].records == 31  # type: ignore[attr-defined]


# -- run rows: an unchanged run is listed from its row, not looked at in full -------------------


def revived(p: RunProvider) -> list[str]:
    return sorted(run.key for run in p.catalog._runs.values() if run.revived)


def test_an_unchanged_run_is_listed_from_its_row_and_a_changed_one_in_full(
    tmp_path: Path,
) -> None:
    root, cache = tmp_path / "runs", tmp_path / "cache"
    make_runs(root)
    update_notes(root / RUNS[0], lambda old: RunNotes(("baseline",), "lr 3e-4"))
    settle(root)
    first = provider(root, RunIndex(cache))
    expected = listing(first)
    first.catalog.save_index()
    restarted = provider(root, RunIndex(cache))
    assert listing(restarted) == expected == listing(provider(root, None))
    assert revived(restarted) == sorted(RUNS)  # nothing moved: both from their rows
    assert expected[0][-2:] == (("baseline",), "lr 3e-4")
    # Each input of the row moves in turn: that run alone is looked at in full.
    changes = [
        lambda run: update_notes(run, lambda old: RunNotes(("baseline", "seed0"), old.note)),
        lambda run: (run / "checkpoints" / "step_100.mpk").unlink(),
        lambda run: (run / "config.json").write_text("{}"),  # a new file in the run directory
        lambda run: (run / METADATA_FILE).write_text(metadata(run.name, 555)),
        lambda run: os.utime(run / EVAL_LOG, ns=(1, 2)),  # a touch: another mtime, same bytes
    ]
    for change in changes:
        change(root / RUNS[0])
        settle(root)
        again = provider(root, RunIndex(cache))
        assert listing(again) == listing(provider(root, None))
        assert revived(again) == [RUNS[1]]
        again.catalog.save_index()
        next_start = provider(root, RunIndex(cache))
        assert listing(next_start) == listing(again)
        assert revived(next_start) == sorted(RUNS)  # the changed run from its new row


def spy_listings(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every directory listed from now on (by the walk, or by the catalog for one run)."""
    calls: list[Path] = []

    def spying(real: Any) -> Any:
        def listed(directory: Path) -> Any:
            calls.append(Path(directory))
            return real(directory)

        return listed

    monkeypatch.setattr(rundirs_module, "_list", spying(rundirs_module._list))
    monkeypatch.setattr(catalog_module, "_list", spying(catalog_module._list))
    return calls


def test_a_run_directory_whose_mtime_stands_is_not_listed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, cache = tmp_path / "runs", tmp_path / "cache"
    make_runs(root)
    settle(root)
    first = provider(root, RunIndex(cache))
    expected = listing(first)
    first.catalog.save_index()
    assert expected == listing(provider(root, None))
    runs = {root / rel for rel in RUNS}

    calls = spy_listings(monkeypatch)
    restarted = provider(root, RunIndex(cache))
    assert listing(restarted) == expected
    assert revived(restarted) == sorted(RUNS)
    assert root in calls  # the walk lists the root, names and versions...
    assert runs.isdisjoint(calls)  # ...not the runs, whose rows stand
    calls.clear()
    assert listing(restarted) == expected  # a rescan without a watcher: the same
    assert runs.isdisjoint(calls)

    # A log grows: the run directory does not move, the log's stat does: that run alone is
    # listed again and looked at in full.
    with (root / RUNS[1] / TRAIN_LOG).open("a") as fh:
        fh.write(line(999, epsilon=0.5))
    calls.clear()
    grown = listing(restarted)
    assert root / RUNS[1] in calls and root / RUNS[0] not in calls
    assert grown[1][3].records == 31  # type: ignore[attr-defined]

    # A file gone with the directory's mtime put back (as on a filesystem with coarse times):
    # its stat by name fails, so the run is listed after all, not shown with a stale log.
    run = root / RUNS[0]
    st = run.stat()
    (run / EVAL_LOG).unlink()
    os.utime(run, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert run.stat().st_mtime_ns == st.st_mtime_ns
    calls.clear()
    plain = listing(provider(root, None))
    assert expected[0][4].records == 9  # type: ignore[attr-defined]
    assert plain[0][4].records == 0  # type: ignore[attr-defined]  (no eval log any more)
    assert listing(restarted) == plain
    assert listing(provider(root, RunIndex(cache))) == plain
    assert run in calls


def test_a_run_listed_from_its_row_then_opened_keeps_its_whole_entry(tmp_path: Path) -> None:
    """Opening a revived run builds its readers from the index entry the row came with, and a
    save after that keeps the entry whole (metadata, logs, row), so the next start revives it."""
    root, cache = tmp_path / "runs", tmp_path / "cache"
    make_runs(root, lines=50)
    settle(root)
    warm = provider(root, RunIndex(cache))
    listing(warm)
    warm.catalog.save_index()
    restarted = provider(root, RunIndex(cache))
    listing(restarted)
    assert revived(restarted) == sorted(RUNS)
    assert charted(restarted, RUNS[0]) == charted(provider(root, None), RUNS[0])
    restarted.catalog.save_index()
    entry = RunIndex(cache).load_root(root.resolve())[RUNS[0]]
    assert entry["metadata"]["value"]["total_steps"] == 100
    assert entry["train"]["summary"]["records"] == 50 and entry["row"] is not None
    again = provider(root, RunIndex(cache))
    assert listing(again) == listing(provider(root, None))
    assert revived(again) == sorted(RUNS)
    # The opened run then grows: followed from the index's offset, listed as without it.
    with (root / RUNS[0] / TRAIN_LOG).open("a") as fh:
        fh.write(line(7777, epsilon=0.5))
    assert listing(restarted) == listing(provider(root, None))
    assert restarted.run(RUNS[0]).train_episodes == 51  # type: ignore[union-attr]


def test_a_row_of_another_layout_or_shape_is_not_used(tmp_path: Path) -> None:
    root, cache = tmp_path / "runs", tmp_path / "cache"
    make_runs(root)
    settle(root)
    first = provider(root, RunIndex(cache))
    listing(first)
    first.catalog.save_index()
    index = RunIndex(cache)
    entries = index.load_root(root.resolve())
    entries[RUNS[0]]["row"][0] = 99  # a row layout this version does not know
    entries[RUNS[1]]["row"][2] = entries[RUNS[1]]["row"][2][:4]  # cut short
    assert index.save_root(root.resolve(), entries)
    restarted = provider(root, RunIndex(cache))
    assert revived(restarted) == []
    assert listing(restarted) == listing(provider(root, None))


@pytest.mark.parametrize("racy_seconds", [60.0, 0.0], ids=["rule", "no-rule"])
def test_a_file_added_in_the_tick_of_a_listing_is_not_missed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, racy_seconds: float
) -> None:
    """A directory's mtime moves in clock ticks: a checkpoint written in the tick of a listing
    leaves checkpoints/'s mtime as the listing saw it. The listing of a directory that young
    is not kept, so the next look (in this process, or after a restart) lists it again. With
    the rule off (0 s) the same race hides the file for good: the test does reach it. (The
    window is widened to 60 s so that a slow machine cannot age the directories mid-test.)"""
    monkeypatch.setattr(catalog_module, "RACY_SECONDS", racy_seconds)
    root, cache = tmp_path / "runs", tmp_path / "cache"
    make_runs(root)  # just made: every directory is young
    kept = provider(root, RunIndex(cache))
    listing(kept)
    kept.catalog.save_index()
    checkpoints = root / RUNS[0] / "checkpoints"
    seen = checkpoints.stat()
    (checkpoints / "best.mpk").write_bytes(b"b" * 7)
    os.utime(checkpoints, ns=(seen.st_atime_ns, seen.st_mtime_ns))  # the listing's tick
    plain = listing(provider(root, None))
    restarted = provider(root, RunIndex(cache))
    for p in (kept, restarted):
        shown = listing(p)
        names = [c.name for c in shown[0][5]]  # type: ignore[attr-defined]
        if racy_seconds:
            assert shown == plain
            assert names == ["step_100.mpk", "best.mpk"]
        else:
            assert names == ["step_100.mpk"]
    if racy_seconds:
        assert revived(restarted) == []  # no row was kept for a directory that young
        settle(root)
        listing(restarted)
        restarted.catalog.save_index()
        again = provider(root, RunIndex(cache))
        assert listing(again) == listing(provider(root, None))
        assert revived(again) == sorted(RUNS)  # once settled, rows again


def test_a_cold_root_read_after_its_listing_lists_checkpoints_once_and_rows_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The background reading of a cold root lists every run first (logs unread), then reads
    the logs and looks at each run again: that look keeps the listing of checkpoints/ (it
    depends on the files' stats, not on whether the logs were read), and only then, the logs'
    figures settled, does the run get its index row."""
    root, cache = tmp_path / "runs", tmp_path / "cache"
    make_runs(root)
    settle(root)
    listed: list[Path] = []
    real = catalog_module._checkpoints

    def counted(run_dir: Path, entry: Any) -> Any:
        listed.append(run_dir)
        return real(run_dir, entry)

    monkeypatch.setattr(catalog_module, "_checkpoints", counted)
    catalog = catalog_module.Catalog(root, WINDOW, WINDOW, index=RunIndex(cache))
    first = catalog.scan(max_read=0)
    assert [s.indexed for s in first] == [False, False]
    assert all(run.row is None for run in catalog._runs.values())  # figures still to come
    paths = [s.path for s in first]
    catalog.read_logs(paths)
    read = [catalog.summary(path, max_read=None) for path in paths]
    assert sorted(listed) == sorted(paths)  # checkpoints/ listed once per run
    assert [s.checkpoints for s in read] == [s.checkpoints for s in first]
    assert all(run.row is not None for run in catalog._runs.values())
    plain = catalog_module.Catalog(root, WINDOW, WINDOW).scan()
    assert [(s.rel, s.train, s.eval, s.disk_bytes) for s in read] == [
        (s.rel, s.train, s.eval, s.disk_bytes) for s in plain
    ]


def test_a_checkpoint_rewritten_in_place_is_listed_again_when_the_caller_says_so(
    tmp_path: Path,
) -> None:
    """A checkpoint rewritten in place moves no stat the listing is kept under: a plain look
    keeps the listing it has (a rescan costs no checkpoint stats), one told the run changed
    (a watcher's event) lists it again, and the index row follows, so a restart shows it."""
    root, cache = tmp_path / "runs", tmp_path / "cache"
    make_runs(root)
    settle(root)
    catalog = catalog_module.Catalog(root, WINDOW, WINDOW, index=RunIndex(cache))
    run = root / RUNS[0]
    before = {s.rel: s for s in catalog.scan()}[RUNS[0]]
    assert [(c.name, c.size) for c in before.checkpoints] == [("step_100.mpk", 10)]
    with (run / "checkpoints" / "step_100.mpk").open("r+b") as fh:
        fh.write(b"x" * 40)  # in place, 10 -> 40 bytes
    assert catalog.summary(run).checkpoints == before.checkpoints  # the kept listing
    after = catalog.summary(run, changed=True)
    assert [(c.name, c.size) for c in after.checkpoints] == [("step_100.mpk", 40)]
    assert after.disk_bytes == before.disk_bytes + 30
    catalog.save_index()
    restarted = provider(root, RunIndex(cache))
    assert listing(restarted) == listing(provider(root, None))
    assert revived(restarted) == sorted(RUNS)  # from the rows, the new size in them


# -- sharing, losing and not being able to write the cache ----------------------------------------


def big_runs(root: Path, runs: int = 3, lines: int = 12_000) -> None:
    for k in range(runs):
        run = root / f"cartpole/v1/2026032{k}_120000"
        run.mkdir(parents=True)
        (run / METADATA_FILE).write_text(metadata(run.name, 100))
        (run / TRAIN_LOG).write_text(
            "".join(line(i + k, epsilon=0.1, loss=float(i)) for i in range(lines))
        )


def _runlog(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "runlog", *args],
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_processes_building_one_index_at_once(tmp_path: Path) -> None:
    root, cache = tmp_path / "runs", tmp_path / "cache"
    big_runs(root)
    assert (root / "cartpole/v1/20260320_120000" / TRAIN_LOG).stat().st_size > (1 << 20)
    env = {"RUNLOG_CACHE_DIR": str(cache)}
    procs = [_runlog("index", str(root), env=env) for _ in range(2)]
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert "indexed 3 runs under" in out
    # Both wrote; the index they left is whole and answers like no index at all.
    assert listing(provider(root, RunIndex(cache))) == listing(provider(root, None))
    indexed = provider(root, RunIndex(cache))
    for k in range(3):
        rel = f"cartpole/v1/2026032{k}_120000"
        assert charted(indexed, rel) == charted(provider(root, None), rel)
    assert RunIndex(cache).info().column_files >= 3


def test_the_cache_directory_deleted_while_indexing_loses_nothing(tmp_path: Path) -> None:
    root, cache = tmp_path / "runs", tmp_path / "cache"
    big_runs(root, runs=4, lines=3000)
    index = RunIndex(cache)
    p = RunProvider(root, index=index, watch=False, background=True, foreground_read=0)
    gone = threading.Event()
    real = p.catalog.read_logs

    def read_then_delete(*args: Any, **kwargs: Any) -> None:
        real(*args, **kwargs)
        if not gone.is_set():  # after the first run: the whole cache directory goes
            gone.set()
            p.catalog.save_index()
            shutil.rmtree(cache)

    p.catalog.read_logs = read_then_delete  # type: ignore[method-assign]
    p.refresh()
    assert p.wait_indexed(timeout=120)
    assert gone.is_set() and index.problem is None  # recreated on the next write, no failure
    assert listing(p) == listing(provider(root, None))
    assert listing(provider(root, RunIndex(cache))) == listing(provider(root, None))


UNPRIVILEGED_LS = r"""
import json, os, sys
import runlog.cli, runlog.report, runlog.provider, runlog.read.episodes, runlog.read.index
os.setgroups([])
os.setgid(65534)
os.setuid(65534)
sys.exit(runlog.cli.main(["ls", sys.argv[1], "--json"]))
"""


def test_a_cache_directory_without_write_permission(tmp_path: Path) -> None:
    """For real: the listing runs as user nobody, the cache belongs to root (0755)."""
    if os.geteuid() != 0:
        pytest.skip("dropping to another user needs root (CI runs as root)")
    shared = Path(tempfile.mkdtemp(prefix="runlog-index-"))
    try:
        shared.chmod(0o755)
        root, cache = shared / "runs", shared / "cache"
        make_runs(root)
        cache.mkdir(mode=0o755)
        for path in [root, *root.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        child = subprocess.run(
            [sys.executable, "-c", UNPRIVILEGED_LS, str(root)],
            env={**os.environ, "PYTHONPATH": str(REPO), "RUNLOG_CACHE_DIR": str(cache)},
            cwd=shared,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert child.returncode == 0, child.stderr
        rows = json.loads(child.stdout)
        assert [r["train_episodes"] for r in rows] == [30, 30]
        notes = child.stderr.strip().splitlines()
        assert len(notes) == 1 and "cannot be written" in notes[0], child.stderr
        assert list(cache.iterdir()) == []
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def test_the_cache_stays_under_its_size_least_recently_used_out(tmp_path: Path) -> None:
    root, cache = tmp_path / "runs", tmp_path / "cache"
    big_runs(root, runs=3)
    provider(root, RunIndex(cache)).refresh()
    files = sorted((cache / "v1" / "columns").glob("*.arrow"))
    assert len(files) == 3
    for age, path in enumerate(files):  # oldest first: files[0] was used longest ago
        os.utime(path, (1_000_000 + age, 1_000_000 + age))
    RunIndex(cache).touch([files[0].name])  # ... until a run opened it again
    total = RunIndex(cache).info().bytes
    size = files[1].stat().st_size
    small = RunIndex(cache, max_bytes=total - 1)  # one file too many
    assert small.evict() == size
    assert sorted((cache / "v1" / "columns").glob("*.arrow")) == [files[0], files[2]]
    # Listing still needs no read; a run whose columns went is read again when opened.
    assert listing(provider(root, small)) == listing(provider(root, None))
    for k in range(3):
        rel = f"cartpole/v1/2026032{k}_120000"
        assert charted(provider(root, small), rel) == charted(provider(root, None), rel)


def test_orphan_column_files_go_unless_a_newer_runlog_s_root_file_may_name_them(
    tmp_path: Path,
) -> None:
    root, cache = tmp_path / "runs", tmp_path / "cache"
    big_runs(root, runs=2)
    provider(root, RunIndex(cache)).refresh()
    columns = cache / "v1" / "columns"
    named = sorted(columns.glob("*.arrow"))
    assert len(named) == 2
    orphan = columns / "gone-run-train-0.arrow"
    orphan.write_bytes(b"x" * 10)
    old = time.time() - ORPHAN_AGE - 60
    for path in [*named, orphan]:
        os.utime(path, (old, old))
    # A root file in a format this runlog does not know, as a newer runlog sharing the cache
    # writes: it may name the "orphan", so nothing is removed as one.
    foreign = cache / "v1" / "roots" / "0123456789abcdef01234567.json"
    _rewrite_payload(foreign, b'{"root": "/elsewhere", "future": true}', version=ROOT_FORMAT + 1)
    assert RunIndex(cache).evict() == 0
    assert orphan.exists()
    # Without it the orphan goes, and only it: the files our root file names stay.
    foreign.unlink()
    assert RunIndex(cache).evict() == 10
    assert sorted(columns.glob("*.arrow")) == named


def test_open_index_follows_the_environment(tmp_path: Path) -> None:
    env = {"RUNLOG_CACHE_DIR": str(tmp_path / "c"), "RUNLOG_CACHE_MB": "12"}
    index = open_index(env)
    assert index is not None and index.directory == tmp_path / "c"
    assert index.max_bytes == 12 << 20
    assert open_index({**env, "RUNLOG_NO_CACHE": "1"}) is None
    assert open_index(env, no_cache=True) is None
    xdg = open_index({"XDG_CACHE_HOME": str(tmp_path / "x")})
    assert xdg is not None and xdg.directory == tmp_path / "x" / "runlog"
    bad = open_index({**env, "RUNLOG_CACHE_MB": "lots"})
    assert bad is not None and bad.notes and "RUNLOG_CACHE_MB" in bad.notes[0]


def test_columns_are_kept_only_for_rows_the_writer_saw_from_the_start(tmp_path: Path) -> None:
    log_path = tmp_path / "train.jsonl"
    log_path.write_text("".join(line(i) for i in range(50)))
    index = RunIndex(tmp_path / "cache")
    reader = EpisodeLog(log_path, columns=False)
    reader.refresh()  # rows read before any writer: a writer now would start mid-log
    with log_path.open("a") as fh:
        fh.write("".join(line(i) for i in range(50, 80)))
    late = index.column_writer(tmp_path, "a/v1/r", "train")
    assert late is not None
    reader.refresh(sink=late)
    assert index_module.columns_entry(late) is None  # 30 rows seen, 80 counted: not kept
    assert list((index.base / "columns").glob("*.arrow")) == []


def test_the_entry_holds_the_state_the_writer_ended_with(tmp_path: Path) -> None:
    """The interleaving behind the race: the writer's refresh ends, another caller resets the
    reader and reads part of a file; the entry still describes exactly the rows written."""
    log_path = tmp_path / "train.jsonl"
    log_path.write_text("".join(line(i) for i in range(80)))
    index = RunIndex(tmp_path / "cache")
    reader = EpisodeLog(log_path, columns=False)
    writer = index.column_writer(tmp_path, "a/v1/r", "train")
    assert writer is not None
    reader.refresh(sink=writer)
    reader.reread(columns=True)  # a page asks for the columns ...
    tmp = tmp_path / "short"
    tmp.write_text("".join(line(i) for i in range(20)))
    os.replace(tmp, log_path)
    reader.refresh()  # ... of a file now shorter: the reader stands at 20 rows
    entry = index_module.columns_entry(writer)
    assert entry is not None
    assert entry["summary"]["records"] == 80 == sum(s["rows"] for s in entry["segments"])
    assert index.load_columns(entry, "train").n == 80


def test_a_page_opening_a_run_while_the_background_indexes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race found by the dashboard benchmark: a page re-reads a run with columns while
    the background reader is writing its columns. Whatever interleaving, the index keeps
    only columns that match their summary, and every answer equals a read without index."""
    monkeypatch.setattr(index_module, "COLUMNS_ABOVE", 1)
    monkeypatch.setattr(provider_module, "COLUMNS_ABOVE", 1)
    monkeypatch.setattr("runlog.read.tail.READ_CHUNK", 2048)  # many chunks: long reads
    root, cache = tmp_path / "runs", tmp_path / "cache"
    big_runs(root, runs=1, lines=3000)
    rel = "cartpole/v1/20260320_120000"
    expected = charted(provider(root, None), rel)
    for attempt in range(6):
        shutil.rmtree(cache, ignore_errors=True)
        p = RunProvider(
            root, index=RunIndex(cache), watch=False, background=True, foreground_read=0
        )
        p.refresh()  # the background starts reading the log, writing its columns
        if attempt % 2:
            threading.Event().wait(0.002 * attempt)
        assert charted(p, rel) == expected  # the page opens the run meanwhile
        assert p.wait_indexed(timeout=60)
        p.catalog.save_index()
        entry = RunIndex(cache).load_root(root.resolve())[rel]["train"]
        if entry.get("columns"):
            rows = sum(s["rows"] for s in entry["columns"]["segments"])
            assert rows == entry["columns"]["summary"]["records"]
        fresh = provider(root, RunIndex(cache))
        assert charted(fresh, rel) == expected
        steps = fresh.catalog.reader(root / rel, "train").column("step")
        assert bool(np.all(np.diff(steps) > 0))
