"""The Streamlit UI (`deeprag ui`): chat, documents, benchmarks.

Only ``main.py``, ``views/`` and the drawing modules (sidebar, chat_list, chat_session, turn_view,
source_cards) import Streamlit; the rest is plain logic (session settings, the LLM light's probe, chats and
their answering thread, chat files, citation marks and highlights, safe uploads, background ingestion jobs,
eval runs) so it can be tested without a browser.
"""
