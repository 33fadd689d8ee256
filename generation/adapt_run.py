"""`deeprag adapt`: adapt one index's retrieval to its own corpus, with no labels (issue 15).

The run is a story in six steps, each cached in ``<index>/adapt-work/`` so that a killed run resumes:
1. sample chunks across files and write queries for them: inverse-cloze statements (no LLM) and questions and
   claims by the served LLM (``generation.query_writer``; the budget caps how many chunks it gets);
2. split off the held-out queries (``adapt.heldout_share``, whole chunks at a time);
3. round trip and negatives from one first-stage search per query (``retrieval.adaptation.negatives``);
4. train the configured reranker on the training queries within the budget; keep it only if its held-out
   nDCG@10 beats the starting reranker's (``retrieval.adaptation.training``);
5. choose the stage shares on the held-out queries (``retrieval.adaptation.tuning``);
6. store the result (``retrieval.adaptation.store``): model folder renamed into place, manifest entry last.

Search is never changed before step 6 completes, so a kill at any moment leaves the previous reranker in force.
It lives in generation/ because step 1 uses the LLM client; it reads nothing but the index and the server
(no benchmark data: tests/test_adapt.py checks that no evaluation module is even imported).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import math
import random
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from ground.config import AdaptConfig, Config, RetrievalConfig, updated
from ground.errors import DeepragError
from ingest.index_dir import require_index
from ingest.language import language_of
from retrieval import language
from retrieval.adaptation import store, tuning
from retrieval.adaptation.batched import PrecomputedQueries
from retrieval.adaptation.negatives import Mining, mine, source_chunk
from retrieval.adaptation.queries import CorpusSample, ict_queries, sample_chunks
from retrieval.adaptation.training import (
    heldout_ndcg, pack, packed_sha256, require_training_tools, settings_for, train_reranker)
from retrieval.reranker import load_reranker, resolve_model, weights_sha256
from retrieval.reranker_training.mining import Mined, read_packed
from retrieval.reranker_training.sources import Question, split_heldout
from retrieval.searcher import Searcher

if TYPE_CHECKING:  # the LLM client (and the openai SDK) only where --queries llm asks for it
    from generation.llm import LLMClient

log = logging.getLogger(__name__)

WORK = "adapt-work"
MULTILINGUAL_FIX = "set retrieval.reranker_model to a multilingual cross-encoder (and retrieval.reranker_languages)"
TUNE_SHARE = 0.2  # of the budget kept back from training for choosing the shares
MIN_TRAIN_SECONDS = 30.0
JUDGE_SHARE = 0.15  # of the budget, at most, for each of the judge's two evaluations on a CPU
MIN_JUDGE_QUERIES = 30


class AdaptError(DeepragError):
    """adapt cannot go on; the message says what to change."""


class AdaptBusy(AdaptError):
    """Another adapt is running on the same index."""


@dataclass
class AdaptReport:
    """What one run did, for the CLI (the manifest entry holds the same, less the timings of each step)."""

    entry: store.Adaptation
    queries: dict[str, int] = field(default_factory=dict)
    survivors: dict[str, str] = field(default_factory=dict)
    llm_rate: dict = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def reset(config: Config) -> bool:
    """`deeprag adapt --reset`: back to the configured reranker and shares; the cached work is removed too."""
    require_index(config.index_dir)
    with _work_lock(config.index_dir / WORK):
        had = store.reset(config.index_dir)
    shutil.rmtree(config.index_dir / WORK, ignore_errors=True)
    return had


def adapt(config: Config, client_factory: Callable[[], LLMClient] | None = None) -> AdaptReport:
    """Run the six steps on ``config.index_dir`` with ``config.adapt``; returns what was done and stored."""
    directory = config.index_dir
    require_index(directory)
    require_training_tools()
    settings = config.adapt
    started = time.monotonic()
    deadline = started + settings.budget_minutes * 60
    work = directory / WORK
    seconds: dict[str, float] = {}
    with _work_lock(work):
        searcher = Searcher.for_config(config)
        base = config.retrieval
        if not base.reranker_model:
            raise AdaptError("no reranker is configured (retrieval.reranker_model is empty); set one to adapt")
        sample = sample_chunks(searcher.snapshot.docstore, settings.max_chunks, settings.seed)
        questions, positives, llm_rate = _write_queries(config, sample, work, started, client_factory)
        questions, shares_only = _readable_by_reranker(questions, base)
        seconds["queries"] = time.monotonic() - started
        if not questions:
            raise AdaptError(
                f"no queries could be written for the {len(sample.order)} chunks sampled: inverse-cloze statements "
                "need chunks of three sentences or more; add --queries llm (with a server: `deeprag serve`)")
        judged = _reranker_is_judged(questions, shares_only, settings)
        if not judged:  # statements could only have trained the reranker; they cannot choose shares
            questions = [q for q in questions if q.source != "ict"]
        train_q, heldout_q = _split(questions, settings.heldout_share, settings.seed)
        mark = time.monotonic()
        key = _mining_key(questions, searcher, base, settings)
        mined = _packed_if_current(work / "pack", key)
        if mined is None:
            queries = train_q + heldout_q
            batched = Searcher(directory, base, config.index, config.embedding,
                               PrecomputedQueries(searcher.embedder, [q.text for q in queries]))
            mining = mine(queries, positives, _first_stage(batched, base, settings.negatives_depth), settings)
            heldout_ids = {q.qid for q in heldout_q}
            train_rows = [_capped(r, settings.negatives) for r in mining.rows if r.qid not in heldout_ids]
            heldout_rows = [r for r in mining.rows if r.qid in heldout_ids]
            if len(train_rows) < 2 or not heldout_rows:
                raise AdaptError(f"too few queries survived the round trip ({len(mining.rows)} of {len(questions)}) "
                                 "to train and judge a reranker; raise adapt.max_chunks or add --queries llm")
            pack(work / "pack", mining.passages, train_rows, heldout_rows,
                 {"key": key, "survivors": mining.survivors(), "kept": dict(mining.kept), "base_model": base.reranker_model})
            passages, survivors, kept = mining.passages, mining.survivors(), dict(mining.kept)
        else:
            log.info("reusing the round trip and negatives packed in %s for the same queries", work / "pack")
            passages, train_rows, heldout_rows, survivors, kept = mined
        seconds["round_trip"] = time.monotonic() - mark
        data = packed_sha256(work / "pack")
        data_sha = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()

        mark = time.monotonic()
        reranker_train: list[Mined] = []
        reranker_heldout: list[Mined] = []
        if judged:
            reranker_train = [r for r in train_rows if r.qid not in shares_only]
            budget_left = deadline - mark - max(TUNE_SHARE * settings.budget_minutes * 60, 10.0)
            readable = [r for r in heldout_rows if r.qid not in shares_only]
            judges = _judge_size(settings, _pairs_per_second(base, settings, readable, passages), budget_left)
            reranker_heldout = _judging_rows(readable, settings, judges)
            training, trained = _train(work, base, settings, passages, reranker_train, reranker_heldout,
                                       max(budget_left, MIN_TRAIN_SECONDS), data)
        else:
            log.warning("every LLM query is in a language the reranker %r does not read, so none can judge it: "
                        "not trained; the LLM queries choose the shares", base.reranker_model)
            training, trained = {"steps": 0, "kept": False, "skipped": "no held-out query the reranker reads"}, None
        seconds["training"] = time.monotonic() - mark

        mark = time.monotonic()
        choice = _tune(searcher, base, config, heldout_q, heldout_rows, trained)
        seconds["tuning"] = time.monotonic() - mark

        shares = choice.chosen.shares(base)
        stamp = datetime.now(timezone.utc)
        model_dir = f"{store.ADAPTED}/reranker-{data_sha[:12]}-{stamp:%Y%m%d%H%M%S}" if shares.adapted_reranker else ""
        entry = store.Adaptation(
            model_dir=model_dir, base_model=base.reranker_model, base_sha256=weights_sha256(base.reranker_model),
            base_languages=_languages(base), start=store.start_settings(base), chosen=shares.__dict__,
            corpus_digest=store.corpus_digest(searcher.snapshot.docstore), data_sha256=data_sha,
            counts={"chunks_sampled": len(sample.order), "queries": _by_source(questions),
                    "survived": kept, "train": len(reranker_train), "heldout": len(heldout_rows),
                    "judge": len(reranker_heldout),
                    "shares_only": len(shares_only)},
            training=training,
            tuning=choice.report(), seconds=round(time.monotonic() - started, 1), created=stamp.isoformat(timespec="seconds"),
        )
        staged = None
        if shares.adapted_reranker:  # only offered to the grid when training produced a better model
            staged = store.staging_dir(directory)
            shutil.copytree(trained, staged, dirs_exist_ok=True)
        store.commit(directory, staged, entry)
    return AdaptReport(entry, _by_source(questions), survivors, llm_rate, {k: round(v, 1) for k, v in seconds.items()})


def _reranker_is_judged(questions: list[Question], shares_only: set[str], settings: AdaptConfig) -> bool:
    """Whether held-out queries can judge a trained reranker, so training it is worth its time: LLM queries in a
    language it reads, or statements when ``adapt.trust_statements`` says they may. With LLM queries in other
    languages only, the shares are still chosen (False); with statements alone nothing could be put in force, so
    the run stops before the round trip."""
    llm_queries = [q for q in questions if q.source != "ict"]
    if settings.trust_statements or any(q.qid not in shares_only for q in llm_queries):
        return True
    if llm_queries:
        return False
    raise AdaptError(
        f"only inverse-cloze statements were written ({len(questions)}), and they cannot judge a trained reranker "
        "(on SciFact one trained on statements ranked held-out statements better and labelled claims no better); "
        "add --queries llm with a server running (`deeprag serve`), or set adapt.trust_statements = true")


def _train(work: Path, base: RetrievalConfig, settings: AdaptConfig, passages: dict[str, str], train_rows: list[Mined],
           heldout_rows: list[Mined], seconds: float, data: dict[str, str]) -> tuple[dict, Path | None]:
    """Step 4: the reranker trained from ``base`` for about ``seconds``; the manifest's training entry, and the
    trained model when its held-out nDCG@10 beats the start's (else None: the start stays in force)."""
    if len(train_rows) < 2 or not heldout_rows:
        raise AdaptError(f"too few queries in a language the reranker {base.reranker_model!r} reads survived the "
                         f"round trip to train and judge it; {MULTILINGUAL_FIX}, or raise adapt.max_chunks")
    started = time.monotonic()
    summary = train_reranker(resolve_model(base.reranker_model), work / "pack", work / "trained", passages,
                             train_rows, heldout_rows, settings_for(settings, len(train_rows), seconds, settings.device),
                             data)
    before, after = heldout_ndcg(summary["heldout_before"]), heldout_ndcg(summary["heldout_after"])
    kept = after > before
    log.info("held-out nDCG@10 of the reranker: %.4f before, %.4f after training: %s", before, after,
             "kept" if kept else "not kept (no better)")
    training = {"steps": summary.get("steps"), "heldout_ndcg@10_before": round(before, 4),
                "heldout_ndcg@10_after": round(after, 4), "kept": kept,
                # where and how long it trained (an earlier run's or a GPU machine's model is reused as is)
                "device": summary.get("device", settings.device),
                "seconds": summary.get("seconds", round(time.monotonic() - started, 1))}
    return training, work / "trained" / "final" if kept else None


