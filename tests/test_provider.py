"""runlog.provider: the one data face. Listing, series that follow a live run in O(new lines),
columns under a memory budget, the background indexing of a cold root, and the live polls."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import runlog.provider as provider_module
import runlog.read.episodes as episodes_module
import runlog.read.index as index_module
from runlog.analysis.curves import downsample_many, ema
from runlog.errors import OutsideRootError
from runlog.format.layout import EVAL_LOG, METADATA_FILE, NOTES_FILE, TRAIN_LOG
from runlog.format.notes import ABSENT, ConflictError, RunNotes, read_notes, update_notes
from runlog.format.records import EpisodeRecord, encode_episode_line, encode_eval_line
from runlog.provider import RunProvider, forget_providers, get_provider
from runlog.read.episodes import EpisodeLog
from runlog.read.index import RunIndex
from runlog.read.watch import get_watcher, stop_all_watchers

pytestmark = pytest.mark.filterwarnings("ignore:Callback with id :RuntimeWarning")

RUN = "cartpole/v1/20260322_120000"
OTHER = "cartpole/v1/20260322_130000"


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    yield
    forget_providers()
    stop_all_watchers()


def episode(reward: float, length: int = 10, **extras: float) -> str:
    return encode_episode_line(EpisodeRecord(reward, length, "Terminated", extras))


def make_run(root: Path, rel: str = RUN, rewards: list[float] | None = None) -> Path:
    run_dir = root / rel
    run_dir.mkdir(parents=True)
    (run_dir / METADATA_FILE).write_text("{}")
    values = [0.0, 1.0] if rewards is None else rewards
    (run_dir / TRAIN_LOG).write_text("".join(episode(r) for r in values))
    return run_dir


def append(run_dir: Path, text: str, name: str = TRAIN_LOG) -> None:
    with open(run_dir / name, "a") as f:
        f.write(text)


def provider(root: Path, **kwargs: Any) -> RunProvider:
    options: dict[str, Any] = {"watch": False, "background": False}
    options.update(kwargs)
    p = RunProvider(root, **options)
    p.refresh()
    return p


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "runs"


def poll_until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"no change seen within {timeout} s")
        time.sleep(0.02)


# -- series: smoothed over every episode, then thinned ---------------------------------------


def test_a_series_is_the_library_curve_of_every_episode(root: Path) -> None:
    rng = np.random.default_rng(4)
    rewards = rng.normal(100.0, 30.0, size=3000)
    rewards[1234] = 1e6  # a spike
    rewards[77] = float("nan")
    make_run(root, rewards=rewards.tolist())
    p = provider(root)
    shown = p.series(RUN, "reward", x="steps", smooth=0.9, max_points=300)

    steps = np.arange(1, 3001) * 10
    expected = downsample_many(steps, {"raw": rewards, "smoothed": ema(rewards, 0.9)}, 300)
    assert shown.index.tolist() == expected.index.tolist()
    assert 1234 in shown.index.tolist()  # the spike survives
    np.testing.assert_array_equal(shown.x, steps[shown.index])
    np.testing.assert_array_equal(shown.ys["raw"], rewards[shown.index])
    np.testing.assert_allclose(shown.ys["smoothed"], ema(rewards, 0.9)[shown.index], rtol=1e-12)
    assert shown.shown <= 300 and shown.total == 3000

    by_episode = p.series(RUN, "reward", x="episodes", smooth=0.0, max_points=300)
    assert by_episode.x.tolist() == by_episode.index.tolist()
    assert list(by_episode.ys) == ["raw"]


def test_a_live_run_extends_its_series_to_what_a_fresh_read_gives(root: Path) -> None:
    """Lines arrive in pieces of every size; after each, the series the provider extended is
    the one a new provider computes from scratch on the same file."""
    rng = np.random.default_rng(9)
    run_dir = make_run(root, rewards=rng.normal(size=50).tolist())
    p = provider(root)
    for size in (1, 7, 300, 2, 4000, 13, 1):
        append(
            run_dir,
            "".join(
                episode(float(v), int(n), epsilon=float(e))
                for v, n, e in zip(
                    rng.normal(size=size),
                    rng.integers(1, 500, size=size),
                    rng.random(size),
                    strict=True,
                )
            ),
        )
        for column, smooth, x in (("reward", 0.6, "steps"), ("extras.epsilon", 0.9, "episodes")):
            live = p.series(RUN, column, x=x, smooth=smooth, max_points=120)
            fresh = RunProvider(root, watch=False, background=False).series(
                RUN, column, x=x, smooth=smooth, max_points=120
            )
            assert live.index.tolist() == fresh.index.tolist()
            assert live.x.tolist() == fresh.x.tolist()
            np.testing.assert_array_equal(live.ys["raw"], fresh.ys["raw"])
            np.testing.assert_allclose(
                live.ys["smoothed"], fresh.ys["smoothed"], rtol=1e-9, equal_nan=True
            )


def test_an_append_is_read_once_and_only_its_bytes(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = make_run(root)
    p = provider(root)
    p.series(RUN, "reward", smooth=0.6, max_points=100)
    parsed: list[int] = []
    real = episodes_module.parse_region

    def counting(data: Any, start: int, end: int, *args: Any, **kwargs: Any) -> Any:
        parsed.append(end - start)
        return real(data, start, end, *args, **kwargs)

    monkeypatch.setattr(episodes_module, "parse_region", counting)
    new = episode(5.0) + episode(6.0)
    append(run_dir, new)

    tabs = 5
    barrier = threading.Barrier(tabs)
    seen: list[object] = []

    def tab() -> None:
        barrier.wait()
        seen.append(p.series(RUN, "reward", smooth=0.6, max_points=100))

    threads = [threading.Thread(target=tab) for _ in range(tabs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert parsed == [len(new)]  # five tabs, one parse of exactly the appended bytes
    assert all(s is seen[0] for s in seen)
    assert list(p.series(RUN, "reward", smooth=0.0, max_points=100).ys["raw"]) == [0, 1, 5, 6]


def test_series_handed_out_never_change_later(root: Path) -> None:
    run_dir = make_run(root, rewards=[3.0, 1.0, 2.0])
    p = provider(root)
    first = p.series(RUN, "reward", smooth=0.6, max_points=20)
    kept = (first.x.copy(), first.ys["raw"].copy(), first.ys["smoothed"].copy(), first.index.copy())
    append(run_dir, "".join(episode(100.0 + i, loss=0.1) for i in range(3000)))
    later = p.series(RUN, "reward", smooth=0.6, max_points=20)
    assert later.total == 3003
    now = (first.x, first.ys["raw"], first.ys["smoothed"], first.index)
    for before, after in zip(kept, now, strict=True):
        np.testing.assert_array_equal(before, after)


def test_a_half_written_last_line_is_not_a_new_revision(root: Path) -> None:
    run_dir = make_run(root)
    p = provider(root)
    first = p.log(RUN, "train")
    line = episode(3.0)
    append(run_dir, line[:20])  # FORMAT.md: not data until its newline arrives
    assert p.log(RUN, "train").revision == first.revision
    append(run_dir, line[20:])
    done = p.log(RUN, "train")
    assert done.revision > first.revision and done.rows == 3


def test_bad_lines_missing_logs_and_a_replaced_log(root: Path) -> None:
    run_dir = make_run(root)
    append(run_dir, "{not json\n" + episode(4.0))
    p = provider(root)
    train = p.log(RUN, "train")
    assert (train.bad_lines, train.rows) == ((3,), 3)
    # No eval yet is normal: no problem, no blocks.
    evals = p.log(RUN, "eval")
    assert evals.problem is None and evals.rows == 0 and p.eval_blocks(RUN).empty
    append(run_dir, encode_eval_line(EpisodeRecord(9.0, 5), 1000), name=EVAL_LOG)
    assert p.eval_blocks(RUN)["step"].tolist() == [1000]
    assert p.best_eval(RUN) is not None
    # Replaced (a new inode): read again from its start.
    tmp = run_dir / "train.tmp"
    tmp.write_text(episode(42.0))
    os.replace(tmp, run_dir / TRAIN_LOG)
    assert p.series(RUN, "reward", max_points=10).ys["raw"].tolist() == [42.0]
    assert p.log(RUN, "train").bad_lines == ()


def test_a_run_without_a_train_log_says_so(root: Path) -> None:
    run_dir = root / RUN
    run_dir.mkdir(parents=True)
    (run_dir / METADATA_FILE).write_text("{}")
    p = provider(root)
    train = p.log(RUN, "train")
    assert train.rows == 0
    assert train.problem is not None and TRAIN_LOG in train.problem


def test_names_from_a_page_are_checked_against_the_root(root: Path, tmp_path: Path) -> None:
    make_run(root)
    make_run(tmp_path / "elsewhere")
    p = provider(root)
    for bad in ("../elsewhere/" + RUN, "/etc", "cartpole/v1", "cartpole\\v1\\x"):
        with pytest.raises(OutsideRootError):
            p.series(bad, "reward", max_points=10)
    (root / "cartpole" / "v1" / "escape").symlink_to(tmp_path / "elsewhere" / RUN)
    with pytest.raises(OutsideRootError):
        p.log("cartpole/v1/escape", "train")


# -- memory -----------------------------------------------------------------------------------


def test_columns_stay_under_the_memory_budget_least_recently_used_out(root: Path) -> None:
    runs = [f"cartpole/v1/2026032{i}_120000" for i in range(3)]
    for i, rel in enumerate(runs):
        make_run(root, rel, rewards=[float(i)] * 2000)
    p = provider(root)
    p.series(runs[0], "reward", smooth=0.6, max_points=50)
    one_run = p.open_bytes()  # 2,000 rows of reward, length, step, status
    assert one_run >= 2000 * 26
    p.memory_bytes = 2 * one_run + one_run // 2  # room for two open runs, not three
    before = {rel: p.series(rel, "reward", smooth=0.6, max_points=50) for rel in runs[:2]}
    p.series(runs[0], "reward", smooth=0.6, max_points=50)  # runs[0]: most recently used
    p.series(runs[2], "reward", smooth=0.6, max_points=50)  # runs[1] must go
    assert p.open_runs() == [runs[0], runs[2]]
    revision = p.log(runs[2], "train").revision
    assert p.open_bytes() <= one_run * 2
    reader = p.catalog.reader(root / runs[1], "train")
    assert not reader.has_columns and reader.total_records == 2000  # its summary stays
    # Invisible to the page: asking again gives the same curve (read again).
    again = p.series(runs[1], "reward", smooth=0.6, max_points=50)
    assert again.index.tolist() == before[runs[1]].index.tolist()
    np.testing.assert_array_equal(again.ys["raw"], before[runs[1]].ys["raw"])
    assert p.open_runs() == [runs[2], runs[1]]  # now runs[0] was the least recently used
    assert p.log(runs[2], "train").revision == revision  # kept, not read again
    # A revision once handed out is never reused (memo keys stay safe): runs[0] read again
    # gets a new one.
    old = p.log(runs[2], "train").revision
    assert p.log(runs[0], "train").revision > old


# -- listing, background indexing, the persistent index -----------------------------------------


def test_one_provider_per_root_and_settings(root: Path) -> None:
    make_run(root)
    p = get_provider(root)
    assert get_provider(root / "cartpole" / "..") is p
    forget_providers()
    assert get_provider(root) is not p


def test_a_cold_root_is_listed_at_once_and_filled_in_the_background(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(4):
        make_run(root, f"cartpole/v1/2026032{i}_120000", rewards=[float(i)] * (100 + i))
    gate = threading.Event()
    real_read_logs = type(RunProvider(root, watch=False).catalog).read_logs

    def held(self: Any, *args: Any, **kwargs: Any) -> None:
        gate.wait(10)
        real_read_logs(self, *args, **kwargs)

    monkeypatch.setattr(type(RunProvider(root, watch=False).catalog), "read_logs", held)
    index = RunIndex(tmp_path / "cache")
    # foreground_read=0: no log is read by the listing itself (as if every log were big).
    p = RunProvider(root, index=index, watch=False, background=True, foreground_read=0)
    p.refresh()
    listed = p.runs()
    assert len(listed) == 4
    assert not any(s.indexed for s in listed)  # cheap columns only, at once
    assert all(s.metadata is None and s.problem is not None for s in listed)  # "{}" is corrupt
    progress = p.progress()
    assert (progress.runs_done, progress.runs_total) == (0, 4)
    assert progress.bytes_total == sum(s.log_bytes for s in listed) > 0
    assert "indexed 0 of 4 runs" in progress.label()
    gate.set()
    assert p.wait_indexed(timeout=30)
    done = p.progress()
    assert done.complete and done.runs_done == 4 and done.bytes_done == done.bytes_total
    assert [s.train_episodes for s in p.runs()] == [100, 101, 102, 103]
    # A second start with the index lists every figure without reading a log.
    monkeypatch.setattr(episodes_module, "parse_region", _no_parsing)
    again = provider(root, index=RunIndex(tmp_path / "cache"))
    assert [s.train_episodes for s in again.runs()] == [100, 101, 102, 103]
    assert all(s.indexed for s in again.runs())


def test_the_background_reads_small_runs_in_batches_and_an_opened_run_first(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rels = [f"cartpole/v1/2026032{i}_120000" for i in range(7)]
    for i, rel in enumerate(rels):
        make_run(root, rel, rewards=[float(i)] * (10 + i))
    size = (root / rels[0] / TRAIN_LOG).stat().st_size
    line = len(episode(0.0))
    # Run i holds 10 + i lines. Three runs a batch by count; by bytes, the first three only.
    monkeypatch.setattr(provider_module, "BATCH_RUNS", 3)
    monkeypatch.setattr(provider_module, "BATCH_BYTES", 3 * size + 3 * line)
    gate = threading.Event()
    batches: list[list[str]] = []
    catalog_type = type(RunProvider(root, watch=False).catalog)
    real_read_logs = catalog_type.read_logs

    def recorded(self: Any, run_dirs: Any, *args: Any, **kwargs: Any) -> None:
        gate.wait(10)
        paths = list(run_dirs)
        batches.append([p.relative_to(root.resolve()).as_posix() for p in paths])
        real_read_logs(self, paths, *args, **kwargs)

    monkeypatch.setattr(catalog_type, "read_logs", recorded)
    totals: list[int] = []
    real_summary = catalog_type.summary

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        summary = real_summary(self, *args, **kwargs)
        totals.append(p.progress().runs_total)  # a run summed up is done, not also waiting
        return summary

    monkeypatch.setattr(catalog_type, "summary", counted)
    p = RunProvider(
        root, index=RunIndex(tmp_path / "cache"), watch=False, background=True, foreground_read=0
    )
    p.refresh()
    p.series(rels[5], "reward", max_points=10)  # a page opens a run: it goes first
    gate.set()
    assert p.wait_indexed(timeout=30)
    # The opened run is read alone, first or right after the batch already taken.
    assert [rels[5]] in batches[:2]
    assert sorted(batches) == sorted([rels[0:3], [rels[5]], rels[3:5], [rels[6]]])
    done = p.progress()
    assert done.complete and done.runs_done == 7 and done.bytes_done == done.bytes_total
    assert totals and set(totals) == {7}
    assert [s.train_episodes for s in p.runs()] == [10 + i for i in range(7)]


def _no_parsing(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("a log was parsed")


def test_opening_a_big_run_takes_its_columns_from_the_index(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_module, "COLUMNS_ABOVE", 1)
    monkeypatch.setattr(provider_module, "COLUMNS_ABOVE", 1)
    rewards = np.random.default_rng(2).normal(size=5000)
    make_run(root, rewards=rewards.tolist())
    provider(root, index=RunIndex(tmp_path / "cache"))  # lists: reads the log once, indexes it
    monkeypatch.setattr(episodes_module, "parse_region", _no_parsing)
    p = provider(root, index=RunIndex(tmp_path / "cache"))
    shown = p.series(RUN, "reward", smooth=0.6, max_points=200)  # no parse: from the index
    steps = np.arange(1, 5001) * 10
    expected = downsample_many(steps, {"raw": rewards, "smoothed": ema(rewards, 0.6)}, 200)
    assert shown.index.tolist() == expected.index.tolist()
    np.testing.assert_array_equal(shown.ys["raw"], rewards[shown.index])


def test_the_reader_is_shared_by_the_listing_and_the_charts(root: Path) -> None:
    run_dir = make_run(root, rewards=[0.0, 1.0, 2.0])
    p = provider(root)
    assert p.run(RUN) is not None and p.run(RUN).train_episodes == 3  # type: ignore[union-attr]
    p.series(RUN, "reward", max_points=10)
    append(run_dir, episode(9.0, epsilon=0.1))
    assert p.series(RUN, "reward", max_points=10).ys["raw"].tolist() == [0, 1, 2, 9]
    summary = p.run(RUN)  # read by the charts, counted by the listing at once
    assert summary is not None
    assert (summary.train_episodes, summary.last_reward, summary.total_steps) == (4, 9.0, 40)
    assert isinstance(p.catalog.reader(run_dir, "train"), EpisodeLog)


def test_a_half_written_metadata_that_settles_is_reported_corrupt_without_an_event(
    root: Path,
) -> None:
    run_dir = make_run(root, RUN)
    (run_dir / METADATA_FILE).write_text('{"name": "cartpole"')  # a writer killed midway
    p = RunProvider(root, stall_window=0.5, watch=True, background=False)
    assert p.watcher is not None and p.watcher.ensure_alive()
    p.refresh()
    [summary] = p.runs()
    assert summary.problem == "metadata.json is being written (half-written); retrying"
    # Nothing is written again, so no file event comes: the provider looks again by itself
    # once the file has been still for the stall window.
    poll_until(lambda: p.refresh() and "corrupt" in (p.runs()[0].problem or ""))
    [summary] = p.runs()
    assert summary.problem == "corrupt metadata.json (19 bytes): cut short (no closing brace)"


# -- the polls of live pages (one stat of the root when nothing changed) ------------------------


def test_a_quiet_run_costs_one_stat_of_the_root_per_poll(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_run(root, RUN)
    p = RunProvider(root, watch=True, background=False)
    assert p.watcher is not None and p.watcher.ensure_alive()
    cursor = p.cursor()
    stats: list[str] = []
    real_stat = os.stat
    me = threading.get_ident()

    def counting_stat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        if threading.get_ident() == me:  # not the observer's own thread
            stats.append(os.fspath(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", counting_stat)
    for _ in range(20):
        cursor, changed = p.changed(cursor, (RUN,))
        assert not changed
    monkeypatch.undo()
    assert stats == [str(root.resolve())] * 20  # no file of the run is touched


def test_a_write_to_a_followed_run_is_a_change_once(root: Path) -> None:
    run_a = make_run(root, RUN)
    make_run(root, OTHER)
    p = RunProvider(root, watch=True, background=False)
    assert p.watcher is not None and p.watcher.ensure_alive()
    start = p.cursor()
    append(run_a, episode(1.0))
    seen: dict[str, Any] = {}

    def a_changed() -> bool:
        seen["cursor"], changed = p.changed(start, (RUN,))
        return changed

    poll_until(a_changed)
    assert p.changed(start, (OTHER,)) == (seen["cursor"], False)  # not the other run's change
    assert p.changed(seen["cursor"], (RUN,)) == (seen["cursor"], False)  # seen once


def test_a_checkpoint_rewritten_in_place_is_seen_through_the_watcher(root: Path) -> None:
    """The crate rewrites best.mpk in place: neither the run directory's nor checkpoints/'s
    mtime moves, so the listing's own key cannot see it. The watcher's event for the run
    has its checkpoints listed again: the new size and mtime show (the run view's table)."""
    run_dir = make_run(root, RUN)
    best = run_dir / "checkpoints" / "best.mpk"
    best.parent.mkdir()
    best.write_bytes(b"b" * 10)
    old = time.time_ns() - 10**10  # ten seconds ago: settled, the listing is kept
    for path in (best, best.parent, run_dir):
        os.utime(path, ns=(old, old))
    p = RunProvider(root, watch=True, background=False)
    p.refresh()
    assert p.watcher is not None and p.watcher.ensure_alive()
    assert [(c.name, c.size) for c in p.checkpoints(RUN)] == [("best.mpk", 10)]
    with best.open("r+b") as fh:  # in place: same inode, no directory entry touched
        fh.write(b"B" * 25)
    assert run_dir.stat().st_mtime_ns == old and best.parent.stat().st_mtime_ns == old

    def shown() -> bool:
        p.refresh()
        return [(c.name, c.size) for c in p.checkpoints(RUN)] == [("best.mpk", 25)]

    poll_until(shown)
    assert p.checkpoints(RUN)[0].mtime == best.stat().st_mtime


def test_a_new_run_is_a_change_for_every_page_and_the_listing(root: Path) -> None:
    make_run(root, RUN)
    p = RunProvider(root, watch=True, background=False)
    p.refresh()
    listing = p.listing_revision
    start = p.cursor()
    make_run(root, OTHER)
    poll_until(lambda: p.changed(start, ())[1])  # e.g. a version gained a seed
    poll_until(lambda: p.refresh() or p.listing_revision > listing)
    assert [s.rel for s in p.runs()] == [RUN, OTHER]


def test_without_a_watcher_every_poll_is_a_change(root: Path) -> None:
    make_run(root, RUN)
    p = RunProvider(root, watch=True, background=False)
    watcher = get_watcher(root)
    watcher.stop()  # or: the root is gone, the inotify limit is reached
    cursor = p.cursor()
    assert p.changed(cursor, (RUN,)) == (cursor, True)


# -- notes: tags and note of a run (runlog.json) ----------------------------------------------


def test_saved_notes_are_in_the_listing_at_once(root: Path) -> None:
    make_run(root, RUN)
    make_run(root, OTHER)
    p = provider(root)
    assert [s.tags for s in p.runs()] == [(), ()]
    opened = p.notes(RUN)
    assert opened.identity == ABSENT
    revision = p.revision
    written = p.save_notes(RUN, RunNotes(("baseline",), "a note"), opened.identity)
    assert p.revision > revision
    run = p.run(RUN)
    assert run is not None and (run.tags, run.note) == (("baseline",), "a note")
    assert p.notes(RUN) == written
    with pytest.raises(ConflictError):  # an editor opened before that save
        p.save_notes(RUN, RunNotes(("other",)), opened.identity)
    with pytest.raises(OutsideRootError):
        p.notes("../outside/v1/20260322_120000")
    with pytest.raises(OutsideRootError):
        p.save_notes("cartpole/v1", RunNotes(("x",)), ABSENT)  # a version, not a run


def test_notes_written_by_another_process_show_after_a_rescan(root: Path) -> None:
    run_dir = make_run(root, RUN)
    p = provider(root)  # no watcher: every refresh rescans
    (run_dir / NOTES_FILE).write_text('{"tags": ["from-cli"], "note": ""}')
    p.refresh()
    run = p.run(RUN)
    assert run is not None and run.tags == ("from-cli",)


def test_the_watcher_tells_a_notes_write_and_the_listing_follows(root: Path) -> None:
    run_dir = make_run(root, RUN)
    make_run(root, OTHER)
    p = RunProvider(root, watch=True, background=False)
    assert p.watcher is not None and p.watcher.ensure_alive()
    p.refresh()
    start = p.cursor()
    update_notes(run_dir, lambda _: RunNotes(("seen",), "by the watcher"))  # as `runlog tag`
    poll_until(lambda: p.changed(start, (RUN,))[1])
    assert not p.changed(start, (OTHER,))[1]

    def listed() -> bool:
        p.refresh()
        run = p.run(RUN)
        return run is not None and run.tags == ("seen",)

    poll_until(listed)
    assert read_notes(run_dir).notes.note == "by the watcher"


def test_smoothed_is_the_full_series_and_follows_appends(root: Path) -> None:
    """What seed statistics interpolate: every episode's env step and its EMA, read-only,
    extended as lines arrive; smooth 0 gives the raw values and a missing column NaN."""
    rng = np.random.default_rng(11)
    rewards = rng.normal(size=40)
    run_dir = make_run(root, rewards=rewards.tolist())
    p = provider(root)
    for extra in (0, 1, 25, 300):
        more = rng.normal(size=extra)
        append(run_dir, "".join(episode(float(v)) for v in more))
        rewards = np.concatenate([rewards, more])
        steps, smoothed = p.smoothed(RUN, "reward", smooth=0.8)
        assert steps.tolist() == (np.arange(1, len(rewards) + 1) * 10).tolist()
        np.testing.assert_allclose(smoothed, ema(rewards, 0.8), rtol=1e-12)
        assert not smoothed.flags.writeable
        _, raw = p.smoothed(RUN, "reward", smooth=0.0)
        assert raw.tolist() == rewards.tolist()
    _, missing = p.smoothed(RUN, "extras.epsilon", smooth=0.8)
    assert len(missing) == len(rewards) and np.isnan(missing).all()
    default_steps, default_column = p.smoothed(RUN)
    assert default_column.tolist() == rewards.tolist()
    assert default_steps.tolist() == steps.tolist()
    by_default = p.series(RUN, max_points=50).ys["raw"]
    assert by_default.tolist() == p.series(RUN, "reward", max_points=50).ys["raw"].tolist()


def test_a_log_replaced_by_a_longer_one_restarts_its_curves(root: Path) -> None:
    run_dir = make_run(root, rewards=[1.0, 2.0, 3.0])
    p = provider(root)
    p.series(RUN, "reward", smooth=0.5, max_points=50)
    p.smoothed(RUN, "reward", smooth=0.5)
    # A new file under the same name (the trainer restarted the run), with more lines.
    replacement = run_dir / "replacement.jsonl"
    replacement.write_text("".join(episode(v) for v in (10.0, 20.0, 30.0, 40.0)))
    os.replace(replacement, run_dir / TRAIN_LOG)
    p.refresh()
    fresh = provider(root)
    got = p.series(RUN, "reward", smooth=0.5, max_points=50)
    want = fresh.series(RUN, "reward", smooth=0.5, max_points=50)
    assert got.ys["raw"].tolist() == want.ys["raw"].tolist() == [10.0, 20.0, 30.0, 40.0]
    assert got.ys["smoothed"].tolist() == want.ys["smoothed"].tolist()
    assert p.smoothed(RUN, "reward", smooth=0.5)[1].tolist() == want.ys["smoothed"].tolist()


def test_smooth_zero_gives_the_raw_values_null_rewards_included(root: Path) -> None:
    make_run(root, rewards=[1.0, float("nan"), 3.0])
    _, raw = provider(root).smoothed(RUN, "reward", smooth=0.0)
    assert raw.tolist()[0::2] == [1.0, 3.0] and np.isnan(raw[1])
