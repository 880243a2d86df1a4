"""One log's parsed rows held as columns: growable numpy buffers, read through views.

    episode  step  reward  length  status      extras.epsilon  extras.loss_mean ...
    0        23    23.0    23      Terminated  0.87            NaN
    1        32    NaN     9       Truncated   0.86            0.012

`step` is the running sum of `length` for a train log (the log has no step field) and
`total_steps_at_eval` for an eval log. Buffers double their capacity when full, so appending
100 rows costs about what those rows cost, whatever the size of the log; growth allocates
new arrays, so views handed out earlier never change under their holder. Columns restored
from the persistent index start as read-only arrays (memory-mapped); the first append copies
them into growable buffers.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from runlog.read.parse import KNOWN_STATUSES, Batch

__all__ = ["BASE_COLUMNS", "EXTRAS_PREFIX", "Columns", "StatusNames"]

EXTRAS_PREFIX = "extras."
BASE_COLUMNS = ("episode", "step", "reward", "length", "status")

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
CodeArray = npt.NDArray[np.int16]


class StatusNames:
    """The status strings one log uses, each with a small code (the column stores codes).
    The three known statuses always hold codes 0, 1, 2."""

    def __init__(self, names: Sequence[str] = KNOWN_STATUSES) -> None:
        self.names: list[str] = list(names)
        self._codes = {name: i for i, name in enumerate(self.names)}

    def code(self, name: str) -> int:
        code = self._codes.get(name)
        if code is None:
            code = len(self.names)
            self.names.append(name)
            self._codes[name] = code
        return code

    def remap(self, batch: Batch) -> tuple[CodeArray, npt.NDArray[np.int64]]:
        """(`batch`'s status codes in this log's numbering, rows per code of this log).
        Only the statuses the batch's rows use become names of this log."""
        counts = batch.status_counts()
        used = np.flatnonzero(counts)
        lookup = np.zeros(len(batch.status_names), dtype=np.int16)
        names = batch.status_names
        new = [int(i) for i in used if names[i] not in self._codes]
        if len(new) > 1:
            # New names get codes in the order the rows first use them: a batch parsed with
            # other logs (`parse_group`) numbers its names in the group's order.
            new.sort(key=lambda i: int(np.argmax(batch.status == i)))
        for index in new:
            lookup[index] = self.code(names[index])
        for position in used:
            lookup[position] = self.code(names[position])
        per_code = np.zeros(len(self.names), dtype=np.int64)
        np.add.at(per_code, lookup[used], counts[used])
        if bool(np.array_equal(lookup[used], used)):
            return batch.status, per_code  # already this log's numbering (the usual case)
        return lookup[batch.status], per_code


def _read_only(view: npt.NDArray[Any]) -> npt.NDArray[Any]:
    view.flags.writeable = False
    return view


_tokens = itertools.count(1)


