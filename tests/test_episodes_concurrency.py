"""A live writer and a refreshing reader: the reader ends with exactly the writer's records."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from runlog.read.episodes import EpisodeLog

RECORDS = 10_000

# The writer appends the byte stream of RECORDS lines in random-sized os.write calls, so
# the reader keeps catching lines cut anywhere, even mid-number or mid-key.
WRITER = textwrap.dedent(
    """
    import os, random, sys, time
    path, count, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(seed)
    lines = []
    for i in range(count):
        extras = '{"seq":%d,"epsilon":%r}' % (i, 1.0 / (i + 1))
        if i % 3 == 0:
            extras = '{"seq":%d,"epsilon":%r,"loss_mean":%r}' % (i, 1.0 / (i + 1), i * 1e-7)
        reward = "null" if i % 97 == 0 else repr(i * 0.5)
        lines.append(
            '{"total_reward":%s,"length":%d,"status":"Terminated","extras":%s}\\n'
            % (reward, i % 50 + 1, extras)
        )
    data = "".join(lines).encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    pos = 0
    while pos < len(data):
        size = rng.choice((1, 7, 60, 200, 1000, 4096, 30000))
        pos += os.write(fd, data[pos : pos + size])
        if rng.random() < 0.05:
            time.sleep(0.001)
    os.close(fd)
    """
)


def test_reader_refreshing_during_random_sized_appends_gets_every_record(tmp_path: Path) -> None:
    path = tmp_path / "train_episodes.jsonl"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(RECORDS), "7"])
    log = EpisodeLog(path)
    refreshes = 0
    while writer.poll() is None:
        log.refresh()
        refreshes += 1
        # Whatever the moment, the reader holds only whole records, the latest one last.
        assert log.bad_lines == []
        if log.total_records:
            assert log.column("extras.seq")[-1] == log.total_records - 1
    assert writer.returncode == 0
    log.refresh()

    frame = log.frame
    assert log.bad_lines == []
    assert len(frame) == RECORDS
    assert frame["extras.seq"].tolist() == [float(i) for i in range(RECORDS)]
    lengths = np.arange(RECORDS) % 50 + 1
    assert frame["length"].tolist() == lengths.tolist()
    assert frame["step"].tolist() == np.cumsum(lengths).tolist()
    rewards = frame["reward"].to_numpy()
    nulls = np.arange(RECORDS) % 97 == 0
    assert np.isnan(rewards[nulls]).all()
    assert rewards[~nulls].tolist() == (np.arange(RECORDS)[~nulls] * 0.5).tolist()
    loss = frame["extras.loss_mean"].to_numpy()
    assert np.isnan(loss[np.arange(RECORDS) % 3 != 0]).all()
    assert log.offset == path.stat().st_size
    assert refreshes > 1  # the reader really did read while the writer wrote
