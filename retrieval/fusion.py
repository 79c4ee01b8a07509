"""Fusing lexical (BM25) and dense scores into one ranking.

Plain reciprocal-rank fusion hurts across languages: for an English question over German articles
BM25 ranks almost at random (XQuAD R@1 0.315 against 0.839 dense), and RRF gives that noise the
same vote as the dense ranking (0.535). Here the scores are fused, not the ranks, and BM25's
weight follows the language match of question and article: 0.25 when they share a language,
0.1 when they do not (names and numbers still match across languages). Both weights were chosen
on half of the XQuAD questions and hold on the other half (BENCHMARKS.md); the curve is flat
around them (±0.005 R@1 from 0.15 to 0.35), and z-score or rank normalisation did no better.
"""

from __future__ import annotations

import numpy as np


def min_max(scores: np.ndarray) -> np.ndarray:
    """Scale to [0, 1] over the candidates; all-equal scores become 0 (no signal)."""
    if scores.size == 0:
        return scores.astype(np.float32)
    low, high = float(scores.min()), float(scores.max())
    if high - low < 1e-9:
        return np.zeros_like(scores, dtype=np.float32)
    return ((scores - low) / (high - low)).astype(np.float32)


def fuse_scores(dense: np.ndarray, lexical: np.ndarray, lexical_weight: np.ndarray | float) -> np.ndarray:
    """Convex combination of min-max-normalised dense and BM25 scores over the same candidates.

    BM25 is scaled by its maximum only (a zero BM25 score means "no shared word" and stays zero).
    """
    lexical_max = float(lexical.max()) if lexical.size else 0.0
    lexical_norm = lexical / lexical_max if lexical_max > 0 else np.zeros_like(lexical)
    weight = np.asarray(lexical_weight, dtype=np.float32)
    return (1.0 - weight) * min_max(dense) + weight * lexical_norm.astype(np.float32)


def reciprocal_rank_fusion(rankings: list[list[int]], k: int = 60) -> dict[int, float]:
    """Classic RRF, kept as a baseline for the benchmarks."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + rank + 1)
    return fused


def with_best_sentence(
    chunk_scores: np.ndarray, sentence_scores: np.ndarray, sentence_weight: float
) -> np.ndarray:
    """A chunk's dense score blended with its best sentence's: (chunk + w * sentence) / (1 + w).

    A question usually matches one sentence; the chunk vector averages that signal with its
    neighbours. On XQuAD the blend lifts hybrid R@1 for English questions over German paragraphs from
    0.871 to 0.888 at w=0.25 and 0.898 at w=1 (BENCHMARKS.md), for one small matrix product per query.
    With chunk vectors embedded on their own the weight stays at 0.25: larger weights surface more
    on-topic sentences for questions the articles cannot answer, and the hand-set answerer's abstention
    threshold had no margin left for them. Chunk vectors pooled from the sentence vectors (the default
    since issue 11) carry less of their best sentence, and 4.0 was chosen for them on XQuAD's even
    questions (training/choose_pooled_sentence_weight.py; `RetrievalSettings.sentence_weight_for`).
    """
    if sentence_weight <= 0:
        return chunk_scores
    return (chunk_scores + sentence_weight * sentence_scores) / (1.0 + sentence_weight)
