"""The `runlog` command line: a thin front end over the library.

    runlog [--read-only] resolve PATH                 print the run directory PATH resolves to
    runlog [--read-only] prune PATH --keep K [--dry-run] [--json] [--include-live]
                                                      [--follow-symlinks]
    runlog [--no-cache] ls ROOT [--json]              table of the runs under ROOT
    runlog [--no-cache] show RUN [--json]             one run's summary
    runlog [--no-cache] sweep PATH... [--score S] [--group-by K,...] [--stat iqm|mean] [--json]
                                                      group runs by config (seeds collapsed)
    runlog [--read-only] tag RUN TAG... [--remove]    add (remove) tags of a run (runlog.json)
    runlog [--read-only] note RUN TEXT                set a run's note ("" clears it)
    runlog index ROOT                                 read every log under ROOT into the index
    runlog cache info | clear                         where the index is and how big; empty it

Every PATH, ROOT and RUN may be a URL of an object store (s3://bucket/prefix, gs://...; the
`s3` / `gcs` extras), mirrored into the cache directory with few requests (runlog.remote).

Exit codes: 0 success, 1 a runlog error (one line on stderr, never a traceback), a failed
deletion or a run `prune` refused (a symlink leading outside PATH, without --follow-symlinks),
2 a usage error or a write refused by read-only mode.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import runlog
from runlog.errors import ReadOnlyError, RunlogError
from runlog.format.resolve import resolve_run

if TYPE_CHECKING:
    from runlog.format.notes import NotesFile, RunNotes
    from runlog.provider import IndexProgress
    from runlog.prune import PrunePlan
    from runlog.read.index import RunIndex
    from runlog.remote.roots import RemoteRoot

READ_ONLY_ENV = "RUNLOG_READ_ONLY"
NO_CACHE_ENV = "RUNLOG_NO_CACHE"
_TRUE_WORDS = frozenset({"1", "true", "yes", "on"})

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


def read_only_from_env(environ: dict[str, str] | None = None) -> bool:
    """True when RUNLOG_READ_ONLY is set to 1/true/yes/on (any case)."""
    value = (os.environ if environ is None else environ).get(READ_ONLY_ENV, "")
    return value.strip().lower() in _TRUE_WORDS


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


class _Version(argparse.Action):
    """--version, the package metadata read only when asked for (see runlog.__getattr__)."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        sys.stdout.write(f"runlog {runlog.__version__}\n")
        parser.exit()


