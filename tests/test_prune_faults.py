"""Pruning while another process keeps writing checkpoints: nothing unplanned is ever deleted."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from runlog.format.layout import parse_checkpoint_step
from runlog.prune import apply_prune, plan_prune

KEEP = 3
TARGET_FILES = 300

# Behaves like ember-rl's trainer (plain create-and-write, latest.mpk rewritten in place),
# plus the unusual: steps out of order, a zero-padded twin, a step file rewritten in place,
# and best.mpk replaced by rename. It logs each name it creates, one line per file.
WRITER = r"""
import os, random, sys, time
ckpt, log_path, stop_path, seed = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
rng = random.Random(seed)
used = set()
order = []
step = 0
with open(log_path, "a", buffering=1) as log:
    while not os.path.exists(stop_path):
        step += 10
        roll = rng.random()
        if roll < 0.15 and step > 50:
            n = rng.randrange(0, step)           # an out-of-order, smaller step
        else:
            n = step
        name = f"step_{n}.mpk" if rng.random() > 0.05 else f"step_0{n}.mpk"
        if name in used:
            continue
        used.add(name)
        order.append(name)
        with open(os.path.join(ckpt, name), "wb") as f:
            f.write(b"c" * rng.randrange(1, 64))
        log.write(name + "\n")
        with open(os.path.join(ckpt, "latest.mpk"), "wb") as f:
            f.write(b"l" * rng.randrange(1, 64))
        if rng.random() < 0.2:
            tmp = os.path.join(ckpt, "best.mpk.tmp")
            with open(tmp, "wb") as f:
                f.write(b"b" * rng.randrange(1, 64))
            os.replace(tmp, os.path.join(ckpt, "best.mpk"))
        if rng.random() < 0.2:
            victim = rng.choice(order[-8:])
            try:  # rewrite in place, never re-create a file the pruner removed
                fd = os.open(os.path.join(ckpt, victim), os.O_WRONLY | os.O_APPEND)
            except FileNotFoundError:
                pass
            else:
                os.write(fd, b"more")
                os.close(fd)
        time.sleep(0.0005)
"""


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def _wait_for_more(log: Path, than: int, timeout: float = 60.0) -> None:
    """Block until the writer has logged more than `than` files (a liveness guard only)."""
    deadline = time.monotonic() + timeout
    while _lines(log) <= than:
        if time.monotonic() > deadline:
            raise AssertionError(f"the writer stopped making progress: {log}")
        time.sleep(0.001)


def _steps(names: set[str]) -> list[int]:
    """The step numbers of the `step_<N>.mpk` names, largest first."""
    return sorted((n for n in map(parse_checkpoint_step, names) if n is not None), reverse=True)


@pytest.mark.parametrize("seed", [1, 2])
def test_prune_loop_against_a_live_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    root = tmp_path / "runs"
    run = root / "cartpole" / "v1" / "20260322_120000"
    ckpt = run / "checkpoints"
    ckpt.mkdir(parents=True)
    (run / "metadata.json").write_text("{}")
    (ckpt / "best.mpk").write_bytes(b"best")
    log = tmp_path / "created.log"
    stop = tmp_path / "stop"

    unlinked: list[str] = []
    real_unlink = os.unlink

    def spy(path: Any, *args: Any, **kwargs: Any) -> None:
        real_unlink(path, *args, **kwargs)
        unlinked.append(os.path.basename(os.fspath(path)))

    monkeypatch.setattr(os, "unlink", spy)

    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(ckpt), str(log), str(stop), str(seed)]
    )
    planned: set[str] = set()
    deleted: set[str] = set()
    stale = 0
    try:
        _wait_for_more(log, 0)
        iterations = 0
        # Prune over and over while the writer is mid-stream, until it has written enough.
        while (written := _lines(log)) < TARGET_FILES:
            iterations += 1
            plan = plan_prune(run, KEEP, root=root)
            if iterations % 10 == 0:
                # Make sure this preview goes stale: a checkpoint lands before the apply.
                _wait_for_more(log, written)
            plan_names = {f.path.name for f in plan.delete}
            assert "latest.mpk" not in plan_names and "best.mpk" not in plan_names
            planned |= plan_names
            result = apply_prune(plan, root=root)
            got = {p.name for p in result.deleted}
            assert got <= plan_names, "deleted something the plan did not list"
            assert result.failed == ()
            deleted |= got
            previewed = {f.path.name for f in (*plan.delete, *plan.keep_files)}
            arrived = {p.name for p in ckpt.glob("step_*.mpk")} - previewed
            stale += bool(arrived)
        assert writer.poll() is None, "the writer must still be running during the loop"
    finally:
        stop.touch()
        writer.wait(timeout=60)
    assert writer.returncode == 0
    assert stale >= iterations // 10, "previews did not go stale: the race was not exercised"

    final = plan_prune(run, KEEP, root=root)
    planned |= {f.path.name for f in final.delete}
    deleted |= {p.name for p in apply_prune(final, root=root).deleted}

    created = set(log.read_text().splitlines())
    on_disk = {p.name for p in ckpt.iterdir()}
    missing = created - on_disk
    assert missing, "the loop should have pruned something"
    assert missing <= planned, f"deleted without a plan: {sorted(missing - planned)}"
    assert missing == deleted
    assert sorted(unlinked) == sorted(deleted), "an unlink happened outside the results"
    # The k largest numbers ever written are exactly what is left: none of them was lost.
    assert _steps(on_disk) == _steps(created)[:KEEP]
    assert {"latest.mpk", "best.mpk"} <= on_disk
