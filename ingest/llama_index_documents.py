"""llama-index documents into a deeprag index: what any llama-index reader returns, ingested incrementally.

llama-index brings readers for many formats (``SimpleDirectoryReader`` and the hub's readers); deeprag brings
the index (kill-safe, incremental, hybrid). A llama-index ``Document`` has no identity that survives a second
read (SimpleDirectoryReader draws a random ``doc_id`` each time), so each is kept under a source id taken from
what stays put: the file it was read from (``metadata["file_path"]``, stored under the same key as a file
deeprag reads itself, so ``deeprag delete PATH`` and ``deeprag ingest --prune`` treat it as that file), else
its ``doc_id`` as ``llama-index:<doc_id>``. The documents of one source are ingested together, one section
each (a PDF read page by page is one source with its pages), and a digest of their text stands in for the file
hash: re-ingesting unchanged documents embeds nothing, a changed one replaces its source's chunks.

The run itself is ``Ingestor.run_documents`` (ingest/pipeline.py), the same lock, commit and publish steps as
``deeprag ingest``. Documents are read duck-typed (``text``, ``metadata``, ``doc_id``), so only reading files
(``read_with_llama_index``, for the types deeprag has no reader for) imports llama-index.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Iterable, Iterator, Protocol, Sequence

from ground.config import Config, load_config
from ground.errors import DeepragError
from ingest.discovery import absolute
from ingest.embedder import Embedder
from ingest.errors import UnreadableFile
from ingest.models import Document, IngestSummary, Section
from ingest.pipeline import DocumentSource, Ingestor
from ingest.readers import LLAMA_INDEX_INSTALL

log = logging.getLogger(__name__)

KEY_PREFIX = "llama-index:"  # source ids of documents that were not read from a file
_PAGE_KEYS = ("page_label", "page", "page_number")  # where llama-index's readers put a page number


class LlamaIndexMissing(DeepragError):
    """llama-index (the optional ``llama-index`` extra) is needed and not installed."""


def llama_index_missing(what: str) -> LlamaIndexMissing:
    """The error for ``what`` needing llama-index, with the install command."""
    return LlamaIndexMissing(f"{what} needs llama-index, which is not installed; install it with "
                             f"`{LLAMA_INDEX_INSTALL}`")


class LlamaDocument(Protocol):
    """What deeprag reads of a llama-index ``Document`` (or any node with text)."""

    text: str
    metadata: dict[str, Any]

    @property
    def doc_id(self) -> str: ...


def source_id(document: LlamaDocument) -> str:
    """The key a document is stored under: its file's absolute path, else ``llama-index:<doc_id>``."""
    path = (document.metadata or {}).get("file_path")
    return absolute(path) if path else f"{KEY_PREFIX}{document.doc_id}"


def to_sources(documents: Iterable[LlamaDocument]) -> list[DocumentSource]:
    """Documents grouped by source id (first-seen order), each group one deeprag document with its digest."""
    groups: dict[str, list[LlamaDocument]] = {}
    for document in documents:
        groups.setdefault(source_id(document), []).append(document)
    return [_source(key, group) for key, group in groups.items()]


def ingest_documents(
    documents: Iterable[LlamaDocument],
    index_dir: Path | str | None = None,
    config: Config | None = None,
    *,
    embedder: Embedder | None = None,
) -> IngestSummary:
    """Ingest llama-index documents into the index at ``index_dir`` (default: ``config.index_dir``; settings
    default to ``load_config()``). Returns the run's summary: ``added``/``updated``/``unchanged`` count
    sources, ``chunks_embedded`` what was embedded (0 when nothing changed)."""
    return _ingestor(index_dir, config, embedder).run_documents(to_sources(documents))


def delete_documents(
    documents: Iterable[LlamaDocument | str], index_dir: Path | str | None = None, config: Config | None = None
) -> int:
    """Remove every chunk of each document's source (documents, or source ids as ``source_id`` gives them);
    returns how many chunks were removed. A source that is not in the index is refused with a DeepragError."""
    keys = dict.fromkeys(item if isinstance(item, str) else source_id(item) for item in documents)
    ingestor = _ingestor(index_dir, config, None)
    return sum(ingestor.delete(key) for key in keys)


def read_with_llama_index(path: Path) -> list[Document]:
    """One file through llama-index's SimpleDirectoryReader (ingest/readers.py hands it the types deeprag has
    no reader for); its failures become UnreadableFile with a one-line reason, like deeprag's own readers."""
    reader = _simple_directory_reader()
    try:
        documents = reader(input_files=[path], raise_on_error=True, exclude_hidden=False).load_data()
    except ImportError as exc:  # the format's reader needs a package the extra does not bring
        raise UnreadableFile(f"llama-index's reader for '{path.suffix}' files needs a package that is not "
                             f"installed ({_first_line(exc)}); install it and run again") from None
    except Exception as exc:  # raise_on_error wraps the reader's own error as the cause
        cause = exc.__cause__ or exc
        raise UnreadableFile(f"llama-index could not read it ({type(cause).__name__}: {_first_line(cause)})") from None
    return _source(str(path), documents).documents


# -- helpers ---------------------------------------------------------------------------------------------


def _ingestor(index_dir: Path | str | None, config: Config | None, embedder: Embedder | None) -> Ingestor:
    config = config or load_config()
    directory = Path(index_dir) if index_dir is not None else config.index_dir
    return Ingestor(directory, config.embedding, config.chunking, config.index, config.ingest, embedder)


def _source(key: str, documents: Sequence[LlamaDocument]) -> DocumentSource:
    """One source: a deeprag document whose sections are the documents' texts (empty ones dropped), and a
    digest of exactly what is chunked (title, pages, texts), so metadata such as dates does not count."""
    title = _title(key, documents[0]) if documents else ""
    sections = [Section(d.text, _page(d.metadata or {})) for d in documents if d.text and d.text.strip()]
    content = json.dumps([title, [[s.page, s.text] for s in sections]], ensure_ascii=False)
    digest = hashlib.sha256(content.encode("utf-8")).hexdigest()
    return DocumentSource(key, digest, [Document(key, key, title, sections)] if sections else [])


def _title(key: str, document: LlamaDocument) -> str:
    """The metadata's title, else the file's name without suffix (as deeprag's readers do), else none."""
    metadata = document.metadata or {}
    declared = metadata.get("title")
    if isinstance(declared, str) and declared.strip():
        return declared.strip()
    if key.startswith(KEY_PREFIX):
        return ""
    return Path(str(metadata.get("file_name") or key)).stem


def _page(metadata: dict[str, Any]) -> int | None:
    for name in _PAGE_KEYS:
        value = metadata.get(name)
        if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
            return int(value)
    return None


def _simple_directory_reader():
    """llama-index's SimpleDirectoryReader, with its file readers imported here once: one of them
    (``llama_index.readers.file.slides``) calls ``logging.basicConfig`` on import, which would add a handler
    to the root logger of the process; that handler is taken back."""
    try:
        with _root_logging_kept():
            from llama_index.core import SimpleDirectoryReader

            with contextlib.suppress(ImportError):  # without llama-index-readers-file: plain-text reading only
                import llama_index.readers.file  # noqa: F401
    except ImportError as exc:
        raise llama_index_missing("reading this file type") from exc
    return SimpleDirectoryReader


@contextlib.contextmanager
def _root_logging_kept() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        for handler in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(handler)
        root.setLevel(level)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:160] if text else "no detail"