def _write_queries(config: Config, sample: CorpusSample, work: Path, started: float,
                   client_factory: Callable[[], LLMClient] | None) -> tuple[list[Question], dict[str, str], dict]:
    """Step 1: ICT statements and LLM queries for the sampled chunks, as training questions."""
    settings = config.adapt
    questions: list[Question] = []
    positives: dict[str, str] = {}
    rate: dict = {}
    if "ict" in settings.queries:
        questions, positives = ict_queries(sample, settings.ict_per_chunk, settings.seed)
    if "llm" in settings.queries:
        from generation import query_writer
        from generation.llm import LLMClient

        client = client_factory() if client_factory else LLMClient(config.llm)
        work.mkdir(parents=True, exist_ok=True)
        deadline = started + settings.llm_share * settings.budget_minutes * 60
        written = query_writer.write_queries(
            client, [(i, sample.chunks[i].indexed_text()) for i in sample.order], work / "queries-llm.jsonl",
            settings.llm_workers, deadline, settings.llm_max_tokens)
        sampled = {i: w for i, w in written.items() if i in sample.chunks}
        questions += query_writer.as_questions(sampled)
        rate = query_writer.rate(sampled.values())
        log.info("LLM queries: %s", rate)
    return questions, positives, rate


def _readable_by_reranker(questions: list[Question], base: RetrievalConfig) -> tuple[list[Question], set[str]]:
    """The questions to go on with, and the ids of those that may only choose shares.

    Search never gives the reranker text in a language it does not read (retrieval/language.py routes such
    questions around it), so such queries must neither train nor judge it: on the Chinese seed articles the
    English reranker trained 10 minutes on Chinese statements and got worse. Statements in those languages are
    dropped (they cannot choose shares either); LLM queries stay, for choosing shares only."""
    languages = language.reranker_languages(base)
    if languages is None:  # a multilingual reranker reads every query: nothing to detect
        return questions, set()
    kept, unread, shares_only, dropped = [], set(), set(), 0
    for question in questions:
        code = language_of(question.text)
        if language.reads(languages, code):
            kept.append(question)
        elif question.source == "ict":
            unread.add(code)  # reads() is true for a query of no known language
            dropped += 1
        else:
            kept.append(question)
            shares_only.add(question.qid)
    if unread and not kept:
        codes = ", ".join(sorted(unread))
        raise AdaptError(f"the reranker {base.reranker_model!r} reads {', '.join(sorted(languages))} only and all "
                         f"{len(questions)} statements written for this corpus are in {codes}: search skips it for "
                         f"such questions, so there is nothing to adapt; to adapt for {codes} too, {MULTILINGUAL_FIX}")
    if unread:
        log.warning("%d of %d statements are in %s, which the reranker %r does not read: left out; to adapt for "
                    "them too, %s", dropped, len(questions), ", ".join(sorted(unread)), base.reranker_model,
                    MULTILINGUAL_FIX)
    if shares_only:
        log.warning("%d LLM queries are in languages the reranker %r does not read: they choose the shares but "
                    "neither train nor judge it", len(shares_only), base.reranker_model)
    return kept, shares_only


