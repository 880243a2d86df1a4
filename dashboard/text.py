"""Text for the page: untrusted text (URL params, paths, directory names, problems read from
disk, settings) made safe for the places that interpret it, and every number written one way.
Pure functions, no Streamlit.

    md_code(text)        markdown: an inline code span showing `text` verbatim
    md_name(text)        markdown: a plain run/version name as is, anything else as md_code
    plot_text(text)      plotly: titles, legend names, hover text (its HTML-like tags)
    format_number(x)     the one number format: 0.02097, 76.45, -181.6, 12,350, 12,345 (an int)
    TABLE_FLOAT_FORMAT   the same rule for st.dataframe's NumberColumn (numbers stay sortable)
    TABLE_INT_FORMAT       "    for whole-number columns
    HOVER_FORMAT         the same rule in plotly's hover templates (d3-format)

Streamlit renders st.error / warning / info / markdown / caption / title, widget labels
and help tooltips as GitHub-flavoured markdown: a directory named `![x](https:host)` or a
URL param holding a backtick would otherwise load images and show links of its choosing.
Backslash escapes are no defence there: GFM autolinks a bare `www.` or `http://` even
when every character of it is escaped. A code span is: nothing inside one is parsed.
"""

from __future__ import annotations

import math
import numbers
import re
from decimal import ROUND_HALF_UP, Context, Decimal

_LINE_BREAKS = re.compile(r"[\r\n]+")
_BACKTICK_RUNS = re.compile(r"`+")
# Letters and digits, with single . _ - between them, in /-separated parts. An `_` between
# two letters never starts emphasis, and nothing here makes a link unless it holds "www.".
_PART = r"[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*"
_PLAIN_NAME = re.compile(rf"{_PART}(?:/{_PART})*")
_PLOT_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "%": "&#37;"}
_PLOT_SPECIAL = re.compile("[&<>%]")


def md_code(text: str) -> str:
    """`text` as one inline code span for Streamlit markdown, shown verbatim.

    The fence is one backtick longer than the longest run of backticks in `text`, so none
    can close the span early (CommonMark: a span closes at a backtick run of its fence's
    length). Line breaks become one space each: a blank line would end the paragraph and
    the span with it. The span is padded with a space only where CommonMark strips one.
    """
    flat = _LINE_BREAKS.sub(" ", text)
    longest = max((len(run) for run in _BACKTICK_RUNS.findall(flat)), default=0)
    fence = "`" * (longest + 1)
    if flat.strip(" ") == "":
        # All spaces (or empty): CommonMark keeps such content as is; "" needs one space.
        return f"{fence}{flat or ' '}{fence}"
    edges = flat[0] + flat[-1]
    pad = " " if "`" in edges or edges == "  " else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def md_name(text: str) -> str:
    """A name, version, run id or run path for markdown: as is when it is plainly one
    (`cartpole/v1/20260321_100007`), else `md_code(text)`, so titles and labels stay clean."""
    if _PLAIN_NAME.fullmatch(text) and "www." not in text.lower():
        return text
    return md_code(text)


def plot_text(text: str) -> str:
    """`text` for a plotly title, trace name or hover template, shown verbatim.

    Plotly reads `<a href=...>`, `<b>`, `<br>` tags in every label and `%{...}` in hover
    templates; it decodes `&amp;`, `&lt;`, `&gt;` and numeric entities after parsing them.
    """
    return _PLOT_SPECIAL.sub(lambda m: _PLOT_ESCAPES[m.group(0)], text)


# ----- numbers ------------------------------------------------------------------------------

SIGNIFICANT_DIGITS = 4
TABLE_FLOAT_FORMAT = "%,.4g"
"""`format_number` for a float column of st.dataframe, whose cells cannot call Python.
Streamlit's sprintf writes `%,.4g` as String(Number(x.toPrecision(4))) with separators:
exactly the rule below, so the table shows what the cards show and still sorts as numbers."""
TABLE_INT_FORMAT = "%,d"
"""`format_number` for a whole-number column (counts, env steps): "12,345"."""
HOVER_FORMAT = ",.4~r"
"""`format_number` in plotly hover templates (`%{y:,.4~r}`, d3-format: 4 significant digits,
separators, trailing zeros trimmed). The same text for 1e-6 <= |x| < 1e21; beyond that d3
writes all the decimals (0.0000001235) where the rule writes 1.235e-7. Whole-number series
(episode lengths, env steps) use HOVER_INT_FORMAT."""
HOVER_INT_FORMAT = ",d"
"""`format_number` of an int in a plotly hover template: "12,345"."""
NO_VALUE = "—"
"""What an empty cell, an absent figure or a non-finite number shows."""

_ROUNDING = Context(prec=SIGNIFICANT_DIGITS, rounding=ROUND_HALF_UP)
_PLAIN_FROM = Decimal("1e-6")
_PLAIN_BELOW = Decimal("1e21")


def format_number(value: float | int | None) -> str:
    """The one way a number is shown on the page: cards, tables, captions, chart hovers.

    - An int (a count, an env step, a step number) is shown whole with thousands
      separators: 12345 -> "12,345".
    - A float (rewards, eval means, losses, ...) is rounded to 4 significant digits (ties
      away from zero) and written in plain decimals with thousands separators and without
      trailing zeros: 0.020972 -> "0.02097", 76.4512 -> "76.45", -181.63 -> "-181.6",
      500.0 -> "500", 1234.5 -> "1,235", 12345.6 -> "12,350" (a float stays at 4 digits even
      when it is whole: 12345.0 -> "12,350").
    - Tiny or huge floats (|x| < 1e-6 after rounding, or >= 1e21) take an exponent:
      1.2346e-7 -> "1.235e-7", 1.5e21 -> "1.5e+21"; 1.2346e-5 stays "0.00001235".
    - 0 and -0.0 -> "0"; None, NaN and infinities -> "—".

    This is JavaScript's String(Number(x.toPrecision(4))) with separators, which is what the
    tables' TABLE_FLOAT_FORMAT does in the browser, so a number reads the same everywhere.
    """
    if value is None:
        return NO_VALUE
    if isinstance(value, numbers.Integral):  # int, numpy ints
        return f"{int(value):,}"
    x = float(value)
    if not math.isfinite(x):
        return NO_VALUE
    if x == 0:
        return "0"
    rounded = _ROUNDING.create_decimal_from_float(x).normalize()
    if _PLAIN_FROM <= abs(rounded) < _PLAIN_BELOW:
        return format(rounded, ",f")
    exponent = rounded.adjusted()
    mantissa = format(rounded.scaleb(-exponent).normalize(), "f")
    return f"{mantissa}e{'+' if exponent > 0 else '-'}{abs(exponent)}"
