"""runlog.prune: planning is pure data; applying re-plans and deletes only what is unchanged."""

from __future__ import annotations

import os
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from budget import examples
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import runlog.prune as prune_mod
from runlog.errors import OutsideRootError, PruneError
from runlog.format.layout import parse_checkpoint_step
from runlog.prune import (
    CheckpointFile,
    PrunePlan,
    apply_prune,
    apply_prune_plans,
    plan_prune,
    plan_prune_tree,
)
from runlog.read.activity import last_write

RUN_ID = "20260322_120000"
JUNK = [
    "step_5.mpk.tmp",
    "step_.mpk",
    "step_-1.mpk",
    "Step_5.mpk",
    "step_5.MPK",
    "step_5",
    "notes.txt",
    "step_\u0665.mpk",  # ARABIC-INDIC DIGIT FIVE: not an ASCII number
    "step_5.mpk ",
    "step_0x5.mpk",
    ".step_5.mpk",
]


# ---------------------------------------------------------------- helpers


def make_run(
    root: Path,
    steps: list[int] | None = None,
    *,
    name: str = "cartpole",
    version: str = "v1",
    run_id: str = RUN_ID,
    extra: tuple[str, ...] = ("latest.mpk", "best.mpk"),
) -> Path:
    run = root / name / version / run_id
    ckpt = run / "checkpoints"
    ckpt.mkdir(parents=True)
    (run / "metadata.json").write_text('{"name": "x"}')
    for n in steps or []:
        write_ckpt(ckpt / f"step_{n}.mpk", n)
    for other in extra:
        (ckpt / other).write_bytes(b"keep me")
    return run


def write_ckpt(path: Path, n: int) -> None:
    path.write_bytes(b"w" * (n % 37 + 1))


def names(run: Path) -> set[str]:
    return {p.name for p in (run / "checkpoints").iterdir()}


def step_names(files: tuple[CheckpointFile, ...]) -> set[str]:
    return {f.path.name for f in files}


