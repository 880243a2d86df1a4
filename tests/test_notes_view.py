"""dashboard.notes_view and the run table's tags: edit, save, conflicts, read-only, the `tag=`
filter (AND), driven headlessly with Streamlit's AppTest on real run directories."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from markdown_spans import LINK_OR_IMAGE, outside_spans
from streamlit.testing.v1 import AppTest

from dashboard import notes_view
from dashboard.data import filter_runs, note_cell
from dashboard.urlstate import split_tags
from runlog.format.layout import NOTES_FILE
from runlog.format.notes import RunNotes, read_notes, save_notes
from runlog.format.records import EpisodeRecord
from runlog.format.run import TrainingRun

APP = Path(__file__).resolve().parent.parent / "dashboard" / "page.py"
TIMEOUT = 60
OLD = 1_700_000_000  # long finished: states are deterministic

A = "cartpole/v1/20260322_120000"
B = "cartpole/v1/20260322_130000"
C = "cartpole/v2/20260323_090000"


def make_run(root: Path, rel: str) -> Path:
    name, version, run_id = rel.split("/")
    run = TrainingRun.create(name, version, root, run_id=run_id)
    for i in range(20):
        run.log_train_episode(EpisodeRecord(float(i), 10 + i, "Terminated", {"epsilon": 0.5}))
    run.update_metadata(sum(10 + i for i in range(20)), 0)
    for path in [run.dir, *run.dir.rglob("*")]:
        os.utime(path, (OLD, OLD))
    return run.dir


def tag(root: Path, rel: str, tags: tuple[str, ...], note: str = "") -> None:
    """Another writer (a second tab, `runlog tag`) saves the run's notes."""
    run_dir = root / rel
    save_notes(run_dir, RunNotes(tags, note), read_notes(run_dir).identity)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    for rel in (A, B, C):
        make_run(root, rel)
    return root


@pytest.fixture(autouse=True)
def _isolated(dashboard_process: None) -> None:
    """Each test starts the app afresh (tests/conftest.py)."""


def app(root: Path, monkeypatch: pytest.MonkeyPatch, **params: str | list[str]) -> AppTest:
    monkeypatch.setenv("RUNLOG_ROOT", str(root))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    for key, value in params.items():
        at.query_params[key] = value
    return at.run()


def key(rel: str, what: str) -> str:
    return f"notes.{what}:{rel}"


