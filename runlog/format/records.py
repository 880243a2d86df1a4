"""The records of a run and their byte-exact JSON encodings (FORMAT.md).

    metadata.json          encode_metadata(RunMetadata)     pretty, 2-space, no final newline
    config.json            encode_config(any JSON value)    pretty, 2-space, no final newline
    train_episodes.jsonl   encode_episode_line(EpisodeRecord)
        {"total_reward":23.0,"length":23,"status":"Terminated","extras":{"epsilon":0.87}}
    eval_episodes.jsonl    encode_eval_line(EpisodeRecord, total_steps)
        {"total_steps_at_eval":10000,"total_reward":500.0,"length":500,...}

The encoders reproduce serde_json's output byte for byte: floats in Rust's shortest
round-trip form (`23.0`, `0.00001`, `1e-7`, `1.5e+20`), non-finite floats as `null`.
No I/O here.
"""

from __future__ import annotations

import json
import math
import numbers
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from runlog.errors import MetadataError
from runlog.record import record

EPISODE_STATUSES = ("Terminated", "Truncated", "Continuing")
"""The values of `status`, spelled as the crate's enum serializes them."""

METADATA_FIELDS = (
    "name",
    "version",
    "run_id",
    "total_steps",
    "total_episodes",
    "started_at",
    "last_updated",
)
"""metadata.json's fields, in the order the crate writes them."""


# -- numbers and strings as serde_json writes them ------------------------------------------


def format_float(value: float) -> str:
    """`value` as serde_json writes an f64: shortest round-trip digits, `null` if not finite.

    Fixed notation while the decimal exponent is within -5..=15 (`0.00001`, `123.0`,
    `1000000000000000.0`), otherwise `d.ddde+X` / `de-X` with no exponent padding.
    Older serde_json (ryu) wrote `1.5e20` without the `+`; readers accept both.
    """
    value = float(value)
    if not math.isfinite(value):
        return "null"
    if value == 0.0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    # Python's repr yields the same shortest, correctly rounded digits as Rust's formatter;
    # only the layout (where the point goes, exponent style) differs.
    _, digit_tuple, exponent = Decimal(repr(abs(value))).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    assert isinstance(exponent, int)
    exponent += len(digit_tuple) - len(digits)
    sci = len(digits) - 1 + exponent  # value = d.ddd * 10**sci
    sign = "-" if value < 0 else ""
    if -5 <= sci <= 15:
        if len(digits) - 1 <= sci:
            return f"{sign}{digits}{'0' * (sci - len(digits) + 1)}.0"
        if sci >= 0:
            return f"{sign}{digits[: sci + 1]}.{digits[sci + 1 :]}"
        return f"{sign}0.{'0' * (-sci - 1)}{digits}"
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{sign}{mantissa}e{'+' if sci >= 0 else '-'}{abs(sci)}"


def _encode_str(text: str) -> str:
    # serde_json escapes only '"', '\\' and control characters (\b \t \n \f \r, else \u00xx),
    # writing everything else as raw UTF-8: exactly json.dumps(ensure_ascii=False).
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates cannot be written raw; escape them
        return json.dumps(text)
    return json.dumps(text, ensure_ascii=False)


def _encode_value(value: object, indent: str | None, level: int = 0) -> str:
    """One JSON value, compact when `indent` is None, else serde_json's pretty layout."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return format_float(float(value))
    if isinstance(value, str):
        return _encode_str(value)
    if is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in fields(value)}
    if isinstance(value, Mapping):
        items = []
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be str, got {key!r}")
            sep = ":" if indent is None else ": "
            items.append(f"{_encode_str(key)}{sep}{_encode_value(item, indent, level + 1)}")
        return _join(items, "{", "}", indent, level)
    if isinstance(value, list | tuple):
        items = [_encode_value(item, indent, level + 1) for item in value]
        return _join(items, "[", "]", indent, level)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON: {value!r}")


def _join(items: list[str], open_: str, close: str, indent: str | None, level: int) -> str:
    if not items:
        return open_ + close
    if indent is None:
        return open_ + ",".join(items) + close
    inner = "\n" + indent * (level + 1)
    return open_ + inner + ("," + inner).join(items) + "\n" + indent * level + close


# -- records ---------------------------------------------------------------------------------


class Extras(Mapping[str, float]):
    """A read-only, hashable str -> float mapping that keeps its insertion order.

    Equality ignores key order (the crate writes a HashMap, so order carries no meaning).
    `None` stands for a `null` in the file and is stored as NaN.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, float | None] | None = None) -> None:
        converted: dict[str, float] = {}
        for key, value in (items or {}).items():
            if not isinstance(key, str):
                raise TypeError(f"extras keys must be str, got {key!r}")
            if value is None:
                converted[key] = math.nan
            elif isinstance(value, numbers.Real):
                converted[key] = float(value)
            else:
                raise TypeError(f"extras[{key!r}] must be a number, got {value!r}")
        self._items = converted

    def __getitem__(self, key: str) -> float:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._items == dict(other.items())
        return NotImplemented

    def __hash__(self) -> int:
        return hash(frozenset(self._items.items()))

    def __repr__(self) -> str:
        return f"Extras({self._items!r})"


