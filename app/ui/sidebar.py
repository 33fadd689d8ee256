"""The settings sidebar: index, retrieval and LLM settings of this browser session (app/ui/settings.py), the
LLM light (app/ui/health.py), and the interface language (app/ui/language.py)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app.ui.language import AUTO, LANGUAGES, OVERRIDE_KEY
from app.ui.resources import llm_health
from app.ui.settings import UISettings
from app.ui.texts import t
from ground.config import MODES, Config
from ground.errors import ConfigError, DeepragError
from ingest.index_dir import Manifest, open_docstore


def render_sidebar(base_config: Config) -> Config:
    """Draw the sidebar and return the configuration this session's pages should use: the server's
    configuration with this session's changes, which no other session sees."""
    if "settings" not in st.session_state:
        st.session_state["settings"] = UISettings.from_config(base_config)
    settings: UISettings = st.session_state["settings"]
    for key, value in _widget_values(settings).items():
        st.session_state.setdefault(key, value)  # widgets are keyed and take their first value from here

    with st.sidebar:
        st.subheader(t("sidebar.index"))
        st.selectbox(t("sidebar.index_dir"), settings.known_indexes, key="set_index")
        st.caption(index_status(Path(st.session_state["set_index"])))
        st.text_input(t("sidebar.new_index"), key="set_new_index", on_change=_add_index,
                      placeholder="/path/to/index", help=t("sidebar.new_index_help"))

        st.subheader(t("sidebar.retrieval"))
        st.slider(t("sidebar.top_k"), 1, 20, key="set_k")
        st.radio(t("sidebar.mode"), MODES, horizontal=True, key="set_mode")
        no_reranker = not base_config.retrieval.reranker_model
        if no_reranker:
            st.session_state["set_rerank"] = False  # shown off, not "on but disabled"
        st.toggle(t("sidebar.rerank"), disabled=no_reranker, key="set_rerank",
                  help=t("sidebar.no_reranker") if no_reranker else None)

        st.subheader(t("sidebar.llm"))
        st.slider(t("sidebar.temperature"), 0.0, 1.5, step=0.05, key="set_temperature")
        st.number_input(t("sidebar.max_tokens"), 16, 8192, step=16, key="set_max_tokens")
        st.text_input(t("sidebar.endpoint"), key="set_base_url")
        st.text_input(t("sidebar.model"), key="set_model", placeholder=t("sidebar.model_placeholder"))
        health = llm_health(st.session_state["set_base_url"].strip(), st.session_state["set_model"].strip(),
                            base_config.llm.api_key)
        st.markdown(health.light(), help=health.detail or None)
        language_picker()

    chosen = UISettings(
        index_dir=st.session_state["set_index"],
        k=int(st.session_state["set_k"]),
        mode=st.session_state["set_mode"],
        rerank=bool(st.session_state["set_rerank"]) and not no_reranker,
        temperature=float(st.session_state["set_temperature"]),
        max_tokens=int(st.session_state["set_max_tokens"]),
        llm_base_url=st.session_state["set_base_url"].strip(),
        llm_model=st.session_state["set_model"].strip(),
        known_indexes=settings.known_indexes,
    )
    if chosen != settings:
        st.session_state["settings"] = settings = chosen
    try:
        return settings.apply(base_config)
    except ConfigError as exc:  # e.g. an endpoint typed without http://: say so, keep the configured values
        st.sidebar.error(t("sidebar.settings_error", error=exc))
        return base_config


def language_picker() -> None:
    """This session's interface language: as the browser says (the default), or English or Chinese. The
    choice names each language in itself, so a user who cannot read the current one still finds theirs."""
    names = {AUTO: t("sidebar.language_auto"), "en": "English", "zh": "中文"}
    st.selectbox(f"🌐 {t('sidebar.language')}", [AUTO, *LANGUAGES], key=OVERRIDE_KEY, format_func=names.__getitem__)


def _widget_values(settings: UISettings) -> dict[str, object]:
    return {
        "set_index": settings.index_dir,
        "set_k": settings.k,
        "set_mode": settings.mode,
        "set_rerank": settings.rerank,
        "set_temperature": settings.temperature,
        "set_max_tokens": settings.max_tokens,
        "set_base_url": settings.llm_base_url,
        "set_model": settings.llm_model,
    }


def _add_index() -> None:
    """Callback: remember a typed index directory and select it."""
    typed = st.session_state.get("set_new_index", "").strip()
    if not typed:
        return
    path = str(Path(typed).expanduser().resolve())
    settings: UISettings = st.session_state["settings"]
    settings.remember_index(path)
    settings.index_dir = path
    st.session_state["set_index"] = path
    st.session_state["set_new_index"] = ""


def index_status(directory: Path) -> str:
    """One line under the index picker: how much is in it, or that it is new."""
    try:
        Manifest.read(directory)
    except DeepragError as exc:
        if not (directory / "manifest.json").exists():
            return t("sidebar.no_index")
        return f"⚠️ {exc}"
    docstore = open_docstore(directory)
    try:
        files = docstore.files()
        return t("sidebar.index_size", files=f"{len(files):,}", chunks=f"{docstore.chunk_count():,}")
    finally:
        docstore.close()