def on_disk(root: Path, rel: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((root / rel / NOTES_FILE).read_text(encoding="utf-8"))
    return loaded


def runs_table(at: AppTest) -> pd.DataFrame:
    return next(df.value for df in at.dataframe if "rel" in df.value.columns)


def button(at: AppTest, label: str) -> Any:
    return next(b for b in at.button if b.label == label)


def markdown_text(at: AppTest) -> list[str]:
    return [
        str(el.value)
        for kind in ("markdown", "caption", "warning", "info", "error", "success")
        for el in getattr(at, kind)
    ]


# -- the editor in the run view ---------------------------------------------------------------


def test_edit_tags_and_note_and_save_writes_runlog_json(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app(root, monkeypatch, run=A)
    assert not at.exception
    assert "Notes & tags" in [e.label for e in at.expander]
    assert not (root / A / NOTES_FILE).exists()
    assert button(at, notes_view.SAVE_LABEL).disabled  # nothing edited yet
    # a brand-new tag typed into the box (accept_new_options), with blanks around it
    at.multiselect(key=key(A, "tags")).set_value(["baseline", " seed-sweep "]).run()
    at.text_area(key=key(A, "note")).set_value("lr 3e-4\ndiverges after 200k").run()
    button(at, notes_view.SAVE_LABEL).click().run()
    assert not at.exception
    saved = on_disk(root, A)
    assert saved["tags"] == ["baseline", "seed-sweep"]
    assert saved["note"] == "lr 3e-4\ndiverges after 200k"
    assert [s.value for s in at.success] == ["Saved."]
    # the editor now holds what was saved, normalised
    assert at.multiselect(key=key(A, "tags")).value == ["baseline", "seed-sweep"]
    assert button(at, notes_view.SAVE_LABEL).disabled


def test_the_table_shows_tags_and_the_note_first_line(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tag(root, A, ("baseline",), "first line\nsecond line")
    tag(root, C, ("baseline", "seed-sweep"))
    at = app(root, monkeypatch)
    assert not at.exception
    table = runs_table(at).set_index("rel")
    assert list(table.loc[A, "tags"]) == ["baseline"]
    assert list(table.loc[B, "tags"]) == []
    assert list(table.loc[C, "tags"]) == ["baseline", "seed-sweep"]
    assert table.loc[A, "note"] == "first line …"
    assert table.loc[B, "note"] == ""
    assert at.multiselect(key="url.tag").options == ["baseline", "seed-sweep"]


def test_tag_in_the_url_filters_runs_carrying_every_tag(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tag(root, A, ("baseline",))
    tag(root, B, ("seed-sweep",))
    tag(root, C, ("baseline", "seed-sweep"))
    at = app(root, monkeypatch, tag="baseline")
    assert set(runs_table(at)["rel"]) == {A, C}
    at = app(root, monkeypatch, tag="baseline,seed-sweep")
    assert list(runs_table(at)["rel"]) == [C]  # AND: both tags
    at = app(root, monkeypatch, tag=["seed-sweep", "baseline"])  # repeated param
    assert list(runs_table(at)["rel"]) == [C]
    assert at.multiselect(key="url.tag").value == ["seed-sweep", "baseline"]
    assert at.query_params["tag"] == "seed-sweep,baseline"  # written back in one form
    # picking in the filter writes the URL
    at.multiselect(key="url.tag").set_value(["seed-sweep"]).run()
    assert set(runs_table(at)["rel"]) == {B, C}
    assert at.query_params["tag"] == "seed-sweep"
    at.multiselect(key="url.tag").set_value([]).run()
    assert len(runs_table(at)) == 3 and "tag" not in at.query_params


def test_a_tag_saved_in_the_run_view_filters_the_table(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app(root, monkeypatch, run=B)
    at.multiselect(key=key(B, "tags")).set_value(["fresh"]).run()
    button(at, notes_view.SAVE_LABEL).click().run()
    button(at, "All runs").click().run()
    assert "run" not in at.query_params
    at.multiselect(key="url.tag").set_value(["fresh"]).run()
    assert list(runs_table(at)["rel"]) == [B]
    assert at.query_params["tag"] == "fresh"


def test_read_only_shows_notes_but_no_editor(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tag(root, A, ("baseline",), "a note [click](https://evil.example)")
    monkeypatch.setenv("RUNLOG_READ_ONLY", "1")
    at = app(root, monkeypatch, run=A)
    assert not at.exception
    keys = {w.key for kind in ("multiselect", "text_area", "button") for w in getattr(at, kind)}
    assert not {k for k in keys if k and k.startswith("notes.")}
    assert notes_view.SAVE_LABEL not in [b.label for b in at.button]
    assert [t.value for t in at.main.text] == ["a note [click](https://evil.example)"]  # plain text
    assert any("baseline" in m for m in markdown_text(at))
    at = app(root, monkeypatch)  # the table still shows and filters by tags
    assert list(runs_table(at).set_index("rel").loc[A, "tags"]) == ["baseline"]


def test_a_conflict_is_shown_with_the_other_text_and_nothing_is_lost(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app(root, monkeypatch, run=A)  # this tab opens the editor
    at.text_area(key=key(A, "note")).set_value("mine").run()
    tag(root, A, ("theirs",), "their text")  # another tab saves first
    button(at, notes_view.SAVE_LABEL).click().run()
    assert not at.exception
    assert on_disk(root, A)["note"] == "their text"  # nothing written
    assert any("Not saved" in w.value for w in at.warning)
    assert "their text" in [c.value for c in at.code]
    assert any("theirs" in m for m in markdown_text(at))
    assert at.text_area(key=key(A, "note")).value == "mine"  # still in the editor
    # merged by hand, then saved over theirs (which the user has now seen)
    at.text_area(key=key(A, "note")).set_value("their text\nmine").run()
    at.multiselect(key=key(A, "tags")).set_value(["theirs", "mine"]).run()
    button(at, notes_view.OVERWRITE_LABEL).click().run()
    assert not at.exception
    assert (on_disk(root, A)["tags"], on_disk(root, A)["note"]) == (
        ["theirs", "mine"],
        "their text\nmine",
    )
    assert notes_view.OVERWRITE_LABEL not in [b.label for b in at.button]


def test_take_theirs_loads_the_other_text_into_the_editor(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app(root, monkeypatch, run=A)
    at.text_area(key=key(A, "note")).set_value("mine").run()
    tag(root, A, ("theirs",), "their text")
    button(at, notes_view.SAVE_LABEL).click().run()
    button(at, notes_view.TAKE_THEIRS_LABEL).click().run()
    assert at.text_area(key=key(A, "note")).value == "their text"
    assert at.multiselect(key=key(A, "tags")).value == ["theirs"]
    assert not any("Not saved" in w.value for w in at.warning)
    # the next save goes over theirs without another conflict
    at.text_area(key=key(A, "note")).set_value("their text, seen").run()
    button(at, notes_view.SAVE_LABEL).click().run()
    assert on_disk(root, A)["note"] == "their text, seen"


def test_a_change_elsewhere_is_loaded_while_nothing_is_edited(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = app(root, monkeypatch, run=A)
    tag(root, A, ("from-cli",), "by runlog note")
    at.run()
    assert at.multiselect(key=key(A, "tags")).value == ["from-cli"]
    assert at.text_area(key=key(A, "note")).value == "by runlog note"


def test_an_unreadable_file_is_replaced_only_once_confirmed(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (root / A / NOTES_FILE).write_text('{"tags": "not a list"}')
    at = app(root, monkeypatch, run=A)
    assert not at.exception
    assert any(str(root / A / NOTES_FILE) in w.value for w in at.warning)
    assert '{"tags": "not a list"}' in [c.value for c in at.code]
    at.multiselect(key=key(A, "tags")).set_value(["fixed"]).run()
    button(at, notes_view.SAVE_LABEL).click().run()
    assert (root / A / NOTES_FILE).read_text() == '{"tags": "not a list"}'
    assert any("not replaced" in e.value for e in at.error)
    at.checkbox(key=key(A, "confirm")).check().run()
    button(at, notes_view.SAVE_LABEL).click().run()
    assert on_disk(root, A)["tags"] == ["fixed"]


def test_notes_from_disk_never_become_markdown(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    evil_tag = "![x](https://evil.example/t.png)"
    evil_note = "[click me](https://evil.example) www.evil.example"
    tag(root, A, (evil_tag,), evil_note)
    at = app(root, monkeypatch, run=A)
    at.text_area(key=key(A, "note")).set_value("mine").run()
    tag(root, A, (evil_tag, "2"), evil_note + " again")  # shown in the conflict panel too
    button(at, notes_view.SAVE_LABEL).click().run()
    assert any("Not saved" in w.value for w in at.warning)
    monkeypatch.setenv("RUNLOG_READ_ONLY", "1")
    ro = app(root, monkeypatch, run=A)
    for page in (at, ro):
        assert not page.exception
        for text in markdown_text(page):
            assert not LINK_OR_IMAGE.search(outside_spans(text)), text


# -- pure parts -------------------------------------------------------------------------------


def test_filter_by_tags_is_and_and_text_searches_tags_and_notes() -> None:
    frame = pd.DataFrame(
        {
            "state": ["x"] * 3,
            "name": ["a", "b", "c"],
            "version": ["v1"] * 3,
            "run_id": ["1", "2", "3"],
            "tags": [["baseline"], ["seed-sweep"], ["baseline", "seed-sweep"]],
            "checkpoints": [""] * 3,
            "note": ["", "diverged", ""],
            "problem": [""] * 3,
            "rel": ["a/v1/1", "b/v1/2", "c/v1/3"],
        }
    )
    assert list(filter_runs(frame, [], [], "", ["baseline"])["rel"]) == ["a/v1/1", "c/v1/3"]
    assert list(filter_runs(frame, [], [], "", ["baseline", "seed-sweep"])["rel"]) == ["c/v1/3"]
    assert len(filter_runs(frame, [], [], "", [])) == 3
    assert list(filter_runs(frame, [], [], "diverged")["rel"]) == ["b/v1/2"]
    assert list(filter_runs(frame, [], [], "seed-sweep")["rel"]) == ["b/v1/2", "c/v1/3"]


def test_note_cell_and_split_tags() -> None:
    assert note_cell("") == ""
    assert note_cell("\n  one line  \n") == "one line"
    assert note_cell("first\nsecond") == "first …"
    assert note_cell("x" * 200) == "x" * 79 + "…"
    assert split_tags(None) == ()
    assert split_tags(" a ,b,,a, ") == ("a", "b")
