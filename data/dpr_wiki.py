"""DPR's Wikipedia passages (``psgs_w100.tsv.gz``) as BEIR corpus JSON lines, streamed into shards.

The file holds 21,015,324 passages (the December 2018 English Wikipedia cut into disjoint 100-word blocks, the
retrieval pool of DPR, FiD and most open-domain NQ/TriviaQA results): ~4.7 GB compressed, ~13 GB of TSV. It is
read one row at a time and written one record at a time, so memory stays flat whatever its size.

The output is a folder of BEIR ``corpus.jsonl``-format files of ``SHARD_PASSAGES`` passages each (~65 MB) rather
than one 14 GB file: deeprag's ingestion reads a file whole and skips files over ``ingest.max_file_mb`` (100 MB),
so ``deeprag ingest <target>/passages`` takes the shards one by one, each its own resumable step.
"""

from __future__ import annotations

import csv
import gzip
import json
import logging
import sys
from pathlib import Path
from typing import TextIO

from tqdm import tqdm

from ground.errors import DeepragError

log = logging.getLogger(__name__)

DPR_FILE = "psgs_w100.tsv.gz"
DPR_PASSAGES = 21_015_324  # rows after the header, for the progress bar
SHARD_PASSAGES = 100_000  # ~65 MB of JSON lines: under ingest.max_file_mb's default of 100 MB
HEADER = ["id", "text", "title"]


class PassageFileError(DeepragError):
    """A passage TSV is not in DPR's layout."""


def dpr_wiki_jsonl(folder: Path, output: Path) -> None:
    """The download converter (``derive`` in data/datasets.json): ``folder/psgs_w100.tsv.gz`` → ``output/*.jsonl``."""
    written = tsv_to_beir_shards(folder / DPR_FILE, output, expected=DPR_PASSAGES)
    log.info("converted %d DPR passages → %s", written, output)


def shard_name(number: int) -> str:
    return f"psgs_w100-{number:05d}.jsonl"


def tsv_to_beir_shards(source: Path, output: Path, shard_passages: int = SHARD_PASSAGES,
                       expected: int | None = None) -> int:
    """Stream a DPR-layout TSV (``id<TAB>text<TAB>title`` with that header; gzip if it ends in .gz) into
    ``output/psgs_w100-00000.jsonl``, ... of BEIR records ``{"_id", "title", "text"}``, ``shard_passages`` per
    file; returns the number of passages written.

    DPR quotes text fields CSV-style (``"`` doubled inside), which ``csv`` undoes. Ids are kept as they are, so a
    retrieved passage can be traced back to DPR's own results files."""
    csv.field_size_limit(sys.maxsize)  # one long passage must not stop a 13 GB conversion at row 20 million
    output.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if source.suffix == ".gz" else open
    written = 0
    shard: TextIO | None = None
    try:
        with opener(source, "rt", encoding="utf-8", newline="") as handle:
            rows = csv.reader(handle, delimiter="\t")
            header = next(rows, None)
            if header != HEADER:
                raise PassageFileError(
                    f"{source} starts with {header!r}, not the DPR header {HEADER!r}; is it psgs_w100.tsv(.gz)? "
                    "Delete it and download again with `python -m data.download dpr-wiki`"
                )
            for number, row in enumerate(tqdm(rows, total=expected, unit=" passages", desc="dpr-wiki",
                                              disable=None), 1):
                if len(row) != 3:
                    raise PassageFileError(f"{source}: passage row {number} has {len(row)} fields, expected id, "
                                           "text, title; the file is damaged: download it again")
                if written % shard_passages == 0:
                    if shard is not None:
                        shard.close()
                    shard = open(output / shard_name(written // shard_passages), "w", encoding="utf-8")
                shard.write(json.dumps({"_id": row[0], "title": row[2], "text": row[1]}, ensure_ascii=False) + "\n")
                written += 1
    finally:
        if shard is not None:
            shard.close()
    return written
