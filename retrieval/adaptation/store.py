"""Where an adaptation lives and how search finds it: ``<index>/adapted/<name>/`` plus the manifest's
``adapted`` entry.

Crash safety is by ordering, as for ingestion: the new reranker is written to a temporary folder under
``adapted/``, renamed to its final, unique name, and only then does the manifest entry (written under the
index's write lock, ``ingest.index_dir.record_adaptation``) point at it; older folders are removed after that.
A kill at any moment leaves the manifest naming a complete folder (the old one or the new one), and search
follows the manifest only. ``--reset`` removes the entry first, then the folders.

The entry records what the corpus looked like (a digest of its files' hashes), so a later ingestion that
changes files makes it *stale*: still used (it was trained on most of the same text), and shown as stale by
``deeprag list`` and in search results until adapt runs again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ground.config import RetrievalConfig, updated
from ground.errors import DeepragError
from ingest.docstore import Docstore
from ingest.index_dir import Manifest, record_adaptation

log = logging.getLogger(__name__)

ADAPTED = "adapted"
TEMPORARY_PREFIX = ".tmp-"


class AdaptationMissing(DeepragError):
    """The manifest names an adapted reranker folder that is not there."""


@dataclass(frozen=True)
class Shares:
    """The stage settings adapt chooses: which first stages run and how they are mixed, whether the reranker
    runs, its share, and which reranker (the adapted one or the one it started from)."""

    mode: str  # "hybrid", "dense" (dense share 1) or "bm25" (dense share 0)
    dense_weight: float
    rerank: bool  # False: reranker share 0
    rerank_weight: float
    adapted_reranker: bool

    def describe(self) -> str:
        first = {"bm25": "BM25 alone", "dense": "dense alone"}.get(self.mode, f"hybrid, dense share {self.dense_weight:g}")
        if not self.rerank:
            return f"{first}, no reranking"
        which = "adapted" if self.adapted_reranker else "starting"
        return f"{first}, {which} reranker at share {self.rerank_weight:g}"


@dataclass(frozen=True)
class Adaptation:
    """The manifest entry: enough to use the adaptation, to tell when it is stale, and to say what it did."""

    model_dir: str  # relative to the index directory: adapted/<name>
    base_model: str  # the reranker it was trained from (retrieval.reranker_model at the time)
    base_sha256: str | None
    base_languages: list[str] | None  # what the base reads (None: every language); the adapted one reads the same
    start: dict  # the retrieval settings it started from (mode, dense_weight, rerank, rerank_weight, reranker)
    chosen: dict  # Shares as a dict
    corpus_digest: str
    data_sha256: str
    counts: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)  # steps, seconds, held-out nDCG before/after, kept or not
    tuning: dict = field(default_factory=dict)  # held-out nDCG of the start, the best single stage, the choice
    seconds: float = 0.0
    created: str = ""

    @property
    def shares(self) -> Shares:
        return Shares(**self.chosen)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_manifest(cls, manifest: Manifest) -> "Adaptation | None":
        if not manifest.adapted:
            return None
        try:
            return cls(**manifest.adapted)
        except TypeError:
            log.warning("the manifest's adapted entry is not one this deeprag reads; searching without it "
                        "(run `deeprag adapt --reset` and adapt again)")
            return None

    def model_path(self, directory: Path) -> Path:
        return directory / self.model_dir

    def is_stale(self, docstore: Docstore) -> bool:
        return corpus_digest(docstore) != self.corpus_digest

    def applies_to(self, settings: RetrievalConfig) -> bool:
        """Whether ``settings`` hold the reranker and shares adapt started from: a user who since chose another
        reranker or other shares gets those, not the adaptation."""
        start = start_settings(settings)
        return all(start[key] == self.start.get(key) for key in CHOSEN_FROM)

    def applied(self, settings: RetrievalConfig, directory: Path) -> RetrievalConfig:
        """``settings`` with the chosen shares and, where chosen, the adapted reranker (reading the languages
        its base reads, so per-query language routing is unchanged). A call that asks for no reranking (the
        first-stage lists an evaluation reads, ``--no-rerank``) keeps asking for none, and a first-stage mode
        other than the one adapt started from is the caller's choice and stays."""
        shares = self.shares
        changes: dict = {"dense_weight": shares.dense_weight, "rerank": settings.rerank and shares.rerank,
                         "rerank_weight": shares.rerank_weight}
        if settings.mode == self.start.get("mode"):
            changes["mode"] = shares.mode
        if shares.adapted_reranker and shares.rerank:
            changes["reranker_model"] = str(self.model_path(directory))
            if settings.reranker_languages is None:
                changes["reranker_languages"] = tuple(self.base_languages) if self.base_languages else ("*",)
        return updated(settings, changes)


# The settings an adaptation replaces; if any differs from what adapt started from, the user chose it since.
CHOSEN_FROM = ("fusion", "dense_weight", "rerank_weight", "reranker_model")


def start_settings(settings: RetrievalConfig) -> dict:
    """What adapt records as its starting point (compared again at every search)."""
    return {"mode": settings.mode, "fusion": settings.fusion, "dense_weight": settings.dense_weight,
            "rerank": settings.rerank, "rerank_weight": settings.rerank_weight,
            "reranker_model": settings.reranker_model}


def corpus_digest(docstore: Docstore) -> str:
    """sha256 over the indexed files' paths and content hashes: changes exactly when ingestion changes files."""
    digest = hashlib.sha256()
    for path, record in sorted(docstore.files().items()):
        digest.update(f"{path}\0{record.sha256}\n".encode())
    return digest.hexdigest()


def staging_dir(directory: Path) -> Path:
    """A fresh temporary folder under adapted/ for a reranker being written (removed if adapt dies: the next
    commit or reset clears leftovers)."""
    root = directory / ADAPTED
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=TEMPORARY_PREFIX, dir=root))


def commit(directory: Path, staged_model: Path | None, entry: Adaptation) -> Adaptation:
    """Make ``entry`` the index's adaptation: move the staged model folder (None: no model kept, only shares)
    to its final name, then write the manifest entry, then remove every other folder under adapted/."""
    if staged_model is not None:
        final = directory / entry.model_dir
        os.replace(staged_model, final)  # same folder, so atomic; the name is unique (data hash + time)
    record_adaptation(directory, entry.to_json())
    _remove_others(directory, keep=entry.model_dir if staged_model is not None else None)
    return entry


def reset(directory: Path) -> bool:
    """Go back to the unadapted pipeline: the manifest entry first, then the folders. Returns whether there
    was an adaptation."""
    had = Manifest.read(directory).adapted is not None
    if had:
        record_adaptation(directory, None)
    shutil.rmtree(directory / ADAPTED, ignore_errors=True)
    return had


def _remove_others(directory: Path, keep: str | None) -> None:
    root = directory / ADAPTED
    for path in root.iterdir() if root.is_dir() else []:
        if f"{ADAPTED}/{path.name}" != keep:
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
