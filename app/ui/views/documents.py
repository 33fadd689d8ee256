"""Documents page: upload files, re-ingest a folder, see what is indexed, delete documents.

Ingestion and deletion run in the process-wide background JobRunner, so the chat keeps answering from the
last committed index meanwhile; a fragment polls the job once a second for the progress bar.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import streamlit as st

from ground.config import Config
from app.ui.jobs import Job, JobBusy
from app.ui.resources import job_runner
from app.ui.uploads import ALLOWED_SUFFIXES, UploadRejected, save_upload, upload_dir
from ingest.docstore import FileRecord
from ground.errors import DeepragError
from ingest.index_dir import open_docstore

config: Config = st.session_state["config"]
runner = job_runner()
index_dir = Path(config.index_dir)

st.title("Documents")
st.caption(f"Index: `{index_dir}`")


@st.fragment(run_every=1.0)
def job_panel() -> None:
    """Progress of the running job, or the outcome of the last one; reruns the page when a job ends."""
    job = runner.current
    if job is None:
        return
    if job.state == "running":
        st.progress(job.fraction, text=f"{job.label}: {job.done} of {job.total} files")
        st.session_state["job_seen_running"] = id(job)
        return
    _show_outcome(job)
    if st.session_state.get("job_seen_running") == id(job):  # it just ended: refresh the table below
        st.session_state["job_seen_running"] = None
        st.rerun(scope="app")


def _show_outcome(job: Job) -> None:
    (st.error if job.state == "failed" else st.success)(job.summary_line())
    for skipped in job.skipped:
        st.warning(f"Skipped {Path(skipped.path).name}: {skipped.reason}")


def _start(start) -> None:
    """Run ``start()`` (which begins a job) and show why it could not, in one line."""
    try:
        start()
    except JobBusy as exc:
        st.warning(str(exc))
    except DeepragError as exc:
        st.error(str(exc))


upload_tab, folder_tab = st.tabs(["Upload files", "Ingest a folder"])
with upload_tab:
    with st.form("upload", clear_on_submit=True):
        files = st.file_uploader(
            f"Files ({', '.join(ALLOWED_SUFFIXES)}; up to {config.ingest.max_file_mb:g} MB each)",
            type=[suffix.lstrip(".") for suffix in ALLOWED_SUFFIXES], accept_multiple_files=True,
        )
        submitted = st.form_submit_button("Upload and ingest", disabled=runner.busy)
    if submitted and files:
        saved = []
        for upload in files:
            try:
                result = save_upload(upload.name, upload.getvalue(), upload_dir(config), config.ingest.max_file_mb)
            except UploadRejected as exc:  # one bad file does not stop the rest
                st.error(str(exc))
                continue
            if result.renamed and not result.duplicate:
                st.info(f"{upload.name}: a different file has that name; saved as {result.path.name}")
            saved.append(result.path)
        if saved:
            _start(lambda: runner.ingest(config, saved, f"Ingesting {len(saved)} uploaded file(s)"))
with folder_tab:
    folder = st.text_input("Folder or file on the server", placeholder="/path/to/documents",
                           help="Changed and new files are embedded; unchanged ones are skipped.")
    if st.button("Ingest", disabled=runner.busy or not folder.strip()):
        path = Path(folder.strip()).expanduser()
        _start(lambda: runner.ingest(config, [path], f"Ingesting {path}"))

job_panel()

st.subheader("Indexed documents")
records: list[FileRecord] = []
if (index_dir / "manifest.json").exists():
    docstore = open_docstore(index_dir)
    try:
        records = list(docstore.files().values())
    finally:
        docstore.close()
if not records:
    st.info("No documents yet. Upload files above, or ingest a folder.")
else:
    st.dataframe(
        [
            {
                "document": Path(r.path).name,
                "folder": str(Path(r.path).parent),
                "chunks": r.chunk_count,
                "size (KB)": round(r.size / 1024, 1),
                "ingested": dt.datetime.fromtimestamp(r.ingested_at).strftime("%Y-%m-%d %H:%M"),
            }
            for r in records
        ],
        hide_index=True,
        width="stretch",
    )
    st.caption(f"{len(records):,} documents · {sum(r.chunk_count for r in records):,} chunks")
    with st.expander("Delete documents"):
        chosen = st.multiselect("Documents to delete", [r.path for r in records],
                                format_func=lambda p: f"{Path(p).name}  ({Path(p).parent})")
        if st.button("Delete", type="primary", disabled=runner.busy or not chosen):
            _start(lambda: runner.delete(config, chosen, f"Deleting {len(chosen)} document(s)"))
