"""BM25 over chunk texts (bm25s) with Snowball German stemming and German + English stopwords.

German stemming is used for queries in any language: names, numbers and loan words are what an
English question shares with a German article, and they stem the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.numbers import join_digit_groups

logger = logging.getLogger(__name__)

TOKEN_PATTERN = r"(?u)\b\w+\b"


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("german")


@lru_cache(maxsize=1)
def _stopwords() -> list[str]:
    from bm25s.stopwords import STOPWORDS_EN, STOPWORDS_GERMAN

    return sorted(set(STOPWORDS_GERMAN) | set(STOPWORDS_EN))


@lru_cache(maxsize=1)
def _bm25s() -> Any:
    """bm25s, imported once. Its import sets its logger to DEBUG, which would print "Building index
    from tokens" into every `newsbot index`; the level configured before the import is put back."""
    bm25s_logger = logging.getLogger("bm25s")
    level = bm25s_logger.level
    import bm25s

    bm25s_logger.setLevel(level)
    return bm25s


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Lower-cased, stopword-free, stemmed tokens; digit groups joined so "1.500" and "12 000" are one token."""
    bm25s = _bm25s()
    normalized = [join_digit_groups(t) for t in texts]
    result = bm25s.tokenize(
        normalized,
        token_pattern=TOKEN_PATTERN,
        stopwords=_stopwords(),
        stemmer=_stemmer().stemWords,
        return_ids=False,
        show_progress=False,
    )
    return [list(tokens) for tokens in result]  # type: ignore[union-attr]


class LexicalIndex:
    """BM25 scores of a query against every chunk (row order = chunk ids)."""

    def __init__(self, retriever: Any, size: int) -> None:
        self._retriever = retriever
        self._vocab: dict[str, int] = retriever.vocab_dict
        self.size = size

    @classmethod
    def build(cls, texts: Sequence[str]) -> LexicalIndex:
        return cls.from_tokens(tokenize(texts))

    @classmethod
    def from_tokens(cls, corpus_tokens: Sequence[list[str]]) -> LexicalIndex:
        """The index of chunks already tokenized by `tokenize` (an index build tokenizes batch by batch)."""
        bm25s = _bm25s()
        retriever = bm25s.BM25(k1=1.2, b=0.75)
        # bm25s cannot index an empty document; a lone placeholder keeps row ids aligned.
        retriever.index([tokens or ["\u2205"] for tokens in corpus_tokens], show_progress=False)
        return cls(retriever, len(corpus_tokens))

    def save(self, folder: Path) -> None:
        self._retriever.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path, size: int) -> LexicalIndex:
        bm25s = _bm25s()
        retriever = bm25s.BM25.load(str(folder), mmap=False, show_progress=False, verbosity=0)
        return cls(retriever, size)

    def document_frequency(self, token: str) -> int:
        """Chunks containing the (stemmed) token; 0 for a word the collection never uses."""
        row = self._vocab.get(token)
        if row is None:
            return 0
        indptr = self._retriever.scores["indptr"]
        return int(indptr[row + 1] - indptr[row])

    def query_tokens(self, query: str) -> list[str]:
        return [t for t in tokenize([query])[0] if t in self._vocab]

    def scores(self, query: str) -> np.ndarray:
        """BM25 score per chunk; all zeros when no query word occurs in the corpus."""
        tokens = self.query_tokens(query)
        if not tokens or self.size == 0:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._retriever.get_scores(tokens), dtype=np.float32)
