"""`TrainingRun`: the writer twin of ember-rl's `TrainingRun` (src/training/run.rs).

    <root>/<name>/<version>/<run_id>/      run_id = local time YYYYMMDD_HHMMSS
        metadata.json                      update_metadata(): temp file + rename, never torn
        config.json                        write_config()
        checkpoints/                       checkpoint_path(step), latest_/best_checkpoint_path()
        train_episodes.jsonl               log_train_episode(): one os.write per line
        eval_episodes.jsonl                log_eval_episode()

Differences from the crate, all invisible to its reader: metadata and config are written
atomically, and two runs created in the same second get distinct directories
(`20260322_120000`, then `20260322_120000_01`, `_02`, ... which sort after it).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from runlog.errors import RunlogError
from runlog.format import layout
from runlog.format.metadata import read_metadata
from runlog.format.records import (
    EpisodeRecord,
    RunMetadata,
    encode_config,
    encode_episode_line,
    encode_eval_line,
    encode_metadata,
    format_rfc3339,
)
from runlog.format.resolve import resolve_run_dir

Clock = Callable[[], datetime]
"""Returns the current time; naive datetimes are taken as local time."""

MAX_SAME_SECOND_RUNS = 100
"""Runs one name/version can start within one second before `create` gives up."""


def _collision_names(base: str) -> list[str]:
    # Two-digit suffixes keep string order == creation order: base < base_01 < ... < base_99.
    return [base] + [f"{base}_{n:02d}" for n in range(1, MAX_SAME_SECOND_RUNS)]


def atomic_write_text(path: Path, text: str) -> None:
    """Replace `path` with `text` so a reader sees the old or the new file, never a torn one."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(text.encode("utf-8"))
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise


def append_line(path: Path, line: str) -> None:
    """Append one whole line with one `write` on an O_APPEND descriptor, so concurrent
    readers never see half of it unless the disk itself cuts the write short."""
    data = line.encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        written = os.write(fd, data)
        while written < len(data):  # only on a short write (disk full, signal): finish the line
            written += os.write(fd, data[written:])
    finally:
        os.close(fd)


def seal_torn_line(path: Path) -> bool:
    """End a log whose last line was cut short (writer killed mid-line) with a newline.

    Without it the next append would be glued to the torn half and both would be lost as
    one bad line; with it only the torn half is (skipped and counted by readers).
    Returns True when a newline was added. A missing or empty file is left alone.
    """
    try:
        with open(path, "rb") as log:
            log.seek(0, os.SEEK_END)
            if log.tell() == 0:
                return False
            log.seek(-1, os.SEEK_END)
            if log.read(1) == b"\n":
                return False
    except FileNotFoundError:
        return False
    append_line(path, "\n")
    return True


