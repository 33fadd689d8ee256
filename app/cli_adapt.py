"""`deeprag adapt`: adapt an index's reranker and stage shares to its own corpus (generation/adapt_run.py).

Thin: flags become ``adapt.*`` settings, the run is generation.adapt_run's, and what it did is printed (also
kept in the index's manifest, which `deeprag list` shows).
"""

from __future__ import annotations

import argparse
import json
import resource

from ground.config import Config, updated

INTERRUPTED_ADAPT = "interrupted; search keeps the previous reranker, and `deeprag adapt` resumes from its cache"


def register(sub: "argparse._SubParsersAction") -> None:
    """Add `deeprag adapt`."""
    adapt = sub.add_parser("adapt", help="adapt the reranker and stage shares to this index's corpus (no labels)")
    adapt.add_argument("--budget-minutes", type=float, help="time for the whole run (adapt.budget_minutes, 30)")
    adapt.add_argument("--queries", help="query sources, comma-separated: ict (no LLM), llm (adapt.queries, ict,llm)")
    adapt.add_argument("--device", choices=["cpu", "cuda"], help="where to train (adapt.device, cpu)")
    adapt.add_argument("--max-chunks", type=int, help="chunks to write queries for, at most (adapt.max_chunks)")
    adapt.add_argument("--reset", action="store_true", help="remove the adaptation: back to the configured reranker")
    adapt.add_argument("--json", action="store_true", help="print the manifest entry as JSON")
    adapt.set_defaults(handler=cmd_adapt, interrupted=INTERRUPTED_ADAPT)


def cmd_adapt(args: argparse.Namespace, config: Config) -> int:
    from generation.adapt_run import adapt, reset

    if args.reset:
        had = reset(config)
        print(f"adaptation removed from {config.index_dir}" if had else f"{config.index_dir} had no adaptation")
        return 0
    config = updated(config, {"adapt.budget_minutes": args.budget_minutes, "adapt.queries": args.queries,
                              "adapt.device": args.device, "adapt.max_chunks": args.max_chunks})
    report = adapt(config)
    entry = report.entry
    if args.json:
        print(json.dumps(entry.to_json(), indent=2, ensure_ascii=False))
        return 0
    training, tuned = entry.training, entry.tuning
    print(f"queries written: {_pairs(report.queries)}" + (f"; LLM: {_pairs(report.llm_rate)}" if report.llm_rate else ""))
    shares_only = entry.counts.get("shares_only", 0)
    print(f"round trip kept: {_pairs(report.survivors)} (train {entry.counts['train']}, held out {entry.counts['heldout']}"
          + (f"; {shares_only} in languages the reranker does not read choose shares only" if shares_only else "") + ")")
    if "skipped" in training:
        print(f"reranker: not trained ({training['skipped']})")
    else:
        print(f"reranker: held-out nDCG@10 {training['heldout_ndcg@10_before']:.4f} → "
              f"{training['heldout_ndcg@10_after']:.4f} after {training['steps']} steps ({training['seconds']:.0f} s, "
              f"{training['device']}): " + ("kept" if training["kept"] else "not kept, no better than the start"))
    if tuned["queries"]:
        singles = ", ".join(f"{name} {score:.4f}" for name, score in tuned["single_stages"].items())
        print(f"shares on {tuned['queries']} held-out queries: current {tuned['current']:.4f}, chosen {tuned['chosen']:.4f} "
              f"({entry.shares.describe()}); single stages: {singles}")
    else:
        print(f"shares: {entry.shares.describe()} ({tuned['why']})")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"stored in {config.index_dir} ({entry.model_dir or 'shares only'}) in {entry.seconds:.0f} s "
          f"({_pairs(report.seconds)}); peak memory {peak_mib:.0f} MiB")
    return 0


def _pairs(values: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in values.items())
