"""The Documents page's table: what the index holds, merged with what the status board knows that the index
cannot (files being ingested or deleted, files that failed and why), one row per document.

Failed and in-progress rows come first, so a failure is not lost below hundreds of indexed documents.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from app.ui.doc_status import DocStatus
from app.ui.texts import t
from ingest.docstore import FileRecord

_ORDER = {"failed": 0, "ingesting": 1, "deleting": 1}


def status_text(status: DocStatus | None, indexed: bool) -> str:
    """``indexed``, ``ingesting``, ``deleting`` or ``failed: <reason>``, in the session's language."""
    if status is None:
        return t("doc.indexed")
    if status.state != "failed":
        return t(f"doc.{status.state}")
    return t("doc.failed_still_indexed" if indexed else "doc.failed", reason=status.reason)


def document_rows(records: dict[str, FileRecord], statuses: dict[str, DocStatus]) -> list[dict[str, Any]]:
    """Rows for the table: every indexed document and every path the board holds."""
    rows = []
    for path in sorted(set(records) | set(statuses)):
        record, status = records.get(path), statuses.get(path)
        if record is not None:
            size: float | None = record.size
            chunks: int | None = record.chunk_count
            when: str | None = dt.datetime.fromtimestamp(record.ingested_at).strftime("%Y-%m-%d %H:%M")
        else:
            size, chunks, when = _file_size(path), None, None
        rows.append({
            "document": Path(path).name,
            "status": status_text(status, indexed=record is not None),
            "folder": str(Path(path).parent),
            "chunks": chunks,
            "size (KB)": None if size is None else round(size / 1024, 1),
            "ingested": when,
            "_rank": _ORDER.get(status.state, 2) if status else 2,
        })
    ranked = sorted(rows, key=lambda row: row["_rank"])  # stable: by path within a rank
    for row in ranked:
        del row["_rank"]
    return ranked


def _file_size(path: str) -> float | None:
    try:
        return float(os.stat(path).st_size)
    except OSError:
        return None
