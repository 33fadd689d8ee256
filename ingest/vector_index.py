"""FAISS indexes with stable ids (chunk ids from the docstore), kept in step with the docstore.

Search returns chunk ids: exact and HNSW indexes sit behind ``IndexIDMap2``; IVF-PQ stores ids itself (an
ID map over IVF would mis-number ids after a removal, since IVF does not shift them). Exact and IVF-PQ indexes are updated in place (add / remove by id); HNSW cannot remove vectors, so a
removal rebuilds it from the vectors stored in the docstore. (llama-index's FaissVectorStore cannot delete,
which is why this thin wrapper exists.)
"""

from __future__ import annotations

import logging
import math

import faiss
import numpy as np

from ground.config import IndexConfig
from ingest.docstore import Docstore
from ingest.errors import IndexMismatch

log = logging.getLogger(__name__)

IVFPQ_MIN_CHUNKS = 1000


def _inner(index: faiss.Index) -> faiss.Index:
    index = faiss.downcast_index(index)
    return faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap) else index


def kind_of(index: faiss.Index) -> str:
    inner = _inner(index)
    if isinstance(inner, faiss.IndexHNSW):
        return "hnsw"
    if isinstance(inner, faiss.IndexIVF):
        return "ivfpq"
    return "exact"


def stored_ids(index: faiss.Index) -> np.ndarray:
    index = faiss.downcast_index(index)
    if isinstance(index, faiss.IndexIVF):
        lists = index.invlists
        parts = [
            faiss.rev_swig_ptr(lists.get_ids(n), lists.list_size(n)).copy()
            for n in range(index.nlist) if lists.list_size(n)
        ]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)
    return faiss.vector_to_array(index.id_map).astype(np.int64)


def build(config: IndexConfig, dimension: int, ids: np.ndarray, vectors: np.ndarray) -> faiss.Index:
    """A new index of the configured kind over ``vectors`` (rows L2-normalised, so inner product = cosine)."""
    if config.kind == "exact":
        inner: faiss.Index = faiss.IndexFlatIP(dimension)
    elif config.kind == "hnsw":
        inner = faiss.IndexHNSWFlat(dimension, config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = max(40, 2 * config.hnsw_m)
    elif config.kind == "ivfpq":
        inner = _trained_ivfpq(config, dimension, vectors)
    else:  # unreachable through the checked configuration; a guard for hand-built settings
        raise IndexMismatch(f"index.kind = {config.kind!r} is not one of exact, hnsw, ivfpq")
    index = inner if config.kind == "ivfpq" else faiss.IndexIDMap2(inner)
    if len(ids):
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64))
    configure_search(index, config)
    return index


def _trained_ivfpq(config: IndexConfig, dimension: int, vectors: np.ndarray) -> faiss.Index:
    if len(vectors) < IVFPQ_MIN_CHUNKS:
        raise IndexMismatch(
            f"index.kind = 'ivfpq' needs at least {IVFPQ_MIN_CHUNKS} chunks to train on (have {len(vectors)}); "
            "use index.kind = 'exact' for a collection this small"
        )
    if dimension % config.pq_m:
        raise IndexMismatch(f"index.pq_m = {config.pq_m} must divide the embedding dimension {dimension}")
    nlist = config.ivf_nlist or int(4 * math.sqrt(len(vectors)))
    nlist = max(1, min(nlist, len(vectors) // 39))
    quantizer = faiss.IndexFlatIP(dimension)
    inner = faiss.IndexIVFPQ(quantizer, dimension, nlist, config.pq_m, 8, faiss.METRIC_INNER_PRODUCT)
    inner.own_fields = True
    quantizer.this.disown()
    inner.train(np.ascontiguousarray(vectors, dtype=np.float32))
    return inner


def configure_search(index: faiss.Index, config: IndexConfig) -> None:
    """Search-time knobs (not stored in the file in a way every reader can rely on)."""
    inner = _inner(index)
    if isinstance(inner, faiss.IndexHNSW):
        inner.hnsw.efSearch = config.hnsw_ef_search
    elif isinstance(inner, faiss.IndexIVF):
        inner.nprobe = config.ivf_nprobe


def synced(index: faiss.Index | None, config: IndexConfig, docstore: Docstore, dimension: int) -> faiss.Index:
    """Bring ``index`` to exactly the docstore's chunk set, rebuilding when in-place update is impossible."""
    wanted = docstore.chunk_ids()
    if index is None or kind_of(index) != config.kind:
        return build(config, dimension, wanted, docstore.embeddings(wanted, dimension))
    present = stored_ids(index)
    if index.d != dimension or (len(present) and not len(np.intersect1d(present, wanted, assume_unique=True))):
        # Another embedder's vectors (a re-embedding gives every chunk a new id): nothing to keep, and an
        # IVF-PQ quantizer trained on the old vectors would not fit the new ones.
        return build(config, dimension, wanted, docstore.embeddings(wanted, dimension))
    to_remove = np.setdiff1d(present, wanted, assume_unique=True)
    to_add = np.setdiff1d(wanted, present, assume_unique=True)
    if len(to_remove) and config.kind == "hnsw":
        log.info("rebuilding the HNSW index (HNSW cannot delete %d vectors in place)", len(to_remove))
        return build(config, dimension, wanted, docstore.embeddings(wanted, dimension))
    if len(to_remove):
        index.remove_ids(faiss.IDSelectorBatch(to_remove))
    if len(to_add):
        index.add_with_ids(docstore.embeddings(to_add, dimension), to_add)
    configure_search(index, config)
    return index


def search(index: faiss.Index, query_vectors: np.ndarray, n: int) -> list[list[tuple[int, float]]]:
    """Top-``n`` (chunk id, cosine) per query row."""
    n = min(n, index.ntotal)
    if n <= 0:
        return [[] for _ in range(len(query_vectors))]
    scores, labels = index.search(np.ascontiguousarray(query_vectors, dtype=np.float32), n)
    return [
        [(int(label), float(score)) for label, score in zip(row_labels, row_scores) if label >= 0]
        for row_labels, row_scores in zip(labels, scores)
    ]
