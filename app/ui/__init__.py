"""The Streamlit UI (`deeprag ui`): chat, documents, benchmarks.

Only ``main.py``, ``views/``, the drawing modules (sidebar, chat_list, turn_view, source_cards, notices,
access) and the per-session or per-process state (chat_session, resources) import Streamlit; the rest is
plain logic (session settings, the LLM light's probe, chats and their answering thread, chat files, citation
marks and highlights, safe uploads, document statuses and the table, background ingestion jobs, eval runs)
so it can be tested without a browser.
"""