@dataclass(frozen=True)
class EpisodeRecord:
    """One finished episode, as one line of train_episodes.jsonl or eval_episodes.jsonl.

    A non-finite `total_reward` or extras value is allowed: it encodes as `null`.
    Raises ValueError for an unknown `status` or a negative `length`.
    """

    total_reward: float
    length: int
    status: str = "Terminated"
    extras: Mapping[str, float] = field(default_factory=Extras)

    def __post_init__(self) -> None:
        reward = math.nan if self.total_reward is None else self.total_reward
        if not isinstance(reward, numbers.Real):
            raise TypeError(f"total_reward must be a number, got {self.total_reward!r}")
        if isinstance(self.length, bool) or not isinstance(self.length, numbers.Integral):
            raise TypeError(f"length must be an int, got {self.length!r}")
        if self.length < 0:
            raise ValueError(f"length must be >= 0, got {self.length}")
        if self.status not in EPISODE_STATUSES:
            raise ValueError(
                f"status must be one of {', '.join(EPISODE_STATUSES)}; got {self.status!r}"
            )
        object.__setattr__(self, "total_reward", float(reward))
        object.__setattr__(self, "length", int(self.length))
        if not isinstance(self.extras, Extras):
            object.__setattr__(self, "extras", Extras(self.extras))


_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)


def parse_rfc3339(text: str) -> datetime:
    """An RFC 3339 timestamp as an aware datetime (fraction digits beyond 6 are truncated).

    Raises ValueError naming the text when it is not RFC 3339 with an offset.
    """
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError(f"not an RFC 3339 timestamp with an offset: {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.group(1, 2, 3, 4, 5, 6))
    micro = int((match.group(7) or "").ljust(6, "0")[:6])
    if match.group(8):
        tz = UTC
    else:
        offset = timedelta(hours=int(match.group(10)), minutes=int(match.group(11)))
        tz = timezone(-offset if match.group(9) == "-" else offset)
    if second == 60:  # a leap second (chrono can print one): keep it inside the minute
        second, micro = 59, 999_999
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)


def format_rfc3339(moment: datetime, nanosecond: int | None = None) -> str:
    """`moment` as chrono's `to_rfc3339()` writes it: `+01:00` offsets (never `Z`) and
    0, 3, 6 or 9 fraction digits, as few as show every non-zero digit.

    `nanosecond` overrides `moment.microsecond` (datetime only holds microseconds).
    Raises ValueError for a naive datetime.
    """
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError(f"datetime must carry a UTC offset, got naive {moment!r}")
    nanos = moment.microsecond * 1000 if nanosecond is None else nanosecond
    if nanos == 0:
        fraction = ""
    elif nanos % 1_000_000 == 0:
        fraction = f".{nanos // 1_000_000:03d}"
    elif nanos % 1000 == 0:
        fraction = f".{nanos // 1000:06d}"
    else:
        fraction = f".{nanos:09d}"
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{moment:%Y-%m-%dT%H:%M:%S}{fraction}{sign}{hours:02d}:{mins:02d}"


def now_rfc3339() -> str:
    """The current local time as chrono's `Local::now().to_rfc3339()` writes it
    (nanosecond clock, so nearly always 9 fraction digits), e.g. `...T12:00:00.123456789+01:00`."""
    ns = time.time_ns()
    seconds, nanos = divmod(ns, 1_000_000_000)
    local = datetime.fromtimestamp(seconds, tz=UTC).astimezone()
    return format_rfc3339(local, nanosecond=nanos)


