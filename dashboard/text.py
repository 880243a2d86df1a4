"""Untrusted text (URL params, paths, directory names, problems read from disk, settings)
made safe for the places that interpret it. Pure functions, no Streamlit.

    md_code(text)      markdown: an inline code span showing `text` verbatim
    md_name(text)      markdown: a plain run/version name as is, anything else as md_code
    plot_text(text)    plotly: titles, legend names, hover text (its HTML-like tags)

Streamlit renders st.error / warning / info / markdown / caption / title, widget labels
and help tooltips as GitHub-flavoured markdown: a directory named `![x](https:host)` or a
URL param holding a backtick would otherwise load images and show links of its choosing.
Backslash escapes are no defence there: GFM autolinks a bare `www.` or `http://` even
when every character of it is escaped. A code span is: nothing inside one is parsed.
"""

from __future__ import annotations

import re

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
