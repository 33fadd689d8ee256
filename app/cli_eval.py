"""`deeprag eval retrieval | qa | compare | scaling`: benchmark runs into runs/<name>/.

Thin: turns flags into settings and calls eval/; every number printed is also in the run's metrics.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ground.config import INDEX_KINDS, Config

INTERRUPTED_RUN = "interrupted; finished queries are kept in the run directory, run the same command to resume"


def distractor_factors(text: str) -> list[int]:
    """``--factors 0,2,5``: whole multiples of the corpus size, zero or more."""
    try:
        factors = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of whole numbers, e.g. 0,2,5,10") from None
    if any(f < 0 for f in factors):
        raise argparse.ArgumentTypeError(f"{text!r} has a negative factor; distractors are 0 or more times the corpus")
    return factors


def index_kinds(text: str) -> list[str]:
    """``--kinds exact,hnsw``: FAISS kinds deeprag builds."""
    kinds = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [kind for kind in kinds if kind not in INDEX_KINDS]
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(f"unknown index kind {', '.join(unknown) or '(none)'}; choose from {', '.join(INDEX_KINDS)}")
    return kinds


def register(sub: "argparse._SubParsersAction") -> None:
    """Add `eval` with its four subcommands; each sets `handler(args, config) -> int`."""
    evaluation = sub.add_parser("eval", help="benchmark retrieval and answers (runs/<name>/)")
    actions = evaluation.add_subparsers(dest="eval_command", required=True)

    retrieval = actions.add_parser("retrieval", help="nDCG@10, Recall@k, MRR@10, MAP@100 on a BEIR set")
    retrieval.add_argument("--dataset", required=True, help="scifact, nq-oracle, cmrc2018-trial, or a BEIR directory")
    retrieval.add_argument("--retriever", default="hybrid", choices=["bm25", "dense", "hybrid", "hybrid+rerank"])
    retrieval.add_argument("--reranker", help="CrossEncoder name or folder (for hybrid+rerank)")
    retrieval.add_argument("--split", help="qrels split (default: the set's own, test; dev for cmrc2018-trial)")
    retrieval.add_argument("--ignore-identical-ids", action="store_true",
                           help="skip a retrieved document whose id equals the query id (ArguAna, Quora)")
    _run_flags(retrieval)
    retrieval.set_defaults(handler=cmd_retrieval, interrupted=INTERRUPTED_RUN)

    qa = actions.add_parser("qa", help="EM/F1, answer recall, faithfulness and latency through the served LLM")
    qa.add_argument("--dataset", required=True, choices=["nq-oracle", "nq-wiki", "nq-open", "triviaqa", "cmrc2018-trial"])
    qa.add_argument("--closed-book", action="store_true", help="ask without passages (the no-retrieval baseline)")
    qa.add_argument("--judge", action="store_true", help="also score claim-level faithfulness with the LLM as judge")
    qa.add_argument("--judge-limit", dest="judge_limit", type=int, metavar="N",
                    help="judge the first N questions only (implies --judge; a judgement costs a second LLM call)")
    qa.add_argument("--retriever", default="hybrid", choices=["bm25", "dense", "hybrid"])
    qa.add_argument("--prompt", choices=["short", "cited"], default="short",
                    help="short: the answer only, scored by EM/F1 (default); cited: the chat's cited sentences")
    qa.add_argument("--passages", dest="k", type=int, help="passages retrieved and sent (default: retrieval.k)")
    qa.add_argument("--passage-text", dest="passage_text", choices=["chunk", "window"],
                    help="send each passage whole, or its sentences nearest the question (default: prompt.passage_text)")
    qa.add_argument("--order", dest="passage_order", choices=["best_first", "best_last"],
                    help="best passage first or last in the prompt (default: prompt.order)")
    qa.add_argument("--offset", type=int, default=0, help="skip the first N questions (keep a dev split apart)")
    _run_flags(qa)
    qa.set_defaults(handler=cmd_qa, interrupted=INTERRUPTED_RUN)

    compare = actions.add_parser("compare", help="print finished runs side by side")
    compare.add_argument("runs", nargs="+", help="run names (under runs/) or directories")
    compare.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="TOML config file")
    compare.set_defaults(handler=cmd_compare)

    calibrate = actions.add_parser("faithfulness", help="calibrate the faithfulness checks on ares-nq")
    calibrate.add_argument("--judge", action="store_true", help="also calibrate the LLM judge (needs a server)")
    _run_flags(calibrate)
    calibrate.set_defaults(handler=cmd_faithfulness, interrupted=INTERRUPTED_RUN)

    abstain = actions.add_parser("abstain", help="calibrate the relevance floors below which deeprag abstains")
    abstain.add_argument("--per-set", type=int, default=300,
                         help="questions from each set: nq-oracle's first (in scope), TriviaQA dev (out of scope)")
    _run_flags(abstain)
    abstain.set_defaults(handler=cmd_abstain, interrupted=INTERRUPTED_RUN)

    scaling = actions.add_parser("scaling", help="nDCG@10, latency, memory as distractors grow the index")
    scaling.add_argument("--dataset", default="scifact")
    scaling.add_argument("--factors", type=distractor_factors, default=[0, 2, 5, 10],
                         help="distractor multiples of the corpus size (default 0,2,5,10)")
    scaling.add_argument("--kinds", type=index_kinds, default=list(INDEX_KINDS),
                         help=f"FAISS index kinds (default {','.join(INDEX_KINDS)})")
    _run_flags(scaling)
    scaling.set_defaults(handler=cmd_scaling)


def _run_flags(parser: argparse.ArgumentParser) -> None:
    # The common flags are also accepted after the action (`deeprag eval retrieval --index DIR`); SUPPRESS
    # keeps a value given before it (`deeprag eval --index DIR retrieval`) from being reset to None.
    parser.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="TOML config file")
    parser.add_argument("--index", type=Path, dest="index_dir", default=argparse.SUPPRESS,
                        help="use this index directory instead of the per-settings cache")
    parser.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="debug logging")
    parser.add_argument("--name", help="run name (default: derived from the dataset and settings)")
    parser.add_argument("--limit", type=int, help="first N queries only")
    parser.add_argument("--data-dir", type=Path, help="where the evaluation sets are (default: ../shared/data)")


def cmd_retrieval(args: argparse.Namespace, config: Config) -> int:
    from eval.datasets import load_beir
    from eval.report import write_report
    from eval.retrieval_run import RetrievalEval, run_retrieval
    from eval.runner import RunDir

    runs_dir = config.eval.runs_dir
    dataset = load_beir(config.data_dir, args.dataset, args.split)
    name = args.name or f"{dataset.name}-{args.retriever.replace('+', '-')}"
    spec = RetrievalEval(
        dataset, args.retriever, runs_dir / name, depth=config.eval.depth,
        ignore_identical_ids=args.ignore_identical_ids, limit=args.limit,
        index_dir=getattr(args, "index_dir", None),
    )
    metrics = run_retrieval(config, spec)
    report = write_report(spec.run_dir, metrics, list(RunDir(spec.run_dir).done().values()))
    _print_summary(metrics, ("ndcg@10", "recall@100", "mrr@10", "map@100"), report)
    return 0


def cmd_qa(args: argparse.Namespace, config: Config) -> int:
    from eval.qa_run import QAEval, run_qa
    from eval.report import write_report
    from eval.runner import RunDir

    runs_dir = config.eval.runs_dir
    book = "closed" if args.closed_book else args.retriever
    name = args.name or f"qa-{args.dataset}-{book}-{args.prompt}"
    spec = QAEval(args.dataset, runs_dir / name, prompt=args.prompt, closed_book=args.closed_book,
                  judge=args.judge or args.judge_limit is not None, judge_limit=args.judge_limit,
                  retriever=args.retriever, limit=args.limit, offset=args.offset,
                  index_dir=getattr(args, "index_dir", None))
    metrics = run_qa(config, spec)
    report = write_report(spec.run_dir, metrics, list(RunDir(spec.run_dir).done().values()))
    _print_summary(metrics, ("em", "f1", "accuracy", "answer_recall@sent", "citation_precision", "faithfulness",
                             "deterministic_support", "questions_per_minute"), report)
    return 0


def cmd_compare(args: argparse.Namespace, config: Config) -> int:
    from eval.compare import compare_table, load_metrics, paired_table

    print(compare_table([load_metrics(run, config.eval.runs_dir) for run in args.runs]))
    if len(args.runs) > 1:
        print()
        print(paired_table(args.runs, config.eval.runs_dir))
    return 0


def cmd_faithfulness(args: argparse.Namespace, config: Config) -> int:
    from eval.faithfulness import calibrate

    runs_dir = config.eval.runs_dir
    table = calibrate(config, runs_dir / (args.name or "faithfulness-ares-nq"), judge=args.judge, limit=args.limit)
    print(table)
    return 0


def cmd_abstain(args: argparse.Namespace, config: Config) -> int:
    from eval.abstention import calibrate
    from eval.datasets import load_beir
    from eval.retrieval_run import cached_index_dir, ensure_index
    from ground.files import file_sha256

    index_dir = getattr(args, "index_dir", None)
    if index_dir is None:
        dataset = load_beir(config.data_dir, "nq-oracle")
        index_dir = cached_index_dir(config, dataset, file_sha256(dataset.corpus))
        ensure_index(config, dataset.corpus, index_dir)
    print(calibrate(config, index_dir, config.eval.runs_dir / (args.name or "abstain-nq-oracle"), limit=args.per_set))
    return 0


def cmd_scaling(args: argparse.Namespace, config: Config) -> int:
    from eval.scaling import run_scaling

    runs_dir = config.eval.runs_dir
    table = run_scaling(config, args.dataset, runs_dir / (args.name or f"scaling-{Path(args.dataset).name}"),
                        args.factors, args.kinds,
                        limit=args.limit, index_dir=getattr(args, "index_dir", None))
    print(table)
    return 0


def _print_summary(metrics: dict, keys: tuple[str, ...], report: Path) -> None:
    shown = {k: metrics[k] for k in keys if k in metrics}
    print(json.dumps({"queries": metrics.get("queries"), **shown, "latency_ms": metrics.get("latency_ms")}))
    print(f"report: {report}")
