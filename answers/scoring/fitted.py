"""The fitted scorer: tree models over lexical and vector features (`answers.answer_scorer`), fitted
on XQuAD's fit half by training/fit_answer_scorer.py, with per-collection decline thresholds."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from answers.answer_scorer import (
    Candidates,
    FeatureExtractor,
    ScorerParameters,
    answerability_row,
    default_parameters,
    sigmoid,
)
from answers.scoring.types import Assessment, ScoredSentence
from retrieval.store_protocol import Corpus, SearchResult

# The first MIN_QUOTES sentences are shown (the window answer@3 is measured on); a further quote, up
# to max_quotes, must be more likely than not to hold the answer by the sentence model (its own
# decision boundary, not a tuned value). Figure sentences are kept while at least half as likely as
# the best figure sentence: a product choice (a figures table lists every source's figure), not
# fitted; XQuAD has one answer per question to fit it on.
MIN_QUOTES = 3
QUOTE_PROBABILITY = 0.5
FIGURE_RELATIVE = 0.5


class FittedScorer:
    """P(a sentence holds the answer) and P(the collection answers) from the fitted models."""

    name = "fitted"
    same_article_penalty = 0.0

    def __init__(self, embed_queries: Callable, parameters: ScorerParameters | None = None) -> None:  # type: ignore[type-arg]
        self.parameters = parameters or default_parameters()
        self.features = FeatureExtractor(embed_queries, self.parameters)

    def assess(self, question: str, result: SearchResult, data: Corpus) -> Assessment:
        candidates, logits = self.candidates(question, result, data)
        return self.decide(candidates, logits)

    def candidates(self, question: str, result: SearchResult, data: Corpus) -> tuple[Candidates, np.ndarray]:
        """The retrieved sentences' features and sentence-model logits."""
        candidates = self.features.candidates(question, result, data)
        logits = self.parameters.sentence.logits(candidates.features) if len(candidates.sentence_ids) else np.zeros(0)
        return candidates, logits

    def decide(self, candidates: Candidates, logits: np.ndarray) -> Assessment:
        answerable = float(sigmoid(self.parameters.answerability.logits(answerability_row(candidates, logits)[None, :]))[0])
        probabilities = sigmoid(logits)
        dense_column = 0  # SENTENCE_FEATURES[0] is the sentence's cosine to the question
        scored = [
            ScoredSentence(int(sid), float(p), float(candidates.features[row, dense_column]))
            for row, (sid, p) in enumerate(zip(candidates.sentence_ids.tolist(), probabilities.tolist()))
        ]
        scored.sort(key=lambda s: (-s.score, s.sentence_id))
        threshold = self.parameters.threshold(candidates)
        return Assessment(scored, answerable, bool(scored) and answerable >= threshold)

    def quote_pool(self, scored: list[ScoredSentence]) -> list[ScoredSentence]:
        return scored[:MIN_QUOTES] + [s for s in scored[MIN_QUOTES:] if s.score >= QUOTE_PROBABILITY]

    def figure_floor(self, best: float) -> float:
        return FIGURE_RELATIVE * best
