"""CommonMark's code span rule (spec 6.1), for tests that check untrusted text stays inert.

A span opens at a run of n backticks and closes at the next run of exactly n backticks;
an opener with no such closer is literal text and the search goes on after it. Nothing
inside a span is parsed: text wholly inside one cannot make a link, an image, emphasis
or an autolink. (Streamlit renders markdown with remark, which follows CommonMark here.)
"""

from __future__ import annotations

import re

LINK_OR_IMAGE = re.compile(r"!?\[[^\]]*\]\(|https?:|www\.", re.IGNORECASE)
"""Markdown link or image syntax, or what GFM autolinks, as it may appear outside code."""


def code_spans(line: str) -> list[tuple[int, int]]:
    """(start, end) of every code span of one line of inline markdown, fences included."""
    runs = [(m.start(), m.end()) for m in re.finditer(r"`+", line)]
    spans = []
    i = 0
    while i < len(runs):
        start, end = runs[i]
        closer = next(
            (j for j in range(i + 1, len(runs)) if runs[j][1] - runs[j][0] == end - start),
            None,
        )
        if closer is None:
            i += 1  # a lone opener is literal backticks
            continue
        spans.append((start, runs[closer][1]))
        i = closer + 1
    return spans


def span_content(span: str) -> str:
    """What a code span shows: CommonMark strips one space each side when both have one."""
    fence = len(span) - len(span.lstrip("`"))
    inner = span[fence:-fence]
    if len(inner) >= 2 and inner[0] == inner[-1] == " " and inner.strip(" "):
        return inner[1:-1]
    return inner


def outside_spans(markdown: str) -> str:
    """`markdown` with its code spans cut out, paragraph by paragraph: what gets parsed."""
    kept = []
    for paragraph in re.split(r"\n\s*\n", markdown):
        last = 0
        for start, end in code_spans(paragraph):
            kept.append(paragraph[last:start])
            last = end
        kept.append(paragraph[last:] + "\n\n")
    return "".join(kept)
