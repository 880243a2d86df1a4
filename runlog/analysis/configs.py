"""config.json: load it, flatten it to dotted keys, and diff several runs' configs.

config.json is any JSON value and may be absent (FORMAT.md). The crate's examples write a
3-element array, which flattens under readable prefixes; objects flatten as they are:

    [{"gamma": 0.99, "layers": [64, 64]}, {"size": 4}, {"num_actions": 2}]
        -> config.gamma = 0.99, config.layers[0] = 64, config.layers[1] = 64,
           encoder.size = 4, mapper.num_actions = 2
    {"lr": 0.001, "net": {"hidden": 64}}  ->  lr = 0.001, net.hidden = 64
    0.5                                   ->  value = 0.5

Lists inside are indexed as `key[0]` (brackets, so an object key "0" stays distinct).
Empty objects and lists are kept as the leaf strings "{}" and "[]" so they still show.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from runlog.format.layout import CONFIG_FILE, config_path

if TYPE_CHECKING:
    import pandas as pd

CRATE_PREFIXES = ("config", "encoder", "mapper")
"""Prefixes of the crate's `[algorithm_config, observation_encoder, action_mapper]`."""
SCALAR_KEY = "value"
"""Key of a config that is a single JSON scalar."""
MISSING = "—(missing)"
"""Cell of `diff_configs` for a key that a run's config does not have."""
DIFFERS = "differs"
"""Boolean column of `diff_configs`: True when the runs' values of the key are not all equal."""


def load_config(run_dir: Path) -> tuple[object | None, str | None]:
    """(config, problem): the parsed config.json, or None and a sentence saying why not.

    A missing config.json is normal (the file is optional): (None, "config.json is missing").
    An unreadable or corrupt file gives (None, "config.json is corrupt: ..."); never raises.
    """
    path = config_path(run_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, f"{CONFIG_FILE} is missing"
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"{CONFIG_FILE} is unreadable: {exc} ({path})"
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, f"{CONFIG_FILE} is corrupt: {exc} ({path})"


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _flatten_into(out: dict[str, object], prefix: str, value: object) -> None:
    if isinstance(value, Mapping):
        if not value:
            out[prefix or SCALAR_KEY] = "{}"
        for key, item in value.items():
            _flatten_into(out, _join(prefix, str(key)), item)
    elif isinstance(value, list | tuple):
        if not value:
            out[prefix or SCALAR_KEY] = "[]"
        for i, item in enumerate(value):
            _flatten_into(out, f"{prefix}[{i}]", item)
    else:
        out[prefix or SCALAR_KEY] = value


def flatten_config(obj: object) -> dict[str, object]:
    """Dotted key -> leaf value (see the module doc for the shapes), in document order."""
    out: dict[str, object] = {}
    if isinstance(obj, list | tuple) and len(obj) == len(CRATE_PREFIXES):
        for prefix, part in zip(CRATE_PREFIXES, obj, strict=True):
            _flatten_into(out, prefix, part)
    else:
        _flatten_into(out, "", obj)
    return out


def config_keys(configs: Iterable[object | None]) -> list[str]:
    """Every flattened key of these configs (None: no config.json), sorted."""
    return sorted(
        {key for config in configs if config is not None for key in flatten_config(config)}
    )


def comparable(value: object) -> tuple[str, object]:
    """What counts as "the same value": 1 == 1.0, but True != 1 and "1" != 1; NaN == NaN."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        number = float(value)
        return ("number", "nan" if math.isnan(number) else number)
    if value is None:
        return ("null", None)
    if value == MISSING:
        return ("missing", None)
    return (type(value).__name__, value)


def diff_configs(configs: Mapping[str, object]) -> pd.DataFrame:
    """Side by side configs: index = dotted key (sorted), one column per label, plus `differs`.

    A key a config lacks shows `MISSING` in that column (and makes the key differ).
    A config that is None (absent or corrupt) is shown as missing every key.
    """
    import pandas as pd  # when first needed: a sweep of summaries needs none

    if DIFFERS in configs:
        raise ValueError(f"{DIFFERS!r} is reserved for the differs column; rename that label")
    flat = {label: flatten_config(cfg) if cfg is not None else {} for label, cfg in configs.items()}
    keys = sorted({key for values in flat.values() for key in values})
    columns: dict[str, list[object]] = {
        label: [values.get(key, MISSING) for key in keys] for label, values in flat.items()
    }
    differs = [
        len({comparable(columns[label][i]) for label in columns}) > 1 for i in range(len(keys))
    ]
    frame = pd.DataFrame(
        {label: pd.Series(cells, dtype="object") for label, cells in columns.items()}
    )
    frame.index = pd.Index(keys, dtype="object", name="key")
    frame[DIFFERS] = pd.Series(differs, index=frame.index, dtype="bool")
    return frame


def differing_only(diff: pd.DataFrame) -> pd.DataFrame:
    """The rows of a `diff_configs` table whose values differ between runs."""
    return diff.loc[diff[DIFFERS]]
