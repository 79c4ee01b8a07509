"""Sentence scorers: which retrieved sentences hold the answer, and whether the collection answers.

One protocol (`SentenceScorer`), three implementations chosen once where the answerer is built
(`make_scorer`): `legacy` (hand-set weights, the benchmarks' baseline), `fitted` (tree models over
lexical and vector features, `answers.answer_scorer`) and `reader` (the cross-encoder of
`models.reader` reading question and sentence together, over the fitted scorer's candidates, its
logit blended with the fitted one by `reader_blend.json`).
`answers.extractive.ExtractiveAnswerer` only puts the answer together from what a scorer returns.
"""

from __future__ import annotations

from typing import Protocol

from answers.scoring.types import Assessment, ScoredSentence
from retrieval.store_protocol import Corpus, SearchResult

__all__ = ["Assessment", "ScoredSentence", "SentenceScorer"]


class SentenceScorer(Protocol):
    """Scores the retrieved sentences of one question; see the package docstring."""

    name: str
    same_article_penalty: float
    """Subtracted from a sentence's score while its article is already quoted (spreads the quotes)."""

    def assess(self, question: str, result: SearchResult, data: Corpus) -> Assessment:
        """The retrieved sentences scored (best first) and whether the collection answers the question."""
        ...

    def quote_pool(self, scored: list[ScoredSentence]) -> list[ScoredSentence]:
        """The sentences an answer may quote, best first."""
        ...

    def figure_floor(self, best: float) -> float:
        """The score a figure sentence needs beside the best figure sentence's to enter the figures table."""
        ...