class Columns:
    """Growable column buffers of one log. Not thread-safe: the owning log locks.

    `token` is unique to this set of columns in the process: rows are only ever appended to
    it, so whatever was derived from its first n rows (a smoothed curve, say) stays valid and
    can be extended; a log read again from its start gets new columns and a new token."""

    def __init__(self) -> None:
        self.token = next(_tokens)
        self.n = 0
        self.capacity = 0
        self.reward: FloatArray = np.empty(0, dtype=np.float64)
        self.length: IntArray = np.empty(0, dtype=np.int64)
        self.step: IntArray = np.empty(0, dtype=np.int64)
        self.status: CodeArray = np.empty(0, dtype=np.int16)
        self.extras: dict[str, FloatArray] = {}
        self.total_steps = 0
        self._checks: dict[str, Callable[[], None]] = {}

    @staticmethod
    def restored(
        reward: FloatArray,
        length: IntArray,
        step: IntArray,
        status: CodeArray,
        extras: Mapping[str, FloatArray],
        checks: Mapping[str, Callable[[], None]] | None = None,
        total_steps: int | None = None,
    ) -> Columns:
        """Columns over existing arrays of equal length (kept as they are, read-only: the
        first append copies them into growable buffers). `checks` maps a column name to a
        check that raises when its data is damaged; each runs before its column is first
        read (so a run opened for its reward curve does not read every extras column).
        `total_steps` (the sum of `length`, when known) spares reading `length` now."""
        columns = Columns()
        n = len(length)
        arrays: list[npt.NDArray[Any]] = [reward, step, status, *extras.values()]
        for array in arrays:
            if len(array) != n:
                raise ValueError(f"columns of unequal length ({len(array)} != {n})")
        columns.reward, columns.length, columns.step, columns.status = reward, length, step, status
        columns.extras = dict(extras)
        columns.n = columns.capacity = n
        columns._checks = dict(checks or {})
        if total_steps is None:
            columns._verify(["length"])
            total_steps = int(length.sum())
        columns.total_steps = total_steps
        return columns

    def _verify(self, names: Iterable[str] | None = None) -> None:
        """Run the pending checks of `names` (all when None)."""
        if not self._checks:
            return
        for name in list(self._checks) if names is None else names:
            check = self._checks.get(name)
            if check is not None:
                check()  # raises on damage: the check stays, the caller drops these columns
                del self._checks[name]

    @property
    def nbytes(self) -> int:
        """Bytes held by the buffers (their capacity, not just the rows)."""
        arrays: list[npt.NDArray[Any]] = [
            self.reward,
            self.length,
            self.step,
            self.status,
            *self.extras.values(),
        ]
        return sum(a.nbytes for a in arrays)

    def reserve(self, rows: int) -> None:
        """Make room for `rows` rows in all, at once (a cold load knows roughly how many)."""
        if rows > self.capacity:
            self._grow(rows, exact=True)

    def _grow(self, needed: int, exact: bool = False) -> None:
        # The first batch is sized exactly: most logs of a big catalog never grow again.
        capacity = needed if exact or self.capacity == 0 else max(needed, 2 * self.capacity)
        n = self.n

        def grown(old: npt.NDArray[Any]) -> npt.NDArray[Any]:
            new = np.empty(capacity, dtype=old.dtype)
            new[:n] = old[:n]
            return new

        self.reward = grown(self.reward)
        self.length = grown(self.length)
        self.step = grown(self.step)
        self.status = grown(self.status)
        self.extras = {key: grown(buf) for key, buf in self.extras.items()}
        self.capacity = capacity

    def append(self, batch: Batch, status: CodeArray) -> None:
        """Append `batch`'s rows, with `status` its status codes in the log's numbering."""
        m = batch.rows
        if m == 0:
            return
        self._verify()
        n = self.n
        if n + m > self.capacity:
            self._grow(n + m)
        end = n + m
        self.reward[n:end] = batch.reward
        self.length[n:end] = batch.length
        self.status[n:end] = status
        if batch.step_at_eval is not None:
            self.step[n:end] = batch.step_at_eval
        else:
            # FORMAT.md: no step field; the step axis is the running sum of `length`.
            np.cumsum(batch.length, out=self.step[n:end])
            self.step[n:end] += self.total_steps
        self.total_steps += int(batch.length.sum())
        # Only rows below `end` are written: NaN-filling whole buffers up front would
        # touch the reserved room of a cold load twice.
        for key, column in self.extras.items():
            if key not in batch.extras:
                column[n:end] = math.nan
        for key, values in batch.extras.items():
            buf = self.extras.get(key)
            if buf is None:
                buf = np.empty(self.capacity, dtype=np.float64)
                buf[:n] = math.nan  # a key first seen now: absent from every earlier row
                self.extras[key] = buf
            buf[n:end] = values
        self.n = end

    def column(self, name: str) -> npt.NDArray[Any]:
        """A read-only view of one numeric column (`step`, `reward`, `length`, `episode` or
        `extras.<key>`). Raises KeyError for any other name."""
        n = self.n
        if name == "episode":
            return _read_only(np.arange(n, dtype=np.int64))
        self._verify([name])
        if name in ("step", "reward", "length"):
            buf: npt.NDArray[Any] = getattr(self, name)
            return _read_only(buf[:n])
        if name.startswith(EXTRAS_PREFIX) and name[len(EXTRAS_PREFIX) :] in self.extras:
            return _read_only(self.extras[name[len(EXTRAS_PREFIX) :]][:n])
        raise KeyError(name)

    def frame(self, status_names: Sequence[str]) -> pd.DataFrame:
        """All rows as a DataFrame over read-only views of the buffers (no copy)."""
        self._verify()
        n = self.n
        data: dict[str, Any] = {
            "episode": _read_only(np.arange(n, dtype=np.int64)),
            "step": _read_only(self.step[:n]),
            "reward": _read_only(self.reward[:n]),
            "length": _read_only(self.length[:n]),
            "status": pd.Categorical.from_codes(
                self.status[:n], categories=pd.Index(list(status_names), dtype=object)
            ),
        }
        for key, buf in self.extras.items():
            data[EXTRAS_PREFIX + key] = _read_only(buf[:n])
        return pd.DataFrame(data, copy=False)