def _split(questions: list[Question], share: float, seed: int) -> tuple[list[Question], list[Question]]:
    """Step 2: about ``share`` of each source's queries held out, all queries of one chunk on one side."""
    counts = {source: max(1, math.ceil(share * n)) for source, n in _by_source(questions).items()}
    return split_heldout(questions, counts, seed)


def _first_stage(searcher: Searcher, base: RetrievalConfig, depth: int):
    """The current first stage, unadapted and unreranked, as the round trip and the negatives read it."""
    def rank(text: str) -> list[tuple[int, str]]:
        found = searcher.search(text, base, k=depth, rerank=False, use_adaptation=False)
        return [(hit.chunk.chunk_id, hit.chunk.indexed_text()) for hit in found.hits]
    return rank


def _tune(searcher: Searcher, base: RetrievalConfig, config: Config, heldout_q: list[Question],
          heldout_rows: list[Mined], adapted: Path | None) -> tuning.Choice:
    """Step 5: the held-out queries that survived the round trip, their first-stage lists, both rerankers."""
    survived = {r.qid for r in heldout_rows}
    # Inverse-cloze statements are sentences of indexed chunks: every first stage finds them verbatim, so they
    # cannot tell shares apart (they judged the reranker, on trimmed chunks, in training).
    queries = [q for q in heldout_q if q.qid in survived and q.source != "ict"][: config.adapt.tune_queries]
    if not queries:
        return tuning.without_queries(base, adapted is not None, config.adapt.trust_statements)
    snapshot = searcher.snapshot
    hybrid = updated(base, {"mode": "hybrid", "rerank": True})
    held: list[tuning.HeldOutQuery] = []
    for q in queries:
        plan = searcher.route(q.text, hybrid, snapshot)
        lists = {r.name: r.retrieve(q.text, base.candidates) for r in searcher.stages(
            updated(hybrid, {"rerank": False}), snapshot, plan).retrievers}
        held.append(tuning.HeldOutQuery(q.text, source_chunk(q), plan, lists.get("dense"), lists.get("bm25")))
    ids = {i for h in held for found in (h.dense, h.bm25) if found for i, _ in found}
    texts = {i: chunk.indexed_text() for i, chunk in snapshot.docstore.chunks(sorted(ids)).items()}
    device = config.adapt.device
    scorers = {tuning.START: load_reranker(base.reranker_model, device, base.reranker_precision)}
    if adapted is not None:
        scorers[tuning.ADAPTED] = load_reranker(str(adapted), device, base.reranker_precision)
    if any(s is None for s in scorers.values()):
        raise AdaptError(f"reranker {base.reranker_model!r} cannot be loaded; set retrieval.reranker_model to a "
                         "local CrossEncoder folder")
    return tuning.choose(held, texts, scorers, base, config.adapt)


