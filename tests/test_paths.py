"""runlog.format.paths: untrusted root-relative paths are resolved inside the root or refused."""

from __future__ import annotations

import os
import string
import tempfile
from pathlib import Path

import pytest
from budget import examples
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from runlog.errors import OutsideRootError, RunlogError
from runlog.format.paths import is_inside, resolve_inside
from runlog.format.rundirs import run_rel

# Names that are safe as one path segment: no separators, NUL, or surrogates.
_SEGMENT_CHARS = st.characters(
    blacklist_categories=("Cs",), blacklist_characters="/\\\x00:", max_codepoint=0x2FFF
)
safe_segment = st.text(_SEGMENT_CHARS, min_size=1, max_size=12).filter(
    lambda s: s not in {".", ".."} and s.strip() != ""
)
safe_relative = st.lists(safe_segment, min_size=1, max_size=5).map("/".join)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "runs"
    (r / "cartpole" / "v1" / "20260322_120000").mkdir(parents=True)
    return r


def test_run_path_from_url_resolves_inside(root: Path) -> None:
    got = resolve_inside(root, "cartpole/v1/20260322_120000")
    assert got == (root / "cartpole" / "v1" / "20260322_120000").resolve()


def test_path_object_is_accepted(root: Path) -> None:
    assert resolve_inside(root, Path("cartpole/v1")) == (root / "cartpole" / "v1").resolve()


def test_dot_is_the_root_itself(root: Path) -> None:
    assert resolve_inside(root, ".") == root.resolve()


def test_nonexistent_target_inside_is_accepted(root: Path) -> None:
    assert resolve_inside(root, "new/run") == root.resolve() / "new" / "run"


_EMPTY = "it is empty (use '.' for the root itself)"
_ABSOLUTE = "it is absolute; give a path relative to the runs root"
_DOTDOT = "it contains a '..' segment"
_BACKSLASH = "it contains a backslash"
_DRIVE = "it starts with a drive letter; give a path relative to the runs root"


@pytest.mark.parametrize(
    ("candidate", "why"),
    [
        ("", _EMPTY),
        ("   ", _EMPTY),
        ("/etc/passwd", _ABSOLUTE),
        ("//server/share", _ABSOLUTE),
        ("..", _DOTDOT),
        ("cartpole/../..", _DOTDOT),
        ("cartpole/v1/../../../etc", _DOTDOT),
        ("cartpole/v1/..", _DOTDOT),
        ("cartpole\x00/v1", "it contains a NUL byte"),
        ("..\\..\\etc", _BACKSLASH),
        ("cartpole\\v1", _BACKSLASH),
        ("C:/Windows", _DRIVE),
        ("c:evil", _DRIVE),
    ],
)
def test_unsafe_candidates_are_refused_with_a_reason(root: Path, candidate: str, why: str) -> None:
    """The whole message: what was refused and why, in words a user can act on."""
    with pytest.raises(OutsideRootError) as info:
        resolve_inside(root, candidate)
    assert str(info.value) == f"refusing path {candidate!r}: {why}"


def test_outside_root_error_is_a_runlog_error(root: Path) -> None:
    with pytest.raises(RunlogError):
        resolve_inside(root, "../x")


def test_symlink_leaving_root_is_refused(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "escape").symlink_to(outside)
    with pytest.raises(OutsideRootError) as info:
        resolve_inside(root, "escape/run")
    assert str(outside.resolve()) in str(info.value)
    assert "outside the runs root" in str(info.value)


def test_dangling_absolute_symlink_leaving_root_is_refused(root: Path) -> None:
    (root / "cartpole" / "gone").symlink_to("/nonexistent-runlog-target")
    with pytest.raises(OutsideRootError):
        resolve_inside(root, "cartpole/gone")


def test_symlink_staying_inside_is_accepted_and_resolved(root: Path) -> None:
    (root / "alias").symlink_to(root / "cartpole" / "v1")
    got = resolve_inside(root, "alias/20260322_120000")
    assert got == (root / "cartpole" / "v1" / "20260322_120000").resolve()


def test_relative_symlink_climbing_out_is_refused(root: Path) -> None:
    (root / "cartpole" / "up").symlink_to("../../..")
    with pytest.raises(OutsideRootError):
        resolve_inside(root, "cartpole/up")


def test_symlink_loop_is_refused_not_crashing(root: Path) -> None:
    (root / "a").symlink_to(root / "b")
    (root / "b").symlink_to(root / "a")
    with pytest.raises(OutsideRootError):
        resolve_inside(root, "a/x")
    assert is_inside(root, root / "a") is False


