"""A run's tags and note in the run view: shown, and edited unless the app is read-only.

    [expander "Notes & tags"]       open when the run has any, or a save needs an answer
        read-only                   the tags and the note as plain text; no control at all
        editor                      tags (pick one or type a new one), note, Save
        conflict                    someone saved since this editor loaded the file: their
                                    tags and note are shown beside yours (still in the editor);
                                    "Save mine over theirs" or "Take theirs"
        unreadable runlog.json      its problem and text; saving needs a ticked confirmation

The editor remembers the file it loaded (runlog.format.notes.NotesFile, with its identity);
provider.save_notes compares that identity with the file's right before writing, so two
tabs never silently lose an edit. While nothing is edited here, a change made elsewhere
(another tab, `runlog tag`) is loaded as it arrives. Notes are untrusted text: shown with
st.text / st.code or through dashboard.text, never as markdown.
"""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from dashboard.context import AppContext
from dashboard.text import md_code
from runlog.errors import NotesError, OutsideRootError
from runlog.format.layout import notes_path
from runlog.format.notes import (
    MAX_NOTE_LENGTH,
    ConflictError,
    NotesFile,
    RunNotes,
    UnreadableNotesError,
)
from runlog.read.catalog import RunSummary
from runlog.remote.store import RemoteError

SAVE_LABEL = "Save notes"
OVERWRITE_LABEL = "Save mine over theirs"
TAKE_THEIRS_LABEL = "Take theirs"


def _key(rel: str, what: str) -> str:
    return f"notes.{what}:{rel}"


def render(ctx: AppContext, rel: str) -> None:
    """The "Notes & tags" section of run `rel` (a checked name/version/run_id)."""
    provider = ctx.provider()
    summary = provider.run(rel)
    tags = () if summary is None else summary.tags
    note = "" if summary is None else summary.note
    pending = _key(rel, "conflict") in st.session_state or _key(rel, "message") in st.session_state
    with st.expander(
        "Notes & tags", icon=":material/sell:", expanded=bool(tags or note or pending)
    ):
        if ctx.read_only:
            _read_only(tags, note)
        else:
            _editor(ctx, rel, summary)


def _read_only(tags: tuple[str, ...], note: str) -> None:
    if not tags and not note:
        st.caption("No tags or note. (Read-only: they cannot be edited here.)")
        return
    if tags:
        st.markdown("**Tags** " + " ".join(md_code(tag) for tag in tags))
    if note:
        st.text(note)


# -- the editor -------------------------------------------------------------------------------


def _load(rel: str, file: NotesFile) -> None:
    """Put `file` in the editor (widgets not drawn yet in this run, or from a callback)."""
    st.session_state[_key(rel, "loaded")] = file
    st.session_state[_key(rel, "tags")] = list(file.notes.tags)
    st.session_state[_key(rel, "note")] = file.notes.note
    st.session_state[_key(rel, "confirm")] = False


def _edited(rel: str, loaded: NotesFile) -> bool:
    return (
        st.session_state.get(_key(rel, "tags"), []) != list(loaded.notes.tags)
        or st.session_state.get(_key(rel, "note"), "") != loaded.notes.note
    )


def _differs(loaded: NotesFile, summary: RunSummary | None) -> bool:
    """Whether the listing (kept current by the provider) shows other notes than the editor
    loaded: someone saved meanwhile."""
    if summary is None:
        return False
    return (summary.tags, summary.note) != (loaded.notes.tags, loaded.notes.note)


def _editor(ctx: AppContext, rel: str, summary: RunSummary | None) -> None:
    provider = ctx.provider()
    loaded: NotesFile | None = st.session_state.get(_key(rel, "loaded"))
    if loaded is None or (not _edited(rel, loaded) and _differs(loaded, summary)):
        try:
            loaded = provider.notes(rel)
        except OutsideRootError as exc:
            st.error(md_code(ctx.shown(str(exc))), icon=":material/block:")
            return
        _load(rel, loaded)
    elif _differs(loaded, summary) and _key(rel, "conflict") not in st.session_state:
        st.info(
            "These notes were saved elsewhere (another tab, or `runlog tag` / `runlog note`) "
            "since you started editing. Saving shows you theirs before anything is replaced.",
            icon=":material/sync_problem:",
        )

    if loaded.problem is not None:
        _unreadable(rel, loaded)

    others = {tag for s in provider.runs() for tag in s.tags}
    chosen = st.session_state.get(_key(rel, "tags"), [])
    st.multiselect(
        "Tags",
        sorted(others | set(chosen)),
        key=_key(rel, "tags"),
        accept_new_options=True,
        placeholder="pick a tag, or type a new one and press Enter",
        help="Tags travel with the run (its runlog.json). A tag has no comma and at most 64 "
        "characters; the run table filters by them.",
    )
    st.text_area(
        "Note",
        key=_key(rel, "note"),
        max_chars=MAX_NOTE_LENGTH,
        height=120,
        placeholder="What this run is, what went wrong, what to try next…",
    )
    confirmed = bool(st.session_state.get(_key(rel, "confirm")))
    left, right = st.columns([1, 4], vertical_alignment="center")
    left.button(
        SAVE_LABEL,
        key=_key(rel, "save"),
        icon=":material/save:",
        type="primary",
        disabled=not (_edited(rel, loaded) or (loaded.problem is not None and confirmed)),
        on_click=_save,
        args=(ctx, rel),
    )
    right.caption(_saved_caption(loaded))

    message = st.session_state.pop(_key(rel, "message"), None)
    if message is not None:
        kind, text = message
        if kind == "success":
            st.success(text, icon=":material/check:")
        else:
            st.error(md_code(text), icon=":material/error:")
    theirs: NotesFile | None = st.session_state.get(_key(rel, "conflict"))
    if theirs is not None:
        _conflict(ctx, rel, theirs)


