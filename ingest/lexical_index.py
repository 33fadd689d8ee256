"""BM25 over chunks with bm25s, and a tokenizer that handles English and CJK text alike.

bm25s's own tokenizer keeps a run of Chinese characters as one "word" (there are no spaces), so a Chinese
query would only match chunks containing the exact same run. Here CJK runs become overlapping character
bigrams, as Lucene's CJKAnalyzer does: no dictionary, no segmentation model, and robust to new terms.
Latin-script words are lower-cased, stop-worded (Lucene's English list) and Snowball-stemmed.
bm25s indexes cannot be updated in place, so the index is rebuilt from the docstore on each publish; that
takes about a second per 10,000 chunks.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

_TOKEN = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+"  # kana, CJK ideographs, hangul
    r"|[^\W_]+",
)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")

# BM25 parameters of Anserini's BEIR baselines (k1=0.9, b=0.4).
K1 = 0.9
B = 0.4


@functools.lru_cache(maxsize=1)
def english_stemmer_and_stopwords() -> tuple[Callable[[list[str]], list[str]], frozenset[str]]:
    """Snowball's English stemmer and Lucene's English stop words, loaded once per process: BM25 and the
    evaluation's lexical support check must read words the same way."""
    import Stemmer
    from bm25s.stopwords import STOPWORDS_EN

    return Stemmer.Stemmer("english").stemWords, frozenset(STOPWORDS_EN)


class Tokenizer:
    def __init__(self) -> None:
        self._stem, self._stopwords = english_stemmer_and_stopwords()

    def __call__(self, text: str) -> list[str]:
        words: list[str] = []
        tokens: list[str] = []
        for match in _TOKEN.finditer(text.lower()):
            run = match.group()
            if _CJK.match(run):
                tokens.extend([run] if len(run) == 1 else [run[i:i + 2] for i in range(len(run) - 1)])
            elif run not in self._stopwords:
                words.append(run)
        return self._stem(words) + tokens


class LexicalIndex:
    """BM25 scores over chunk ids; row n of the bm25s matrix is chunk ``ids[n]``."""

    def __init__(self, bm25, vocab: dict[str, int], ids: np.ndarray, tokenizer: Tokenizer):
        self._bm25 = bm25
        self._vocab = vocab
        self.ids = ids
        self._tokenize = tokenizer

    @classmethod
    def build(cls, items: Iterable[tuple[int, str]]) -> "LexicalIndex":
        import bm25s
        from bm25s.tokenization import Tokenized

        tokenizer = Tokenizer()
        vocab: dict[str, int] = {}
        ids: list[int] = []
        corpus: list[list[int]] = []
        for chunk_id, text in items:
            ids.append(chunk_id)
            corpus.append([vocab.setdefault(token, len(vocab)) for token in tokenizer(text)])
        vocab.setdefault("", len(vocab))  # bm25s wants an empty token for empty documents
        bm25 = bm25s.BM25(k1=K1, b=B)
        if corpus:
            bm25.index(Tokenized(ids=corpus, vocab=vocab), show_progress=False)
        return cls(bm25, vocab, np.asarray(ids, dtype=np.int64), tokenizer)

    def search(self, query: str, n: int) -> list[tuple[int, float]]:
        """Top-``n`` (chunk id, BM25 score), only chunks sharing at least one term with the query."""
        if not len(self.ids):
            return []
        token_ids = sorted({self._vocab[t] for t in self._tokenize(query) if t in self._vocab})
        if not token_ids:
            return []
        rows, scores = self._bm25.retrieve([token_ids], k=min(n, len(self.ids)), show_progress=False)
        return [(int(self.ids[row]), float(score)) for row, score in zip(rows[0], scores[0]) if score > 0]

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True)
        if len(self.ids):  # an empty bm25s index has nothing to save (and cannot)
            self._bm25.save(str(directory), show_progress=False)
        np.save(directory / "chunk_ids.npy", self.ids)
        (directory / "deeprag_vocab.json").write_text(json.dumps(self._vocab, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> "LexicalIndex":
        import bm25s

        ids = np.load(directory / "chunk_ids.npy")
        vocab = json.loads((directory / "deeprag_vocab.json").read_text(encoding="utf-8"))
        bm25 = bm25s.BM25.load(str(directory), show_progress=False) if len(ids) else bm25s.BM25(k1=K1, b=B)
        return cls(bm25, vocab, ids, Tokenizer())
