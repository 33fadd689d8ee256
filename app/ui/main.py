"""Entry point of the Streamlit app (`deeprag ui` runs `streamlit run` on this file).

Every rerun: read the server's configuration, apply this session's sidebar settings, then run the chosen
page. Pages read the result from ``st.session_state["config"]``. On the Chat page the sidebar starts with
the chat list.
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from ground.config import ConfigError, load_config
from app.logs import configure_logging
from app.ui.chat_list import render_chat_list
from app.ui.chat_session import browser_id
from app.ui.access import require_access
from app.ui.sidebar import render_sidebar
from app.ui.texts import t

HERE = Path(__file__).parent

configure_logging()
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
st.set_page_config(page_title="deeprag", page_icon="📚", layout="wide")

try:
    base_config = load_config()
except ConfigError as exc:
    st.error(t("app.config_error", error=exc))
    st.stop()

require_access(base_config.ui)  # with ui.access_token set, nothing below runs until the session has typed it

chat_page = st.Page(HERE / "views" / "chat.py", title=t("page.chat"), icon="💬", url_path="chat", default=True)
pages = [
    chat_page,
    st.Page(HERE / "views" / "documents.py", title=t("page.documents"), icon="📄", url_path="documents"),
    st.Page(HERE / "views" / "benchmarks.py", title=t("page.benchmarks"), icon="📊", url_path="benchmarks"),
]
page = st.navigation(pages)
browser_id()  # on every page: navigating drops the URL's query, and a reload must find this browser's chats
if page is chat_page:
    with st.sidebar:
        render_chat_list()
st.session_state["config"] = render_sidebar(base_config)
page.run()