def _saved_caption(loaded: NotesFile) -> str:
    updated = loaded.notes.updated
    if not loaded.exists:
        return "Not saved yet: the run has no runlog.json."
    if updated is None:
        return f"In {md_code(loaded.path.name)}"
    when = updated.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    ago = datetime.now(updated.tzinfo) - updated
    minutes = int(ago.total_seconds() // 60)
    age = "just now" if minutes < 1 else f"{minutes:,} min ago" if minutes < 120 else when
    return f"Last saved {age} ({when}) in {md_code(loaded.path.name)}"


def _unreadable(rel: str, loaded: NotesFile) -> None:
    st.warning(
        f"{md_code(loaded.problem or '')}. Its content is below; saving replaces it (and loses "
        "it) only once you tick the box.",
        icon=":material/report:",
    )
    if loaded.text:
        st.code(loaded.text[:4000], language=None, wrap_lines=True)
    st.checkbox("Replace it with the notes below when saving", key=_key(rel, "confirm"))


def _conflict(ctx: AppContext, rel: str, theirs: NotesFile) -> None:
    with st.container(border=True):
        st.warning(
            "Not saved: someone else saved this run's notes after you opened them (another "
            "tab, or `runlog tag` / `runlog note`). Theirs is below; yours is still in the "
            "editor above. Merge by hand (copy from theirs into the editor) and save yours "
            "over theirs, or take theirs.",
            icon=":material/merge:",
        )
        if not theirs.exists:
            st.caption("They deleted runlog.json: there are no tags and no note now.")
        elif theirs.problem is not None:
            st.caption(md_code(theirs.problem))
            st.code(theirs.text[:4000], language=None, wrap_lines=True)
        else:
            st.markdown(
                "**Their tags** "
                + (" ".join(md_code(tag) for tag in theirs.notes.tags) or "(none)")
            )
            st.markdown("**Their note**")
            st.code(theirs.notes.note or "(empty)", language=None, wrap_lines=True)
        left, right, _ = st.columns([1, 1, 3])
        left.button(
            OVERWRITE_LABEL,
            key=_key(rel, "overwrite"),
            icon=":material/save_as:",
            on_click=_save,
            args=(ctx, rel),
            kwargs={"over": theirs},
        )
        right.button(
            TAKE_THEIRS_LABEL,
            key=_key(rel, "take"),
            icon=":material/undo:",
            on_click=_take,
            args=(rel, theirs),
        )


# -- callbacks (they run before the rerun, so they may set the widgets' values) ----------------


def _save(ctx: AppContext, rel: str, over: NotesFile | None = None) -> None:
    """Save the editor's tags and note: against the file it loaded, or, after a conflict,
    over `over` (theirs, which the user has seen)."""
    loaded: NotesFile | None = st.session_state.get(_key(rel, "loaded"))
    if loaded is None:
        return
    base = loaded if over is None else over
    notes = RunNotes(
        tuple(st.session_state.get(_key(rel, "tags"), [])),
        st.session_state.get(_key(rel, "note"), "") or "",
    )
    confirmed = over is not None or bool(st.session_state.get(_key(rel, "confirm")))
    provider = ctx.provider()

    def write() -> NotesFile:
        return provider.save_notes(rel, notes, base.identity, replace_unreadable=confirmed)

    try:
        if ctx.remote is None:
            written = write()
        else:  # runlog.json goes back to the bucket; a save made there first is a conflict
            written = ctx.remote.write_back(notes_path(provider.run_path(rel)), write)
    except ConflictError as exc:
        st.session_state[_key(rel, "conflict")] = exc.theirs
        return
    except UnreadableNotesError as exc:
        st.session_state[_key(rel, "loaded")] = exc.current
        st.session_state[_key(rel, "message")] = ("error", str(exc))
        return
    except (NotesError, RemoteError) as exc:
        st.session_state[_key(rel, "message")] = ("error", ctx.shown(str(exc)))
        return
    _load(rel, written)
    st.session_state.pop(_key(rel, "conflict"), None)
    st.session_state[_key(rel, "message")] = ("success", "Saved.")


def _take(rel: str, theirs: NotesFile) -> None:
    """Drop the edits here and load theirs into the editor."""
    _load(rel, theirs)
    st.session_state.pop(_key(rel, "conflict"), None)
