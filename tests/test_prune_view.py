"""The prune page (`?view=prune&scope=...`) driven headlessly with AppTest, through app.py.

The confirmation dialog opens from a session-state flag, so AppTest's full reruns keep it
open; its buttons are found by key. Every test checks the files on disk afterwards.
"""

from __future__ import annotations

import errno
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from markdown_spans import LINK_OR_IMAGE, outside_spans
from streamlit.testing.v1 import AppTest

import dashboard.prune_view as pv
from dashboard.data import human_size
from dashboard.text import md_code
from runlog.errors import RunlogError

APP = Path(__file__).resolve().parent.parent / "dashboard" / "page.py"
TIMEOUT = 60
OLD = 1_700_000_000

A = "cartpole/v1/20260322_120000"
B = "cartpole/v1/20260322_130000"
C = "cartpole/v2/20260323_090000"
L = "lunar/v1/20260324_080000"


def size_of(step: int) -> int:
    return 100 * step + 7


def write_run(root: Path, rel: str, steps: tuple[int, ...], *, live: bool = False) -> Path:
    run = root / rel
    ckpt = run / "checkpoints"
    ckpt.mkdir(parents=True)
    name, version, run_id = rel.split("/")
    meta = {
        "name": name,
        "version": version,
        "run_id": run_id,
        "total_steps": max(steps, default=0),
        "total_episodes": 0,
        "started_at": "2026-03-22T12:00:00+01:00",
        "last_updated": "2026-03-22T12:41:07+01:00",
    }
    (run / "metadata.json").write_text(json.dumps(meta, indent=2))
    (run / "train_episodes.jsonl").write_text(
        '{"total_reward":1.0,"length":10,"status":"Terminated","extras":{}}\n'
    )
    for n in steps:
        (ckpt / f"step_{n}.mpk").write_bytes(b"\0" * size_of(n))
    (ckpt / "latest.mpk").write_bytes(b"latest")
    (ckpt / "best.mpk").write_bytes(b"best")
    (ckpt / "notes.txt").write_text("not a checkpoint")
    for path in [run, *run.rglob("*")]:
        os.utime(path, (OLD, OLD))
    if live:
        now = time.time()
        os.utime(run / "train_episodes.jsonl", (now, now))
    return run


def names(run: Path) -> set[str]:
    return {p.name for p in (run / "checkpoints").iterdir()}


def all_steps(root: Path) -> dict[str, set[str]]:
    return {
        p.parent.relative_to(root).as_posix(): names(p.parent)
        for p in sorted(root.glob("*/*/*/checkpoints"))
    }


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    write_run(root, A, (1, 2, 3, 4, 5, 10))  # 3 to delete: 1, 2, 3
    write_run(root, B, (100, 200))  # nothing to delete
    write_run(root, C, (7, 8, 9, 11, 12))  # 2 to delete: 7, 8
    write_run(root, L, (5, 6, 7, 8, 9), live=True)  # live: 2 only with the override
    return root


