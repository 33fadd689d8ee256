"""Synthetic queries written by the served LLM for one chunk: a question it answers and a claim it supports
(`deeprag adapt --queries llm`; InPars / Promptagator write queries the same way).

Questions and claims together because users ask both ways, and statements alone (inverse cloze) did not move
SciFact (issue 15). A Chinese chunk is asked for Chinese queries, in a Chinese prompt. A query is refused if it
copies a whole sentence of its chunk (a reranker would learn to spot copies, which real queries never are), if
its length is not a query's, or if a Chinese chunk got a query in another language.

Writing is the slow part on a CPU server, so ``write_queries`` runs ``workers`` requests at once, appends each
chunk's result to a JSON-lines cache in the index directory as it arrives (a killed run resumes after the last
chunk written), and stops taking new chunks at a deadline the budget sets.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from tqdm import tqdm

from generation.llm import LLMClient, Message
from ingest.language import language_of
from retrieval.reranker_training.ict import split_paragraph, words
from retrieval.reranker_training.sources import Question

log = logging.getLogger(__name__)

MIN_WORDS, MAX_WORDS = 3, 60
_PREFIX = re.compile(r"^\s*(?:[-*\d.)\s]*)(question|claim|q|c|问题|陈述|声明)\s*[:：]\s*", re.IGNORECASE)
_SPACE = re.compile(r"\s+")

PROMPT_EN = (
    "Here is a passage from a document collection.\n\n<passage>\n{text}\n</passage>\n\n"
    "Write one question that this passage answers, and one claim (a short factual statement) that this passage "
    "supports, the way someone searching the collection who has not seen the passage would write them. Use your "
    "own words: do not copy a sentence from the passage. Reply with exactly two lines:\n"
    "Question: ...\nClaim: ..."
)
PROMPT_ZH = (
    "下面是文档集中的一个段落。\n\n<passage>\n{text}\n</passage>\n\n"
    "请用中文写一个这个段落能回答的问题，和一个这个段落支持的陈述（一句简短的事实性陈述），就像没有看过这个段落、"
    "正在检索文档集的人会写的那样。请用你自己的话，不要照抄段落中的句子。严格按两行回答：\n"
    "问题：……\n陈述：……"
)


@dataclass(frozen=True)
class Written:
    """One chunk's result as cached: the queries kept and how many were refused."""

    chunk: int
    queries: list[str]
    refused: int
    seconds: float


def messages_for(text: str) -> list[Message]:
    prompt = PROMPT_ZH if language_of(text) == "zh" else PROMPT_EN
    return [{"role": "user", "content": prompt.format(text=text)}]


def parse(reply: str) -> list[str]:
    """The query lines of a reply, prefixes ("Question:", "问题：") and wrapping quotes removed."""
    found = []
    for line in reply.splitlines():
        text = _PREFIX.sub("", line).strip().strip("\"'“”‘’「」").strip()
        if text and not text.endswith(("...", "……")):
            found.append(text)
    return found[:2]


def acceptable(query: str, chunk_text: str) -> bool:
    """A query's length, in the chunk's language (Chinese chunks), and copying no whole sentence of it."""
    if not MIN_WORDS <= words(query) <= MAX_WORDS:
        return False
    if language_of(chunk_text) == "zh" and language_of(query) != "zh":
        return False
    flat_query = _flat(query)
    _, sentences = split_paragraph(chunk_text)
    return not any(len(_flat(s)) >= 12 and (_flat(s) in flat_query or flat_query in _flat(s)) for s in sentences)


def _flat(text: str) -> str:
    return _SPACE.sub(" ", text.lower()).strip().rstrip(".。!！?？").strip()


def write_one(client: LLMClient, chunk_id: int, text: str, max_tokens: int) -> Written:
    started = time.perf_counter()
    reply, _ = client.complete(messages_for(text), max_tokens=max_tokens)
    candidates = parse(reply)
    kept = [q for q in candidates if acceptable(q, text)]
    return Written(chunk_id, kept, max(2 - len(kept), 0), time.perf_counter() - started)


def read_cache(path: Path) -> dict[int, Written]:
    """What earlier runs wrote (a last line cut off by a kill is skipped)."""
    done: dict[int, Written] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
                done[int(row["chunk"])] = Written(int(row["chunk"]), list(row["queries"]), int(row["refused"]),
                                                  float(row["seconds"]))
            except (ValueError, KeyError, TypeError):
                continue
    return done


def write_queries(client: LLMClient, chunks: Iterable[tuple[int, str]], cache: Path, workers: int,
                  deadline: float, max_tokens: int) -> dict[int, Written]:
    """Queries for each (chunk id, text), cached in ``cache``; chunks done by an earlier run are not asked
    again, and no new chunk is started after ``deadline`` (time.monotonic())."""
    done = read_cache(cache)
    todo = [(i, text) for i, text in chunks if i not in done]
    if done:
        log.info("%d chunks already have LLM queries (from %s); %d to go", len(done), cache, len(todo))
    bar = tqdm(total=len(todo), desc="LLM queries", unit="chunk", disable=not sys.stderr.isatty(), file=sys.stderr)
    pending: set[Future] = set()
    queue = iter(todo)
    cut_off = cache.is_file() and cache.stat().st_size > 0 and not cache.read_bytes().endswith(b"\n")
    with ThreadPoolExecutor(workers) as pool, open(cache, "a", encoding="utf-8") as out:
        if cut_off:  # a kill mid-line: end that line, so the next one stays whole
            out.write("\n")
        try:
            while True:
                while len(pending) < workers and time.monotonic() < deadline:
                    item = next(queue, None)
                    if item is None:
                        break
                    pending.add(pool.submit(write_one, client, item[0], item[1], max_tokens))
                if not pending:
                    break
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    written = future.result()
                    done[written.chunk] = written
                    out.write(json.dumps(written.__dict__, ensure_ascii=False) + "\n")
                    out.flush()
                    bar.update()
        finally:
            for future in pending:
                future.cancel()
            bar.close()
    return done


def as_questions(written: dict[int, Written]) -> list[Question]:
    """The kept queries as training questions (``positive`` and ``origin``: the chunk)."""
    return [Question(f"llm-{w.chunk}-{n}", query, str(w.chunk), "llm", origin=str(w.chunk))
            for w in written.values() for n, query in enumerate(w.queries)]


def rate(written: Iterable[Written]) -> dict:
    """Seconds per chunk (per request, not counting concurrency) and queries kept, for the report."""
    rows = list(written)
    if not rows:
        return {"chunks": 0}
    seconds = sum(w.seconds for w in rows)
    return {"chunks": len(rows), "queries": sum(len(w.queries) for w in rows),
            "refused": sum(w.refused for w in rows), "seconds_per_request": round(seconds / len(rows), 2)}
