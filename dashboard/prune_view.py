"""Prune numbered checkpoints from the UI: scope, keep K, preview, confirm, result.

    ?view=prune&scope=<rel>      rel: name/version/run_id, name/version, name, or "" (root)

    Scope: run cartpole/v1/20260322_120000
    Change scope: [version cartpole/v1] [name cartpole] [whole root] [narrow to ... v]
    Keep the newest K [3]  [Refresh preview]
    Preview: N files in M runs would be deleted, freeing X      [Prune… (N files, X)]
        runs table (deleted / kept / why skipped), every file to delete (run, step, size)
        live runs and their files: pruned only with the override ticked in the dialog
    dialog: count and size again, live override, [Delete N files] [Cancel]
    result: deleted, failed (e.g. permission denied), not deleted (changed since preview)

The scope from the URL is resolved inside the root first (`..`, absolute paths and
symlinks leading out are refused with a message). The preview is planned once per
(root, scope, K) and kept in session state; the dialog applies exactly that plan with
`apply_prune_plans`, which re-plans and deletes only files in both plans and unchanged,
so nothing the user was not shown can be deleted. The dialog opens from a session-state
flag, not from the button's return value, so it survives reruns (and AppTest's).
In read-only mode the preview is still shown (it writes nothing) but no write control is,
and `apply_preview` refuses.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import urlstate
from dashboard.context import AppContext
from dashboard.data import human_size
from dashboard.text import md_code
from runlog.errors import ReadOnlyError, ResolveError, RunlogError
from runlog.format.paths import resolve_inside
from runlog.format.rundirs import run_rel
from runlog.prune import PrunePlan, PruneResult, apply_prune_plans, plan_prune_tree

DEFAULT_KEEP = 3
"""Numbered checkpoints kept per run unless the user says otherwise (ember-rl's default)."""
MAX_KEEP = 1_000_000

KEEP_KEY = "prune.keep"
PREVIEW_KEY = "prune.preview"
DIALOG_KEY = "prune.dialog_open"
OVERRIDE_KEY = "prune.include_live"
OUTCOME_KEY = "prune.outcome"
OPEN_KEY = "prune.open"
REFRESH_KEY = "prune.refresh"
CONFIRM_KEY = "prune.confirm"
CANCEL_KEY = "prune.cancel"
SCOPE_KEY_PREFIX = "prune.scope."
NARROW_KEY = "prune.narrow"
_FILE_COLUMNS = ("run", "step", "file", "size")

READ_ONLY_NOTE = (
    "Read-only mode: pruning is disabled. This preview shows what pruning would free; "
    "restart without `--read-only` / `RUNLOG_READ_ONLY=1` to delete checkpoints."
)


@dataclass(frozen=True)
class Preview:
    """One dry plan of a scope, as shown on the page; the dialog applies exactly this."""

    root: Path
    scope: str
    """Root-relative scope as checked ("" = the whole root)."""
    keep: int
    planned_at: float
    plans: tuple[PrunePlan, ...]
    """Planned with live runs skipped; a run turning live before apply is skipped too."""
    live_plans: tuple[PrunePlan, ...]
    """Runs skipped above because they are live, planned as if overridden."""

    def files(self, include_live: bool) -> int:
        return sum(p.files for p in self._chosen(include_live))

    def bytes_freed(self, include_live: bool) -> int:
        return sum(p.bytes_freed for p in self._chosen(include_live))

    def runs_touched(self, include_live: bool) -> int:
        return sum(1 for p in self._chosen(include_live) if p.delete)

    def to_apply(self, include_live: bool) -> tuple[PrunePlan, ...]:
        return tuple(p for p in self._chosen(include_live) if p.delete)

    def _chosen(self, include_live: bool) -> tuple[PrunePlan, ...]:
        return self.plans + self.live_plans if include_live else self.plans


@dataclass(frozen=True)
class Outcome:
    """What the last confirmed prune did, for the page to report."""

    scope: str
    keep: int
    results: tuple[PruneResult, ...]
    live_not_pruned: tuple[Path, ...]
    """Live runs left alone because the override was not ticked."""

    @property
    def deleted(self) -> int:
        return sum(len(r.deleted) for r in self.results)

    @property
    def failed(self) -> int:
        return sum(len(r.failed) for r in self.results)

    @property
    def skipped(self) -> int:
        return sum(len(r.skipped) for r in self.results)

    @property
    def bytes_freed(self) -> int:
        return sum(r.bytes_freed for r in self.results)


# ----- pure helpers (no Streamlit) ---------------------------------------------------------


def check_scope(root: Path, scope: str) -> Path:
    """The directory `scope` names inside `root` ("" = root); RunlogError saying why not."""
    target = resolve_inside(root, scope or ".")
    if not target.exists():
        raise ResolveError(
            f"nothing called {scope!r} under the runs root: give a run, a version, a name "
            "or nothing (the whole root)"
        )
    if not target.is_dir():
        raise ResolveError(f"{scope!r} is not a run, version or name directory")
    return target


SCOPE_LEVELS = ("root", "name", "version", "run")
"""Scope depth 0..3 in words; a scope button's key is SCOPE_KEY_PREFIX + its level."""


def scope_levels(scope: str) -> list[tuple[str, str, str]]:
    """(scope, level, words) for `scope` and each directory above it, up to the whole root.

    `level` is "run", "version", "name" or "root" (deeper folders: "depth<N>"); `words`
    describe the level ("all runs of version"), to be followed by the scope itself.
    """
    parts = [p for p in scope.split("/") if p and p != "."]
    words = {"name": "all runs of name", "version": "all runs of version", "run": "run"}
    levels: list[tuple[str, str, str]] = []
    for depth in range(len(parts), 0, -1):
        level = SCOPE_LEVELS[depth] if depth < len(SCOPE_LEVELS) else f"depth{depth}"
        levels.append(("/".join(parts[:depth]), level, words.get(level, "folder")))
    levels.append(("", "root", "whole runs root"))
    return levels


def narrower_scopes(root: Path, scope: str, plans: tuple[PrunePlan, ...]) -> list[str]:
    """Every name, version and run below `scope` that holds a run of `plans`, sorted."""
    depth = len([p for p in scope.split("/") if p and p != "."])
    found: set[str] = set()
    for plan in plans:
        try:
            parts = run_rel(root, plan.run_dir).split("/")
        except RunlogError:
            continue
        found.update("/".join(parts[:k]) for k in range(depth + 1, len(parts) + 1))
    return sorted(found)


def scope_label(rel: str, words: str) -> str:
    """Markdown naming a scope: its words, then the path verbatim (a code span)."""
    return f"{words} {md_code(rel)}" if rel else words


def make_preview(ctx: AppContext, scope: str, keep: int, now: float | None = None) -> Preview:
    """Plan `scope` twice at the same instant: live runs skipped, and live runs included."""
    target = check_scope(ctx.root, scope)
    at = time.time() if now is None else now
    plans = plan_prune_tree(
        target, keep, root=ctx.root, live_window=ctx.live_window, include_live=False, now=at
    )
    with_live = plan_prune_tree(
        target, keep, root=ctx.root, live_window=ctx.live_window, include_live=True, now=at
    )
    skipped = {p.run_dir for p in plans if p.skipped_reason is not None}
    # Live is the only reason the two plans differ: a run skipped without the override
    # but planned with it is live. Its override plan keeps include_live=True for apply.
    live = tuple(p for p in with_live if p.run_dir in skipped and p.skipped_reason is None)
    return Preview(ctx.root, scope, keep, at, tuple(plans), live)


def apply_preview(ctx: AppContext, preview: Preview, include_live: bool) -> Outcome:
    """Apply exactly the previewed plans (live ones only with the override). Never in read-only."""
    if ctx.read_only:
        raise ReadOnlyError("read-only mode is on: pruning is disabled")
    if ctx.remote is not None:
        # See the bucket as it is now: apply re-plans on the mirror and skips whatever changed
        # since the preview; each delete then re-checks the object's ETag and size (HEAD).
        ctx.remote.sync()
    results = apply_prune_plans(
        preview.to_apply(include_live), root=ctx.root, remove=ctx.remover()
    )
    left = () if include_live else tuple(p.run_dir for p in preview.live_plans if p.delete)
    return Outcome(preview.scope, preview.keep, tuple(results), left)


def _rel(ctx: AppContext, path: Path) -> str:
    try:
        return run_rel(ctx.root, path)
    except RunlogError:
        return str(path)


def files_frame(ctx: AppContext, plans: tuple[PrunePlan, ...]) -> pd.DataFrame:
    """One row per file to delete: run, step, file, size (bytes and human)."""
    rows = [
        {
            "run": _rel(ctx, p.run_dir),
            "step": f.step,
            "file": f.path.name,
            "size": human_size(f.size),
            "bytes": f.size,
        }
        for p in plans
        for f in p.delete
    ]
    return pd.DataFrame(rows, columns=["run", "step", "file", "size", "bytes"])


def runs_frame(ctx: AppContext, preview: Preview) -> pd.DataFrame:
    """One row per run in scope: what is deleted and kept, or why it is skipped."""
    live = {p.run_dir: p for p in preview.live_plans}
    rows: list[dict[str, Any]] = []
    for p in preview.plans:
        lp = live.get(p.run_dir)
        if lp is not None:
            note = f"live: pruned only with the override ({lp.files} files)"
        elif p.skipped_reason is not None:
            note = f"skipped: {ctx.shown(p.skipped_reason)}"
        elif not p.delete:
            note = "nothing to delete"
        else:
            note = ""
        shown = lp or p
        rows.append(
            {
                "run": _rel(ctx, p.run_dir),
                "delete": shown.files,
                "keep": ", ".join(f.path.name for f in shown.keep_files),
                "frees": human_size(shown.bytes_freed),
                "note": note,
            }
        )
    return pd.DataFrame(rows, columns=["run", "delete", "keep", "frees", "note"])


def outcome_frames(ctx: AppContext, outcome: Outcome) -> dict[str, pd.DataFrame]:
    """Tables of the deleted, failed and not-deleted files of an outcome."""
    deleted = [
        {"run": _rel(ctx, r.run_dir), "file": p.name} for r in outcome.results for p in r.deleted
    ]
    failed = [
        {"run": _rel(ctx, r.run_dir), "file": p.name, "error": ctx.shown(why)}
        for r in outcome.results
        for p, why in r.failed
    ]
    skipped = [
        {"run": _rel(ctx, r.run_dir), "file": p.name, "reason": ctx.shown(why)}
        for r in outcome.results
        for p, why in r.skipped
    ]
    return {
        "deleted": pd.DataFrame(deleted, columns=["run", "file"]),
        "failed": pd.DataFrame(failed, columns=["run", "file", "error"]),
        "skipped": pd.DataFrame(skipped, columns=["run", "file", "reason"]),
    }


# ----- Streamlit side -------------------------------------------------------------------------


def _go_scope(scope: str) -> None:
    st.query_params[urlstate.VIEW] = urlstate.PRUNE_VIEW
    st.query_params[urlstate.SCOPE] = scope


def _close_dialog() -> None:
    st.session_state[DIALOG_KEY] = False


def _open_dialog() -> None:
    st.session_state[DIALOG_KEY] = True
    st.session_state[OVERRIDE_KEY] = False  # the override is ticked afresh every time
    st.session_state.pop(OUTCOME_KEY, None)


def _drop_preview() -> None:
    st.session_state.pop(PREVIEW_KEY, None)


def render(ctx: AppContext) -> None:
    st.title("Prune checkpoints")
    if ctx.read_only:
        st.info(READ_ONLY_NOTE, icon=":material/lock:")
        st.session_state[DIALOG_KEY] = False
    scope = urlstate.current_route().scope  # as typed: "/etc" stays absolute, and is refused
    try:
        check_scope(ctx.root, scope)
    except RunlogError as exc:
        st.error(f"Refused: {md_code(ctx.shown(str(exc)))}", icon=":material/block:")
        st.markdown(f"[Back to all runs]({urlstate.link()})")
        return

    narrow_slot = _scope_picker(scope)
    with st.container(horizontal=True, vertical_alignment="bottom"):
        keep = int(
            st.number_input(
                "Keep the newest K numbered checkpoints per run",
                min_value=0,
                max_value=MAX_KEEP,
                value=DEFAULT_KEEP,
                step=1,
                key=KEEP_KEY,
                width=340,
                help="Every checkpoints/step_<N>.mpk but the K with the largest N is deleted. "
                "latest.mpk, best.mpk and any other file are never touched.",
            )
        )
        st.button("Refresh preview", key=REFRESH_KEY, on_click=_drop_preview)

    preview: Preview | None = st.session_state.get(PREVIEW_KEY)
    if preview is None or (preview.root, preview.scope, preview.keep) != (ctx.root, scope, keep):
        try:
            preview = make_preview(ctx, scope, keep)
        except (RunlogError, OSError) as exc:
            st.error(f"Cannot plan the prune: {md_code(ctx.shown(str(exc)))}")
            return
        st.session_state[PREVIEW_KEY] = preview

    _narrow_picker(ctx, narrow_slot, preview)
    outcome: Outcome | None = st.session_state.get(OUTCOME_KEY)
    if outcome is not None and outcome.scope == scope:
        _show_outcome(ctx, outcome)
    _show_preview(ctx, preview)
    if not ctx.read_only and st.session_state.get(DIALOG_KEY):
        _confirm_dialog(ctx, preview)


def _scope_picker(scope: str) -> Any:
    """Draw the scope and the buttons widening it; return the row for the narrowing picker."""
    levels = scope_levels(scope)
    st.markdown(f"Scope: {scope_label(levels[0][0], levels[0][2])}")
    row = st.container(horizontal=True, vertical_alignment="center")
    with row:
        st.caption("Change scope:", width="content")
        for rel, level, words in levels[1:]:
            st.button(
                scope_label(rel, words),
                key=SCOPE_KEY_PREFIX + level,
                on_click=_go_scope,
                args=(rel,),
                icon=":material/zoom_out:",
            )
    return row


def _narrow_picker(ctx: AppContext, row: Any, preview: Preview) -> None:
    options = narrower_scopes(ctx.root, preview.scope, preview.plans)
    if not options:
        return
    with row:
        st.selectbox(
            "Narrow to",
            options,
            index=None,
            key=NARROW_KEY,
            placeholder="narrow to a name, version or run…",
            on_change=_narrow,
            label_visibility="collapsed",
            width=360,
        )


def _narrow(*_: object) -> None:
    chosen = st.session_state.get(NARROW_KEY)
    st.session_state[NARROW_KEY] = None
    if chosen:
        _go_scope(str(chosen))


def _show_preview(ctx: AppContext, preview: Preview) -> None:
    n = preview.files(include_live=False)
    size = human_size(preview.bytes_freed(include_live=False))
    runs = preview.runs_touched(include_live=False)
    planned = time.strftime("%H:%M:%S", time.localtime(preview.planned_at))
    st.subheader("Preview")
    if not preview.plans:
        st.info("No runs under this scope.")
        return
    st.markdown(
        f"**{n}** file{'s' if n != 1 else ''} in **{runs}** "
        f"run{'s' if runs != 1 else ''} would be deleted, freeing **{size}** "
        f"(keep {preview.keep}; planned at {planned})."
    )
    if not ctx.read_only and preview.files(include_live=True):
        st.button(
            f"Prune… ({n} file{'s' if n != 1 else ''}, {size})",
            key=OPEN_KEY,
            type="primary",
            icon=":material/delete:",
            on_click=_open_dialog,
        )
    st.dataframe(runs_frame(ctx, preview), hide_index=True, key="prune.runs_table")
    files = files_frame(ctx, preview.plans)
    if not files.empty:
        st.dataframe(files, hide_index=True, column_order=_FILE_COLUMNS, key="prune.files_table")
    if preview.live_plans:
        live_n = sum(p.files for p in preview.live_plans)
        live_size = human_size(sum(p.bytes_freed for p in preview.live_plans))
        n_live = len(preview.live_plans)
        st.warning(
            f"{n_live} live run{'s' if n_live != 1 else ''} "
            f"(written within the last {ctx.live_window:g} s) "
            f"{'are' if n_live != 1 else 'is'} skipped: "
            f"{live_n} more file{'s' if live_n != 1 else ''} ({live_size}). "
            "Tick the override in the confirmation dialog to prune them anyway."
        )
        st.dataframe(
            files_frame(ctx, preview.live_plans),
            hide_index=True,
            column_order=_FILE_COLUMNS,
            key="prune.live_table",
        )


@st.dialog("Delete checkpoints?", on_dismiss=_close_dialog)
def _confirm_dialog(ctx: AppContext, preview: Preview) -> None:
    include_live = False
    if preview.live_plans:
        live_n = sum(p.files for p in preview.live_plans)
        include_live = st.checkbox(
            f"Also prune {len(preview.live_plans)} live run"
            f"{'s' if len(preview.live_plans) != 1 else ''} ({live_n} files): "
            "they are being written right now",
            key=OVERRIDE_KEY,
        )
    n = preview.files(include_live)
    size = human_size(preview.bytes_freed(include_live))
    runs = preview.runs_touched(include_live)
    st.markdown(
        f"Delete **{n}** checkpoint file{'s' if n != 1 else ''} from **{runs}** "
        f"run{'s' if runs != 1 else ''}, freeing **{size}**? This cannot be undone."
    )
    st.caption(
        "Exactly the files of the preview. Any file that changed since the preview "
        "(a new checkpoint, a replaced file) is kept and reported."
    )
    left, right = st.columns(2)
    if left.button(
        f"Delete {n} file{'s' if n != 1 else ''}",
        key=CONFIRM_KEY,
        type="primary",
        disabled=n == 0,
    ):
        try:
            st.session_state[OUTCOME_KEY] = apply_preview(ctx, preview, include_live)
        except (RunlogError, OSError) as exc:
            st.error(md_code(ctx.shown(str(exc))))
            return
        st.session_state[DIALOG_KEY] = False
        _drop_preview()
        st.rerun()
    if right.button("Cancel", key=CANCEL_KEY):
        st.session_state[DIALOG_KEY] = False
        st.rerun()


def _show_outcome(ctx: AppContext, outcome: Outcome) -> None:
    frames = outcome_frames(ctx, outcome)
    msg = (
        f"Deleted {outcome.deleted} file{'s' if outcome.deleted != 1 else ''}, "
        f"freed {human_size(outcome.bytes_freed)}."
    )
    if outcome.failed:
        st.error(f"{msg} {outcome.failed} could not be deleted (see below).")
    elif outcome.skipped:
        st.warning(f"{msg} {outcome.skipped} were not deleted: see why below.")
    else:
        st.success(msg)
    if not frames["deleted"].empty:
        with st.expander(f"Deleted ({outcome.deleted})"):
            st.dataframe(frames["deleted"], hide_index=True, key="prune.deleted_table")
    if not frames["failed"].empty:
        st.markdown(f"**Failed ({outcome.failed})**")
        st.dataframe(frames["failed"], hide_index=True, key="prune.failed_table")
    if not frames["skipped"].empty:
        st.markdown(f"**Not deleted ({outcome.skipped})**: refresh the preview to see them again.")
        st.dataframe(frames["skipped"], hide_index=True, key="prune.skipped_table")
    if outcome.live_not_pruned:
        names = ", ".join(md_code(_rel(ctx, p)) for p in outcome.live_not_pruned)
        st.caption(f"Live runs left alone (override not ticked): {names}")
