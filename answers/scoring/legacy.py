"""The hand-weighted scorer newsbot began with, kept only as the answers benchmark's baseline.

Weights hand-set on the dev questions (shared/eval) and tests/questions_own.jsonl; the benchmark
measures the fitted and reader scorers against it.
"""

from __future__ import annotations

import re

import numpy as np

from answers.figure_table import previous_sentence
from answers.scoring.types import Assessment, ScoredSentence
from config.settings import Settings
from retrieval.lexical import tokenize
from retrieval.store_protocol import Corpus, SearchResult, chunk_sentence_ids

_TERMINAL = re.compile(r"[.!?…\"“”»«)]$")
LEXICAL_WEIGHT = 0.06
PASSAGE_WEIGHT = 0.03
HEADING_PENALTY = 0.04
CONTEXT_DISCOUNT = 0.015
SAME_ARTICLE_PENALTY = 0.012
QUOTE_MARGIN = 0.035  # quotes must score within this of the best sentence
FIGURE_MARGIN = 0.06  # figure sentences may trail the best figure sentence by this much


class LegacyScorer:
    """Cosine plus word-overlap and passage bonuses; one absolute abstain threshold (settings)."""

    name = "legacy"
    same_article_penalty = SAME_ARTICLE_PENALTY

    def __init__(self, settings: Settings) -> None:
        self.threshold = settings.models.abstain_threshold

    def assess(self, question: str, result: SearchResult, data: Corpus) -> Assessment:
        scored = self.score_sentences(question, result, data)
        best = scored[0].score if scored else float("-inf")
        return Assessment(scored, best, bool(scored) and best >= self.threshold)

    def quote_pool(self, scored: list[ScoredSentence]) -> list[ScoredSentence]:
        best = scored[0].score
        return [s for s in scored if s.score >= best - QUOTE_MARGIN]

    def figure_floor(self, best: float) -> float:
        return best - FIGURE_MARGIN

    def score_sentences(self, question: str, result: SearchResult, data: Corpus) -> list[ScoredSentence]:
        """Every sentence of the retrieved chunks, best first."""
        passage_score: dict[int, float] = {}
        for hit in result.hits:
            for sid in chunk_sentence_ids(data, hit.chunk):
                passage_score[sid] = max(passage_score.get(sid, 0.0), hit.fused)
        if not passage_score:
            return []
        ids = np.fromiter(passage_score, dtype=np.int64)
        vectors = data.sentence_vectors[ids]
        dense = vectors @ result.query_vector
        # A sentence read with the one before it ("…, sagte er." after the sentence naming him):
        # the pair's mean vector scores the context, discounted so a sentence on its own still wins.
        previous_ids = np.array([sid - 1 if previous_sentence(data, sid) else sid for sid in ids.tolist()])
        pair = vectors + data.sentence_vectors[previous_ids]
        pair /= np.linalg.norm(pair, axis=1, keepdims=True) + 1e-9
        in_context = pair @ result.query_vector - CONTEXT_DISCOUNT
        question_tokens = set(tokenize([question])[0])
        sentence_tokens = tokenize([data.sentences[int(i)].text for i in ids])
        previous_tokens = tokenize([data.sentences[int(i)].text for i in previous_ids])
        scored = []
        for row, sid in enumerate(ids.tolist()):
            sentence = data.sentences[sid]
            own = question_tokens & set(sentence_tokens[row])
            context = (question_tokens & set(previous_tokens[row])) - own
            overlap = (len(own) + 0.5 * len(context)) / len(question_tokens) if question_tokens else 0.0
            best_dense = max(float(dense[row]), float(in_context[row]))
            score = best_dense + LEXICAL_WEIGHT * overlap + PASSAGE_WEIGHT * passage_score[sid]
            if not _TERMINAL.search(sentence.text):
                score -= HEADING_PENALTY  # headings and captions inform less than sentences
            scored.append(ScoredSentence(sid, score, best_dense))
        scored.sort(key=lambda s: (-s.score, s.sentence_id))
        return scored
