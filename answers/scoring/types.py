"""What every sentence scorer returns: the scored sentences, best first, and the answer-or-decline call."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScoredSentence:
    sentence_id: int
    score: float  # fitted and reader: P(holds the answer); legacy: cosine plus bonuses
    dense: float


@dataclass(frozen=True)
class Assessment:
    """The scored sentences (best first) and the answer-or-decline decision with its score."""

    scored: list[ScoredSentence]
    answerable: float  # fitted / reader: P(the collection answers); legacy: the best sentence's score
    answers: bool