def test_refusals_after_resolving_name_the_candidate_and_the_reason(
    root: Path, tmp_path: Path
) -> None:
    (root / "a").symlink_to(root / "b")
    (root / "b").symlink_to(root / "a")
    (root / "escape").symlink_to(tmp_path)
    for candidate, why in [("a/x", "cannot be resolved under"), ("escape/run", "outside the runs")]:
        with pytest.raises(OutsideRootError) as info:
            resolve_inside(root, candidate)
        assert str(info.value).startswith(f"refusing path {candidate!r}: it ")
        assert why in str(info.value)


def test_root_given_through_a_symlink(tmp_path: Path, root: Path) -> None:
    alias = tmp_path / "alias_root"
    alias.symlink_to(root)
    got = resolve_inside(alias, "cartpole/v1")
    assert got == (root / "cartpole" / "v1").resolve()
    assert run_rel(alias, got) == "cartpole/v1"


def test_is_inside(root: Path, tmp_path: Path) -> None:
    assert is_inside(root, root)
    assert is_inside(root, root / "cartpole" / "v1")
    assert not is_inside(root, tmp_path)
    # A sibling sharing the root's name as a prefix is not inside it.
    sibling = tmp_path / "runs_other"
    sibling.mkdir()
    assert not is_inside(root, sibling)
    assert not is_inside(root, root / ".." / "runs_other")


def test_run_rel_uses_forward_slashes(root: Path) -> None:
    run = root / "cartpole" / "v1" / "20260322_120000"
    assert run_rel(root, run) == "cartpole/v1/20260322_120000"


def test_run_rel_outside_root_raises(root: Path, tmp_path: Path) -> None:
    with pytest.raises(OutsideRootError) as info:
        run_rel(root, tmp_path)
    assert str(tmp_path) in str(info.value)


# ---------------------------------------------------------------- properties


@settings(max_examples=examples(150), deadline=None)
@given(
    before=st.lists(safe_segment, max_size=3),
    after=st.lists(safe_segment, max_size=3),
    dots=st.sampled_from(["..", "../..", "../../../.."]),
)
def test_any_dotdot_segment_is_refused(before: list[str], after: list[str], dots: str) -> None:
    candidate = "/".join([*before, dots, *after])
    with tempfile.TemporaryDirectory() as tmp, pytest.raises(OutsideRootError) as info:
        resolve_inside(Path(tmp), candidate)
    assert "'..'" in str(info.value)


@settings(max_examples=examples(100), deadline=None)
@given(rel=safe_relative)
def test_any_absolute_path_is_refused(rel: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        # Even an absolute path that points inside the root: callers must send relative ones.
        for candidate in ("/" + rel, str(root / rel)):
            with pytest.raises(OutsideRootError) as info:
                resolve_inside(root, candidate)
            assert "absolute" in str(info.value)


@settings(max_examples=examples(150), deadline=None)
@given(rel=safe_relative)
def test_any_safe_relative_path_is_accepted_and_inside(rel: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        got = resolve_inside(root, rel)
        assert got.is_relative_to(root.resolve())
        assert is_inside(root, got)
        # Lexically the same path: nothing was dropped or reinterpreted.
        assert got == root.resolve().joinpath(*[s for s in rel.split("/") if s != "."])


@settings(max_examples=examples(200), deadline=None)
@given(candidate=st.text(st.sampled_from([*string.printable, "\x00", "é", "\ud800"]), max_size=20))
def test_any_text_is_inside_or_refused_never_another_error(candidate: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        try:
            got = resolve_inside(root, candidate)
        except OutsideRootError:
            return
        assert got.is_relative_to(root.resolve())
        assert ".." not in candidate.split("/")
        assert not os.path.isabs(candidate)


@settings(max_examples=examples(60), deadline=None)
@given(link_parts=st.lists(safe_segment, min_size=1, max_size=3), rest=safe_relative)
def test_symlinks_decide_by_target(link_parts: list[str], rest: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        assume(link_parts[0] != "inside")
        base = Path(tmp)
        root = base / "root"
        inside = root / "inside"
        inside.mkdir(parents=True)
        outside = base / "outside"
        outside.mkdir()
        link_dir = root.joinpath(*link_parts[:-1])
        link_dir.mkdir(parents=True, exist_ok=True)
        link = link_dir / link_parts[-1]
        rel_link = "/".join(link_parts)

        link.symlink_to(outside)
        with pytest.raises(OutsideRootError):
            resolve_inside(root, f"{rel_link}/{rest}")

        link.unlink()
        link.symlink_to(inside)
        got = resolve_inside(root, f"{rel_link}/{rest}")
        assert got.is_relative_to(inside.resolve())
