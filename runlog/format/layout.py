"""Names and pure path helpers of the run-directory format (FORMAT.md). No I/O here.

    <root>/<name>/<version>/<run_id>/        run_id = local time, YYYYMMDD_HHMMSS
        metadata.json
        config.json                          optional
        checkpoints/
            step_<N>.mpk                     N in decimal, not zero-padded
            latest.mpk
            best.mpk
        train_episodes.jsonl
        eval_episodes.jsonl                  optional
        runlog.json                          runlog's own: tags and note (runlog.format.notes)
"""

from __future__ import annotations

import re
from pathlib import Path

from runlog.errors import InvalidNameError

METADATA_FILE = "metadata.json"
CONFIG_FILE = "config.json"
CHECKPOINTS_DIR = "checkpoints"
TRAIN_LOG = "train_episodes.jsonl"
EVAL_LOG = "eval_episodes.jsonl"
LATEST_CHECKPOINT = "latest.mpk"
BEST_CHECKPOINT = "best.mpk"
NOTES_FILE = "runlog.json"
"""runlog's own file in a run (tags, note); the crate neither writes nor reads it."""
RUN_ID_FORMAT = "%Y%m%d_%H%M%S"

_STEP_NAME = re.compile(r"step_([0-9]+)\.mpk")


def checkpoint_name(step: int) -> str:
    """File name of the numbered checkpoint for `step` (decimal, not zero-padded)."""
    if step < 0:
        raise ValueError(f"checkpoint step must be >= 0, got {step}")
    return f"step_{step}.mpk"


def parse_checkpoint_step(filename: str) -> int | None:
    """The N of a `step_<N>.mpk` file name, or None for any other name (latest, best, ...)."""
    match = _STEP_NAME.fullmatch(filename)
    return int(match.group(1)) if match else None


def validate_component(value: str, what: str) -> str:
    """Return `value` if it is safe as one directory name; raise InvalidNameError otherwise."""
    if not value or value in {".", ".."} or "/" in value or "\\" in value or "\x00" in value:
        raise InvalidNameError(
            f"invalid {what} {value!r}: must be a single non-empty directory name "
            "without path separators, '.' or '..'"
        )
    return value


def checkpoints_dir(run_dir: Path) -> Path:
    return run_dir / CHECKPOINTS_DIR


def checkpoint_path(run_dir: Path, step: int) -> Path:
    return run_dir / CHECKPOINTS_DIR / checkpoint_name(step)


def metadata_path(run_dir: Path) -> Path:
    return run_dir / METADATA_FILE


def config_path(run_dir: Path) -> Path:
    return run_dir / CONFIG_FILE


def train_log_path(run_dir: Path) -> Path:
    return run_dir / TRAIN_LOG


def eval_log_path(run_dir: Path) -> Path:
    return run_dir / EVAL_LOG


def notes_path(run_dir: Path) -> Path:
    return run_dir / NOTES_FILE