def _hidden_no_cache(command: argparse.ArgumentParser) -> None:
    """`--no-cache` after the command too (`runlog ls --no-cache ROOT`); documented once, on
    the main parser."""
    command.add_argument(
        "--no-cache", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="runlog",
        description="Browse, resolve and prune ember-rl training runs.",
    )
    parser.add_argument("--version", action=_Version, nargs=0, help="print the version and exit")
    parser.add_argument(
        "--read-only",
        action="store_true",
        help=f"refuse every write (also on when {READ_ONLY_ENV}=1)",
    )
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help=f"neither use nor write the run index (also on when {NO_CACHE_ENV}=1)",
    )
    parser.add_argument(
        "--storage-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an fsspec storage option for s3://, gs://, ... roots (repeatable), e.g. "
        "anon=true, profile=NAME, endpoint_url=...; credentials otherwise come from the "
        "environment (AWS_PROFILE, AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL, ...)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    resolve = commands.add_parser(
        "resolve",
        help="print the run directory a path resolves to",
        description="Resolve PATH by ember-rl's rule: a directory with metadata.json is the "
        "run; otherwise descend into the greatest subdirectory in string order.",
    )
    resolve.add_argument("path", type=str, metavar="PATH")
    resolve.set_defaults(handler=_cmd_resolve)

    prune = commands.add_parser(
        "prune",
        help="delete all but the K newest step_<N>.mpk checkpoints",
        description="Delete every checkpoints/step_<N>.mpk except the K with the largest N, "
        "in one run or in every run under a name, version or root directory. latest.mpk, "
        "best.mpk and other files are never touched; live runs are skipped.",
    )
    prune.add_argument("path", type=str, metavar="PATH")
    prune.add_argument("--keep", type=_non_negative_int, required=True, metavar="K")
    prune.add_argument("--dry-run", action="store_true", help="show what would be deleted")
    prune.add_argument("--json", action="store_true", help="print one JSON object")
    prune.add_argument(
        "--include-live", action="store_true", help="also prune runs that are writing now"
    )
    prune.add_argument(
        "--follow-symlinks",
        action="store_true",
        help="prune through a checkpoints/ (or step_<N>.mpk) symlink leading outside PATH; "
        "without it such a run is refused (a symlinked step_<N>.mpk is removed as a link, "
        "its target is kept)",
    )
    prune.add_argument(
        "--read-only", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )
    prune.set_defaults(handler=_cmd_prune)

    ls = commands.add_parser("ls", help="list the runs under ROOT")
    ls.add_argument("root", type=str, metavar="ROOT")
    ls.add_argument("--json", action="store_true", help="print JSON")
    _hidden_no_cache(ls)
    ls.set_defaults(handler=_cmd_ls)

    show = commands.add_parser("show", help="summarize one run")
    show.add_argument("run", type=str, metavar="RUN")
    show.add_argument("--json", action="store_true", help="print JSON")
    _hidden_no_cache(show)
    show.set_defaults(handler=_cmd_show)

    sweep = commands.add_parser(
        "sweep",
        help="group runs by config, seeds collapsed; score each group with a 95%% CI",
        description="Every run under the PATHs (roots, names, versions or runs), grouped by "
        "the config keys that vary (keys named seed, *_seed, seed_* ignored), each group's "
        "IQM (or mean) score with a 95%% bootstrap CI over its runs, best group first.",
    )
    sweep.add_argument("paths", type=str, nargs="+", metavar="PATH")
    sweep.add_argument(
        "--score",
        choices=("final-eval", "best-eval", "auc", "final-train"),
        default="final-eval",
        help="final eval block mean (default), best eval block mean, normalised eval AUC, "
        "final smoothed train reward",
    )
    sweep.add_argument(
        "--group-by",
        type=lambda text: [k.strip() for k in text.split(",") if k.strip()],
        default=None,
        metavar="KEY,...",
        help="group by these flattened config keys instead (e.g. config.lr,config.batch_size)",
    )
    sweep.add_argument("--stat", choices=("iqm", "mean"), default="iqm")
    sweep.add_argument("--json", action="store_true", help="print JSON")
    _hidden_no_cache(sweep)
    sweep.set_defaults(handler=_cmd_sweep)

    tag = commands.add_parser(
        "tag",
        help="add tags to a run (or remove them)",
        description="Add TAGs to the run directory RUN, kept in RUN/runlog.json (which travels "
        "with the run); --remove takes them off. A tag has no comma and at most 64 characters.",
    )
    tag.add_argument("run", type=str, metavar="RUN")
    tag.add_argument("tags", nargs="+", metavar="TAG")
    tag.add_argument("--remove", action="store_true", help="remove these tags instead")
    _notes_options(tag)
    tag.set_defaults(handler=_cmd_tag)

    note = commands.add_parser(
        "note",
        help="set a run's free-text note",
        description="Set the note of the run directory RUN to TEXT (\"\" clears it), kept in "
        "RUN/runlog.json beside its tags.",
    )
    note.add_argument("run", type=str, metavar="RUN")
    note.add_argument("text", metavar="TEXT")
    _notes_options(note)
    note.set_defaults(handler=_cmd_note)

    index = commands.add_parser(
        "index",
        help="read every log under ROOT into the run index",
        description="Read the logs of every run under ROOT and keep what was read in the run "
        "index (outside ROOT, see `runlog cache info`), so that `runlog ls` and the dashboard "
        "list them without reading them again. Shows a progress bar on a terminal.",
    )
    index.add_argument("root", type=str, metavar="ROOT")
    index.set_defaults(handler=_cmd_index)

    cache = commands.add_parser("cache", help="the run index: where it is, how big; empty it")
    cache.add_argument("action", choices=("info", "clear"), metavar="info|clear")
    cache.add_argument("--json", action="store_true", help="print JSON (info)")
    cache.set_defaults(handler=_cmd_cache)
    return parser


