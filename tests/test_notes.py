"""runlog.format.notes: a run's tags and note in <run>/runlog.json, read safely, written atomically
and only over the file the writer read; and the rest of runlog leaving that file alone."""

from __future__ import annotations

import json
import multiprocessing
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from budget import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from runlog.errors import NotesError
from runlog.format.layout import NOTES_FILE
from runlog.format.notes import (
    ABSENT,
    MAX_TAG_LENGTH,
    ConflictError,
    NotesFile,
    RunNotes,
    UnreadableNotesError,
    normalise_tag,
    normalise_tags,
    read_notes,
    save_notes,
    update_notes,
)
from runlog.format.records import EpisodeRecord
from runlog.format.run import TrainingRun
from runlog.format.rundirs import find_runs
from runlog.prune import apply_prune, plan_prune, plan_prune_tree
from runlog.read.catalog import Catalog

OLD = 1_700_000_000.0  # long finished: states are deterministic


def make_run(root: Path, version: str = "v1", steps: tuple[int, ...] = ()) -> Path:
    run = TrainingRun.create("cartpole", version, root)
    run.log_train_episode(EpisodeRecord(1.0, 10, "Terminated"))
    for step in steps:
        run.checkpoint_path(step).write_bytes(b"\x01" * 8)
    run.latest_checkpoint_path().write_bytes(b"latest")
    for path in [run.dir, *run.dir.rglob("*")]:
        os.utime(path, (OLD, OLD))
    return run.dir


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return make_run(tmp_path / "runs")


def save(run_dir: Path, tags: tuple[str, ...] = (), note: str = "") -> NotesFile:
    """Save over whatever is there now (a fresh editor)."""
    return save_notes(run_dir, RunNotes(tags, note), read_notes(run_dir).identity)


# -- reading and writing ----------------------------------------------------------------------


def test_no_file_is_empty_notes(run_dir: Path) -> None:
    read = read_notes(run_dir)
    assert read == NotesFile(run_dir / NOTES_FILE, RunNotes(), ABSENT)
    assert not read.exists and read.problem is None


def test_save_writes_the_documented_json_atomically(run_dir: Path) -> None:
    written = save(run_dir, ("baseline", "seed-sweep"), "lr too high?")
    text = (run_dir / NOTES_FILE).read_text(encoding="utf-8")
    obj = json.loads(text)
    assert list(obj) == ["tags", "note", "updated"]
    assert obj["tags"] == ["baseline", "seed-sweep"] and obj["note"] == "lr too high?"
    assert obj["updated"][-6] in "+-" and obj["updated"][-3] == ":"  # RFC 3339, an offset
    assert written.notes.updated is not None and written.notes.updated.tzinfo is not None
    assert read_notes(run_dir) == written  # the identity handed back is the file's
    # temp file + rename: nothing else is left in the run
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "checkpoints",
        "metadata.json",
        NOTES_FILE,
        "train_episodes.jsonl",
    ]


valid_tag = st.text(min_size=1, max_size=MAX_TAG_LENGTH).filter(
    lambda t: t.strip() == t and t.isprintable() and "," not in t
)


@settings(max_examples=examples(60), deadline=None)
@given(
    tags=st.lists(
        st.one_of(valid_tag, valid_tag.map(lambda t: f"  {t} ")), max_size=8
    ),  # blanks around are dropped
    note=st.text(max_size=400),
    extra=st.dictionaries(
        st.text(max_size=8).filter(lambda k: k not in ("tags", "note", "updated")),
        st.one_of(st.integers(), st.text(max_size=8), st.lists(st.booleans(), max_size=3)),
        max_size=3,
    ),
)
def test_save_then_read_round_trips_any_tags_and_note(
    tags: list[str], note: str, extra: dict[str, Any]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp)
        (run_dir / NOTES_FILE).write_text(json.dumps({"tags": [], **extra}), encoding="utf-8")
        first = read_notes(run_dir)
        written = save_notes(run_dir, RunNotes(tuple(tags), note), first.identity)
        read = read_notes(run_dir)
        assert read == written
        assert read.notes.tags == tuple(dict.fromkeys(t.strip() for t in tags))
        assert read.notes.note == note
        # keys a later version may add are kept as they were
        on_disk = json.loads((run_dir / NOTES_FILE).read_text(encoding="utf-8"))
        assert {k: v for k, v in on_disk.items() if k in extra} == extra
        again = save_notes(run_dir, read.notes, read.identity)  # saving twice is fine
        assert again.notes.tags == read.notes.tags and again.identity != first.identity


def test_tags_are_normalised_and_bad_ones_refused() -> None:
    assert normalise_tags([" baseline", "seed-sweep ", "baseline", "lr 3e-4"]) == (
        "baseline",
        "seed-sweep",
        "lr 3e-4",
    )
    assert normalise_tag("x" * MAX_TAG_LENGTH) == "x" * MAX_TAG_LENGTH
    for bad, reason in (
        ("", "empty"),
        ("   ", "empty"),
        ("a,b", "comma"),
        ("x" * (MAX_TAG_LENGTH + 1), "at most 64"),
        ("two\nlines", "control character"),
        ("tab\there", "control character"),
    ):
        with pytest.raises(NotesError, match=reason):
            normalise_tag(bad)
    with pytest.raises(NotesError, match="list of tags"):
        normalise_tags("baseline")  # a string is not a list of one-letter tags