class TrainingRun:
    """One run directory: create or resume it, then log episodes, metadata and checkpoints.

    Methods that write raise OSError when the disk refuses; none raises for a non-finite
    reward (it is written as `null`, as the crate does).
    """

    def __init__(self, run_dir: Path, metadata: RunMetadata, *, clock: Clock | None = None) -> None:
        self._dir = Path(run_dir)
        self._metadata = metadata
        self._clock = clock

    # -- constructors -------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        name: str,
        version: str,
        root: Path | str = "runs",
        *,
        run_id: str | None = None,
        clock: Clock | None = None,
    ) -> TrainingRun:
        """Create `<root>/<name>/<version>/<run_id>/` with checkpoints/ and metadata.json.

        run_id defaults to the local time as YYYYMMDD_HHMMSS; if that directory exists
        (another run started the same second) `_01`, `_02`, ... is appended. Raises
        InvalidNameError for a name, version or run_id that is not one directory name,
        RunlogError when no free name is left, OSError when the disk refuses.
        """
        layout.validate_component(name, "run name")
        layout.validate_component(version, "version")
        started, timestamp = _now(clock)
        base = started.strftime(layout.RUN_ID_FORMAT) if run_id is None else run_id
        layout.validate_component(base, "run_id")
        parent = Path(root) / name / version
        parent.mkdir(parents=True, exist_ok=True)
        for candidate in _collision_names(base):
            run_dir = parent / candidate
            try:
                run_dir.mkdir()  # no exist_ok: losing the race means trying the next name
            except FileExistsError:
                continue
            break
        else:
            raise RunlogError(
                f"cannot create a run in {parent}: {base} and its {MAX_SAME_SECOND_RUNS - 1} "
                "suffixed names are all taken; pass an explicit run_id"
            )
        layout.checkpoints_dir(run_dir).mkdir()
        metadata = RunMetadata(
            name=name,
            version=version,
            run_id=candidate,
            total_steps=0,
            total_episodes=0,
            started_at=timestamp,
            last_updated=timestamp,
        )
        run = cls(run_dir, metadata, clock=clock)
        run._write_metadata()
        return run

    @classmethod
    def resume(cls, path: Path | str, *, clock: Clock | None = None) -> TrainingRun:
        """Open the run `path` resolves to (FORMAT.md's rule: a run dir, or the greatest
        version/run_id below a name or version dir). Raises ResolveError or MetadataError."""
        run_dir = resolve_run_dir(path)
        run = cls(run_dir, read_metadata(run_dir), clock=clock)
        for log in (layout.train_log_path(run_dir), layout.eval_log_path(run_dir)):
            seal_torn_line(log)
        return run

    # -- state and pure paths -------------------------------------------------------------

    @property
    def dir(self) -> Path:
        """This run's directory."""
        return self._dir

    @property
    def metadata(self) -> RunMetadata:
        """The metadata as last written (or loaded)."""
        return self._metadata

    def checkpoint_path(self, step: int) -> Path:
        """`checkpoints/step_<step>.mpk`. Saving the checkpoint there is the caller's job."""
        return layout.checkpoint_path(self._dir, step)

    def latest_checkpoint_path(self) -> Path:
        """`checkpoints/latest.mpk`, overwritten at every checkpoint."""
        return self._dir / layout.CHECKPOINTS_DIR / layout.LATEST_CHECKPOINT

    def best_checkpoint_path(self) -> Path:
        """`checkpoints/best.mpk`, overwritten when an eval block's mean beats the best so far."""
        return self._dir / layout.CHECKPOINTS_DIR / layout.BEST_CHECKPOINT

    # -- writes ---------------------------------------------------------------------------

    def write_config(self, config: object) -> None:
        """Write `config` (any JSON value; dataclasses become objects) to config.json, pretty.
        Raises TypeError for a value JSON cannot hold."""
        atomic_write_text(layout.config_path(self._dir), encode_config(config))

    def log_train_episode(self, record: EpisodeRecord) -> None:
        """Append `record` as one line of train_episodes.jsonl."""
        append_line(layout.train_log_path(self._dir), encode_episode_line(record))

    def log_eval_episode(self, record: EpisodeRecord, total_steps: int) -> None:
        """Append `record` to eval_episodes.jsonl, tagged with `total_steps_at_eval`."""
        append_line(layout.eval_log_path(self._dir), encode_eval_line(record, total_steps))

    def update_metadata(self, total_steps: int, total_episodes: int) -> RunMetadata:
        """Set the step and episode counts and `last_updated`, and rewrite metadata.json
        atomically. Returns the new metadata. Raises ValueError for a negative count."""
        for label, value in (("total_steps", total_steps), ("total_episodes", total_episodes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{label} must be a non-negative int, got {value!r}")
        self._metadata = replace(
            self._metadata,
            total_steps=total_steps,
            total_episodes=total_episodes,
            last_updated=_now(self._clock)[1],
        )
        self._write_metadata()
        return self._metadata

    def prune_checkpoints(self, keep: int) -> list[Path]:
        """Delete all numbered checkpoints but the `keep` with the largest step; latest.mpk,
        best.mpk and other files are never touched. Returns the deleted paths.
        Raises PruneError for a negative `keep`."""
        from runlog.prune import apply_prune, plan_prune  # lazy: run.py stands alone

        return list(apply_prune(plan_prune(self._dir, keep)).deleted)

    def _write_metadata(self) -> None:
        atomic_write_text(layout.metadata_path(self._dir), encode_metadata(self._metadata))

    def __repr__(self) -> str:
        return f"TrainingRun({str(self._dir)!r})"


def _now(clock: Clock | None) -> tuple[datetime, str]:
    """The current local time and its RFC 3339 text, from one reading of the clock."""
    if clock is None:
        seconds, nanos = divmod(time.time_ns(), 1_000_000_000)
        moment = datetime.fromtimestamp(seconds, tz=UTC).astimezone()
        return moment, format_rfc3339(moment, nanosecond=nanos)
    moment = clock()
    if moment.utcoffset() is None:
        moment = moment.astimezone()
    return moment, format_rfc3339(moment)
