"""`record`: a frozen dataclass to the type checker, a plain slotted one at run time.

The records built for every run on every listing (RunSummary, LogStats, EvalBlock,
CheckpointInfo, RunMetadata: about 14 per run) are many: a restart on 10,000 runs builds
140,000 of them. A frozen dataclass sets each field through `object.__setattr__` (2.4 us for
seven fields here, against 0.5 us for a plain one), which made a fifth of a warm restart.
`record` keeps what `frozen=True` gives the code that uses them, checked by mypy --strict
(`dataclass_transform(frozen_default=True)`: an assignment to a field is a type error),
with equality and a hash over the fields, and builds them at the plain class's speed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar, dataclass_transform

__all__ = ["record"]

_T = TypeVar("_T")


@dataclass_transform(frozen_default=True)
def record(cls: type[_T]) -> type[_T]:
    """Make `cls` a slotted dataclass, frozen for the type checker (see the module)."""
    return dataclass(slots=True, unsafe_hash=True)(cls)
