"""Pruning numbered checkpoints: plan first (pure data), then apply (re-plan, then unlink).

    <run_dir>/checkpoints/
        step_<N>.mpk      candidates: all but the `keep` with the largest N are deleted
        latest.mpk        never touched
        best.mpk          never touched
        anything else     never touched (step_007.tmp, notes.txt, directories, ...)

Deleting is the one destructive thing runlog does, so `apply_prune` trusts nothing
from the preview: it re-plans with the same settings and unlinks only files that are
in both plans with an unchanged identity (inode, size, mtime_ns). Everything it does
not delete is reported with the reason.

Guards, and what each does:
- `keep` must be an int >= 0, `run_dir` an existing directory: else PruneError.
- With `root`: `run_dir` must resolve inside it, else OutsideRootError (a bad request).
- The state of a run never raises; it gives a *skipped* plan (empty `delete`, a
  `skipped_reason`), so one odd run cannot stop a tree-wide prune:
  `checkpoints/` resolving outside `root` (a symlink), `checkpoints/` not a
  directory, or a live run when `include_live` is False.
  Without `root` there is no boundary to check, so a symlinked `checkpoints/` is followed.
- Every symlink a plan goes through (`checkpoints/`, a symlinked `step_<N>.mpk` it
  deletes) is in `PrunePlan.links` with its real target; `links_outside(path)` names those
  leading out of a path, for a front end that refuses them (`runlog prune` does, unless
  --follow-symlinks).
- Listing, lstat and unlink go through an open descriptor of the checkpoints directory
  (Linux, macOS), checked to be the very directory that lies inside `root`, so
  swapping `checkpoints/` for a symlink halfway through cannot redirect a delete.
  Identity is compared again through it right before each unlink.
- Files are removed with `os.unlink`: a symlinked checkpoint goes as a link (its
  target survives); nothing is followed, nothing is removed recursively.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from runlog.errors import OutsideRootError, PruneError, RunlogError
from runlog.format.layout import (
    BEST_CHECKPOINT,
    LATEST_CHECKPOINT,
    checkpoint_name,
    checkpoints_dir,
    parse_checkpoint_step,
)
from runlog.format.rundirs import find_runs
from runlog.read import activity
from runlog.read.activity import DEFAULT_LIVE_WINDOW

__all__ = [
    "DEFAULT_LIVE_WINDOW",
    "CheckpointFile",
    "PrunePlan",
    "PruneResult",
    "Remover",
    "apply_prune",
    "apply_prune_plans",
    "plan_prune",
    "plan_prune_tree",
]

# Linux and macOS can list, lstat and unlink relative to a directory descriptor.
_USE_DIR_FD = (
    os.unlink in os.supports_dir_fd
    and os.stat in os.supports_dir_fd
    and os.scandir in os.supports_fd
    and hasattr(os, "O_DIRECTORY")
)


@dataclass(frozen=True)
class CheckpointFile:
    """One `step_<N>.mpk` as seen by lstat; (inode, size, mtime_ns) tells if it changed."""

    path: Path
    step: int
    size: int
    inode: int
    mtime_ns: int
    target: Path | None = None
    """Where it really leads when it is a symlink (resolved), else None. Pruning removes the
    link; the target is never deleted."""

    @property
    def identity(self) -> tuple[int, int, int]:
        return (self.inode, self.size, self.mtime_ns)


@dataclass(frozen=True)
class PrunePlan:
    """What a prune of one run would delete and keep; `skipped_reason` set means nothing."""

    run_dir: Path
    keep: int
    delete: tuple[CheckpointFile, ...]
    keep_files: tuple[CheckpointFile, ...]
    skipped_reason: str | None
    live_window: float = DEFAULT_LIVE_WINDOW
    include_live: bool = True
    root: Path | None = None
    checkpoints_target: Path | None = None
    """Where `checkpoints/` really is when it is a symlink (resolved), else None."""

    @property
    def bytes_freed(self) -> int:
        return sum(f.size for f in self.delete)

    @property
    def files(self) -> int:
        return len(self.delete)

    @property
    def links(self) -> tuple[tuple[Path, Path], ...]:
        """(symlink, its real target) for each symlink this plan goes through: `checkpoints/`
        and the symlinked `step_<N>.mpk` files it deletes."""
        found = []
        if self.checkpoints_target is not None:
            found.append((checkpoints_dir(self.run_dir), self.checkpoints_target))
        found += [(f.path, f.target) for f in self.delete if f.target is not None]
        return tuple(found)

    def links_outside(self, boundary: Path) -> tuple[tuple[Path, Path], ...]:
        """The `links` whose real target lies outside `boundary` (itself resolved)."""
        real = Path(os.path.realpath(boundary))
        return tuple(
            (link, target) for link, target in self.links if not target.is_relative_to(real)
        )

    def real_path(self, f: CheckpointFile) -> Path:
        """Where the file `f` of this plan really is: its own target when it is a symlink,
        else its place in the real checkpoints directory."""
        if f.target is not None:
            return f.target
        if self.checkpoints_target is not None:
            return self.checkpoints_target / f.path.name
        return f.path


@dataclass(frozen=True)
class PruneResult:
    """What `apply_prune` did: deleted, failed (path, error) and skipped (path, reason)."""

    run_dir: Path
    deleted: tuple[Path, ...]
    failed: tuple[tuple[Path, str], ...]
    skipped: tuple[tuple[Path, str], ...]
    bytes_freed: int


# ---------------------------------------------------------------- checkpoints dir access


class _CheckpointsDir:
    """The checkpoints directory opened once; names are looked up relative to it."""

    def __init__(self, path: Path, fd: int | None) -> None:
        self.path = path
        self._fd = fd

    def names(self) -> list[str]:
        if self._fd is None:
            with os.scandir(self.path) as entries:
                return [entry.name for entry in entries]
        with os.scandir(self._fd) as fd_entries:
            return [entry.name for entry in fd_entries]

    def lstat(self, name: str) -> os.stat_result:
        if self._fd is None:
            return os.lstat(self.path / name)
        return os.stat(name, dir_fd=self._fd, follow_symlinks=False)

    def unlink(self, name: str) -> None:
        if self._fd is None:
            os.unlink(self.path / name)
        else:
            os.unlink(name, dir_fd=self._fd)


def _real_root(root: Path) -> Path:
    try:
        return root.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise PruneError(f"runs root {root} cannot be resolved: {exc}") from exc


@contextlib.contextmanager
def _open_checkpoints(run_dir: Path, root: Path | None) -> Iterator[_CheckpointsDir | str | None]:
    """Yield the opened checkpoints dir, a refusal reason (str), or None if there is none."""
    path = checkpoints_dir(run_dir)
    try:
        link_st = os.lstat(path)
    except FileNotFoundError:
        yield None
        return
    except OSError as exc:
        yield f"checkpoints directory {path} cannot be read: {exc}"
        return
    if root is not None and stat.S_ISLNK(link_st.st_mode):
        real_root = _real_root(root)
        try:
            target = path.resolve(strict=True)
        except (OSError, RuntimeError) as exc:
            yield f"checkpoints directory {path} is a symlink that cannot be resolved: {exc}"
            return
        if not target.is_relative_to(real_root):
            yield (
                f"checkpoints directory {path} is a symlink to {target}, outside the runs "
                f"root {real_root}; refusing to prune through it"
            )
            return
    if not _USE_DIR_FD:
        if not path.is_dir():
            yield f"checkpoints path {path} is not a directory"
            return
        yield _CheckpointsDir(path, None)
        return
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except NotADirectoryError:
        yield f"checkpoints path {path} is not a directory"
        return
    except OSError as exc:
        yield f"checkpoints directory {path} cannot be opened: {exc}"
        return
    try:
        if root is not None:
            # The descriptor must be the very directory that resolves inside the root;
            # otherwise something swapped it between the check above and the open.
            real_root = _real_root(root)
            try:
                real = path.resolve(strict=True)
                same = os.path.samestat(os.fstat(fd), os.stat(real))
            except (OSError, RuntimeError):
                same = False
                real = path
            if not same:
                yield f"checkpoints directory {path} changed while it was being checked"
                return
            if not real.is_relative_to(real_root):
                yield (
                    f"checkpoints directory {path} resolves to {real}, outside the runs "
                    f"root {real_root}; refusing to prune through it"
                )
                return
        yield _CheckpointsDir(path, fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- planning


def _rank(f: CheckpointFile) -> tuple[int, bool, str]:
    # Numeric N first (step_9 < step_10); for equal N (step_7, step_007) the canonical
    # name ranks higher, then the name itself, so ties are broken the same way every time.
    return (f.step, f.path.name == checkpoint_name(f.step), f.path.name)


def _list_checkpoints(ckpt: _CheckpointsDir) -> list[CheckpointFile]:
    found: list[CheckpointFile] = []
    for name in ckpt.names():
        step = parse_checkpoint_step(name)
        if step is None or name in (LATEST_CHECKPOINT, BEST_CHECKPOINT):
            continue
        try:
            st = ckpt.lstat(name)
        except OSError:
            continue  # vanished since the listing
        # A symlink counts as a checkpoint (removed as a link); directories and other
        # special files are not checkpoints and are never touched.
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
            continue
        path = ckpt.path / name
        target = _link_target(path) if stat.S_ISLNK(st.st_mode) else None
        found.append(CheckpointFile(path, step, st.st_size, st.st_ino, st.st_mtime_ns, target))
    return found


def _link_target(path: Path) -> Path | None:
    """Where the symlink `path` really leads (every link on the way resolved), or None when
    `path` is no symlink."""
    return Path(os.path.realpath(path)) if os.path.islink(path) else None


def _check_keep(keep: object) -> int:
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
        raise PruneError(f"keep must be a whole number >= 0, got {keep!r}")
    return keep


def _live_reason(run_dir: Path, live_window: float, now: float | None) -> str | None:
    if not activity.is_live(run_dir, live_window, now):
        return None
    wrote = activity.last_write(run_dir)
    age = 0.0 if wrote is None else max(0.0, (time.time() if now is None else now) - wrote)
    return f"run is live (wrote {age:.0f} s ago); tick the override to prune it anyway"


def _require_inside(path: Path, root: Path) -> None:
    """Raise OutsideRootError unless `path`, symlinks resolved, lies inside `root`."""
    real_root = _real_root(root)
    real_path = path.resolve()
    if not real_path.is_relative_to(real_root):
        raise OutsideRootError(
            f"cannot prune {path}: it resolves to {real_path}, outside the runs root {real_root}"
        )


def plan_prune(
    run_dir: Path,
    keep: int,
    *,
    root: Path | None = None,
    live_window: float = DEFAULT_LIVE_WINDOW,
    include_live: bool = True,
    now: float | None = None,
) -> PrunePlan:
    """Plan deleting every `step_<N>.mpk` of `run_dir` but the `keep` largest N. No writes.

    Raises PruneError for a bad `keep` or a missing `run_dir`, OutsideRootError when
    `root` is given and `run_dir` is not inside it. Refusals that depend on the run
    (live, checkpoints symlinked outside `root`) give a skipped plan instead.
    """
    keep = _check_keep(keep)

    if not run_dir.is_dir():
        raise PruneError(f"cannot prune {run_dir}: not a directory")
    if root is not None:
        _require_inside(run_dir, root)
    link = _link_target(checkpoints_dir(run_dir))

    def skipped(reason: str) -> PrunePlan:
        return PrunePlan(run_dir, keep, (), (), reason, live_window, include_live, root, link)

    with _open_checkpoints(run_dir, root) as ckpt:
        if isinstance(ckpt, str):
            return skipped(ckpt)
        if not include_live:
            live = _live_reason(run_dir, live_window, now)
            if live is not None:
                return skipped(live)
        files = [] if ckpt is None else _list_checkpoints(ckpt)
    files.sort(key=_rank, reverse=True)
    return PrunePlan(
        run_dir,
        keep,
        delete=tuple(files[keep:]),
        keep_files=tuple(files[:keep]),
        skipped_reason=None,
        live_window=live_window,
        include_live=include_live,
        root=root,
        checkpoints_target=link,
    )


def plan_prune_tree(
    path: Path,
    keep: int,
    *,
    root: Path | None = None,
    live_window: float = DEFAULT_LIVE_WINDOW,
    include_live: bool = False,
    now: float | None = None,
) -> list[PrunePlan]:
    """One plan per run found at or under `path` (a run, a name, a version or the root).

    Live runs are skipped by default here. A run that cannot be planned (it vanished
    meanwhile) gives a skipped plan naming the error, so the others are still planned.
    """
    keep = _check_keep(keep)
    if not path.is_dir():
        raise PruneError(f"cannot prune {path}: not a directory")
    if root is not None:
        _require_inside(path, root)
    plans: list[PrunePlan] = []
    for run_dir in find_runs(path):
        try:
            plans.append(
                plan_prune(
                    run_dir,
                    keep,
                    root=root,
                    live_window=live_window,
                    include_live=include_live,
                    now=now,
                )
            )
        except RunlogError as exc:
            plans.append(
                PrunePlan(run_dir, keep, (), (), str(exc), live_window, include_live, root)
            )
    return plans


# ---------------------------------------------------------------- applying


def _effective_root(plan: PrunePlan, root: Path | None) -> Path | None:
    if root is None:
        return plan.root
    if plan.root is not None and _real_root(plan.root) != _real_root(root):
        raise PruneError(
            f"cannot apply the prune of {plan.run_dir}: it was planned for the runs root "
            f"{plan.root}, not {root}"
        )
    return root


def _guard_reason(f: CheckpointFile, ckpt: _CheckpointsDir) -> str | None:
    """Why `f` must not be unlinked even though both plans agree, or None."""
    name = f.path.name
    if f.path.parent != ckpt.path or "/" in name or name in ("", ".", ".."):
        return f"not a direct child of {ckpt.path}"
    if name in (LATEST_CHECKPOINT, BEST_CHECKPOINT) or parse_checkpoint_step(name) != f.step:
        return "not a step_<N>.mpk checkpoint"
    return None


Remover = Callable[[Path], "str | None"]
"""Deletes the stored original of a checkpoint before its local file goes (a remote root's
mirror): returns None once deleted, or the reason it was kept; raises OSError or RunlogError
when the delete failed."""


def apply_prune(
    plan: PrunePlan,
    *,
    root: Path | None = None,
    now: float | None = None,
    remove: Remover | None = None,
) -> PruneResult:
    """Delete the files of `plan` that a fresh plan still deletes and that have not changed.

    The fresh plan uses the same keep, live settings and root (`root` defaults to
    `plan.root`; giving a different one is a PruneError). A file that is now kept,
    vanished, or was replaced is reported in `skipped`; an unlink error goes to
    `failed` and the other files are still deleted. `now` is passed to the live check.
    With `remove`, each file that passed every check is first deleted where it is really
    stored (`remove(path)`), and the local file only once that succeeded.
    """
    deleted: list[Path] = []
    failed: list[tuple[Path, str]] = []
    skipped: list[tuple[Path, str]] = []
    freed = 0

    def result() -> PruneResult:
        return PruneResult(plan.run_dir, tuple(deleted), tuple(failed), tuple(skipped), freed)

    if not plan.delete:
        return result()
    eff_root = _effective_root(plan, root)
    try:
        fresh = plan_prune(
            plan.run_dir,
            plan.keep,
            root=eff_root,
            live_window=plan.live_window,
            include_live=plan.include_live,
            now=now,
        )
    except RunlogError as exc:
        skipped.extend((f.path, f"not deleted: re-planning failed: {exc}") for f in plan.delete)
        return result()
    if fresh.skipped_reason is not None:
        skipped.extend((f.path, f"not deleted: {fresh.skipped_reason}") for f in plan.delete)
        return result()

    fresh_delete = {f.path for f in fresh.delete}
    fresh_keep = {f.path for f in fresh.keep_files}
    with _open_checkpoints(plan.run_dir, eff_root) as ckpt:
        if not isinstance(ckpt, _CheckpointsDir):
            why = ckpt if isinstance(ckpt, str) else "the checkpoints directory is gone"
            skipped.extend((f.path, f"not deleted: {why}") for f in plan.delete)
            return result()
        for f in plan.delete:
            guard = _guard_reason(f, ckpt)
            if guard is not None:
                skipped.append((f.path, f"not deleted: {guard}"))
                continue
            if f.path not in fresh_delete:
                if f.path in fresh_keep:
                    reason = f"now among the {plan.keep} checkpoints to keep"
                else:
                    reason = "no longer a checkpoint file here (removed or replaced)"
                skipped.append((f.path, f"not deleted: {reason}; the preview is out of date"))
                continue
            name = f.path.name
            try:
                st = ckpt.lstat(name)
            except FileNotFoundError:
                skipped.append((f.path, "not deleted: it vanished before it could be deleted"))
                continue
            except OSError as exc:
                failed.append((f.path, f"cannot check {f.path} before deleting: {exc}"))
                continue
            # Identity is compared as late as possible, through the same descriptor
            # that unlinks, so a replacement made after the re-plan is still caught.
            if (st.st_ino, st.st_size, st.st_mtime_ns) != f.identity:
                skipped.append((f.path, "not deleted: replaced or rewritten since the preview"))
                continue
            if remove is not None:
                try:
                    kept = remove(f.path)
                except (OSError, RunlogError) as exc:
                    failed.append((f.path, f"cannot delete {f.path}: {exc}"))
                    continue
                if kept is not None:
                    skipped.append((f.path, f"not deleted: {kept}"))
                    continue
            try:
                ckpt.unlink(name)
            except FileNotFoundError:
                if remove is not None:  # the stored original is gone: that was the delete
                    deleted.append(f.path)
                    freed += f.size
                    continue
                skipped.append((f.path, "not deleted: it vanished before it could be deleted"))
                continue
            except OSError as exc:
                failed.append((f.path, f"cannot delete {f.path}: {exc}"))
                continue
            deleted.append(f.path)
            freed += f.size
    return result()


def apply_prune_plans(
    plans: Iterable[PrunePlan],
    *,
    root: Path | None = None,
    now: float | None = None,
    remove: Remover | None = None,
) -> list[PruneResult]:
    """`apply_prune` each plan in turn; one run's trouble never stops the others."""
    results: list[PruneResult] = []
    for plan in plans:
        try:
            results.append(apply_prune(plan, root=root, now=now, remove=remove))
        except RunlogError as exc:
            results.append(
                PruneResult(
                    plan.run_dir,
                    (),
                    (),
                    tuple((f.path, f"not deleted: {exc}") for f in plan.delete),
                    0,
                )
            )
    return results