def _notes_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--force",
        action="store_true",
        help="replace a runlog.json that cannot be read as notes (its content is lost)",
    )
    command.add_argument(
        "--read-only", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with `argv` (default: sys.argv[1:]); return the exit code."""
    parser = build_parser()
    _REMOTES.clear()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors: argparse already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        code: int = args.handler(args)
        return code
    except ReadOnlyError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except RunlogError as exc:
        _error(str(exc))
        return EXIT_ERROR
    except OSError as exc:
        _error(str(exc))
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


_REMOTES: list[RemoteRoot] = []
"""The remote roots this command opened: their mirror paths are shown as URLs."""


def _shown(text: str) -> str:
    for remote in _REMOTES:
        text = remote.mirror.shown(text)
    return text


def _out(text: str) -> None:
    print(_shown(text))


def _error(message: str) -> None:
    print(f"runlog: error: {_shown(message)}", file=sys.stderr)


def _note(message: str) -> None:
    print(f"runlog: note: {_shown(message)}", file=sys.stderr)


def _location(args: argparse.Namespace, text: str) -> Path:
    """The local path of a PATH argument: itself, or the mirror of an object store URL (synced
    now, with one listing and only what changed fetched)."""
    from runlog.remote.urls import parse_url

    parsed = parse_url(text)
    if isinstance(parsed, str):
        return Path(parsed)
    from runlog.read.index import cache_dir, cache_disabled
    from runlog.remote.roots import open_remote
    from runlog.remote.urls import parse_storage_options

    no_cache = bool(getattr(args, "no_cache", False)) or cache_disabled()
    options = parse_storage_options(getattr(args, "storage_option", []) or [])
    remote = open_remote(parsed, options, cache=None if no_cache else cache_dir())
    _REMOTES.append(remote)
    if remote.last is not None:
        for skipped in remote.last.skipped:
            _note(f"not mirrored: {skipped}")
    return remote.local_root


def _remote_of(path: Path) -> RemoteRoot | None:
    """The remote root this command opened whose mirror holds `path`, if any."""
    return next((r for r in _REMOTES if path.is_relative_to(r.local_root)), None)


# -- commands ------------------------------------------------------------------------------


def _cmd_resolve(args: argparse.Namespace) -> int:
    _out(str(resolve_run(_location(args, args.path))))
    return EXIT_OK


def _index(args: argparse.Namespace) -> RunIndex | None:
    from runlog.read.index import open_index

    index = open_index(no_cache=bool(getattr(args, "no_cache", False)))
    if index is not None:
        for note in index.notes:
            _note(note)
    return index


def _note_cache(index: RunIndex | None) -> None:
    if index is not None and index.problem:
        _note(index.problem)


def _cmd_ls(args: argparse.Namespace) -> int:
    from runlog.report import ls_command

    index = _index(args)
    text: str
    code: int
    text, code = ls_command(_location(args, args.root), args.json, index)
    _emit(text, code)
    _note_cache(index)
    return code


def _cmd_sweep(args: argparse.Namespace) -> int:
    from runlog.sweep_command import sweep_command

    index = _index(args)
    text, code = sweep_command(
        [_location(args, path) for path in args.paths],
        score=args.score,
        group_by=args.group_by,
        statistic=args.stat,
        as_json=args.json,
        index=index,
    )
    _emit(text, code)
    _note_cache(index)
    return code


def _cmd_show(args: argparse.Namespace) -> int:
    from runlog.report import show_command

    index = _index(args)
    text: str
    code: int
    text, code = show_command(_location(args, args.run), args.json, index)
    _emit(text, code)
    _note_cache(index)
    return code


def _notes_run(args: argparse.Namespace, what: str) -> Path:
    """The run directory a notes command writes to: RUN itself, which must be a run (no resolve
    rule: a write goes to the run named, never to one picked for the user)."""
    from runlog.format.rundirs import is_run_dir

    if args.read_only or read_only_from_env():
        raise ReadOnlyError(
            f"refusing to change the {what} of {args.run}: read-only mode is on (--read-only "
            f"or {READ_ONLY_ENV}=1)"
        )
    path = _location(args, args.run)
    if not path.exists():
        raise RunlogError(f"{path} does not exist; give a run directory")
    try:
        children = {p.name for p in path.iterdir()}
    except NotADirectoryError:
        raise RunlogError(f"{path} is not a directory; give a run directory") from None
    if not is_run_dir(path.name, children):
        raise RunlogError(
            f"{path} is not a run directory (no metadata.json or episode log in it); give "
            "the run's own directory, <name>/<version>/<run_id>"
        )
    return path


def _update(run_dir: Path, change: Callable[[RunNotes], RunNotes], force: bool) -> NotesFile:
    from runlog.format.layout import notes_path
    from runlog.format.notes import UnreadableNotesError, update_notes

    def write() -> NotesFile:
        return update_notes(run_dir, change, replace_unreadable=force)

    remote = _remote_of(run_dir)
    try:
        # A run in an object store: its runlog.json is fetched fresh, changed, put back.
        return write() if remote is None else remote.write_back(notes_path(run_dir), write)
    except UnreadableNotesError as exc:
        raise RunlogError(f"{exc}; add --force to replace it (what it holds is lost)") from None


def _cmd_tag(args: argparse.Namespace) -> int:
    from runlog.format.notes import normalise_tags

    run_dir = _notes_run(args, "tags")
    tags = normalise_tags(args.tags)
    missing: list[str] = []

    def change(notes: RunNotes) -> RunNotes:
        if not args.remove:
            return replace(notes, tags=(*notes.tags, *tags))
        missing[:] = [t for t in tags if t not in notes.tags]
        return replace(notes, tags=tuple(t for t in notes.tags if t not in tags))

    written = _update(run_dir, change, args.force)
    for tag in missing:
        _note(f"{run_dir} had no tag {tag!r}")
    now = written.notes.tags
    _out(f"{run_dir}: " + (f"tags {', '.join(now)}" if now else "no tags"))
    return EXIT_OK


def _cmd_note(args: argparse.Namespace) -> int:
    run_dir = _notes_run(args, "note")
    text: str = args.text
    written = _update(run_dir, lambda notes: replace(notes, note=text), args.force)
    length = len(written.notes.note)
    _out(f"{run_dir}: " + (f"note saved ({length:,} characters)" if length else "note cleared"))
    return EXIT_OK


def _cmd_index(args: argparse.Namespace) -> int:
    from runlog.provider import RunProvider

    index = _index(args)
    if index is None:
        raise ReadOnlyError(
            f"the run index is turned off (--no-cache or {NO_CACHE_ENV}=1): nothing to build"
        )
    root = _location(args, args.root)
    if not root.is_dir():
        raise RunlogError(f"{root} is not a directory; give a runs root")
    start = time.monotonic()
    # Every log that needs reading goes through the background reader, which counts it.
    provider = RunProvider(root, index=index, watch=False, background=True, foreground_read=0)
    provider.refresh()
    bar = _ProgressBar(sys.stderr)
    while not provider.wait_indexed(timeout=0.2):
        bar.show(provider.progress())
    provider.catalog.save_index()
    progress = provider.progress()
    bar.show(progress, final=True)
    runs = provider.runs()
    unchanged = len(runs) - progress.runs_done
    _out(
        f"indexed {len(runs):,} run{'s' if len(runs) != 1 else ''} under {root} in "
        f"{time.monotonic() - start:.1f} s: {progress.runs_done:,} read "
        f"({_human_bytes(progress.bytes_done)} of logs), {unchanged:,} unchanged since "
        f"indexed; the index is in {index.directory}"
    )
    _note_cache(index)
    return EXIT_OK


class _ProgressBar:
    """A one-line bar on a terminal (redrawn in place), a line per quarter otherwise."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.shown = -1

    def show(self, progress: IndexProgress, final: bool = False) -> None:
        fraction = 1.0 if final else progress.fraction
        if self.tty:
            filled = int(30 * fraction)
            end = "\n" if final else ""
            self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {progress.label()}{end}")
            self.stream.flush()
            return
        quarter = int(4 * fraction)
        if quarter > self.shown:
            self.shown = quarter
            self.stream.write(progress.label() + "\n")
            self.stream.flush()


def _cmd_cache(args: argparse.Namespace) -> int:
    from runlog.read.index import open_index
    from runlog.remote.roots import clear_mirrors, mirrors_bytes

    index = open_index(no_cache=False)
    assert index is not None
    if args.action == "clear":
        freed = index.clear() + clear_mirrors(index.directory)
        print(
            f"emptied the run index and the mirrors of remote roots in {index.directory} "
            f"({_human_bytes(freed)} freed)"
        )
        return EXIT_OK
    info = index.info()
    mirrors = mirrors_bytes(index.directory)
    if args.json:
        print(
            json.dumps(
                {
                    "directory": str(info.directory),
                    "roots": info.roots,
                    "runs": info.runs,
                    "column_files": info.column_files,
                    "bytes": info.bytes,
                    "max_bytes": info.max_bytes,
                    "disabled": read_no_cache_env(),
                    "mirror_bytes": mirrors,
                }
            )
        )
        return EXIT_OK
    disabled = f" (turned off now: {NO_CACHE_ENV} is set)" if read_no_cache_env() else ""
    print(f"location  {info.directory}{disabled}")
    print(f"entries   {info.runs:,} runs under {info.roots:,} runs roots")
    print(f"columns   {info.column_files:,} files")
    print(f"size      {_human_bytes(info.bytes)} of at most {_human_bytes(info.max_bytes)}")
    print(f"mirrors   {_human_bytes(mirrors)} (remote roots: s3://, gs://, ...)")
    return EXIT_OK


def read_no_cache_env() -> bool:
    from runlog.read.index import cache_disabled

    return cache_disabled()


def _emit(text: str, code: int) -> None:
    if text:
        print(_shown(text).rstrip("\n"), file=sys.stdout if code == EXIT_OK else sys.stderr)


def _cmd_prune(args: argparse.Namespace) -> int:
    from runlog.prune import apply_prune, plan_prune_tree

    if not args.dry_run and (args.read_only or read_only_from_env()):
        raise ReadOnlyError(
            f"refusing to prune {args.path}: read-only mode is on (--read-only or "
            f"{READ_ONLY_ENV}=1); add --dry-run to preview what would be deleted"
        )
    # PATH is the boundary: a symlink leading out of it is refused (the library guards the
    # checkpoints/ directory up to the unlink) unless --follow-symlinks.
    path = _location(args, args.path)
    remote = _remote_of(path)
    # A remote root's checkpoints go from the store first, each only if its ETag and size are
    # still those of the preview (runlog.remote.mirror).
    remove = None if remote is None else remote.mirror.delete_unchanged
    boundary = None if args.follow_symlinks else path
    plans = plan_prune_tree(path, args.keep, root=boundary, include_live=args.include_live)
    deleted: list[Path] = []
    failed: list[tuple[Path, str]] = []
    skipped: list[tuple[Path, str]] = []  # runs skipped by the plan, files kept by apply
    refused: list[tuple[Path, Path]] = []  # symlinks leading outside PATH: (link, target)
    skipped_runs = 0
    refused_runs = 0
    bytes_freed = 0
    lines: list[str] = []
    verb = "would delete" if args.dry_run else "deleted"
    for plan in plans:
        outside = () if boundary is None else plan.links_outside(boundary)
        if outside:
            refused.extend(outside)
            refused_runs += 1
            for link, target in outside:
                message = _refusal(link, target, path)
                skipped.append((plan.run_dir, message))
                _error(message)
            continue
        if plan.skipped_reason is not None:
            skipped.append((plan.run_dir, plan.skipped_reason))
            skipped_runs += 1
            lines.append(f"skipped {plan.run_dir}: {plan.skipped_reason}")
            continue
        if args.dry_run:
            done = [(c.path, c.size) for c in plan.delete]
            freed = plan.bytes_freed
        else:
            result = apply_prune(plan, remove=remove)
            sizes = _sizes(plan)
            done = [(path, sizes.get(path, 0)) for path in result.deleted]
            freed = result.bytes_freed
            failed.extend(result.failed)
            skipped.extend(result.skipped)
            lines.extend(f"failed to delete {path}: {reason}" for path, reason in result.failed)
            lines.extend(f"kept {path}: {reason}" for path, reason in result.skipped)
        deleted.extend(path for path, _ in done)
        bytes_freed += freed
        real = {f.path: plan.real_path(f) for f in plan.delete}
        lines.extend(
            f"{verb} {path} ({_human_bytes(size)})" + _really(path, real.get(path, path))
            for path, size in done
        )

    if args.json:
        report: dict[str, Any] = {
            "deleted": [str(path) for path in deleted],
            "bytes_freed": bytes_freed,
            "dry_run": bool(args.dry_run),
            "failed": [{"path": str(path), "error": reason} for path, reason in failed],
            "skipped": [{"path": str(path), "reason": reason} for path, reason in skipped],
            "refused_symlinks": [
                {"link": str(link), "target": str(target)} for link, target in refused
            ],
        }
        _out(json.dumps(report))
    else:
        runs = len(plans) - skipped_runs - refused_runs
        lines.append(
            f"{'dry run: ' if args.dry_run else ''}{verb} {len(deleted)} checkpoint(s) "
            f"in {runs} run(s), {'freeing' if args.dry_run else 'freed'} "
            f"{bytes_freed} bytes ({_human_bytes(bytes_freed)})"
            + (f"; {len(failed)} failed" if failed else "")
            + (
                f"; {skipped_runs} run(s) skipped (see above; live runs need --include-live)"
                if skipped_runs
                else ""
            )
            + (
                f"; {refused_runs} run(s) refused: a symlink leads outside {args.path} "
                "(see stderr; --follow-symlinks prunes there)"
                if refused_runs
                else ""
            )
        )
        _out("\n".join(lines))
    return EXIT_ERROR if failed or refused else EXIT_OK


def _refusal(link: Path, target: Path, path: Path) -> str:
    return (
        f"refusing to prune through {link}: a symlink to {target}, outside {path} "
        "(pass --follow-symlinks to prune there)"
    )


def _really(path: Path, real: Path) -> str:
    """ " -> <real path>" when a symlink makes the file live elsewhere, else ""."""
    if real == path:
        return ""
    if path.is_symlink():
        return f" (a symlink to {real}: the link goes, its target stays)"
    return f" (really {real})"


def _sizes(plan: PrunePlan) -> dict[Path, int]:
    return {checkpoint.path: checkpoint.size for checkpoint in plan.delete}


def _human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover
