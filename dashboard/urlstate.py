"""The dashboard's view state in the URL (`st.query_params`), so a reload or a link shows it again.

    ?run=cartpole/v1/20260322_120000&x=steps&smooth=0.9&band=minmax   one run
    ?compare=cartpole/v1,cartpole/v2                                  versions or runs side by side
    ?view=prune&scope=cartpole/v1                                     prune ("" = the whole root)
    ?q=dqn&name=cartpole&version=v1&tag=baseline,seed-sweep           run browser filters
    &style=paper&fig=svg                   every chart drawn for a paper, its camera icon saving SVG

Parsing is pure (plain mappings in, records out) so it is testable without Streamlit; the
few functions that touch `st.query_params` / `st.session_state` say so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar
from urllib.parse import urlencode

import streamlit as st

RUN = "run"
COMPARE = "compare"
SWEEP = "sweep"
GROUP_BY = "groupby"
"""Compare (and sweep) runs grouped by these config keys instead of by version."""
VIEW = "view"
SCOPE = "scope"
X_AXIS = "x"
SMOOTH = "smooth"
BAND = "band"
QUERY = "q"
NAME = "name"
VERSION = "version"
TAG = "tag"
STYLE = "style"
FIGURE_FORMAT = "fig"
RLIABLE = "rliable"
"""`?rliable=1`: the sweep and compare views' rliable panel is open (drawn only then)."""

PRUNE_VIEW = "prune"
X_CHOICES = ("steps", "episodes")
BAND_CHOICES = ("minmax", "std")
DEFAULT_X = "steps"
DEFAULT_SMOOTH = 0.6
DEFAULT_BAND = "minmax"
MAX_SMOOTH = 0.999
RUN_SETTINGS = (X_AXIS, SMOOTH, BAND)
PAPER_STYLE = "paper"
FIGURE_FORMATS = ("png", "svg")
DEFAULT_FIGURE_FORMAT = "png"
"""Params that describe how a run is drawn; they travel with the user from run to run."""

Page = Literal["browser", "run", "compare", "prune", "sweep"]
T = TypeVar("T")


@dataclass(frozen=True)
class Route:
    """Which page the URL asks for and its subject."""

    page: Page
    run: str | None = None
    """Root-relative run path as given in the URL (not yet checked against the root)."""
    compare: tuple[str, ...] = ()
    """Runs or versions to compare as given in the URL (not yet checked), in URL order."""
    scope: str = ""
    """Prune scope as given in the URL (not yet checked; "" = the whole root)."""
    sweep: tuple[str, ...] = ()
    """Names, versions or runs of a sweep as given in the URL (not yet checked)."""


def _last(value: str | list[str] | None) -> str | None:
    if isinstance(value, list):
        return value[-1] if value else None
    return value


def url_path(raw: str) -> str:
    """A path from the URL as typed, less surrounding blanks and trailing slashes.

    A leading `/` stays: `/etc` must reach `runlog.format.paths.resolve_inside` as the absolute
    path it is (and be refused as one), not turn into the root-relative `etc`. A path of
    slashes only stays as it is, so `/` is refused too instead of meaning the root.
    """
    text = raw.strip()
    return text.rstrip("/") or text


def split_list(values: Iterable[str]) -> tuple[str, ...]:
    """Items of a list param, given as `a,b` and/or repeated (`?compare=a&compare=b`), once each,
    each as `url_path` leaves it."""
    seen: dict[str, None] = {}
    for value in values:
        for item in value.split(","):
            item = url_path(item)
            if item:
                seen.setdefault(item, None)
    return tuple(seen)


def split_tags(raw: str | None) -> tuple[str, ...]:
    """The tags of a `tag` param (`a,b`; repeated params arrive joined by commas), once each.
    Unlike paths, a tag is kept as typed but for surrounding blanks."""
    seen: dict[str, None] = {}
    for item in (raw or "").split(","):
        if item.strip():
            seen.setdefault(item.strip(), None)
    return tuple(seen)


def route(params: Mapping[str, str | list[str]]) -> Route:
    """The page a URL's params ask for: prune, sweep, compare, run, else the browser.

    Paths are kept as typed (`url_path`): they are checked against the root by the views.
    """
    view = _last(params.get(VIEW))
    if view == PRUNE_VIEW:
        return Route("prune", scope=url_path(_last(params.get(SCOPE)) or ""))
    raw_sweep = params.get(SWEEP)
    if raw_sweep is not None:
        values = raw_sweep if isinstance(raw_sweep, list) else [raw_sweep]
        return Route("sweep", sweep=split_list(values))
    raw_compare = params.get(COMPARE)
    if raw_compare is not None:
        values = raw_compare if isinstance(raw_compare, list) else [raw_compare]
        return Route("compare", compare=split_list(values))
    run = _last(params.get(RUN))
    if run is not None:
        return Route("run", run=url_path(run))
    return Route("browser")


