"""The languages of an index's text, per file and in all, as the manifest records them.

Search decides per query whether the embedder can read it; the corpus's languages say whether that matters
for this index (a Chinese or mixed corpus under an English-only embedder is worth a warning and a fix), and
`deeprag list` shows them. They describe the docstore's content at one generation: the ingestion that changes
the content records them after its commits (updating only the files it changed), so a manifest whose
generation is behind the docstore's (a killed run) or that has none (an index written before deeprag kept
them) is "unknown", and one pass over the chunks' text, a regular expression per chunk, recomputes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from ingest.docstore import Docstore
from ingest.language import LanguageCounts, add_counts, count_units, sum_counts


@dataclass(frozen=True)
class CorpusLanguages:
    """Units per language (ingest.language) of each file's chunks, as of docstore ``generation``."""

    generation: int
    files: dict[str, LanguageCounts] = field(default_factory=dict)

    def totals(self) -> LanguageCounts:
        return sum_counts(self.files.values())

    def is_current(self, generation: int) -> bool:
        return self.generation == generation

    def updated(self, changed: Mapping[str, LanguageCounts], removed: Iterable[str], generation: int) -> "CorpusLanguages":
        """These languages after a run that replaced ``changed`` files and removed ``removed`` ones."""
        files = {path: counts for path, counts in self.files.items() if path not in set(removed)}
        files.update({path: dict(counts) for path, counts in changed.items()})
        return CorpusLanguages(generation, files)

    def to_json(self) -> dict[str, Any]:
        return {"generation": self.generation, "files": self.files}

    @classmethod
    def from_json(cls, data: Any) -> "CorpusLanguages | None":
        """From the manifest's ``languages`` value; None when absent or not in this shape (then unknown,
        recomputed by the next writer) rather than an error: the field only describes the index."""
        if not isinstance(data, dict) or not isinstance(data.get("generation"), int):
            return None
        files = data.get("files")
        if not isinstance(files, dict):
            return None
        clean: dict[str, LanguageCounts] = {}
        for path, counts in files.items():
            if not isinstance(counts, dict) or not all(isinstance(v, int) for v in counts.values()):
                return None
            clean[str(path)] = {str(code): int(units) for code, units in counts.items()}
        return cls(data["generation"], clean)


def measure(docstore: Docstore) -> CorpusLanguages:
    """The languages of everything in ``docstore``, in one pass over its chunks' text."""
    files: dict[str, LanguageCounts] = {}
    generation = docstore.generation()
    for source, text in docstore.iter_source_texts():
        add_counts(files.setdefault(source, {}), count_units(text))
    return CorpusLanguages(generation, files)


def of_chunks(texts: Iterable[str]) -> LanguageCounts:
    """One file's counts from its chunks' text (what an ingestion has in hand before committing)."""
    return sum_counts(count_units(text) for text in texts)
