"""runlog dashboard: `streamlit run dashboard/app.py [-- --root PATH|URL] [--read-only]`.

This file is the server (an `st.App`, which `streamlit run` serves as it would a script); the
page every browser session runs is dashboard/page.py (its docstring lists the URL params).
Being the server lets the dashboard start on its work when the process starts rather than
when the first browser connects: the server's lifespan starts `dashboard.warmup` (imports,
the runs root's first scan) in a thread, and the first page waits for it instead of doing the
same work again.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import streamlit as st

# `streamlit run dashboard/app.py` puts dashboard/ on sys.path, not the repo root.
_REPO_ROOT = Path(__file__).resolve().parent.parent
if str(_REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(_REPO_ROOT))

from dashboard import warmup  # noqa: E402  (after the sys.path fix)


@asynccontextmanager
async def _lifespan(_app: st.App) -> AsyncIterator[None]:
    warmup.start(sys.argv[1:], dict(os.environ))
    yield


app = st.App("page.py", lifespan=_lifespan)
