"""The `runlog` command line: a thin front end over the library.

    runlog [--read-only] resolve PATH                 print the run directory PATH resolves to
    runlog [--read-only] prune PATH --keep K [--dry-run] [--json] [--include-live]
    runlog ls ROOT [--json]                           table of the runs under ROOT
    runlog show RUN [--json]                          one run's summary

Exit codes: 0 success, 1 a runlog error (one line on stderr, never a traceback) or a
failed deletion, 2 a usage error or a write refused by read-only mode.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runlog import __version__
from runlog.errors import ReadOnlyError, RunlogError
from runlog.format.resolve import resolve_run

if TYPE_CHECKING:
    from runlog.prune import PrunePlan

READ_ONLY_ENV = "RUNLOG_READ_ONLY"
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="runlog",
        description="Browse, resolve and prune ember-rl training runs.",
    )
    parser.add_argument("--version", action="version", version=f"runlog {__version__}")
    parser.add_argument(
        "--read-only",
        action="store_true",
        help=f"refuse every write (also on when {READ_ONLY_ENV}=1)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    resolve = commands.add_parser(
        "resolve",
        help="print the run directory a path resolves to",
        description="Resolve PATH by ember-rl's rule: a directory with metadata.json is the "
        "run; otherwise descend into the greatest subdirectory in string order.",
    )
    resolve.add_argument("path", type=Path, metavar="PATH")
    resolve.set_defaults(handler=_cmd_resolve)

    prune = commands.add_parser(
        "prune",
        help="delete all but the K newest step_<N>.mpk checkpoints",
        description="Delete every checkpoints/step_<N>.mpk except the K with the largest N, "
        "in one run or in every run under a name, version or root directory. latest.mpk, "
        "best.mpk and other files are never touched; live runs are skipped.",
    )
    prune.add_argument("path", type=Path, metavar="PATH")
    prune.add_argument("--keep", type=_non_negative_int, required=True, metavar="K")
    prune.add_argument("--dry-run", action="store_true", help="show what would be deleted")
    prune.add_argument("--json", action="store_true", help="print one JSON object")
    prune.add_argument(
        "--include-live", action="store_true", help="also prune runs that are writing now"
    )
    prune.add_argument(
        "--read-only", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )
    prune.set_defaults(handler=_cmd_prune)

    ls = commands.add_parser("ls", help="list the runs under ROOT")
    ls.add_argument("root", type=Path, metavar="ROOT")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(handler=_cmd_ls)

    show = commands.add_parser("show", help="summarize one run")
    show.add_argument("run", type=Path, metavar="RUN")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=_cmd_show)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with `argv` (default: sys.argv[1:]); return the exit code."""
    parser = build_parser()
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


def _error(message: str) -> None:
    print(f"runlog: error: {message}", file=sys.stderr)


# -- commands ------------------------------------------------------------------------------


def _cmd_resolve(args: argparse.Namespace) -> int:
    print(resolve_run(args.path))
    return EXIT_OK


def _cmd_ls(args: argparse.Namespace) -> int:
    from runlog.report import ls_command

    text: str
    code: int
    text, code = ls_command(args.root, args.json)
    _emit(text, code)
    return code


def _cmd_show(args: argparse.Namespace) -> int:
    from runlog.report import show_command

    text: str
    code: int
    text, code = show_command(args.run, args.json)
    _emit(text, code)
    return code


def _emit(text: str, code: int) -> None:
    if text:
        print(text.rstrip("\n"), file=sys.stdout if code == EXIT_OK else sys.stderr)


def _cmd_prune(args: argparse.Namespace) -> int:
    from runlog.prune import apply_prune, plan_prune_tree

    if not args.dry_run and (args.read_only or read_only_from_env()):
        raise ReadOnlyError(
            f"refusing to prune {args.path}: read-only mode is on (--read-only or "
            f"{READ_ONLY_ENV}=1); add --dry-run to preview what would be deleted"
        )
    plans = plan_prune_tree(args.path, args.keep, root=None, include_live=args.include_live)
    deleted: list[Path] = []
    failed: list[tuple[Path, str]] = []
    skipped: list[tuple[Path, str]] = []  # runs skipped by the plan, files kept by apply
    skipped_runs = 0
    bytes_freed = 0
    lines: list[str] = []
    verb = "would delete" if args.dry_run else "deleted"
    for plan in plans:
        if plan.skipped_reason is not None:
            skipped.append((plan.run_dir, plan.skipped_reason))
            skipped_runs += 1
            lines.append(f"skipped {plan.run_dir}: {plan.skipped_reason}")
            continue
        if args.dry_run:
            done = [(c.path, c.size) for c in plan.delete]
            freed = plan.bytes_freed
        else:
            result = apply_prune(plan)
            sizes = _sizes(plan)
            done = [(path, sizes.get(path, 0)) for path in result.deleted]
            freed = result.bytes_freed
            failed.extend(result.failed)
            skipped.extend(result.skipped)
            lines.extend(f"failed to delete {path}: {reason}" for path, reason in result.failed)
            lines.extend(f"kept {path}: {reason}" for path, reason in result.skipped)
        deleted.extend(path for path, _ in done)
        bytes_freed += freed
        lines.extend(f"{verb} {path} ({_human_bytes(size)})" for path, size in done)

    if args.json:
        report: dict[str, Any] = {
            "deleted": [str(path) for path in deleted],
            "bytes_freed": bytes_freed,
            "dry_run": bool(args.dry_run),
            "failed": [{"path": str(path), "error": reason} for path, reason in failed],
            "skipped": [{"path": str(path), "reason": reason} for path, reason in skipped],
        }
        print(json.dumps(report))
    else:
        runs = len(plans) - skipped_runs
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
        )
        print("\n".join(lines))
    return EXIT_ERROR if failed else EXIT_OK


def _sizes(plan: PrunePlan) -> dict[Path, int]:
    return {checkpoint.path: checkpoint.size for checkpoint in plan.delete}


def _human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover
