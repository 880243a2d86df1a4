"""The dashboard on an s3:// root (moto's S3 server on loopback, tests/s3fixtures.py), driven
with AppTest: the table, a run, pruning from the bucket, read-only, and a store that refuses."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest
from s3fixtures import SECRET_KEY, Bucket
from streamlit.testing.v1 import AppTest
from test_remote import make_tree

import dashboard.prune_view as pv
from runlog.read.index import cache_dir
from runlog.remote.roots import RemoteRoot, start_remote
from runlog.remote.urls import RemoteURL, parse_url

APP = Path(__file__).resolve().parent.parent / "dashboard" / "page.py"
TIMEOUT = 60


@pytest.fixture(autouse=True)
def _isolated(dashboard_process: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts the app afresh (tests/conftest.py). Just uploaded objects are
    "written now": a tiny live window makes every run finished."""
    monkeypatch.setenv("RUNLOG_LIVE_WINDOW", "0.001")
    monkeypatch.setenv("RUNLOG_STALL_WINDOW", "0.001")


@pytest.fixture
def tree(s3: Bucket, tmp_path: Path) -> list[str]:
    rels = make_tree(tmp_path / "local", runs=3)
    s3.put_tree(tmp_path / "local", "runs")
    return rels


def started(url: str) -> RemoteRoot:
    """The root as the dashboard starts it (same registry entry), once its first sync ended:
    the page shows a progress bar until then (test_the_page_says_how_far_opening_is)."""
    parsed = parse_url(url)
    assert isinstance(parsed, RemoteURL)
    root = start_remote(parsed, cache=cache_dir())
    deadline = time.monotonic() + 60  # a hang guard
    while not root.ready.is_set() and root.problem is None:
        assert time.monotonic() < deadline, "the first sync never ended"
        time.sleep(0.05)
    return root


def page(s3: Bucket, monkeypatch: pytest.MonkeyPatch, **params: str) -> AppTest:
    monkeypatch.setenv("RUNLOG_ROOT", s3.url())
    started(s3.url())
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    for key, value in params.items():
        at.query_params[key] = value
    return at.run()


def every_text(at: AppTest) -> str:
    kinds = ("markdown", "caption", "error", "warning", "info", "success", "title", "code")
    return "\n".join(str(el.value) for kind in kinds for el in getattr(at, kind))