def test_a_bad_tag_writes_nothing(run_dir: Path) -> None:
    save(run_dir, ("ok",))
    before = (run_dir / NOTES_FILE).read_bytes()
    with pytest.raises(NotesError, match="comma"):
        save(run_dir, ("ok", "a,b"))
    assert (run_dir / NOTES_FILE).read_bytes() == before


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"", "not JSON"),
        (b'{"tags": ["a"], "note": "\xff"}', "not UTF-8"),
        (b"[1, 2]", "JSON list, not an object"),
        (b'{"name": "some other tool"}', 'neither "tags" nor "note"'),
        (b'{"tags": "baseline"}', '"tags" is not a list of strings'),
        (b'{"tags": [1]}', '"tags" is not a list of strings'),
        (b'{"tags": ["a,b"]}', "comma"),
        (b'{"note": 3}', '"note" is not a string'),
        (b'{"tags": [], "updated": "yesterday"}', "RFC 3339"),
    ],
)
def test_a_corrupt_or_foreign_file_is_reported_and_never_silently_replaced(
    run_dir: Path, content: bytes, reason: str
) -> None:
    path = run_dir / NOTES_FILE
    path.write_bytes(content)
    read = read_notes(run_dir)
    assert read.problem is not None
    assert str(path) in read.problem and reason in read.problem
    assert read.notes == RunNotes() and read.exists
    assert read.text == content.decode("utf-8", "replace")
    with pytest.raises(UnreadableNotesError, match="not replaced") as caught:
        save_notes(run_dir, RunNotes(("mine",)), read.identity)
    assert caught.value.current == read
    with pytest.raises(UnreadableNotesError):
        update_notes(run_dir, lambda n: replace(n, tags=("mine",)))
    assert path.read_bytes() == content
    # the user confirmed: replaced
    written = save_notes(run_dir, RunNotes(("mine",)), read.identity, replace_unreadable=True)
    assert read_notes(run_dir) == written and written.notes.tags == ("mine",)


def test_a_symlinked_file_is_not_followed(run_dir: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.json"
    secret.write_text('{"tags": ["leaked"], "note": "private"}')
    (run_dir / NOTES_FILE).symlink_to(secret)
    read = read_notes(run_dir)
    assert read.problem is not None and "symlink" in read.problem
    assert read.notes == RunNotes() and "private" not in read.text
    with pytest.raises(UnreadableNotesError):
        save(run_dir, ("x",))
    save_notes(run_dir, RunNotes(("x",)), read.identity, replace_unreadable=True)
    assert not (run_dir / NOTES_FILE).is_symlink()  # the link was replaced, not its target
    assert json.loads(secret.read_text())["note"] == "private"


def test_a_fifo_or_a_directory_does_not_hang_or_crash(run_dir: Path) -> None:
    os.mkfifo(run_dir / NOTES_FILE)
    read = read_notes(run_dir)  # O_NONBLOCK: would block forever otherwise
    assert read.problem is not None and "not a regular file" in read.problem
    (run_dir / NOTES_FILE).unlink()
    (run_dir / NOTES_FILE).mkdir()
    read = read_notes(run_dir)
    assert read.problem is not None and str(run_dir / NOTES_FILE) in read.problem


def test_a_huge_file_is_not_read(run_dir: Path) -> None:
    (run_dir / NOTES_FILE).write_bytes(b" " * (2 << 20))
    read = read_notes(run_dir)
    assert read.problem is not None and "bytes" in read.problem and read.text == ""


def test_saving_into_a_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(NotesError, match="not a directory"):
        save_notes(tmp_path / "gone", RunNotes(("x",)), ABSENT)


# -- two writers ------------------------------------------------------------------------------


def test_a_stale_editor_gets_a_conflict_carrying_the_other_text(run_dir: Path) -> None:
    mine = read_notes(run_dir)  # tab A opens the editor
    theirs = save(run_dir, ("baseline",), "tab B was here")  # tab B saves first
    with pytest.raises(ConflictError) as caught:
        save_notes(run_dir, RunNotes(("mine",), "tab A's text"), mine.identity)
    assert caught.value.theirs == theirs
    assert "tab B was here" in str(caught.value) and str(run_dir / NOTES_FILE) in str(caught.value)
    assert read_notes(run_dir) == theirs  # nothing written
    # tab A merges by hand and saves over what it has now seen
    merged = save_notes(
        run_dir, RunNotes(("baseline", "mine"), "tab B was here\ntab A's text"), theirs.identity
    )
    assert read_notes(run_dir) == merged


def test_a_file_deleted_meanwhile_is_a_conflict_too(run_dir: Path) -> None:
    mine = save(run_dir, ("a",))
    (run_dir / NOTES_FILE).unlink()
    with pytest.raises(ConflictError, match="deleted") as caught:
        save_notes(run_dir, RunNotes(("b",)), mine.identity)
    assert not caught.value.theirs.exists and not (run_dir / NOTES_FILE).exists()


def _race(run_dir: str, note: str, barrier: Any, results: Any) -> None:
    """One writer: read, wait until every writer has read the same file, then save."""
    opened = read_notes(Path(run_dir))
    barrier.wait()
    try:
        save_notes(Path(run_dir), RunNotes((note,), note), opened.identity)
        results.put((note, "saved", ""))
    except ConflictError as exc:
        results.put((note, "conflict", exc.theirs.notes.note))


def _check_race(run_dir: Path, results: list[tuple[str, str, str]], writers: int) -> None:
    winners = [note for note, outcome, _ in results if outcome == "saved"]
    assert len(results) == writers and len(winners) == 1, results
    winner = winners[0]
    on_disk = read_notes(run_dir).notes
    assert (on_disk.tags, on_disk.note) == ((winner,), winner)
    # every loser was told, and shown the winner's text: nothing is lost
    assert all(theirs == winner for _, outcome, theirs in results if outcome == "conflict")


@pytest.mark.parametrize("round_", range(5))
def test_two_processes_racing_on_one_file_one_wins_the_other_is_told(
    run_dir: Path, round_: int
) -> None:
    save(run_dir, (), "before")
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(2)
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_race, args=(str(run_dir), f"process {n}", barrier, queue))
        for n in range(2)
    ]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    _check_race(run_dir, results, 2)