@pytest.fixture(params=["dir_fd", "paths"])
def access(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run a test both through a directory descriptor and through plain paths."""
    if request.param == "paths":
        monkeypatch.setattr(prune_mod, "_USE_DIR_FD", False)
    elif not prune_mod._USE_DIR_FD:
        pytest.skip("this platform has no dir_fd support")
    yield request.param


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "runs"
    r.mkdir()
    return r


# ---------------------------------------------------------------- planning


def test_keeps_the_k_largest_steps_sorted_as_numbers(root: Path, access: str) -> None:
    run = make_run(root, [9, 10, 100, 2, 1000, 11])
    plan = plan_prune(run, 3)
    assert [f.step for f in plan.keep_files] == [1000, 100, 11]
    assert [f.step for f in plan.delete] == [10, 9, 2]
    assert plan.skipped_reason is None
    assert plan.files == 3
    assert plan.bytes_freed == sum((n % 37 + 1) for n in (10, 9, 2))
    assert all(f.path == run / "checkpoints" / f"step_{f.step}.mpk" for f in plan.delete)


def test_planning_writes_nothing(root: Path) -> None:
    run = make_run(root, [1, 2, 3])
    before = names(run)
    plan_prune(run, 0)
    assert names(run) == before


def test_checkpoint_identity_comes_from_lstat(root: Path) -> None:
    run = make_run(root, [4])
    (f,) = plan_prune(run, 0).delete
    st = os.lstat(run / "checkpoints" / "step_4.mpk")
    assert (f.inode, f.size, f.mtime_ns) == (st.st_ino, st.st_size, st.st_mtime_ns)


def test_latest_best_and_non_matching_names_are_never_candidates(root: Path, access: str) -> None:
    run = make_run(root, [1, 2], extra=("latest.mpk", "best.mpk", *JUNK))
    plan = plan_prune(run, 0)
    assert step_names(plan.delete) == {"step_1.mpk", "step_2.mpk"}
    assert plan.keep_files == ()
    result = apply_prune(plan)
    assert names(run) == {"latest.mpk", "best.mpk", *JUNK}
    assert set(result.deleted) == {f.path for f in plan.delete}


def test_a_directory_named_like_a_checkpoint_is_not_a_candidate(root: Path) -> None:
    run = make_run(root, [1, 2])
    (run / "checkpoints" / "step_99.mpk").mkdir()
    plan = plan_prune(run, 1)
    assert [f.step for f in plan.keep_files] == [2]
    assert step_names(plan.delete) == {"step_1.mpk"}


def test_equal_numbers_are_ranked_deterministically(root: Path) -> None:
    run = make_run(root, [7])
    write_ckpt(run / "checkpoints" / "step_007.mpk", 7)
    write_ckpt(run / "checkpoints" / "step_07.mpk", 7)
    plan = plan_prune(run, 1)
    # The canonical name (what ember-rl writes) ranks above zero-padded twins.
    assert step_names(plan.keep_files) == {"step_7.mpk"}
    assert step_names(plan.delete) == {"step_07.mpk", "step_007.mpk"}
    assert [f.path.name for f in plan_prune(run, 2).keep_files] == ["step_7.mpk", "step_07.mpk"]


def test_keep_larger_than_count_deletes_nothing(root: Path) -> None:
    run = make_run(root, [1, 2])
    plan = plan_prune(run, 5)
    assert plan.delete == ()
    assert len(plan.keep_files) == 2
    assert plan.bytes_freed == 0


@pytest.mark.parametrize("keep", [-1, True, 1.5, "3"])
def test_bad_keep_is_a_prune_error(root: Path, keep: Any) -> None:
    run = make_run(root, [1])
    with pytest.raises(PruneError, match="keep must be"):
        plan_prune(run, keep)
    with pytest.raises(PruneError, match="keep must be"):
        plan_prune_tree(root, keep)


def test_missing_run_dir_is_a_prune_error_naming_it(root: Path) -> None:
    missing = root / "nope"
    with pytest.raises(PruneError, match="nope"):
        plan_prune(missing, 1)


def test_run_without_checkpoints_dir_gives_an_empty_plan(root: Path) -> None:
    run = root / "cartpole" / "v1" / RUN_ID
    run.mkdir(parents=True)
    plan = plan_prune(run, 0)
    assert (plan.delete, plan.keep_files, plan.skipped_reason) == ((), (), None)


def test_checkpoints_that_is_a_file_is_skipped(root: Path, access: str) -> None:
    run = root / "cartpole" / "v1" / RUN_ID
    run.mkdir(parents=True)
    (run / "checkpoints").write_text("not a dir")
    plan = plan_prune(run, 0)
    assert plan.delete == ()
    assert plan.skipped_reason is not None
    assert "not a directory" in plan.skipped_reason
    assert str(run / "checkpoints") in plan.skipped_reason


def test_run_dir_outside_root_is_refused(root: Path, tmp_path: Path) -> None:
    run = make_run(tmp_path / "elsewhere", [1, 2])
    with pytest.raises(OutsideRootError, match="outside the runs root"):
        plan_prune(run, 0, root=root)
    with pytest.raises(OutsideRootError):
        plan_prune_tree(tmp_path / "elsewhere", 0, root=root)
    assert len(names(run)) == 4


def test_run_dir_reached_through_a_symlink_leaving_root_is_refused(
    root: Path, tmp_path: Path
) -> None:
    real = make_run(tmp_path / "elsewhere", [1, 2])
    (root / "link").symlink_to(real)
    with pytest.raises(OutsideRootError):
        plan_prune(root / "link", 0, root=root)


# ---------------------------------------------------------------- symlinks


def test_checkpoints_symlinked_outside_root_is_refused(
    root: Path, tmp_path: Path, access: str
) -> None:
    outside = tmp_path / "big_disk" / "ckpts"
    outside.mkdir(parents=True)
    for n in (1, 2, 3):
        write_ckpt(outside / f"step_{n}.mpk", n)
    run = root / "cartpole" / "v1" / RUN_ID
    run.mkdir(parents=True)
    (run / "checkpoints").symlink_to(outside)

    plan = plan_prune(run, 0, root=root)
    assert plan.delete == ()
    assert plan.keep_files == ()
    assert plan.skipped_reason is not None
    assert "outside the runs root" in plan.skipped_reason
    assert str(outside.resolve()) in plan.skipped_reason
    assert apply_prune(plan, root=root).deleted == ()

    # A plan made without the root (it would follow the link) is still refused at apply
    # time when the root is given: nothing outside is touched.
    unguarded = plan_prune(run, 0)
    assert len(unguarded.delete) == 3
    result = apply_prune(unguarded, root=root)
    assert result.deleted == ()
    assert {p for p, _ in result.skipped} == {f.path for f in unguarded.delete}
    assert all("outside the runs root" in why for _, why in result.skipped)
    assert sorted(p.name for p in outside.iterdir()) == ["step_1.mpk", "step_2.mpk", "step_3.mpk"]


def test_checkpoints_symlinked_inside_root_is_pruned(root: Path, access: str) -> None:
    store = root / "_store" / "ckpts"
    store.mkdir(parents=True)
    for n in (1, 2, 3):
        write_ckpt(store / f"step_{n}.mpk", n)
    run = root / "cartpole" / "v1" / RUN_ID
    run.mkdir(parents=True)
    (run / "checkpoints").symlink_to(store)
    plan = plan_prune(run, 1, root=root)
    assert plan.skipped_reason is None
    result = apply_prune(plan, root=root)
    assert len(result.deleted) == 2
    assert [p.name for p in store.iterdir()] == ["step_3.mpk"]


def test_dangling_checkpoints_symlink_is_skipped(root: Path, access: str) -> None:
    run = root / "cartpole" / "v1" / RUN_ID
    run.mkdir(parents=True)
    (run / "checkpoints").symlink_to(root / "missing")
    plan = plan_prune(run, 0, root=root)
    assert plan.skipped_reason is not None
    assert str(run / "checkpoints") in plan.skipped_reason


def test_symlinked_checkpoint_is_removed_as_a_link_and_its_target_survives(
    root: Path, tmp_path: Path, access: str
) -> None:
    run = make_run(root, [5, 6])
    target = tmp_path / "precious.bin"
    target.write_bytes(b"p" * 1000)
    link = run / "checkpoints" / "step_1.mpk"
    link.symlink_to(target)
    plan = plan_prune(run, 2, root=root)
    (planned,) = plan.delete
    assert planned.path == link
    assert planned.size == os.lstat(link).st_size != 1000  # the link's own size
    result = apply_prune(plan, root=root)
    assert result.deleted == (link,)
    assert not os.path.lexists(link)
    assert target.read_bytes() == b"p" * 1000


def test_symlink_to_a_directory_is_unlinked_not_recursed(root: Path, tmp_path: Path) -> None:
    run = make_run(root, [5])
    keepsake = tmp_path / "dir"
    keepsake.mkdir()
    (keepsake / "inner.txt").write_text("x")
    (run / "checkpoints" / "step_1.mpk").symlink_to(keepsake)
    result = apply_prune(plan_prune(run, 1))
    assert result.deleted == (run / "checkpoints" / "step_1.mpk",)
    assert (keepsake / "inner.txt").read_text() == "x"


def test_a_plan_names_every_symlink_it_goes_through_and_where_it_leads(
    root: Path, tmp_path: Path
) -> None:
    store = tmp_path / "big_disk"
    store.mkdir()
    for n in (1, 2, 3):
        write_ckpt(store / f"step_{n}.mpk", n)
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"w")
    (store / "step_0.mpk").symlink_to(weights)
    run = root / "cartpole" / "v1" / RUN_ID
    run.mkdir(parents=True)
    (run / "checkpoints").symlink_to(store)
    link = run / "checkpoints"

    plan = plan_prune(run, 2)  # no root: the link is followed
    zero, one = sorted(plan.delete, key=lambda f: f.step)
    assert plan.checkpoints_target == store.resolve()
    assert (zero.target, one.target) == (weights.resolve(), None)
    assert plan.links == ((link, store.resolve()), (zero.path, weights.resolve()))
    assert plan.real_path(one) == store.resolve() / "step_1.mpk"
    assert plan.real_path(zero) == weights.resolve()
    assert plan.links_outside(root) == plan.links  # both lead out of the runs root
    assert plan.links_outside(tmp_path) == ()

    # With the root as boundary the run is refused, and the plan still says which link.
    guarded = plan_prune(run, 2, root=root)
    assert guarded.delete == () and guarded.skipped_reason is not None
    assert guarded.links_outside(root) == ((link, store.resolve()),)
    assert len(list(store.iterdir())) == 4


@pytest.mark.parametrize("apply_root", ["given", "from the plan"])
def test_checkpoints_swapped_for_outside_symlink_after_preview(
    root: Path, tmp_path: Path, access: str, apply_root: str
) -> None:
    run = make_run(root, [1, 2, 3])
    plan = plan_prune(run, 1, root=root)
    outside = tmp_path / "outside"
    outside.mkdir()
    for n in (1, 2, 3):
        write_ckpt(outside / f"step_{n}.mpk", n)
    (run / "checkpoints").rename(run / "moved")
    (run / "checkpoints").symlink_to(outside)
    result = apply_prune(plan, root=root if apply_root == "given" else None)
    assert result.deleted == ()
    assert len(result.skipped) == 2
    assert len(list(outside.iterdir())) == 3
    assert len(list((run / "moved").iterdir())) == 5


def _swap_around_open(
    monkeypatch: pytest.MonkeyPatch, ckpt: Path, outside: Path, *, swap_back: bool
) -> None:
    """Swap `ckpt` for a symlink to `outside` just before the checkpoints dir is opened."""
    real_open = os.open
    parked = ckpt.with_name("parked")

    def racing_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if Path(os.fspath(path)) == ckpt and not os.path.islink(ckpt):
            ckpt.rename(parked)
            ckpt.symlink_to(outside)
            fd = real_open(path, flags, *args, **kwargs)
            if swap_back:
                ckpt.unlink()
                parked.rename(ckpt)
            return fd
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", racing_open)


@pytest.mark.parametrize("swap_back", [False, True])
def test_checkpoints_swapped_while_being_opened_is_refused(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, swap_back: bool
) -> None:
    if not prune_mod._USE_DIR_FD:
        pytest.skip("needs dir_fd support")
    run = make_run(root, [1, 2, 3])
    outside = tmp_path / "outside"
    outside.mkdir()
    for n in (1, 2, 3):
        write_ckpt(outside / f"step_{n}.mpk", n)
    plan = plan_prune(run, 0, root=root)
    _swap_around_open(monkeypatch, run / "checkpoints", outside, swap_back=swap_back)
    result = apply_prune(plan)
    assert result.deleted == ()
    expected = "changed while it was being checked" if swap_back else "outside the runs root"
    assert all(expected in why for _, why in result.skipped)
    assert len(result.skipped) == 3
    assert len(list(outside.iterdir())) == 3


@pytest.mark.parametrize("swap_back", [False, True])
def test_plan_refuses_checkpoints_swapped_while_being_opened(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, swap_back: bool
) -> None:
    if not prune_mod._USE_DIR_FD:
        pytest.skip("needs dir_fd support")
    run = make_run(root, [1, 2, 3])
    outside = tmp_path / "outside"
    outside.mkdir()
    write_ckpt(outside / "step_1.mpk", 1)
    _swap_around_open(monkeypatch, run / "checkpoints", outside, swap_back=swap_back)
    plan = plan_prune(run, 0, root=root)
    assert plan.delete == ()
    expected = "changed while it was being checked" if swap_back else "outside the runs root"
    assert plan.skipped_reason is not None and expected in plan.skipped_reason


# ---------------------------------------------------------------- live runs


def test_live_run_is_skipped_unless_overridden(root: Path) -> None:
    run = make_run(root, [1, 2, 3])
    wrote = last_write(run)
    assert wrote is not None
    plan = plan_prune(run, 1, include_live=False, live_window=30, now=wrote + 5)
    assert plan.delete == ()
    assert plan.skipped_reason == (
        "run is live (wrote 5 s ago); tick the override to prune it anyway"
    )
    assert plan.files == 0
    overridden = plan_prune(run, 1, include_live=True, live_window=30, now=wrote + 5)
    assert overridden.files == 2
    finished = plan_prune(run, 1, include_live=False, live_window=30, now=wrote + 31)
    assert finished.files == 2


def test_run_that_turned_live_after_preview_is_not_pruned(root: Path) -> None:
    run = make_run(root, [1, 2, 3])
    wrote = last_write(run)
    assert wrote is not None
    plan = plan_prune(run, 1, include_live=False, live_window=30, now=wrote + 60)
    assert plan.files == 2
    result = apply_prune(plan, now=wrote + 10)
    assert result.deleted == ()
    assert all("run is live" in why for _, why in result.skipped)
    assert len(names(run)) == 5


# ---------------------------------------------------------------- applying


def test_apply_deletes_the_plan(root: Path, access: str) -> None:
    run = make_run(root, [1, 2, 3, 4])
    plan = plan_prune(run, 2, root=root)
    result = apply_prune(plan)
    assert result.run_dir == run
    assert set(result.deleted) == {f.path for f in plan.delete}
    assert result.failed == ()
    assert result.skipped == ()
    assert result.bytes_freed == plan.bytes_freed
    assert names(run) == {"step_3.mpk", "step_4.mpk", "latest.mpk", "best.mpk"}


def test_apply_of_an_empty_plan_touches_nothing(root: Path) -> None:
    run = make_run(root, [1])
    result = apply_prune(plan_prune(run, 1))
    assert (result.deleted, result.failed, result.skipped, result.bytes_freed) == ((), (), (), 0)
    assert "step_1.mpk" in names(run)


def test_new_checkpoint_between_preview_and_apply(root: Path, access: str) -> None:
    run = make_run(root, [1, 2, 3, 4, 5])
    plan = plan_prune(run, 2)
    assert step_names(plan.delete) == {"step_1.mpk", "step_2.mpk", "step_3.mpk"}
    write_ckpt(run / "checkpoints" / "step_6.mpk", 6)
    result = apply_prune(plan)
    assert {p.name for p in result.deleted} == {"step_1.mpk", "step_2.mpk", "step_3.mpk"}
    # step_4 fell out of the keep set, but it was not in the preview: it stays.
    assert {"step_4.mpk", "step_5.mpk", "step_6.mpk"} <= names(run)


def test_file_that_joined_the_keep_set_is_not_deleted(root: Path, access: str) -> None:
    run = make_run(root, [1, 2, 3, 4, 5])
    plan = plan_prune(run, 2)
    (run / "checkpoints" / "step_5.mpk").unlink()  # someone else removed the newest
    result = apply_prune(plan)
    assert {p.name for p in result.deleted} == {"step_1.mpk", "step_2.mpk"}
    (skip,) = result.skipped
    assert skip[0].name == "step_3.mpk"
    assert "now among the 2 checkpoints to keep" in skip[1]
    assert names(run) == {"step_3.mpk", "step_4.mpk", "latest.mpk", "best.mpk"}


def test_replaced_file_is_skipped(root: Path, access: str) -> None:
    run = make_run(root, [1, 2, 3])
    plan = plan_prune(run, 1)
    victim = run / "checkpoints" / "step_1.mpk"
    tmp = run / "checkpoints" / "step_1.mpk.tmp"
    write_ckpt(tmp, 1)
    os.replace(tmp, victim)  # same name, new inode, same size
    result = apply_prune(plan)
    assert [p.name for p in result.deleted] == ["step_2.mpk"]
    assert result.skipped == ((victim, "not deleted: replaced or rewritten since the preview"),)
    assert victim.exists()


def _after_replan(monkeypatch: pytest.MonkeyPatch, action: Callable[[], None]) -> None:
    """Run `action` right after apply_prune's re-plan, i.e. inside the race window."""
    real_plan = prune_mod.plan_prune

    def plan_then_act(*args: Any, **kwargs: Any) -> PrunePlan:
        fresh = real_plan(*args, **kwargs)
        action()
        return fresh

    monkeypatch.setattr(prune_mod, "plan_prune", plan_then_act)


def test_file_replaced_after_the_replan_is_still_caught(
    root: Path, monkeypatch: pytest.MonkeyPatch, access: str
) -> None:
    run = make_run(root, [1, 2, 3])
    plan = plan_prune(run, 1)
    victim = run / "checkpoints" / "step_1.mpk"

    def replace() -> None:
        tmp = victim.with_name("incoming.tmp")
        write_ckpt(tmp, 1)
        os.replace(tmp, victim)

    _after_replan(monkeypatch, replace)
    result = apply_prune(plan)
    assert [p.name for p in result.deleted] == ["step_2.mpk"]
    assert result.skipped == ((victim, "not deleted: replaced or rewritten since the preview"),)
    assert victim.exists()


def test_file_vanishing_after_the_replan_is_skipped(
    root: Path, monkeypatch: pytest.MonkeyPatch, access: str
) -> None:
    run = make_run(root, [1, 2, 3])
    plan = plan_prune(run, 1)
    victim = run / "checkpoints" / "step_2.mpk"
    _after_replan(monkeypatch, victim.unlink)
    result = apply_prune(plan)
    assert [p.name for p in result.deleted] == ["step_1.mpk"]
    assert result.skipped == ((victim, "not deleted: it vanished before it could be deleted"),)
    assert result.failed == ()


def test_file_vanishing_during_unlink_is_skipped(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = make_run(root, [1, 2])
    plan = plan_prune(run, 0)
    real_unlink = os.unlink

    def racing(path: Any, *args: Any, **kwargs: Any) -> None:
        real_unlink(path, *args, **kwargs)
        if os.fspath(path).endswith("step_1.mpk"):
            raise FileNotFoundError(2, "No such file or directory")

    monkeypatch.setattr(os, "unlink", racing)
    result = apply_prune(plan)
    assert [p.name for p in result.deleted] == ["step_2.mpk"]
    assert [p.name for p, _ in result.skipped] == ["step_1.mpk"]


def test_file_rewritten_in_place_is_skipped(root: Path) -> None:
    run = make_run(root, [1, 2, 3])
    plan = plan_prune(run, 1)
    victim = run / "checkpoints" / "step_2.mpk"
    victim.write_bytes(b"a much longer checkpoint than before")
    result = apply_prune(plan)
    assert [p.name for p in result.deleted] == ["step_1.mpk"]
    assert [p for p, _ in result.skipped] == [victim]
    assert victim.exists()


def test_vanished_file_is_skipped(root: Path) -> None:
    run = make_run(root, [1, 2, 3])
    plan = plan_prune(run, 1)
    (run / "checkpoints" / "step_1.mpk").unlink()
    result = apply_prune(plan)
    assert [p.name for p in result.deleted] == ["step_2.mpk"]
    ((path, why),) = result.skipped
    assert path.name == "step_1.mpk"
    assert why == (
        "not deleted: no longer a checkpoint file here (removed or replaced); "
        "the preview is out of date"
    )


def test_unlink_failure_is_reported_and_the_rest_continue(
    root: Path, monkeypatch: pytest.MonkeyPatch, access: str
) -> None:
    run = make_run(root, [1, 2, 3, 4])
    plan = plan_prune(run, 1)
    real_unlink = os.unlink

    def flaky(path: Any, *args: Any, **kwargs: Any) -> None:
        if os.fspath(path).endswith("step_2.mpk"):
            raise PermissionError(13, "Permission denied")
        real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", flaky)
    result = apply_prune(plan)
    assert {p.name for p in result.deleted} == {"step_1.mpk", "step_3.mpk"}
    ((path, why),) = result.failed
    assert path == run / "checkpoints" / "step_2.mpk"
    assert str(path) in why and "Permission denied" in why
    assert result.bytes_freed == sum(f.size for f in plan.delete if f.path != path)
    assert names(run) == {"step_2.mpk", "step_4.mpk", "latest.mpk", "best.mpk"}


def test_a_remover_deletes_where_the_files_are_stored_first(root: Path, access: str) -> None:
    """`remove` (a remote root's: delete the stored object if unchanged) runs before the local
    copy goes: a reason it returns keeps the file, an error it raises is reported, and a local
    copy it already removed still counts as deleted. Each file is offered once, in plan order."""
    run = make_run(root, [1, 2, 3, 4, 5, 6])
    other = make_run(root, [7, 8], name="other")
    plans = [plan_prune(run, 1), plan_prune(other, 1)]
    ckpt = run / "checkpoints"
    offered: list[Path] = []

    def remove(path: Path) -> str | None:
        offered.append(path)
        if path.name == "step_2.mpk":
            return "replaced in the bucket since the preview"
        if path.name == "step_3.mpk":
            raise OSError(13, "Access Denied")
        if path.name == "step_4.mpk":
            path.unlink()  # gone already: what the store deleted was the original
        return None

    result, other_result = apply_prune_plans(plans, root=root, remove=remove)
    assert offered == [f.path for plan in plans for f in plan.delete]
    gone = {"step_1.mpk", "step_4.mpk", "step_5.mpk"}
    assert result.deleted == tuple(f.path for f in plans[0].delete if f.path.name in gone)
    assert result.skipped == (
        (ckpt / "step_2.mpk", "not deleted: replaced in the bucket since the preview"),
    )
    ((path, why),) = result.failed
    assert path == ckpt / "step_3.mpk" and why.startswith(f"cannot delete {path}: ")
    assert "Access Denied" in why
    sizes = {f.path: f.size for f in plans[0].delete}
    assert result.bytes_freed == sum(sizes[p] for p in result.deleted)
    assert names(run) == {"step_2.mpk", "step_3.mpk", "step_6.mpk", "latest.mpk", "best.mpk"}
    assert other_result.deleted == (other / "checkpoints" / "step_7.mpk",)
    assert names(other) == {"step_8.mpk", "latest.mpk", "best.mpk"}


def test_hand_made_plan_cannot_delete_protected_or_foreign_files(
    root: Path, tmp_path: Path, access: str
) -> None:
    run = make_run(root, [1, 2])
    foreign = tmp_path / "step_1.mpk"
    write_ckpt(foreign, 1)

    def as_file(path: Path, step: int) -> CheckpointFile:
        st = os.lstat(path)
        return CheckpointFile(path, step, st.st_size, st.st_ino, st.st_mtime_ns)

    latest = run / "checkpoints" / "latest.mpk"
    bogus = PrunePlan(
        run,
        0,
        delete=(as_file(latest, 0), as_file(foreign, 1)),
        keep_files=(),
        skipped_reason=None,
    )
    result = apply_prune(bogus)
    assert result.deleted == ()
    assert dict(result.skipped) == {
        latest: "not deleted: not a step_<N>.mpk checkpoint",
        foreign: f"not deleted: not a direct child of {run / 'checkpoints'}",
    }
    assert latest.exists() and foreign.exists()


def test_apply_with_a_different_root_than_planned_is_refused(root: Path, tmp_path: Path) -> None:
    run = make_run(root, [1, 2])
    other = tmp_path / "other"
    other.mkdir()
    plan = plan_prune(run, 0, root=root)
    with pytest.raises(PruneError, match="planned for the runs root"):
        apply_prune(plan, root=other)
    (result,) = apply_prune_plans([plan], root=other)
    assert result.deleted == ()
    assert len(result.skipped) == 2
    assert len(names(run)) == 4
    # The plan remembers its root, so apply without one still checks it.
    assert len(apply_prune(plan).deleted) == 2


# ---------------------------------------------------------------- trees


def test_plan_prune_tree_skips_live_runs_by_default(root: Path) -> None:
    old = make_run(root, [1, 2, 3], run_id="20260101_000000")
    new = make_run(root, [1, 2, 3], run_id="20260102_000000")
    wrote = last_write(new)
    assert wrote is not None
    os.utime(old / "metadata.json", (wrote - 3600, wrote - 3600))
    os.utime(old / "checkpoints", (wrote - 3600, wrote - 3600))
    plans = plan_prune_tree(root / "cartpole", 1, root=root, now=wrote + 1)
    assert [p.run_dir for p in plans] == [old, new]
    assert plans[0].files == 2
    assert plans[1].files == 0
    assert plans[1].skipped_reason is not None and "run is live" in plans[1].skipped_reason
    everything = plan_prune_tree(root, 1, root=root, include_live=True, now=wrote + 1)
    assert [p.files for p in everything] == [2, 2]
    results = apply_prune_plans(everything, root=root, now=wrote + 1)
    assert [len(r.deleted) for r in results] == [2, 2]
    assert names(old) == names(new) == {"step_3.mpk", "latest.mpk", "best.mpk"}


def test_plan_prune_tree_refuses_bad_paths(root: Path) -> None:
    with pytest.raises(PruneError, match="missing"):
        plan_prune_tree(root / "missing", 1)
    with pytest.raises(OutsideRootError):
        plan_prune_tree(root.parent, 1, root=root)


def test_plan_prune_tree_refuses_one_run_and_plans_the_others(root: Path, tmp_path: Path) -> None:
    good = make_run(root, [1, 2], run_id="20260101_000000")
    bad = root / "cartpole" / "v1" / "20260102_000000"
    bad.mkdir()
    (bad / "metadata.json").write_text("{}")
    outside = tmp_path / "outside"
    outside.mkdir()
    write_ckpt(outside / "step_1.mpk", 1)
    (bad / "checkpoints").symlink_to(outside)
    plans = plan_prune_tree(root, 0, root=root, include_live=True)
    assert [(p.run_dir, p.files) for p in plans] == [(good, 2), (bad, 0)]
    assert plans[1].skipped_reason is not None
    apply_prune_plans(plans, root=root)
    assert (outside / "step_1.mpk").exists()


def test_run_vanishing_during_tree_planning_is_skipped_not_fatal(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = make_run(root, [1, 2])
    gone = root / "cartpole" / "v1" / "20260101_000000"
    monkeypatch.setattr(prune_mod, "find_runs", lambda path: [gone, good])
    plans = plan_prune_tree(root, 0, include_live=True)
    assert [(p.run_dir, p.files) for p in plans] == [(gone, 0), (good, 2)]
    assert plans[0].skipped_reason is not None
    assert str(gone) in plans[0].skipped_reason


# ---------------------------------------------------------------- properties

step_entry = st.tuples(st.integers(0, 3000), st.integers(0, 2))  # (N, zero padding)


def _build(base: Path, entries: list[tuple[int, int]], junk: list[str], protected: bool) -> Path:
    run = make_run(base, [], extra=(("latest.mpk", "best.mpk") if protected else ()) + tuple(junk))
    for n, pad in entries:
        write_ckpt(run / "checkpoints" / f"step_{'0' * pad}{n}.mpk", n)
    return run


def _top_k(numbers: list[int], k: int) -> Counter[int]:
    return Counter(sorted(numbers, reverse=True)[:k])


@settings(max_examples=examples(60), deadline=None)
@given(
    entries=st.lists(step_entry, max_size=14, unique=True),
    junk=st.lists(st.sampled_from(JUNK), unique=True),
    protected=st.booleans(),
    keep=st.integers(0, 16),
)
def test_property_plan_and_apply(
    entries: list[tuple[int, int]], junk: list[str], protected: bool, keep: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run = _build(Path(tmp), entries, junk, protected)
        before = names(run)
        plan = plan_prune(run, keep)
        numbers = [n for n, _ in entries]
        kept = [f.step for f in plan.keep_files]
        assert Counter(kept) == _top_k(numbers, keep)
        assert len(plan.delete) == max(0, len(entries) - keep)
        if plan.keep_files and plan.delete:
            assert min(kept) >= max(f.step for f in plan.delete)
        assert {f.path.name for f in plan.delete}.isdisjoint({"latest.mpk", "best.mpk", *junk})

        result = apply_prune(plan)
        assert set(result.deleted) == {f.path for f in plan.delete}
        assert names(run) == before - {f.path.name for f in plan.delete}
        assert set(junk) <= names(run)
        if protected:
            assert {"latest.mpk", "best.mpk"} <= names(run)


@settings(max_examples=examples(60), deadline=None)
@given(
    entries=st.lists(step_entry, max_size=10, unique=True),
    new=st.lists(st.integers(0, 3500), max_size=3, unique=True),
    keep=st.integers(0, 6),
)
def test_property_new_checkpoints_between_plan_and_apply(
    entries: list[tuple[int, int]], new: list[int], keep: int
) -> None:
    existing = {f"step_{'0' * pad}{n}.mpk" for n, pad in entries}
    assume(all(f"step_{n}.mpk" not in existing for n in new))
    with tempfile.TemporaryDirectory() as tmp:
        run = _build(Path(tmp), entries, [], True)
        plan = plan_prune(run, keep)
        for n in new:
            write_ckpt(run / "checkpoints" / f"step_{n}.mpk", n)
        result = apply_prune(plan)
        planned = {f.path for f in plan.delete}
        assert set(result.deleted) <= planned
        after = names(run)
        assert {f"step_{n}.mpk" for n in new} <= after  # nothing unplanned is deleted
        remaining = [n for n in map(parse_checkpoint_step, after) if n is not None]
        all_numbers = [n for n, _ in entries] + new
        assert not _top_k(all_numbers, keep) - Counter(remaining)  # the new top k is intact
        assert {"latest.mpk", "best.mpk"} <= after


@settings(max_examples=examples(40), deadline=None)
@given(
    entries=st.lists(st.integers(0, 500), min_size=2, max_size=10, unique=True),
    keep=st.integers(0, 3),
    data=st.data(),
)
def test_property_replaced_file_survives(
    entries: list[int], keep: int, data: st.DataObject
) -> None:
    assume(len(entries) > keep)
    with tempfile.TemporaryDirectory() as tmp:
        run = _build(Path(tmp), [(n, 0) for n in entries], [], True)
        plan = plan_prune(run, keep)
        victim = data.draw(st.sampled_from(plan.delete)).path
        tmp_file = victim.with_name("replacement.tmp")
        tmp_file.write_bytes(victim.read_bytes())
        os.replace(tmp_file, victim)
        result = apply_prune(plan)
        assert victim.exists()
        assert victim not in result.deleted
        assert dict(result.skipped)[victim] == (
            "not deleted: replaced or rewritten since the preview"
        )
        assert set(result.deleted) == {f.path for f in plan.delete} - {victim}


# ---------------------------------------------------------------- settings reach every run

OLD = 1_000_000_000.0
"""An mtime long ago (2001): a run stamped with it is live only for a `now` near it."""


def stamp(run: Path, when: float) -> None:
    os.utime(run / "metadata.json", (when, when))
    assert last_write(run) == when


def test_a_root_that_cannot_be_resolved_is_a_prune_error_naming_it(root: Path) -> None:
    run = make_run(root, [1, 2])
    missing = root.parent / "no-such-root"
    with pytest.raises(PruneError, match=re.escape(f"runs root {missing} cannot be resolved")):
        plan_prune(run, 1, root=missing)


def test_plan_prune_tree_judges_liveness_with_its_window_and_time(root: Path) -> None:
    run = make_run(root, [1, 2, 3])
    stamp(run, OLD)
    (live,) = plan_prune_tree(root, 1, root=root, live_window=60, now=OLD + 30)
    reason = "run is live (wrote 30 s ago); tick the override to prune it anyway"
    # A skipped plan still carries its settings (a front end shows them, apply re-uses them).
    assert live == PrunePlan(run, 1, (), (), reason, 60, False, root)
    (quiet,) = plan_prune_tree(root, 1, root=root, live_window=60, now=OLD + 90)
    assert (quiet.files, quiet.live_window, quiet.include_live, quiet.root) == (2, 60, False, root)


def test_live_reason_never_counts_negative_seconds(root: Path) -> None:
    run = make_run(root, [1, 2])
    stamp(run, OLD)
    # The clock is behind the file system (another machine wrote the run).
    plan = plan_prune(run, 1, include_live=False, live_window=60, now=OLD - 30)
    assert plan.skipped_reason is not None
    assert plan.skipped_reason.startswith("run is live (wrote 0 s ago)")


def test_a_run_that_cannot_be_planned_keeps_the_tree_settings(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = root / "cartpole" / "v1" / "20260101_000000"
    monkeypatch.setattr(prune_mod, "find_runs", lambda path: [gone])
    (plan,) = plan_prune_tree(root, 2, root=root, live_window=60.0, include_live=True)
    assert plan.skipped_reason is not None and str(gone) in plan.skipped_reason
    assert plan == PrunePlan(gone, 2, (), (), plan.skipped_reason, 60.0, True, root)


def test_apply_prune_plans_judges_liveness_at_the_given_time(root: Path) -> None:
    run = make_run(root, [1, 2, 3])
    stamp(run, OLD)
    # A 120 s window: the run is live at OLD + 60 by it, though not by the default 30 s.
    plans = plan_prune_tree(root, 1, live_window=120, now=OLD + 200)
    assert plans[0].files == 2
    (result,) = apply_prune_plans(plans, now=OLD + 60)  # the trainer wrote again meanwhile
    assert result.deleted == ()
    assert [why for _, why in result.skipped] == [
        "not deleted: run is live (wrote 60 s ago); tick the override to prune it anyway"
    ] * 2
    assert len(names(run)) == 5
    (result,) = apply_prune_plans(plans, now=OLD + 200)
    assert len(result.deleted) == 2


def test_a_live_run_is_told_by_the_real_clock_when_no_time_is_given(root: Path) -> None:
    run = make_run(root, [1, 2])  # written just now: live for the default window and more
    plan = plan_prune(run, 1, include_live=False, live_window=3600)
    assert plan.skipped_reason is not None
    assert plan.skipped_reason.startswith("run is live (wrote ")
    assert plan.skipped_reason.endswith(" s ago); tick the override to prune it anyway")


def test_a_run_moved_out_of_the_root_since_the_preview_fails_the_replan(
    root: Path, tmp_path: Path
) -> None:
    run = make_run(root, [1, 2, 3])
    plan = plan_prune(run, 1, root=root)
    moved = tmp_path / "moved"
    run.rename(moved)
    run.symlink_to(moved)
    result = apply_prune(plan)
    assert (result.deleted, result.failed) == ((), ())
    why = (
        f"not deleted: re-planning failed: cannot prune {run}: it resolves to "
        f"{moved.resolve()}, outside the runs root {root.resolve()}"
    )
    assert result.skipped == tuple((f.path, why) for f in plan.delete)
    assert len(names(moved)) == 5


def test_a_refused_plan_is_reported_whole_and_the_next_is_applied(
    root: Path, tmp_path: Path
) -> None:
    run = make_run(root, [1, 2])
    other_root = tmp_path / "other"
    other_run = make_run(other_root, [1, 2])
    refused = plan_prune(run, 0, root=root)
    results = apply_prune_plans([refused, plan_prune(other_run, 0)], root=other_root)
    first, second = results
    assert (first.run_dir, first.deleted, first.failed, first.bytes_freed) == (run, (), (), 0)
    assert [path for path, _ in first.skipped] == [f.path for f in refused.delete]
    for _, why in first.skipped:
        assert why.startswith(f"not deleted: cannot apply the prune of {run}")
    assert len(names(run)) == 4
    assert (second.run_dir, len(second.deleted)) == (other_run, 2)


def test_hand_made_plan_entries_are_refused_by_the_first_guard_that_applies(root: Path) -> None:
    run = make_run(root, [1, 2], extra=("notes.txt",))
    ckpt = run / "checkpoints"

    def as_file(path: Path, step: int) -> CheckpointFile:
        st = os.lstat(path)
        return CheckpointFile(path, step, st.st_size, st.st_ino, st.st_mtime_ns)

    up, notes = ckpt / "..", ckpt / "notes.txt"
    bogus = PrunePlan(run, 0, (as_file(up, 1), as_file(notes, 1)), (), None)
    result = apply_prune(bogus)
    assert result.deleted == ()
    assert dict(result.skipped) == {
        up: f"not deleted: not a direct child of {ckpt}",
        notes: "not deleted: not a step_<N>.mpk checkpoint",
    }
    assert names(run) == {"step_1.mpk", "step_2.mpk", "notes.txt"}


def test_a_run_removed_since_the_preview_is_skipped_whole(root: Path) -> None:
    run = make_run(root, [1, 2, 3])
    plan = plan_prune(run, 1)
    gone = root / "elsewhere"
    run.rename(gone)
    result = apply_prune(plan)
    assert (result.deleted, result.failed) == ((), ())
    assert [path for path, _ in result.skipped] == [f.path for f in plan.delete]
    for _, why in result.skipped:
        assert why == f"not deleted: re-planning failed: cannot prune {run}: not a directory"
    assert len(names(gone)) == 5


@pytest.mark.parametrize("race", ["removed", "swapped for a link out of the root"])
def test_checkpoints_changed_between_replan_and_open_deletes_nothing(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, race: str, access: str
) -> None:
    run = make_run(root, [1, 2, 3])
    ckpt = run / "checkpoints"
    moved = tmp_path / "moved"  # outside the root; the very same files (inodes) move there
    plan = plan_prune(run, 1, root=root)

    def change() -> None:
        ckpt.rename(moved)
        if race != "removed":
            ckpt.symlink_to(moved)

    _after_replan(monkeypatch, change)
    result = apply_prune(plan)
    assert (result.deleted, result.failed) == ((), ())
    why = (
        "the checkpoints directory is gone"
        if race == "removed"
        else f"checkpoints directory {ckpt} is a symlink to {moved.resolve()}, outside the runs "
        f"root {root.resolve()}; refusing to prune through it"
    )
    assert result.skipped == tuple((f.path, f"not deleted: {why}") for f in plan.delete)
    assert {p.name for p in moved.iterdir()} == {f"step_{n}.mpk" for n in (1, 2, 3)} | {
        "latest.mpk",
        "best.mpk",
    }


def test_a_file_vanishing_mid_listing_leaves_the_others_planned(
    root: Path, monkeypatch: pytest.MonkeyPatch, access: str
) -> None:
    run = make_run(root, [1, 2, 3, 4])
    real_lstat = prune_mod._CheckpointsDir.lstat
    first: list[str] = []

    def vanishing(self: Any, name: str) -> os.stat_result:
        if parse_checkpoint_step(name) is not None and not first:
            first.append(name)  # the first checkpoint listed is gone by its lstat
            raise FileNotFoundError(2, "No such file or directory")
        return real_lstat(self, name)

    monkeypatch.setattr(prune_mod._CheckpointsDir, "lstat", vanishing)
    plan = plan_prune(run, 0)
    assert step_names(plan.delete) == {f"step_{n}.mpk" for n in (1, 2, 3, 4)} - set(first)


@pytest.mark.parametrize("trouble", ["vanishes at unlink", "cannot be checked"])
def test_trouble_with_the_first_file_still_deletes_the_rest(
    root: Path, monkeypatch: pytest.MonkeyPatch, access: str, trouble: str
) -> None:
    run = make_run(root, [1, 2, 3])
    plan = plan_prune(run, 0)
    first = plan.delete[0].path  # step_3.mpk: files are deleted largest step first
    method = "unlink" if trouble == "vanishes at unlink" else "lstat"
    real = getattr(prune_mod._CheckpointsDir, method)

    def troubled(self: Any, name: str) -> Any:
        if name == first.name:
            if method == "unlink":
                first.unlink()
                return real(self, name)  # FileNotFoundError: someone was quicker
            raise PermissionError(13, "Permission denied")
        return real(self, name)

    # After the re-plan: the trouble is met by the check right before each unlink.
    _after_replan(
        monkeypatch, lambda: monkeypatch.setattr(prune_mod._CheckpointsDir, method, troubled)
    )
    result = apply_prune(plan)
    assert {p.name for p in result.deleted} == {"step_1.mpk", "step_2.mpk"}
    if method == "unlink":
        assert result.skipped == ((first, "not deleted: it vanished before it could be deleted"),)
        assert result.failed == ()
    else:
        assert result.failed == (
            (first, f"cannot check {first} before deleting: [Errno 13] Permission denied"),
        )
        assert result.skipped == ()
