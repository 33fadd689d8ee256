"""Every supported format reads to text with titles and pages; every kind of bad file gets a reason."""

import json
import logging
import os
import re
from pathlib import Path

import pytest

from ingest.errors import UnreadableFile
from ingest.readers import read_file
from tests.conftest import write


def make_pdf(path: Path, pages: list[str], title: str = "") -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    if title:
        pdf.set_title(title)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 10, text)
    pdf.output(str(path))
    return path


def make_docx(path: Path, paragraphs: list[str], title: str = "") -> Path:
    import docx

    document = docx.Document()
    document.core_properties.title = title
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    document.save(str(path))
    return path


def test_pdf_keeps_page_numbers_and_title(tmp_path):
    path = make_pdf(tmp_path / "a.pdf", ["Alpha page text.", "Beta page text."], title="Greek letters")
    [document] = read_file(path)
    assert document.title == "Greek letters"
    assert [(s.page, "Beta" in s.text) for s in document.sections] == [(1, False), (2, True)]


def test_docx_markdown_html_txt(tmp_path):
    [docx] = read_file(make_docx(tmp_path / "d.docx", ["First paragraph.", "Second."], title="Doc title"))
    assert docx.title == "Doc title" and "Second." in docx.sections[0].text
    [md] = read_file(write(tmp_path / "m.md", "---\ntitle: Front title\n---\n# Heading\nBody text."))
    assert md.title == "Front title" and md.sections[0].text.startswith("# Heading")
    [html] = read_file(write(tmp_path / "h.html", "<html><head><title>Page</title><script>var x=1;</script>"
                                                  "</head><body><p>Visible words</p></body></html>"))
    assert html.title == "Page" and html.sections[0].text == "Visible words"
    [txt] = read_file(write(tmp_path / "notes.txt", "中文内容\r\n第二行"))
    assert txt.title == "notes" and txt.sections[0].text == "中文内容\n第二行"


def test_gb18030_chinese_text_is_decoded(tmp_path):
    [document] = read_file(write(tmp_path / "gbk.txt", "多头潜在注意力".encode("gb18030")))
    assert document.sections[0].text == "多头潜在注意力"


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_bom_is_text_not_binary(tmp_path, encoding):
    [document] = read_file(write(tmp_path / "notes.txt", "Tides follow the moon.\n潮汐".encode(encoding)))
    assert document.sections[0].text == "Tides follow the moon.\n潮汐"


def test_pdf_warnings_name_the_file(tmp_path, caplog):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text="Tides follow the moon")
    # A wrong startxref offset: pypdf recovers, with a warning.
    data = re.sub(rb"startxref\n(\d+)", lambda m: b"startxref\n" + str(int(m.group(1)) + 7).encode(), bytes(pdf.output()))
    path = write(tmp_path / "damaged.pdf", data)
    with caplog.at_level(logging.WARNING):
        [document] = read_file(path)
    assert "Tides" in document.sections[0].text
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("startxref" in message for message in warnings)
    assert all(message.startswith(f"{path}: ") for message in warnings)


def test_beir_jsonl_yields_one_document_per_record(tmp_path):
    lines = [{"_id": "d1", "title": "T1", "text": "one"}, {"_id": "d2", "title": "", "text": "two"}]
    path = write(tmp_path / "corpus.jsonl", "\n".join(json.dumps(line) for line in lines))
    documents = read_file(path)
    assert [(d.doc_id, d.title, d.sections[0].text) for d in documents] == [("d1", "T1", "one"), ("d2", "", "two")]


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("corrupt.pdf", b"%PDF-1.4\n this is not really a pdf \x00\x01", "corrupt PDF"),
        ("binary.txt", bytes(range(256)) * 4, "binary content"),
        ("empty.txt", b"", "empty file"),
        ("blank.md", b"   \n\n  ", "no text"),
        ("latin1.txt", "caf\xe9 au lait, d\xe9j\xe0 vu".encode("latin-1"), "undecodable bytes"),
        ("corrupt.docx", b"PK\x03\x04 broken zip", "corrupt DOCX"),
        ("bad.jsonl", b'{"_id": "1", "text": "ok"}\n{not json', "line 2 is not valid JSON"),
        ("noid.jsonl", b'{"text": "no id"}', "lacks '_id'"),
        ("table.xlsx", b"whatever", "unsupported file type"),
    ],
)
def test_bad_inputs_raise_one_line_reasons(tmp_path, name, content, reason):
    path = write(tmp_path / name, content)
    with pytest.raises(UnreadableFile, match=reason) as caught:
        read_file(path)
    assert "\n" not in str(caught.value)


def test_unreadable_file_reports_permission(tmp_path, monkeypatch):
    path = write(tmp_path / "secret.txt", "hidden")
    if os.geteuid() == 0:  # root reads anything; only here is the fault simulated
        def deny(self):
            raise PermissionError(13, "Permission denied")
        monkeypatch.setattr(Path, "read_bytes", deny)
    else:
        path.chmod(0)
    with pytest.raises(UnreadableFile, match="permission denied"):
        read_file(path)


def test_dangling_symlink_reports_cannot_read(tmp_path):
    link = tmp_path / "gone.txt"
    link.symlink_to(tmp_path / "missing-target.txt")
    with pytest.raises(UnreadableFile, match="cannot read"):
        read_file(link)
