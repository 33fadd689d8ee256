"""The records that flow through ingestion and out of the index."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Section:
    """A stretch of a document's text that shares one page number (None for formats without pages)."""

    text: str
    page: int | None = None


@dataclass(frozen=True)
class Document:
    """One logical document as read from a file. A BEIR .jsonl file yields many, one per record."""

    source: str  # the file's absolute path
    doc_id: str  # the path for ordinary files, the record's `_id` for corpora
    title: str
    sections: list[Section]

    @property
    def char_count(self) -> int:
        return sum(len(section.text) for section in self.sections)


@dataclass(frozen=True)
class Chunk:
    """A passage cut from one section; ``start``/``end`` index into that section's text (so the UI can
    highlight the passage inside the page it came from)."""

    source: str
    doc_id: str
    title: str
    text: str
    page: int | None
    start: int
    end: int
    ordinal: int  # position within the document
    chunk_id: int | None = None  # assigned by the docstore

    def indexed_text(self) -> str:
        """What the embedder and BM25 see: the title carries context the passage itself often lacks."""
        return f"{self.title}\n{self.text}" if self.title else self.text


@dataclass
class SkippedFile:
    path: str
    reason: str


@dataclass
class IngestSummary:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    chunks_embedded: int = 0
    skipped: list[SkippedFile] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "skipped": len(self.skipped),
            "chunks_embedded": self.chunks_embedded,
            "seconds": round(self.seconds, 2),
            "skipped_files": [{"path": s.path, "reason": s.reason} for s in self.skipped],
        }
