"""runlog dashboard: `streamlit run dashboard/app.py [-- --root PATH] [--read-only]`.

Routing lives in the URL (st.query_params) so a reload or a shared link shows the same view:
    (none)                      run browser
    ?run=<name>/<version>/<id>  one run
    ?compare=<a>,<b>,...        versions (<name>/<version>) or runs side by side
    ?view=prune&scope=<rel>     prune checkpoints of a run, version, name, or the root ("")
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

# `streamlit run dashboard/app.py` puts dashboard/ on sys.path, not the repo root.
_REPO_ROOT = Path(__file__).resolve().parent.parent
if str(_REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(_REPO_ROOT))

from dashboard.context import AppContext  # noqa: E402  (after the sys.path fix above)


def main() -> None:
    st.set_page_config(page_title="runlog", layout="wide")
    st.title("runlog")
    st.info("Dashboard under construction.")
    _ = AppContext


main()