def test_the_run_table_of_a_bucket_shows_its_runs_and_its_url(
    s3: Bucket, tree: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    at = page(s3, monkeypatch)
    assert not at.exception
    table = next(df.value for df in at.dataframe if "rel" in df.value.columns)
    assert sorted(table["rel"]) == sorted(tree)
    assert [list(state) for state in table["state"]] == [["○ finished"]] * 3
    assert list(table.sort_values("rel")["episodes"]) == [120, 120, 120]
    text = every_text(at)
    assert s3.url() in text
    assert "listed every 5 s" in text
    assert os.environ["RUNLOG_CACHE_DIR"] not in text  # the mirror is never shown


def test_a_run_of_a_bucket_opens_with_its_figures(
    s3: Bucket, tree: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    at = page(s3, monkeypatch, run=tree[0])
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Episodes"] == "120"


def test_a_remote_run_shows_its_url_never_the_mirror(
    s3: Bucket, tree: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rel = tree[1]
    s3.put(f"runs/{rel}/config.json", b'{"lr": 0.001,')  # a config cut short by its writer
    at = page(s3, monkeypatch, run=rel)
    assert not at.exception
    text = every_text(at)
    assert f"`{s3.url(f'runs/{rel}')}`" in text  # the run's place, under its header
    assert f"({s3.url(f'runs/{rel}')}/config.json)" in text  # the config problem's path
    assert os.environ["RUNLOG_CACHE_DIR"] not in text
    compare = page(s3, monkeypatch, compare=",".join(tree))
    assert not compare.exception
    assert f"({s3.url(f'runs/{rel}')}/config.json)" in every_text(compare)
    assert os.environ["RUNLOG_CACHE_DIR"] not in every_text(compare)


def notes_key(rel: str, what: str) -> str:
    return f"notes.{what}:{rel}"


def test_notes_saved_in_the_page_go_to_the_bucket_and_a_save_there_first_is_a_conflict(
    s3: Bucket, tree: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from dashboard import notes_view

    rel = tree[0]
    key = f"runs/{rel}/runlog.json"
    at = page(s3, monkeypatch, run=rel)
    at.multiselect(key=notes_key(rel, "tags")).set_value(["baseline"]).run()
    at.text_area(key=notes_key(rel, "note")).set_value("mine").run()
    next(b for b in at.button if b.label == notes_view.SAVE_LABEL).click().run()
    assert not at.exception
    stored = json.loads(s3.get(key))
    assert (stored["tags"], stored["note"]) == (["baseline"], "mine")

    # Another machine saves in the bucket; this tab's next save must not overwrite it.
    stored["note"] = "theirs"
    s3.put(key, json.dumps(stored).encode())
    at.text_area(key=notes_key(rel, "note")).set_value("mine, again").run()
    next(b for b in at.button if b.label == notes_view.SAVE_LABEL).click().run()
    assert not at.exception
    assert json.loads(s3.get(key))["note"] == "theirs"  # nothing written over it
    assert any("Not saved" in str(w.value) for w in at.warning)
    assert "theirs" in [str(c.value) for c in at.code]


def test_pruning_a_bucket_from_the_ui_deletes_exactly_the_preview(
    s3: Bucket, tree: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = s3.keys("runs")
    at = page(s3, monkeypatch, view="prune", scope="")
    at.number_input(key=pv.KEEP_KEY).set_value(1).run()
    frame = next(
        df.value for df in at.dataframe if {"run", "step", "file"} <= set(df.value.columns)
    )
    shown = {f"runs/{r.run}/checkpoints/{r.file}" for r in frame.itertuples()}
    assert len(shown) == 3 * 2  # three runs, three step files each, one kept
    assert before >= shown  # the preview deleted nothing
    assert s3.keys("runs") == before
    at.button(key=pv.OPEN_KEY).click().run()
    at.button(key=pv.CONFIRM_KEY).click().run()
    assert not at.exception
    assert s3.keys("runs") == before - shown
    assert "Deleted 6 files" in every_text(at)


def test_read_only_on_a_bucket_offers_no_delete(
    s3: Bucket, tree: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = s3.keys("runs")
    monkeypatch.setenv("RUNLOG_READ_ONLY", "1")
    at = page(s3, monkeypatch, view="prune", scope="")
    assert not at.exception
    assert pv.OPEN_KEY not in {b.key for b in at.button if b.key}
    assert s3.keys("runs") == before


def test_a_bucket_that_does_not_exist_is_one_clear_error(
    s3: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNLOG_ROOT", "s3://runlog-missing-bucket/runs")
    assert not started("s3://runlog-missing-bucket/runs").ready.is_set()
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    assert not at.exception
    (error,) = [str(e.value) for e in at.error]
    assert error == (
        "cannot list s3://runlog-missing-bucket/runs: the bucket 'runlog-missing-bucket' "
        "does not exist"
    )
    assert SECRET_KEY not in every_text(at)


def test_credentials_in_the_root_url_are_refused_on_the_page(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RUNLOG_ROOT", "s3://AKIAX:verysecret@bucket/runs")
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    assert not at.exception
    (error,) = [str(e.value) for e in at.error]
    assert "credentials in the URL are not accepted" in error
    assert "verysecret" not in every_text(at) and "AKIAX" not in every_text(at)


def test_poll_makes_a_local_root_polled_and_the_sidebar_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tree(tmp_path / "runs", runs=1)
    monkeypatch.setattr(sys, "argv", ["dashboard/app.py", "--poll", "--poll-interval", "2"])
    monkeypatch.setenv("RUNLOG_ROOT", str(tmp_path / "runs"))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert "polling every 2 s (--poll)" in every_text(at)


def test_compare_on_a_bucket_says_what_it_says_on_the_same_local_runs(
    s3: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    samples = Path(__file__).resolve().parent.parent / "sample_runs"
    s3.put_tree(samples, "runs")
    remote = page(s3, monkeypatch, compare="cartpole/v1,cartpole/v2")
    assert not remote.exception
    monkeypatch.setenv("RUNLOG_ROOT", str(samples))
    local = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    local.query_params["compare"] = "cartpole/v1,cartpole/v2"
    local.run()

    def headline(at: AppTest) -> list[str]:
        return [str(m.value) for m in at.markdown if "seed pairs" in str(m.value)]

    assert headline(remote) == headline(local)
    assert "beats" in headline(remote)[0] and "n = 3 runs each." in headline(remote)[0]


def test_the_page_says_how_far_opening_a_bucket_is(
    s3: Bucket, tree: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before the first sync ends, the page shows its progress, not an empty table. Here the
    sync waits for the mirror's lock, held as another process (a `runlog` CLI) would."""
    import fcntl

    monkeypatch.setenv("RUNLOG_ROOT", s3.url())
    parsed = parse_url(s3.url())
    assert isinstance(parsed, RemoteURL)
    base = cache_dir() / "remote" / "s3" / s3.name
    base.mkdir(parents=True)
    with open(base / "lock", "a+b") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        root = start_remote(parsed, cache=cache_dir())
        deadline = time.monotonic() + 60  # a hang guard
        while root.mirror.progress.listed < 0:
            assert time.monotonic() < deadline, "the listing never ended"
            time.sleep(0.05)
        at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
        assert not at.exception
        assert not at.dataframe  # no table yet
        (bar,) = at.get("progress")
        text = str(bar.proto.text)
        assert text.startswith(f"Opening `{s3.url()}`: ")
        assert f"{len(s3.keys('runs'))} objects listed" in text
        assert not root.ready.is_set()
    while not root.ready.is_set():  # the lock is released: the first sync ends
        assert time.monotonic() < deadline, "the first sync never ended"
        time.sleep(0.05)
    at.run()
    table = next(df.value for df in at.dataframe if "rel" in df.value.columns)
    assert sorted(table["rel"]) == sorted(tree)