@pytest.fixture(autouse=True)
def _isolated(dashboard_process: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts the app afresh (tests/conftest.py), with wide live windows."""
    monkeypatch.setenv("RUNLOG_LIVE_WINDOW", "3600")
    monkeypatch.setenv("RUNLOG_STALL_WINDOW", "7200")


def prune_page(
    root: Path, monkeypatch: pytest.MonkeyPatch, scope: str | None = "", **env: str
) -> AppTest:
    monkeypatch.setenv("RUNLOG_ROOT", str(root))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.query_params["view"] = "prune"
    if scope is not None:
        at.query_params["scope"] = scope
    return at.run()


def texts(at: AppTest, *kinds: str) -> str:
    kinds = kinds or ("markdown", "caption", "error", "warning", "info", "success", "title")
    return "\n".join(str(el.value) for kind in kinds for el in getattr(at, kind))


def frame_with(at: AppTest, *columns: str, nth: int = 0) -> pd.DataFrame:
    frames = [df.value for df in at.dataframe if set(columns) <= set(df.value.columns)]
    return frames[nth]


def files_shown(at: AppTest, nth: int = 0) -> set[tuple[str, str]]:
    frame = frame_with(at, "run", "step", "file", "size", nth=nth)
    return {(row.run, row.file) for row in frame.itertuples()}


def button_keys(at: AppTest) -> set[str]:
    return {b.key for b in at.button if b.key}


def open_dialog(at: AppTest) -> AppTest:
    at.button(key=pv.OPEN_KEY).click().run()
    assert pv.CONFIRM_KEY in button_keys(at), "the dialog did not open"
    return at


# ----- preview ------------------------------------------------------------------------------


def test_preview_lists_every_file_with_run_step_size_and_the_total(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = all_steps(root)
    at = prune_page(root, monkeypatch, "cartpole")
    assert not at.exception
    assert at.number_input(key=pv.KEEP_KEY).value == pv.DEFAULT_KEEP == 3
    frame = frame_with(at, "run", "step", "file", "size", "bytes")
    rows = sorted((r.run, r.step, r.file, r.size, r.bytes) for r in frame.itertuples())
    expected = [
        (run, n, f"step_{n}.mpk", human_size(size_of(n)), size_of(n))
        for run, steps in ((A, (1, 2, 3)), (C, (7, 8)))
        for n in steps
    ]
    assert rows == sorted(expected)
    total = sum(size_of(n) for n in (1, 2, 3, 7, 8))
    assert f"**5** files in **2** runs would be deleted, freeing **{human_size(total)}**" in texts(
        at, "markdown"
    )
    runs = frame_with(at, "run", "delete", "keep", "frees", "note").set_index("run")
    assert runs.loc[A, "keep"] == "step_10.mpk, step_5.mpk, step_4.mpk"
    assert runs.loc[B, "note"] == "nothing to delete"
    assert L not in runs.index  # out of scope
    assert all_steps(root) == before  # a preview writes nothing


def test_keep_is_a_choice_and_the_preview_follows_it(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = prune_page(root, monkeypatch, A)
    assert files_shown(at) == {(A, f"step_{n}.mpk") for n in (1, 2, 3)}
    at.number_input(key=pv.KEEP_KEY).set_value(1).run()
    assert files_shown(at) == {(A, f"step_{n}.mpk") for n in (1, 2, 3, 4, 5)}
    at.number_input(key=pv.KEEP_KEY).set_value(0).run()
    assert files_shown(at) == {(A, f"step_{n}.mpk") for n in (1, 2, 3, 4, 5, 10)}
    at.number_input(key=pv.KEEP_KEY).set_value(6).run()
    assert "**0** files in **0** runs" in texts(at, "markdown")
    assert pv.OPEN_KEY not in button_keys(at)  # nothing to prune: no button


def test_live_runs_are_listed_apart_and_skipped_by_default(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = prune_page(root, monkeypatch, "")
    assert files_shown(at, nth=0) == {(A, f"step_{n}.mpk") for n in (1, 2, 3)} | {
        (C, "step_7.mpk"),
        (C, "step_8.mpk"),
    }
    assert files_shown(at, nth=1) == {(L, "step_5.mpk"), (L, "step_6.mpk")}
    assert "1 live run" in texts(at, "warning")
    runs = frame_with(at, "run", "note").set_index("run")
    assert runs.loc[L, "note"].startswith("live")


# ----- the dialog ---------------------------------------------------------------------------


def test_confirm_deletes_exactly_the_preview_and_reports_it(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = prune_page(root, monkeypatch, "")
    shown = files_shown(at)
    open_dialog(at)
    total = human_size(sum(size_of(n) for n in (1, 2, 3, 7, 8)))
    dialog_text = texts(at, "markdown")
    assert f"Delete **5** checkpoint files from **2** runs, freeing **{total}**?" in dialog_text
    assert at.button(key=pv.CONFIRM_KEY).label == "Delete 5 files"
    at.button(key=pv.CONFIRM_KEY).click().run()
    assert not at.exception

    assert pv.CONFIRM_KEY not in button_keys(at)  # the dialog closed
    assert f"Deleted 5 files, freed {total}." in texts(at, "success")
    deleted = frame_with(at, "run", "file")
    assert {(r.run, r.file) for r in deleted.itertuples()} == shown
    after = all_steps(root)
    assert after[A] == {"step_4.mpk", "step_5.mpk", "step_10.mpk", *PROTECTED}
    assert after[B] == {"step_100.mpk", "step_200.mpk", *PROTECTED}
    assert after[C] == {"step_9.mpk", "step_11.mpk", "step_12.mpk", *PROTECTED}
    assert after[L] == {f"step_{n}.mpk" for n in (5, 6, 7, 8, 9)} | PROTECTED  # live: kept
    assert "Live runs left alone" in texts(at, "caption")
    # The fresh preview now shows nothing left to delete outside the live run.
    assert "**0** files in **0** runs" in texts(at, "markdown")


PROTECTED = {"latest.mpk", "best.mpk", "notes.txt"}


def test_the_override_in_the_dialog_prunes_live_runs_too(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = prune_page(root, monkeypatch, "lunar")
    assert pv.OPEN_KEY in button_keys(at)  # only live files: still offered, via the override
    open_dialog(at)
    assert at.button(key=pv.CONFIRM_KEY).disabled  # 0 files without the override
    at.checkbox(key=pv.OVERRIDE_KEY).check().run()
    size = human_size(size_of(5) + size_of(6))
    assert f"Delete **2** checkpoint files from **1** run, freeing **{size}**?" in texts(
        at, "markdown"
    )
    at.button(key=pv.CONFIRM_KEY).click().run()
    assert not at.exception
    assert names(root / L) == {"step_7.mpk", "step_8.mpk", "step_9.mpk", *PROTECTED}
    assert "Deleted 2 files" in texts(at, "success")


def test_cancel_deletes_nothing_and_closes_the_dialog(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = all_steps(root)
    at = prune_page(root, monkeypatch, "")
    open_dialog(at)
    at.button(key=pv.CANCEL_KEY).click().run()
    assert not at.exception
    assert pv.CONFIRM_KEY not in button_keys(at)
    assert not at.session_state[pv.DIALOG_KEY]
    at.run()  # and it stays closed (dismissing with Esc is covered in the browser test)
    assert pv.CONFIRM_KEY not in button_keys(at)
    assert all_steps(root) == before


def test_files_changed_since_the_preview_are_not_deleted(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = prune_page(root, monkeypatch, A)
    assert files_shown(at) == {(A, f"step_{n}.mpk") for n in (1, 2, 3)}
    ckpt = root / A / "checkpoints"
    # After the preview: a file is replaced (same name, new inode) and a new checkpoint
    # arrives, which makes step_4 one to delete too under a fresh plan.
    (ckpt / "tmp").write_bytes(b"\1" * size_of(2))
    os.replace(ckpt / "tmp", ckpt / "step_2.mpk")
    (ckpt / "step_50.mpk").write_bytes(b"new")
    open_dialog(at)
    assert "Delete **3** checkpoint files" in texts(at, "markdown")  # still the preview's
    at.button(key=pv.CONFIRM_KEY).click().run()
    assert not at.exception
    assert names(root / A) == {"step_2.mpk", "step_4.mpk", "step_5.mpk", "step_10.mpk",
                               "step_50.mpk", *PROTECTED}
    assert (ckpt / "step_2.mpk").read_bytes() == b"\1" * size_of(2)
    assert "Deleted 2 files" in texts(at, "warning")
    assert "1 were not deleted: see why below." in texts(at, "warning")
    skipped = frame_with(at, "run", "file", "reason")
    assert list(skipped["file"]) == ["step_2.mpk"]
    assert "replaced or rewritten since the preview" in skipped["reason"].iloc[0]
    # The fresh preview shows what is left to do, step_4 included.
    assert files_shown(at) == {(A, "step_2.mpk"), (A, "step_4.mpk")}


def test_a_failed_delete_is_reported_and_the_rest_go_on(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = prune_page(root, monkeypatch, "cartpole")
    real_unlink = os.unlink

    def denying_unlink(path: Any, *args: Any, **kwargs: Any) -> None:
        if os.fspath(path) in ("step_2.mpk", str(root / A / "checkpoints" / "step_2.mpk")):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", denying_unlink)
    open_dialog(at)
    at.button(key=pv.CONFIRM_KEY).click().run()
    assert not at.exception
    assert "Deleted 4 files" in texts(at, "error")
    assert "1 could not be deleted" in texts(at, "error")
    failed = frame_with(at, "run", "file", "error")
    assert [(r.run, r.file) for r in failed.itertuples()] == [(A, "step_2.mpk")]
    assert "Permission denied" in failed["error"].iloc[0]
    assert names(root / A) == {"step_2.mpk", "step_4.mpk", "step_5.mpk", "step_10.mpk",
                               *PROTECTED}
    assert names(root / C) == {"step_9.mpk", "step_11.mpk", "step_12.mpk", *PROTECTED}


def test_checkpoints_symlinked_outside_the_root_are_shown_skipped_and_kept(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    for n in (1, 2, 3, 4, 5):
        (outside / f"step_{n}.mpk").write_bytes(b"x")
    run = root / "cartpole/v3/20260325_000000"
    run.mkdir(parents=True)
    (run / "metadata.json").write_text("{}")
    (run / "checkpoints").symlink_to(outside)
    os.utime(run / "metadata.json", (OLD, OLD))
    at = prune_page(root, monkeypatch, "cartpole/v3")
    runs = frame_with(at, "run", "note").set_index("run")
    assert "outside the runs root" in runs.loc["cartpole/v3/20260325_000000", "note"]
    assert "**0** files in **0** runs" in texts(at, "markdown")
    assert pv.OPEN_KEY not in button_keys(at)
    assert len(list(outside.iterdir())) == 5


# ----- scope --------------------------------------------------------------------------------


def test_scope_can_be_widened_to_the_version_the_name_and_the_root(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = prune_page(root, monkeypatch, A)
    assert f"Scope: run `{A}`" in texts(at, "markdown")
    labels = {b.key: b.label for b in at.button if b.key and b.key.startswith("prune.scope.")}
    assert labels == {
        "prune.scope.version": "all runs of version `cartpole/v1`",
        "prune.scope.name": "all runs of name `cartpole`",
        "prune.scope.root": "whole runs root",
    }
    at.button(key="prune.scope.version").click().run()
    assert at.query_params["scope"] == "cartpole/v1"
    assert {run for run, _ in files_shown(at)} == {A}
    at.button(key="prune.scope.name").click().run()
    assert at.query_params["scope"] == "cartpole"
    assert {run for run, _ in files_shown(at)} == {A, C}
    at.button(key="prune.scope.root").click().run()
    assert at.query_params["scope"] == ""
    assert {run for run, _ in files_shown(at)} == {A, C}
    assert {run for run, _ in files_shown(at, nth=1)} == {L}
    assert not any(b.key.startswith("prune.scope.") for b in at.button if b.key)


def test_scope_can_be_narrowed_to_a_name_a_version_or_a_run(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = prune_page(root, monkeypatch, "")
    narrow = at.selectbox(key=pv.NARROW_KEY)
    assert narrow.options == [
        "cartpole", "cartpole/v1", A, B, "cartpole/v2", C, "lunar", "lunar/v1", L
    ]
    narrow.select("cartpole/v2").run()
    assert at.query_params["scope"] == "cartpole/v2"
    assert {run for run, _ in files_shown(at)} == {C}
    assert at.selectbox(key=pv.NARROW_KEY).options == [C]
    assert at.selectbox(key=pv.NARROW_KEY).value is None
    at.selectbox(key=pv.NARROW_KEY).select(C).run()
    assert at.query_params["scope"] == C
    assert not at.selectbox  # a run has nothing below it


def test_no_scope_param_means_the_whole_root(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = prune_page(root, monkeypatch, None)
    assert not at.exception
    assert "Scope: whole runs root" in texts(at, "markdown")
    assert {run for run, _ in files_shown(at)} == {A, C}


@pytest.mark.parametrize(
    "scope, why",
    [
        ("/etc", "absolute"),
        ("../..", "'..'"),
        ("cartpole/../../../etc", "'..'"),
        ("escape", "outside the runs root"),
        ("nope", "nothing called"),
        (A + "/metadata.json", "not a run"),
        ("a\\..\\b", "backslash"),
    ],
)
def test_scopes_outside_the_root_are_refused_with_a_message(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scope: str, why: str
) -> None:
    (root / "escape").symlink_to("/etc")
    at = prune_page(root, monkeypatch, scope)
    assert not at.exception
    errors = texts(at, "error")
    assert errors.startswith("Refused:")
    assert why in errors.replace("\\", "") or why in errors
    assert not at.dataframe  # nothing listed
    assert pv.OPEN_KEY not in button_keys(at)
    assert "passwd" not in texts(at)  # nothing outside the root was read or listed


@pytest.mark.parametrize(
    "bait",
    [
        "[x](http://example.com)![i](http://example.com/i.png)",
        "/a` ![i](http://example.com/i.png) `b",
    ],
)
def test_markdown_in_a_scope_is_not_rendered(
    root: Path, monkeypatch: pytest.MonkeyPatch, bait: str
) -> None:
    at = prune_page(root, monkeypatch, bait)
    with pytest.raises(RunlogError) as refusal:
        pv.check_scope(root, bait)
    assert texts(at, "error") == "Refused: " + md_code(str(refusal.value))
    assert not LINK_OR_IMAGE.search(outside_spans(texts(at, "error")))


# ----- read-only ----------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["env", "flag"])
def test_read_only_shows_the_preview_but_no_write_control(
    root: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    before = all_steps(root)
    if how == "flag":
        monkeypatch.setattr(sys, "argv", ["dashboard/app.py", "--read-only"])
        at = prune_page(root, monkeypatch, "")
    else:
        at = prune_page(root, monkeypatch, "", RUNLOG_READ_ONLY="1")
    assert not at.exception
    assert "Read-only mode: pruning is disabled" in texts(at, "info")
    assert files_shown(at)  # the preview itself writes nothing, so it is shown
    keys = button_keys(at)
    assert not {pv.OPEN_KEY, pv.CONFIRM_KEY, pv.CANCEL_KEY} & keys
    assert not any("Prune…" in b.label or "Delete" in b.label for b in at.button)
    assert not at.checkbox  # no override either
    # Even a forged flag cannot open the dialog in read-only mode.
    at.session_state[pv.DIALOG_KEY] = True
    at.run()
    assert pv.CONFIRM_KEY not in button_keys(at)
    assert all_steps(root) == before
