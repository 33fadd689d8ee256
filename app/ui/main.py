"""Entry point of the Streamlit app (`deeprag ui` runs `streamlit run` on this file).

Every rerun: read the configuration, apply this session's sidebar settings, then run the chosen page. Pages
read the result from ``st.session_state["config"]``.
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from ground.config import ConfigError, load_config
from app.logs import configure_logging
from app.ui.sidebar import render_sidebar

HERE = Path(__file__).parent

configure_logging()
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

st.set_page_config(page_title="deeprag", page_icon="📚", layout="wide")

try:
    base_config = load_config()
except ConfigError as exc:
    st.error(f"deeprag: {exc}")
    st.stop()

st.session_state["config"] = render_sidebar(base_config)

pages = [
    st.Page(HERE / "views" / "chat.py", title="Chat", icon="💬", url_path="chat", default=True),
    st.Page(HERE / "views" / "documents.py", title="Documents", icon="📄", url_path="documents"),
    st.Page(HERE / "views" / "benchmarks.py", title="Benchmarks", icon="📊", url_path="benchmarks"),
]
st.navigation(pages).run()
