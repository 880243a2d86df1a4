"""dashboard.text: untrusted text shown verbatim, never as markdown or plotly markup.

The markdown properties are checked against CommonMark's code span rule (markdown_spans):
untrusted text that lies wholly inside one code span cannot make a link, an image,
emphasis or an autolink.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from markdown_spans import LINK_OR_IMAGE, code_spans, outside_spans, span_content

from dashboard.text import format_number, md_code, md_name, plot_text

BAIT = "![x](http://127.0.0.1:9/pixel.png)[click](http://127.0.0.1:9/)"
PREFIX = "Cannot open run "
SUFFIX = ": it is not a path inside the runs root."


@given(st.text())
@example(BAIT)
@example("/a` " + BAIT + " `b")
@example("a`` b ``` c\n\nd")
@example("`")
@example(" ` ")
@example("")
@example("  ")
@example("http://x.y www.x.y")
def test_md_code_puts_all_of_the_text_in_one_code_span(text: str) -> None:
    shown = md_code(text)
    line = PREFIX + shown + SUFFIX
    assert "\n" not in shown and "\r" not in shown  # one paragraph, one line
    assert code_spans(line) == [(len(PREFIX), len(PREFIX) + len(shown))]
    assert outside_spans(line) == PREFIX + SUFFIX + "\n\n"  # no character of `text` is parsed
    expected = re.sub(r"[\r\n]+", " ", text)
    assert span_content(shown) == (expected or " ")


@given(st.text())
@example(BAIT)
@example("cartpole/v1/20260321_100007")
@example("www.example.com")
@example("_emphasis_")
@example("1.")
def test_md_name_is_the_name_itself_or_a_code_span(text: str) -> None:
    shown = md_name(text)
    if shown == text:
        # Only letters, digits and inner . _ - /: no markdown syntax, no autolink.
        assert re.fullmatch(r"[A-Za-z0-9._/-]+", text)
        assert text[0].isalnum() and text[-1].isalnum()
        assert "www." not in text.lower()
        assert not re.search(r"[._/-]{2}", text)
    else:
        assert shown == md_code(text)
    line = f"**{shown} vs {md_name('v1')}**"
    outside = outside_spans(line)
    assert not LINK_OR_IMAGE.search(outside) and not re.search(r"[\[\]()<>@:]", outside)


def test_plain_names_are_shown_as_they_are() -> None:
    assert md_name("cartpole/v1/20260321_100007") == "cartpole/v1/20260321_100007"
    assert md_name("LunarLander-v2") == "LunarLander-v2"
    assert md_name("a b") == "`a b`"
    assert md_name("www.evil.example") == "`www.evil.example`"


@pytest.mark.parametrize(
    "text, shown",
    [
        ("etc", "`etc`"),
        ("a`b", "``a`b``"),
        ("`a", "`` `a ``"),
        (" a ", "`  a  `"),
        ("a\n\nb", "`a b`"),
        ("", "` `"),
    ],
)
def test_md_code_examples(text: str, shown: str) -> None:
    assert md_code(text) == shown


@given(st.text())
@example('<a href="https://evil.example">x</a>')
@example("%{y}")
@example("&lt;b&gt;")
def test_plot_text_leaves_no_tag_or_template(text: str) -> None:
    shown = plot_text(text)
    assert "<" not in shown and ">" not in shown and "%{" not in shown
    # Plotly decodes the entities once, after parsing tags: that gives the text back.
    decoded = re.sub(
        r"&(amp|lt|gt|#37);",
        lambda m: {"amp": "&", "lt": "<", "gt": ">", "#37": "%"}[m.group(1)],
        shown,
    )
    assert decoded == text


# ----- format_number: one number format for cards, tables and hovers -----------------------

_SHAPE = re.compile(r"-?(?:\d{1,3}(?:,\d{3})*(?:\.\d+)?|\d(?:\.\d+)?e[+-]\d+)")


def _significant_digits(text: str) -> int:
    """Significant digits written in `text` (zeros before the point are placeholders)."""
    mantissa = text.lstrip("-").split("e")[0].replace(",", "")
    digits = mantissa.replace(".", "").lstrip("0")
    if "." not in mantissa:
        digits = digits.rstrip("0")
    return len(digits)


@pytest.mark.parametrize(
    "value, shown",
    [
        (0.020972, "0.02097"),
        (76.4512, "76.45"),
        (-181.63, "-181.6"),
        (500.0, "500"),
        (0.5, "0.5"),
        (1234.5, "1,235"),  # a tie rounds away from zero, as the browser's toPrecision does
        (-1234.5, "-1,235"),
        (12345.6, "12,350"),
        (12345.0, "12,350"),  # a float keeps to 4 digits even when whole
        (999_999.9, "1,000,000"),
        (1.2346e-5, "0.00001235"),
        (1e-6, "0.000001"),
        (1.2346e-7, "1.235e-7"),
        (1.5e21, "1.5e+21"),
        (2 / 3, "0.6667"),
        (0.0, "0"),
        (-0.0, "0"),
        (1234, "1,234"),  # ints stay whole
        (12345, "12,345"),
        (-7, "-7"),
        (np.int64(1_234_567), "1,234,567"),
        (np.float32(0.1), "0.1"),
        (None, "—"),
        (math.nan, "—"),
        (math.inf, "—"),
        (-math.inf, "—"),
    ],
)
def test_format_number_examples(value: float | int | None, shown: str) -> None:
    assert format_number(value) == shown


@given(st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: x != 0))
@example(9.99996e-7)
@example(9.9996)
@example(-0.00012345)
@example(5e-324)
@example(1.7976931348623157e308)
def test_format_number_shows_4_significant_digits_of_any_float(x: float) -> None:
    shown = format_number(x)
    assert _SHAPE.fullmatch(shown), shown
    assert _significant_digits(shown) <= 4, shown
    assert not re.search(r"\.\d*0(?:e|$)", shown), shown  # no trailing zeros after a point
    back, exact = Decimal(shown.replace(",", "")), Decimal(x)  # exact: no float overflow
    assert abs(back - exact) <= Decimal("5e-4") * abs(exact), (x, shown)
    assert format_number(-x) == (shown[1:] if shown.startswith("-") else "-" + shown)


@given(st.integers(min_value=-(10**30), max_value=10**30))
def test_format_number_shows_ints_whole_with_separators(n: int) -> None:
    shown = format_number(n)
    assert shown == f"{n:,}"
    assert int(shown.replace(",", "")) == n