def _mining_key(questions: list[Question], searcher: Searcher, base: RetrievalConfig, settings) -> str:
    """What the round trip and the negatives depend on: the queries, the corpus, the first stage's settings."""
    inputs = {"queries": [(q.qid, q.text, q.positive) for q in questions],
              "corpus": store.corpus_digest(searcher.snapshot.docstore), "embedder": searcher.snapshot.manifest.embedder,
              "first_stage": store.start_settings(base) | {"candidates": base.candidates},
              "adapt": [settings.roundtrip_k, settings.negatives_depth, settings.negatives, settings.near_duplicate,
                        settings.heldout_share, settings.seed]}
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def _packed_if_current(folder: Path, key: str):
    """The pack an earlier run wrote for the same inputs (passages, train, held-out, survivors, kept), or None."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("key") != key:
        return None
    passages, train_rows, heldout_rows = read_packed(folder)
    return passages, train_rows, heldout_rows, manifest["survivors"], manifest["kept"]


def _pairs_per_second(base: RetrievalConfig, settings: AdaptConfig, rows: list[Mined],
                      passages: dict[str, str]) -> float | None:
    """How fast this machine scores (query, passage) pairs with the starting reranker, from one held-out query's
    candidates; None on a GPU (judging is cheap there) or with nothing to time."""
    if settings.device == "cuda" or not rows:
        return None
    scorer = load_reranker(base.reranker_model, "cpu", "float32")  # training evaluates in float32
    if scorer is None:
        return None
    row = rows[0]
    texts = [passages[pid] for pid in [row.positive, *row.negatives][: settings.roundtrip_k]]
    started = time.monotonic()
    scorer.score(row.query, texts)
    return len(texts) / max(time.monotonic() - started, 1e-6)


def _judge_size(settings: AdaptConfig, pairs_per_second: float | None, budget_seconds: float) -> int:
    """Held-out queries that judge the trained reranker: ``judge_queries``, fewer on a CPU where its two
    evaluations (before training and at the stop, ``roundtrip_k`` candidates a query) would take more than
    ``JUDGE_SHARE`` of the budget each — on 2 cores 172 queries took 6 minutes an evaluation — but never fewer
    than ``MIN_JUDGE_QUERIES``, below which the keep-or-not decision is noise."""
    if pairs_per_second is None:
        return settings.judge_queries
    fits = int(JUDGE_SHARE * budget_seconds * pairs_per_second / settings.roundtrip_k)
    if fits < MIN_JUDGE_QUERIES:
        log.warning("judging the trained reranker on %d held-out queries takes ~%.0f s twice at this machine's %.1f "
                    "pairs/s, more than the budget allows: raise --budget-minutes, or train with --device cuda",
                    MIN_JUDGE_QUERIES, MIN_JUDGE_QUERIES * settings.roundtrip_k / pairs_per_second, pairs_per_second)
    return max(MIN_JUDGE_QUERIES, min(settings.judge_queries, fits))


def _judging_rows(rows: list[Mined], settings: AdaptConfig, count: int) -> list[Mined]:
    """The held-out rows that judge the trained reranker: a seeded sample of ``count``, each against the head the
    reranker reorders in search (its negatives are in first-stage order)."""
    if len(rows) > count:
        rows = random.Random(settings.seed).sample(rows, count)
    return [_capped(row, settings.roundtrip_k - 1) for row in rows]


def _capped(row: Mined, negatives: int) -> Mined:
    return Mined(row.qid, row.query, row.source, row.positive, row.negatives[:negatives])


def _by_source(questions: list[Question]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for q in questions:
        counts[q.source] = counts.get(q.source, 0) + 1
    return counts


def _languages(base: RetrievalConfig) -> list[str] | None:
    languages = language.reranker_languages(base)
    return sorted(languages) if languages is not None else None


@contextlib.contextmanager
def _work_lock(work: Path) -> Iterator[None]:
    """One adapt per index at a time (ingestion and search go on meanwhile)."""
    work.mkdir(parents=True, exist_ok=True)
    with open(work / ".lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AdaptBusy(f"another `deeprag adapt` is running on {work.parent}; wait for it to finish") from None
        yield
