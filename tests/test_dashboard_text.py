"""dashboard.text: untrusted text shown verbatim, never as markdown or plotly markup.

The markdown properties are checked against CommonMark's code span rule (markdown_spans):
untrusted text that lies wholly inside one code span cannot make a link, an image,
emphasis or an autolink.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from markdown_spans import LINK_OR_IMAGE, code_spans, outside_spans, span_content

from dashboard.text import md_code, md_name, plot_text

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
