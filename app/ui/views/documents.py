"""Documents page: upload files, re-ingest a folder, see every document's status, preview and delete documents.

Ingestion and deletion run in the process-wide background JobRunner, so the chat keeps answering from the
last committed index meanwhile. A fragment polls the job once a second for the progress bar, and redraws the
whole page (table and sidebar counts) whenever a job has ended since the page was drawn: compared by the
runner's count of finished jobs, so a job that ends between two polls, or one another session started, is
not missed (watching for a "running" state that a fast delete never showed is what left the table stale).

What stays until dismissed: per-document failures, in the table (the runner's status board), and this
session's upload messages (app/ui/notices.py). Buttons below the table act in callbacks, which Streamlit runs
before the page script, so the table drawn in the same run already shows what they started.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import streamlit as st

from app.display import one_line
from app.ui.doc_table import document_rows
from app.ui.jobs import Job, JobBusy
from app.ui.notices import notify, plain, render_notices
from app.ui.resources import job_runner
from app.ui.texts import t
from app.ui.uploads import ALLOWED_SUFFIXES, NameTaken, UploadRejected, remove_upload, save_upload, upload_dir
from ground.config import Config
from ground.errors import DeepragError
from ingest.discovery import absolute
from ingest.docstore import FileRecord
from ingest.index_dir import open_docstore

PREVIEW_CHUNKS = 3
MAX_FAILURE_LINES = 10  # failures spelled out below the table; the table has them all
DRAWN_KEY = "documents_drawn_after_jobs"  # the runner's finished-job count when this page was last drawn
PENDING_KEY = "pending_replacements"
_pending_ids = itertools.count(1)

config: Config = st.session_state["config"]
runner = job_runner()
index_dir = Path(config.index_dir)
index_key = absolute(index_dir)
uploads = upload_dir(config)
st.session_state[DRAWN_KEY] = runner.finished  # before the index is read: a job ending later redraws the page


@dataclass(frozen=True)
class PendingReplacement:
    """An upload whose name a different file already has, kept until the user says replace or keep."""

    id: int
    name: str
    data: bytes
    path: Path


def _read_records() -> dict[str, FileRecord]:
    if not (index_dir / "manifest.json").exists():
        return {}
    docstore = open_docstore(index_dir)
    try:
        return docstore.files()
    finally:
        docstore.close()


def _start(start: Callable[[], Job]) -> None:
    """Run ``start()`` (which begins a job); why it could not stays on the page as a notice."""
    try:
        start()
    except JobBusy as exc:
        notify("warning", str(exc))
    except DeepragError as exc:
        notify("error", str(exc))


def _ingest(paths: list[Path], label: str) -> None:
    _start(lambda: runner.ingest(config, paths, label))


def _receive(files: list) -> None:
    """Save each uploaded file (or say why not, or hold it for a replace question), then ingest the saved."""
    saved: list[Path] = []
    for upload in files:
        data = upload.getvalue()
        try:
            result = save_upload(upload.name, data, uploads, config.ingest.max_file_mb)
        except UploadRejected as exc:  # one bad file does not stop the rest
            notify("error", str(exc))
            continue
        except NameTaken as exc:
            st.session_state.setdefault(PENDING_KEY, []).append(
                PendingReplacement(next(_pending_ids), upload.name, data, exc.path))
            continue
        if result.renamed:
            notify("info", t("docs.renamed", name=one_line(upload.name), saved=result.path.name))
        saved.append(result.path)
    if saved:
        _ingest(saved, t("docs.ingesting_uploads", count=len(saved)))


def _replace_confirmed() -> None:
    """Callback: replace the ticked files and ingest them; keep the others as they are."""
    replaced: list[Path] = []
    for item in st.session_state.pop(PENDING_KEY, []):
        if not st.session_state.get(f"replace-{item.id}"):
            _kept(item)
            continue
        try:
            replaced.append(save_upload(item.name, item.data, uploads, config.ingest.max_file_mb, replace=True).path)
        except DeepragError as exc:
            notify("error", str(exc))
    if replaced:
        _ingest(replaced, t("docs.replacing_uploads", count=len(replaced)))


def _replace_cancelled() -> None:
    for item in st.session_state.pop(PENDING_KEY, []):
        _kept(item)


def _kept(item: PendingReplacement) -> None:
    notify("info", t("docs.kept", existing=item.path.name, name=one_line(item.name)))


def _ask_about_replacements() -> None:
    pending: list[PendingReplacement] = st.session_state.get(PENDING_KEY, [])
    if not pending:
        return
    with st.container(border=True):
        st.warning(t("docs.replace_question"))
        for item in pending:
            st.checkbox(plain(t("docs.replace_one", existing=item.path.name, old=_size_and_age(item.path),
                                kb=f"{len(item.data) / 1024:.1f}")), key=f"replace-{item.id}")
        left, right = st.columns(2)
        left.button(t("docs.replace_go"), on_click=_replace_confirmed, disabled=runner.busy,
                    help=t("docs.wait_for_job") if runner.busy else None)
        right.button(t("docs.keep_existing"), on_click=_replace_cancelled)


def _size_and_age(path: Path) -> str:
    try:
        stat = path.stat()
    except OSError:
        return t("docs.file_gone")
    when = dt.datetime.fromtimestamp(stat.st_mtime).strftime("%Y-%m-%d %H:%M")
    return t("docs.file_age", kb=f"{stat.st_size / 1024:.1f}", when=when)


def _delete_chosen() -> None:
    """Callback: delete the chosen documents (and the stored copies of uploaded ones)."""
    chosen = list(st.session_state.get("delete_choice", []))
    if chosen:
        _start(lambda: runner.delete(config, chosen, t("docs.deleting", count=len(chosen)), uploads=uploads))
    st.session_state["delete_choice"] = []


def _dismiss_failed() -> None:
    """Callback: forget every failure; a failed upload that is not in the index is of no use, so its stored
    copy goes too (a failed file from a server folder is the user's and stays)."""
    indexed = _read_records()
    for path in runner.board.dismiss_failed(index_key):
        if path not in indexed:
            remove_upload(path, uploads)


@st.fragment(run_every=1.0)
def job_panel() -> None:
    """Progress of the running job, or the outcome of the last one; redraws the page when a job has ended
    since it was drawn."""
    job = runner.current
    if job is not None:
        if job.state == "running":
            st.progress(job.fraction, text=t("docs.progress", label=job.label, done=job.done, total=job.total))
        else:
            (st.error if job.state == "failed" else st.success)(job.summary_line())
    if runner.finished != st.session_state.get(DRAWN_KEY):
        st.rerun(scope="app")


def _preview(records: dict[str, FileRecord]) -> None:
    with st.expander(t("docs.preview")):
        path = st.selectbox(t("docs.document"), list(records), key="preview_doc", format_func=_label)
        if path is None:
            return
        docstore = open_docstore(index_dir)
        try:
            chunks = docstore.chunks_of(path)
        finally:
            docstore.close()
        st.caption(t("docs.preview_caption", shown=min(PREVIEW_CHUNKS, len(chunks)), count=len(chunks)))
        for chunk in chunks[:PREVIEW_CHUNKS]:
            where = (t("sources.page", page=chunk.page) + " · " if chunk.page else "") + t(
                "sources.characters", start=chunk.start, end=chunk.end)
            st.markdown(t("docs.chunk", number=chunk.ordinal + 1, where=where))
            st.code(chunk.text, language=None, wrap_lines=True)


def _label(path: str) -> str:
    return f"{one_line(Path(path).name)}  ({one_line(str(Path(path).parent))})"


st.title(t("docs.title"))
st.caption(t("docs.index", index=index_dir))

upload_tab, folder_tab = st.tabs([t("docs.upload_tab"), t("docs.folder_tab")])
with upload_tab:
    with st.form("upload", clear_on_submit=True):
        # No `type=` filter: the browser would refuse other types with no reason shown on the page; the
        # server refuses them instead, saying why (a notice).
        files = st.file_uploader(
            t("docs.files", types=", ".join(ALLOWED_SUFFIXES), mb=f"{config.ingest.max_file_mb:g}"),
            accept_multiple_files=True,
        )
        submitted = st.form_submit_button(t("docs.upload"), disabled=runner.busy)
    if submitted and files:
        _receive(files)
    _ask_about_replacements()
with folder_tab:
    folder = st.text_input(t("docs.folder"), placeholder="/path/to/documents", help=t("docs.folder_help"))
    if st.button(t("docs.ingest"), disabled=runner.busy or not folder.strip()):
        path = Path(folder.strip()).expanduser()
        _ingest([path], t("docs.ingesting_path", path=path))

render_notices()
job_panel()

st.subheader(t("docs.status"))
records = _read_records()
statuses = runner.board.statuses(index_key)
if not records and not statuses:
    st.info(t("docs.none"))
else:
    rows = document_rows(records, statuses)
    st.dataframe(rows, hide_index=True, width="stretch", column_config={
        "document": t("docs.col.document"),
        "status": st.column_config.TextColumn(t("docs.col.status"), width="large"),
        "folder": t("docs.col.folder"),
        "chunks": t("docs.col.chunks"),
        "size (KB)": t("docs.col.size"),
        "ingested": t("docs.col.ingested"),
    })
    failed = [path for path, status in statuses.items() if status.state == "failed"]
    counts = {"documents": f"{len(records):,}", "chunks": f"{sum(r.chunk_count for r in records.values()):,}"}
    st.caption(t("docs.counts_failed", failed=len(failed), **counts) if failed else t("docs.counts", **counts))
    for path in failed[:MAX_FAILURE_LINES]:  # the whole reason, which a table cell may cut short
        st.error(plain(t("docs.failed_one", name=Path(path).name, reason=statuses[path].reason)))
    if len(failed) > MAX_FAILURE_LINES:
        st.caption(t("docs.more_failed", count=len(failed) - MAX_FAILURE_LINES))
    if failed:
        st.button(t("docs.dismiss_failed", count=len(failed)), on_click=_dismiss_failed, disabled=runner.busy,
                  help=t("docs.dismiss_failed_help"))
    if records:
        _preview(records)
        with st.expander(t("docs.delete_section")):
            st.multiselect(t("docs.delete_choice"), list(records), key="delete_choice", format_func=_label)
            st.caption(t("docs.delete_note"))
            st.button(t("docs.delete"), type="primary", on_click=_delete_chosen,
                      disabled=runner.busy or not st.session_state.get("delete_choice"))