def test_many_threads_racing_exactly_one_wins(run_dir: Path) -> None:
    writers = 8
    barrier = threading.Barrier(writers)
    results: list[tuple[str, str, str]] = []

    class Collect:
        def put(self, item: tuple[str, str, str]) -> None:
            results.append(item)

    threads = [
        threading.Thread(target=_race, args=(str(run_dir), f"thread {n}", barrier, Collect()))
        for n in range(writers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    _check_race(run_dir, results, writers)


def test_concurrent_updates_lose_no_tag(run_dir: Path) -> None:
    """`update_notes` (what `runlog tag` does) is one step: no tag added at the same time is
    dropped by another writer's read-modify-write."""
    barrier = threading.Barrier(6)

    def add(tag: str) -> Callable[[], None]:
        def run() -> None:
            barrier.wait()
            for i in range(5):
                update_notes(run_dir, lambda n, new=f"{tag}-{i}": replace(n, tags=(*n.tags, new)))

        return run

    threads = [threading.Thread(target=add(f"t{n}")) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(read_notes(run_dir).notes.tags) == sorted(
        f"t{n}-{i}" for n in range(6) for i in range(5)
    )


# -- the rest of runlog leaves the file alone ----------------------------------------------------


def test_runlog_json_survives_a_prune(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    run_dir = make_run(root, steps=(1, 2, 3, 10, 20))
    written = save(run_dir, ("keep-me",), "pruned to 1")
    before = (run_dir / NOTES_FILE).read_bytes()
    plan = plan_prune(run_dir, 1)
    assert {f.path.name for f in plan.delete} == {
        "step_1.mpk",
        "step_2.mpk",
        "step_3.mpk",
        "step_10.mpk",
    }
    result = apply_prune(plan)
    assert len(result.deleted) == 4
    for tree_plan in plan_prune_tree(root, 0, include_live=True):
        assert all(f.path.parent.name == "checkpoints" for f in tree_plan.delete)
        apply_prune(tree_plan)
    assert (run_dir / NOTES_FILE).read_bytes() == before
    assert read_notes(run_dir) == written


def test_a_run_directory_is_told_by_its_own_files_not_by_runlog_json(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    run_dir = make_run(root)
    save(run_dir, ("a",))
    lone = root / "cartpole" / "v9" / "20260101_000000"
    lone.mkdir(parents=True)
    (lone / NOTES_FILE).write_text('{"tags": ["orphan"]}')  # notes alone make no run
    assert find_runs(root) == [run_dir]
    assert find_runs(run_dir) == [run_dir]


def test_the_catalog_lists_tags_and_follows_changes_to_the_file(run_dir: Path) -> None:
    root = run_dir.parents[2]
    catalog = Catalog(root)
    [summary] = catalog.scan()
    assert (summary.tags, summary.note, summary.problem) == ((), "", None)
    written = save(run_dir, ("baseline",), "first")
    [summary] = catalog.scan()
    assert (summary.tags, summary.note) == (("baseline",), "first")
    # the state follows the trainer's files only: saving notes is no training activity
    assert summary.state.value == "finished" and summary.last_write == OLD
    save_notes(run_dir, RunNotes(("baseline", "seed-sweep"), "second"), written.identity)
    [summary] = catalog.scan()
    assert (summary.tags, summary.note) == (("baseline", "seed-sweep"), "second")
    (run_dir / NOTES_FILE).write_text("{oops")
    [summary] = catalog.scan()
    assert summary.tags == () and summary.problem is not None
    assert str(run_dir / NOTES_FILE) in summary.problem and summary.metadata is not None
    (run_dir / NOTES_FILE).unlink()
    [summary] = catalog.scan()
    assert (summary.tags, summary.problem) == ((), None)
