"""resolve.py: FORMAT.md's resume rule, kept exactly (string order, any subdirectory)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from budget import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from runlog.errors import MetadataError, ResolveError
from runlog.format.metadata import read_metadata
from runlog.format.records import RunMetadata, encode_metadata
from runlog.format.resolve import resolve_run, resolve_run_dir


def make_run(run_dir: Path, *, metadata: str | None = None) -> Path:
    run_dir.mkdir(parents=True)
    (run_dir / "checkpoints").mkdir()
    if metadata is None:
        parts = run_dir.parts
        metadata = encode_metadata(
            RunMetadata(
                parts[-3],
                parts[-2],
                parts[-1],
                0,
                0,
                "2026-03-22T12:00:00+01:00",
                "2026-03-22T12:00:00+01:00",
            )
        )
    (run_dir / "metadata.json").write_text(metadata)
    return run_dir


def test_a_run_directory_resolves_to_itself(tmp_path: Path) -> None:
    run = make_run(tmp_path / "cartpole" / "v1" / "20260322_120000")
    assert resolve_run(run) == run
    assert resolve_run(str(run)) == run


def test_name_dir_takes_greatest_version_then_greatest_run_id(tmp_path: Path) -> None:
    make_run(tmp_path / "cartpole" / "v1" / "20260322_130000")
    make_run(tmp_path / "cartpole" / "v2" / "20260322_110000")
    newest_v2 = make_run(tmp_path / "cartpole" / "v2" / "20260322_120000")
    assert resolve_run(tmp_path / "cartpole") == newest_v2
    assert resolve_run(tmp_path) == newest_v2


def test_string_order_v2_beats_v10_and_v1_beats_ppo(tmp_path: Path) -> None:
    make_run(tmp_path / "cartpole" / "v10" / "20260401_000000")
    make_run(tmp_path / "cartpole" / "ppo" / "20260501_000000")
    v2 = make_run(tmp_path / "cartpole" / "v2" / "20260101_000000")
    assert resolve_run(tmp_path / "cartpole") == v2


def test_suffixed_same_second_run_ids_sort_after_the_first(tmp_path: Path) -> None:
    make_run(tmp_path / "c" / "v1" / "20260322_120000")
    second = make_run(tmp_path / "c" / "v1" / "20260322_120000_01")
    assert resolve_run(tmp_path / "c" / "v1") == second


def test_run_without_metadata_descends_into_checkpoints_and_says_so(tmp_path: Path) -> None:
    broken = tmp_path / "cartpole" / "v1" / "20260322_120000"
    (broken / "checkpoints").mkdir(parents=True)
    (broken / "train_episodes.jsonl").write_text("")
    with pytest.raises(ResolveError) as info:
        resolve_run(tmp_path / "cartpole")
    message = str(info.value)
    assert f"{broken} looks like a run directory but has no metadata.json" in message
    assert str(broken / "checkpoints") in message
    assert "Restore" in message


def test_dead_end_error_explains_string_order(tmp_path: Path) -> None:
    make_run(tmp_path / "cartpole" / "v10" / "20260322_120000")
    (tmp_path / "cartpole" / "v2").mkdir()
    with pytest.raises(ResolveError) as info:
        resolve_run(tmp_path / "cartpole")
    message = str(info.value)
    assert str(tmp_path / "cartpole" / "v2") in message
    assert "'v10' sorts before 'v2'" in message


def test_empty_directory_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ResolveError, match=r"no metadata\.json and no subdirectory") as info:
        resolve_run(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_missing_path_and_file_path_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ResolveError, match="does not exist"):
        resolve_run(tmp_path / "nope")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ResolveError, match="not a directory"):
        resolve_run(tmp_path / "file.txt")


def test_files_do_not_count_as_subdirectories(tmp_path: Path) -> None:
    run = make_run(tmp_path / "c" / "v1" / "a")
    (tmp_path / "c" / "v1" / "zzz.txt").write_text("not a run")
    assert resolve_run(tmp_path / "c") == run


def test_symlinked_directories_count_as_subdirectories(tmp_path: Path) -> None:
    real = make_run(tmp_path / "elsewhere" / "v9" / "r1")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "zz").symlink_to(real.parent, target_is_directory=True)
    make_run(tmp_path / "c" / "aa" / "r0")
    assert resolve_run(tmp_path / "c") == tmp_path / "c" / "zz" / "r1"


def test_corrupt_metadata_is_a_metadata_error_naming_the_file(tmp_path: Path) -> None:
    run = make_run(tmp_path / "c" / "v1" / "r", metadata="[1, 2, 3]")
    assert resolve_run_dir(tmp_path / "c") == run  # the rule itself only checks existence
    with pytest.raises(MetadataError) as info:
        resolve_run(tmp_path / "c")
    assert str(run / "metadata.json") in str(info.value)


def test_metadata_json_that_is_a_directory_is_reported(tmp_path: Path) -> None:
    (tmp_path / "r" / "metadata.json").mkdir(parents=True)
    with pytest.raises(MetadataError, match="is a directory"):
        resolve_run(tmp_path / "r")


def test_read_metadata_retries_a_file_caught_mid_rewrite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = make_run(tmp_path / "c" / "v1" / "r")
    good = (run / "metadata.json").read_text()
    reads = iter(["", good[:30], good])
    monkeypatch.setattr(Path, "read_text", lambda self, encoding=None: next(reads))
    monkeypatch.setattr("runlog.format.metadata.time.sleep", lambda seconds: None)
    assert read_metadata(run).run_id == "r"


def test_read_metadata_gives_up_on_a_file_that_stays_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = make_run(tmp_path / "c" / "v1" / "r", metadata="")
    sleeps: list[float] = []
    monkeypatch.setattr("runlog.format.metadata.time.sleep", sleeps.append)
    with pytest.raises(MetadataError, match="is empty"):
        read_metadata(run, attempts=3, delay=0.01)
    assert sleeps == [0.01, 0.01]


def test_read_metadata_does_not_retry_a_wrong_shape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = make_run(tmp_path / "c" / "v1" / "r", metadata='{"name": 1}')
    sleeps: list[float] = []
    monkeypatch.setattr("runlog.format.metadata.time.sleep", sleeps.append)
    with pytest.raises(MetadataError, match="lacks the field"):
        read_metadata(run)
    assert sleeps == []


SAMPLES = Path(__file__).resolve().parent.parent / "sample_runs"


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="sample_runs/ not generated")
def test_sample_runs_resolve_to_the_newest_v2_run() -> None:
    assert resolve_run(SAMPLES / "cartpole") == SAMPLES / "cartpole" / "v2" / "20260322_141505"
    assert resolve_run(SAMPLES) == SAMPLES / "lunarlander" / "v2" / "20260329_013301"


# -- property: the rule on generated trees, against a model of it --------------------------

NAMES = [
    "v1",
    "v2",
    "v10",
    "ppo",
    "20260322_120000",
    "20260322_120000_01",
    "checkpoints",
    "B",
    "a",
    "_x",
    "é",
]

Tree = dict[str, Any]  # name -> (has_metadata, children)

trees: st.SearchStrategy[Tree] = st.recursive(
    st.just({}),
    lambda children: st.dictionaries(
        st.sampled_from(NAMES), st.tuples(st.booleans(), children), max_size=4
    ),
    max_leaves=12,
)


def build(directory: Path, tree: Tree) -> None:
    for name, (has_metadata, children) in tree.items():
        (directory / name).mkdir()
        if has_metadata:
            (directory / name / "metadata.json").write_text("{}")
        build(directory / name, children)


def model(tree: Tree, has_metadata: bool) -> list[str] | None:
    """The names the rule walks through, or None for 'no subdirectory' at some point."""
    if has_metadata:
        return []
    if not tree:
        return None
    greatest = max(tree, key=lambda name: name.encode("utf-8"))
    rest = model(tree[greatest][1], tree[greatest][0])
    return None if rest is None else [greatest, *rest]


@settings(max_examples=examples(60), deadline=None)
@given(trees, st.booleans())
def test_resolve_follows_the_rule_on_any_tree(tree: Tree, root_has_metadata: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build(root, tree)
        if root_has_metadata:
            (root / "metadata.json").write_text("{}")
        expected = model(tree, root_has_metadata)
        if expected is None:
            with pytest.raises(ResolveError, match="no run found"):
                resolve_run_dir(root)
        else:
            assert resolve_run_dir(root) == root.joinpath(*expected)


# ---------------------------------------------------------------- dead ends, word for word


def _dead_end(start: Path) -> str:
    with pytest.raises(ResolveError) as info:
        resolve_run_dir(start)
    return str(info.value)


def test_dead_ends_are_explained_with_the_path_the_rule_took(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    give = "Give a run directory, or a name, version or root directory containing runs"
    assert (
        _dead_end(empty)
        == f"no run found: {empty} has no metadata.json and no subdirectory. {give}"
    )

    lone_log = tmp_path / "lone_log"
    lone_log.mkdir()
    (lone_log / "train_episodes.jsonl").write_text("")
    assert _dead_end(lone_log) == (
        f"no run found: {lone_log} has train_episodes.jsonl but no metadata.json. "
        f"Restore {lone_log / 'metadata.json'}, or point at another run"
    )

    name = tmp_path / "cartpole"
    (name / "v1" / "r0").mkdir(parents=True)
    (name / "v2" / "r1").mkdir(parents=True)
    assert _dead_end(name) == (
        f"no run found: {name / 'v2' / 'r1'} has no metadata.json and no subdirectory "
        f"(from {name} the rule took v2/ of 2 subdirectories -> r1/). {give}"
    )

    # A run directory that lost metadata.json and has no log: its checkpoints/ gives it away.
    run = tmp_path / "lunar" / "v1" / "r2"
    (run / "checkpoints").mkdir(parents=True)
    assert _dead_end(run) == (
        f"no run found: {run} looks like a run directory but has no metadata.json, so the "
        f"resume rule descended into {run / 'checkpoints'}, which has no subdirectory "
        f"(from {run} the rule took checkpoints/). "
        f"Restore {run / 'metadata.json'}, or point at another run"
    )


def test_undecodable_names_sort_by_their_bytes_as_in_rust(tmp_path: Path) -> None:
    # b"\xff" is no UTF-8 (Python sees "\udcff"); the crate compares the raw bytes, where
    # 0xff is greater than "\ue000" (0xee 0x80 0x80), though "\udcff" < "\ue000" as str.
    (tmp_path / "\ue000" / "r").mkdir(parents=True)
    raw = os.fsdecode(b"\xff")
    make_run(tmp_path / raw / "v" / "r")
    assert resolve_run_dir(tmp_path) == tmp_path / raw / "v" / "r"


def test_a_directory_that_cannot_be_listed_is_named_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def denied(path: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "scandir", denied)
    assert _dead_end(tmp_path) == f"cannot list {tmp_path}: Permission denied"
