"""The Streamlit UI (`deeprag ui`): chat, documents, benchmarks.

Only ``main.py`` and ``pages/`` import Streamlit's page API; the other modules here are plain logic
(settings file, safe uploads, background ingestion jobs, eval runs) so they can be tested without a browser.
"""
