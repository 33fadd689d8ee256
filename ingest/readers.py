"""Readers: one file in, documents with plain text out.

Each reader turns a format's failure modes into :class:`UnreadableFile` with a one-line reason, so the
pipeline can skip the file, count it, and go on with the rest. Formats deeprag has no reader for are handed to
llama-index's ``SimpleDirectoryReader`` when the ``llama-index`` extra is installed (LLAMA_INDEX_SUFFIXES).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import re
import zipfile
from pathlib import Path
from typing import Callable, Iterator

from ingest.errors import UnreadableFile
from ingest.models import Document, Section

Reader = Callable[[Path], list[Document]]
log = logging.getLogger(__name__)

_SNIFF_BYTES = 8192
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)
_MD_HEADING = re.compile(r"^#\s+(.+?)\s*#*\s*$", re.MULTILINE)
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")


def decode_text(raw: bytes) -> str:
    """Bytes → str, refusing binary data. Tries UTF-8, UTF-16 (with a BOM, or without one when every other
    byte is NUL, as in mostly-Latin UTF-16 text), then GB18030 for Chinese files written by older Windows
    tools; anything else gets a reason that says how to fix it."""
    if not raw:
        raise UnreadableFile("empty file")
    utf16 = "utf-16" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else _utf16_without_bom(raw[:_SNIFF_BYTES])
    if utf16 is None and b"\x00" in raw[:_SNIFF_BYTES]:
        raise UnreadableFile("binary content (NUL bytes), not a text file")
    candidates = (utf16,) if utf16 else ("utf-8-sig", "gb18030")
    error: UnicodeDecodeError | None = None
    for encoding in candidates:
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError as exc:
            error = error or exc
    else:
        assert error is not None
        raise UnreadableFile(
            f"undecodable bytes (0x{raw[error.start]:02x} at offset {error.start}): not UTF-8, UTF-16 or "
            "GB18030; convert the file to UTF-8"
        )
    sample = text[:_SNIFF_BYTES]
    if sample and len(_CONTROL.findall(sample)) > 0.05 * len(sample):
        raise UnreadableFile("binary content (control characters), not a text file")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _utf16_without_bom(sample: bytes) -> str | None:
    """'utf-16-le' / 'utf-16-be' when NULs sit on one byte parity only and fill most of it (the high bytes
    of Latin characters), else None. Binary data has NULs scattered over both parities."""
    even, odd = sample[0::2], sample[1::2]
    if len(sample) < 4 or len(sample) % 2:
        return None
    if odd.count(0) > 0.5 * len(odd) and even.count(0) == 0:
        return "utf-16-le"
    if even.count(0) > 0.5 * len(even) and odd.count(0) == 0:
        return "utf-16-be"
    return None


def _require_text(text: str) -> str:
    if not text.strip():
        raise UnreadableFile("no text in file")
    return text


def read_plain_text(path: Path) -> list[Document]:
    text = _require_text(decode_text(path.read_bytes()))
    return [Document(str(path), str(path), path.stem, [Section(text)])]


def read_markdown(path: Path) -> list[Document]:
    text = decode_text(path.read_bytes())
    title = path.stem
    front = _FRONT_MATTER.match(text)
    if front:
        text = text[front.end():]
        declared = re.search(r"^title:\s*['\"]?(.+?)['\"]?\s*$", front.group(1), re.MULTILINE)
        if declared:
            title = declared.group(1)
    heading = _MD_HEADING.search(text)
    if heading and not front:
        title = heading.group(1)
    return [Document(str(path), str(path), title, [Section(_require_text(text))])]


def read_html(path: Path) -> list[Document]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(decode_text(path.read_bytes()), "html.parser")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    title = soup.title.get_text(strip=True) if soup.title and soup.title.get_text(strip=True) else path.stem
    if soup.title:
        soup.title.decompose()
    lines = (line.strip() for line in soup.get_text("\n").splitlines())
    text = "\n".join(line for line in lines if line)
    return [Document(str(path), str(path), title, [Section(_require_text(text))])]


def read_pdf(path: Path) -> list[Document]:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        with _pypdf_warnings_name(path):
            reader = PdfReader(path)
            if reader.is_encrypted and not reader.decrypt(""):
                raise UnreadableFile("encrypted PDF; remove the password first")
            pages = [Section(page.extract_text() or "", page=number) for number, page in enumerate(reader.pages, 1)]
            metadata_title = (reader.metadata.title if reader.metadata else None) or ""
    except UnreadableFile:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError) as exc:
        raise UnreadableFile(f"corrupt PDF ({type(exc).__name__}: {_first_line(exc)})") from None
    pages = [page for page in pages if page.text.strip()]
    if not pages:
        raise UnreadableFile("PDF has no extractable text (scanned? run OCR first)")
    return [Document(str(path), str(path), metadata_title.strip() or path.stem, pages)]


@contextlib.contextmanager
def _pypdf_warnings_name(path: Path) -> Iterator[None]:
    """pypdf warns about damaged objects ("incorrect startxref pointer") without saying in which file: while
    ``path`` is read, its warnings are held back, then logged by this module with the path in front. pypdf
    creates its module loggers on first use, so the records are caught at the parent "pypdf" logger."""
    held = _HeldRecords()
    pypdf_log = logging.getLogger("pypdf")
    propagate = pypdf_log.propagate
    pypdf_log.addHandler(held)
    pypdf_log.propagate = False
    try:
        yield
    finally:
        pypdf_log.removeHandler(held)
        pypdf_log.propagate = propagate
        for record in held.records:
            log.log(record.levelno, "%s: %s", path, record.getMessage())


class _HeldRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def read_docx(path: Path) -> list[Document]:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(str(path))
    except (zipfile.BadZipFile, PackageNotFoundError, KeyError, ValueError) as exc:
        raise UnreadableFile(f"corrupt DOCX ({type(exc).__name__}: {_first_line(exc)})") from None
    paragraphs = [p.text for p in document.paragraphs if p.text.strip()]
    for table in document.tables:
        for row in table.rows:
            paragraphs.append(" | ".join(cell.text.strip() for cell in row.cells))
    title = (document.core_properties.title or "").strip() or path.stem
    return [Document(str(path), str(path), title, [Section(_require_text("\n".join(paragraphs)))])]


def read_beir_jsonl(path: Path) -> list[Document]:
    """A BEIR-style corpus: one JSON object per line with `_id`, `text` and optionally `title`."""
    documents = []
    for number, line in enumerate(decode_text(path.read_bytes()).splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UnreadableFile(f"line {number} is not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict) or "_id" not in record or "text" not in record:
            raise UnreadableFile(f"line {number} lacks '_id' or 'text'; expected a BEIR corpus.jsonl")
        text = str(record["text"])
        if text.strip():
            documents.append(Document(str(path), str(record["_id"]), str(record.get("title") or ""), [Section(text)]))
    if not documents:
        raise UnreadableFile("no records with text")
    return documents


READERS: dict[str, Reader] = {
    ".txt": read_plain_text,
    ".md": read_markdown,
    ".markdown": read_markdown,
    ".html": read_html,
    ".htm": read_html,
    ".pdf": read_pdf,
    ".docx": read_docx,
    ".jsonl": read_beir_jsonl,
}


# Read through llama-index's SimpleDirectoryReader (its default reader for each) when llama-index is installed.
# Text-bearing formats only: not images, audio or video (their readers run captioning and speech models), not
# .ppt (python-pptx reads .pptx only), not spreadsheets (.xls/.xlsx need openpyxl/xlrd, which the extra does not
# bring). Some readers need one more package (.pptx: python-pptx, .epub: EbookLib html2text, .ipynb: nbconvert);
# without it the file is skipped with a reason naming it.
LLAMA_INDEX_SUFFIXES: tuple[str, ...] = (".csv", ".epub", ".ipynb", ".mbox", ".pptm", ".pptx")
LLAMA_INDEX_INSTALL = "pip install -e .[llama-index]"


def llama_index_available() -> bool:
    """Whether llama-index (the ``llama-index`` extra) is installed; checked without importing it (slow)."""
    try:
        return importlib.util.find_spec("llama_index.core") is not None
    except ImportError:  # no llama_index namespace at all
        return False


def supported_suffixes() -> frozenset[str]:
    """The file types ingestion reads: deeprag's own readers, and llama-index's where it is installed."""
    return frozenset(READERS) | (frozenset(LLAMA_INDEX_SUFFIXES) if llama_index_available() else frozenset())


def read_file(path: Path) -> list[Document]:
    """Read any supported file; raises UnreadableFile with the reason when it cannot."""
    suffix = path.suffix.lower()
    reader = READERS.get(suffix)
    if reader is None and suffix in LLAMA_INDEX_SUFFIXES:
        if not llama_index_available():
            raise UnreadableFile(f"'{path.suffix}' files are read through llama-index, which is not installed; "
                                 f"install it with `{LLAMA_INDEX_INSTALL}`")
        from ingest.llama_index_documents import read_with_llama_index  # imports llama-index: only when needed

        reader = read_with_llama_index
    if reader is None:
        raise UnreadableFile(
            f"unsupported file type '{path.suffix}'; supported: {', '.join(sorted(supported_suffixes()))}")
    try:
        return reader(path)
    except PermissionError:
        raise UnreadableFile("permission denied; check the file's permissions") from None
    except OSError as exc:
        raise UnreadableFile(f"cannot read ({exc.strerror or exc})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:160] if text else "no detail"