def parse_x(raw: str | None) -> str:
    return raw if raw in X_CHOICES else DEFAULT_X


def parse_band(raw: str | None) -> str:
    return raw if raw in BAND_CHOICES else DEFAULT_BAND


def parse_smooth(raw: str | None) -> float:
    """EMA weight in [0, MAX_SMOOTH]; anything unparsable gives the default."""
    if raw is None:
        return DEFAULT_SMOOTH
    try:
        value = float(raw)
    except ValueError:
        return DEFAULT_SMOOTH
    if not math.isfinite(value):
        return DEFAULT_SMOOTH
    return round(min(max(value, 0.0), MAX_SMOOTH), 3)


def format_smooth(value: float) -> str:
    return f"{value:g}"


def parse_paper_style(raw: str | None) -> bool:
    """`?style=paper` turns the paper style on; anything else is the default style."""
    return raw == PAPER_STYLE


def format_paper_style(on: bool) -> str:
    return PAPER_STYLE if on else "default"


def parse_flag(raw: str | None) -> bool:
    """An on/off param: `1` (as `format_flag` writes it) or `true` is on, anything else off."""
    return raw is not None and raw.strip().lower() in ("1", "true")


def format_flag(on: bool) -> str:
    return "1" if on else "0"


def parse_figure_format(raw: str | None) -> str:
    """The camera icon's export format: `?fig=svg`, else PNG."""
    return raw if raw in FIGURE_FORMATS else DEFAULT_FIGURE_FORMAT


def link(**params: str | Iterable[str] | None) -> str:
    """A relative link (`?a=1&b=2`) to the same app with exactly these params (None omitted)."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, str):
            pairs.append((key, value))
        else:
            pairs.extend((key, item) for item in value)
    return "?" + urlencode(pairs, safe="/,") if pairs else "?"


def run_link(rel: str, settings: Mapping[str, str] | None = None) -> str:
    return link(**{RUN: rel, **(settings or {})})


def compare_link(items: Iterable[str]) -> str:
    return link(**{COMPARE: ",".join(items)})


def sweep_link(items: Iterable[str]) -> str:
    return link(**{SWEEP: ",".join(items)})


def prune_link(scope: str) -> str:
    return link(**{VIEW: PRUNE_VIEW, SCOPE: scope})


# ----- Streamlit side ---------------------------------------------------------------------


def current_route() -> Route:
    """`route()` of the live URL."""
    params = st.query_params
    return route({key: params.get_all(key) for key in params})


def navigate(**params: str | None) -> None:
    """Replace the whole URL by `params` (None values dropped) and rerun the app. Never returns.

    The run-drawing settings (x, smooth, band) the user chose are carried over when a run is
    opened, so moving from run to run keeps the same view.
    """
    clean = {key: value for key, value in params.items() if value is not None}
    if RUN in clean:
        for key in RUN_SETTINGS:
            pref = st.session_state.get(_pref_key(key))
            if key not in clean and pref is not None:
                clean[key] = pref
    st.query_params.from_dict(clean)
    st.rerun(scope="app")


def _pref_key(param: str) -> str:
    return f"pref.{param}"


def widget_key(param: str) -> str:
    """Session-state key of the widget that edits URL param `param`."""
    return f"url.{param}"


def url_bound(
    param: str,
    parse: Callable[[str | None], T],
    default: T,
    to_url: Callable[[T], str] = str,
    *,
    repeated: bool = False,
) -> tuple[str, Callable[[], T]]:
    """Seed the widget for `param` from the URL (or the session's last choice) before it is drawn.

    Returns (widget key, `sync`): draw the widget with that key (and no `value=`), then call
    `sync()`, which writes the widget's value back to the URL (dropping it when it is the
    default, to keep links short) and returns it. `repeated`: a list param may come repeated
    (`?tag=a&tag=b`); `parse` gets its values joined by commas (the form `sync` writes).
    """
    key = widget_key(param)
    if key not in st.session_state:
        raw = (
            ",".join(st.query_params.get_all(param)) or None
            if repeated
            else st.query_params.get(param)
        )
        if raw is None:
            raw = st.session_state.get(_pref_key(param))
        st.session_state[key] = parse(raw)

    def sync() -> T:
        value: Any = st.session_state.get(key, default)
        if value is None:
            value = default
        text = to_url(value)
        st.session_state[_pref_key(param)] = text
        if value == default:
            if param in st.query_params:
                del st.query_params[param]
        elif st.query_params.get(param) != text:
            st.query_params[param] = text
        return value  # type: ignore[no-any-return]

    return key, sync