@record
class RunMetadata:
    """The contents of metadata.json. Timestamps stay the exact strings from the file.

    Quirk (FORMAT.md): the crate's training loop writes `total_episodes: 0` however many
    episodes ran; count episodes from the JSONL instead.
    """

    name: str
    version: str
    run_id: str
    total_steps: int
    total_episodes: int
    started_at: str
    last_updated: str

    @property
    def started_at_datetime(self) -> datetime | None:
        """`started_at` as an aware datetime, or None when it is not RFC 3339."""
        return _maybe_datetime(self.started_at)

    @property
    def last_updated_datetime(self) -> datetime | None:
        """`last_updated` as an aware datetime, or None when it is not RFC 3339."""
        return _maybe_datetime(self.last_updated)


def _maybe_datetime(text: str) -> datetime | None:
    try:
        return parse_rfc3339(text)
    except ValueError:
        return None


# -- encoders --------------------------------------------------------------------------------


def metadata_fields(metadata: RunMetadata) -> dict[str, object]:
    """metadata.json's fields as a dict, in FORMAT.md's order."""
    return {name: getattr(metadata, name) for name in METADATA_FIELDS}


def encode_metadata(metadata: RunMetadata) -> str:
    """metadata.json's exact text: pretty, 2-space indent, FORMAT.md's field order, no newline."""
    return _encode_value(metadata_fields(metadata), "  ")


def encode_config(config: object) -> str:
    """config.json's exact text for any JSON value (dataclasses become objects): pretty,
    2-space indent, no final newline. Raises TypeError for a value JSON cannot hold."""
    return _encode_value(config, "  ")


def _record_body(record: EpisodeRecord) -> str:
    return (
        f'"total_reward":{format_float(record.total_reward)},"length":{record.length},'
        f'"status":{_encode_str(record.status)},"extras":{_encode_value(record.extras, None)}'
    )


def encode_episode_line(record: EpisodeRecord) -> str:
    """One line of train_episodes.jsonl, newline included."""
    return "{" + _record_body(record) + "}\n"


def encode_eval_line(record: EpisodeRecord, total_steps: int) -> str:
    """One line of eval_episodes.jsonl: the record flattened behind `total_steps_at_eval`."""
    if isinstance(total_steps, bool) or not isinstance(total_steps, numbers.Integral):
        raise TypeError(f"total_steps must be an int, got {total_steps!r}")
    if total_steps < 0:
        raise ValueError(f"total_steps must be >= 0, got {total_steps}")
    return '{"total_steps_at_eval":' + str(int(total_steps)) + "," + _record_body(record) + "}\n"


# -- parser ----------------------------------------------------------------------------------


def parse_metadata(text: str, path: str | Path) -> RunMetadata:
    """Parse metadata.json's text; `path` is only used in error messages.

    Unknown extra fields are ignored (as serde does). Raises MetadataError saying whether
    the file is empty or cut short (both normal for a moment while the crate rewrites it
    in place) or not the documented shape.
    """
    if not text.strip():
        raise MetadataError(
            f"{path} is empty; a live run rewrites it after every episode, so retry in a "
            "moment (if the run is not live, the file was lost and must be restored)"
        )
    try:
        # orjson first (1.1 µs against json's 3.9 for the crate's 210 bytes; a cold scan reads
        # one per run): what it reads and the checks take, json reads the same. Anything else
        # (an integer beyond 64 bits, which orjson makes a float; NaN; a lone surrogate; bad
        # JSON) goes json's way, which words the error.
        return RunMetadata(**_checked_fields(orjson.loads(text), path))
    except (orjson.JSONDecodeError, MetadataError):
        pass
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
            raise MetadataError(
                f"{path} is cut short ({len(text)} bytes, JSON ends early); a live run may be "
                "rewriting it, so retry in a moment"
            ) from None
        raise MetadataError(
            f"{path} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    return RunMetadata(**_checked_fields(data, path))


def _checked_fields(data: Any, path: str | Path) -> dict[str, Any]:
    """metadata.json's fields out of its parsed JSON; MetadataError says what is wrong."""
    if not isinstance(data, dict):
        raise MetadataError(
            f"{path} holds a JSON {type(data).__name__}, expected an object with fields "
            + ", ".join(METADATA_FIELDS)
        )
    missing = [name for name in METADATA_FIELDS if name not in data]
    if missing:
        raise MetadataError(f"{path} lacks the field(s) {', '.join(missing)}")
    values: dict[str, Any] = {}
    for name in METADATA_FIELDS:
        value = data[name]
        if name in ("total_steps", "total_episodes"):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise MetadataError(
                    f"{path}: field {name} must be a non-negative integer, got {value!r}"
                )
        elif not isinstance(value, str):
            raise MetadataError(f"{path}: field {name} must be a string, got {value!r}")
        values[name] = value
    return values
