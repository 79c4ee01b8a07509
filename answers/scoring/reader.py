"""The reader scorer: the cross-encoder of `models.reader` re-reads the fitted scorer's best
sentences with the question, and declines what it does not find answered.

Why over the fitted scorer's candidates: the fitted models see the collection (word statistics, the
margin over other passages) and tell "the story is not here" well (ROC AUC 0.94–0.99, BENCHMARKS.md);
what they cannot tell is a sentence that answers from one that is only about the same story. The
reader reads each candidate with the sentence before and after it and its article's title, so a
speaker named only in the previous sentence still counts. A question is declined when either says
so: the fitted scorer (nothing in the collection answers) or the reader (no candidate answers at its
cut).

Where `reader_blend.json` ships (`training.fit_reader_blend`), a sentence's score is a logistic
blend of the reader's logit and the fitted sentence model's logit, and the cut is the blend's: both
fitted on SQuAD titles neither model trained on. Without it, the reader's own probability and the
cut `training.reader` fitted are used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from answers.answer_scorer import sigmoid
from answers.scoring.fitted import FittedScorer
from answers.scoring.types import Assessment, ScoredSentence
from models.reader import Reader, ReaderInput
from retrieval.store_protocol import Corpus, SearchResult

READER_WINDOW = 12
"""Candidates the reader re-reads, best by the fitted sentence model first. A cost bound, not a fitted
value: the fitted model's first three sentences already hold the answer for 0.91 (de) / 0.80 (en) of
XQuAD's held-out questions (BENCHMARKS.md, session 7), so twelve leave the reader room to promote a
lower-ranked answer while one question costs twelve short cross-encoder passes."""

BLEND_PATH = Path(__file__).resolve().parent / "reader_blend.json"
"""The fitted blend of reader and fitted sentence logits (`training.fit_reader_blend`)."""

_CLIP = 1e-6


@dataclass(frozen=True)
class ReaderBlend:
    """P(sentence answers) = sigmoid(reader · reader logit + fitted · fitted logit + bias); a question
    is answered when its best sentence's blended probability reaches `threshold`."""

    reader: float
    fitted: float
    bias: float
    threshold: float
    provenance: dict[str, Any]

    @classmethod
    def read(cls, path: Path = BLEND_PATH) -> ReaderBlend | None:
        """The shipped blend, or None where none ships (the reader's own probability is used then)."""
        if not path.is_file():
            return None
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls(float(raw["reader"]), float(raw["fitted"]), float(raw["bias"]), float(raw["threshold"]), dict(raw["provenance"]))

    def logits(self, reader_logits: np.ndarray, fitted_logits: np.ndarray) -> np.ndarray:
        """The blend's logit per sentence: the one formula both question time and its fit use."""
        return self.reader * reader_logits + self.fitted * fitted_logits + self.bias

    def probabilities(self, reader_logits: np.ndarray, fitted_probabilities: np.ndarray) -> np.ndarray:
        return sigmoid(self.logits(reader_logits, logit_of(fitted_probabilities)))


def logit_of(probabilities: np.ndarray) -> np.ndarray:
    """The fitted scorer's sentence probabilities back to logits (clipped away from 0 and 1)."""
    clipped = np.clip(probabilities, _CLIP, 1 - _CLIP)
    return np.log(clipped / (1 - clipped))


def _neighbour(data: Corpus, sid: int, step: int) -> str:
    other = sid + step
    if 0 <= other < len(data.sentences) and data.sentences[other].doc_id == data.sentences[sid].doc_id:
        return data.sentences[other].text
    return ""


def reader_inputs(question: str, data: Corpus, sentence_ids: list[int]) -> list[ReaderInput]:
    """Each sentence with what the reader reads beside it: its neighbours in the article and the title."""
    out = []
    for sid in sentence_ids:
        sentence = data.sentences[sid]
        article = data.articles.get(sentence.doc_id)
        out.append(
            ReaderInput(
                question=question,
                sentence=sentence.text,
                previous=_neighbour(data, sid, -1),
                following=_neighbour(data, sid, 1),
                title=article.title if article is not None and article.title else "",
            )
        )
    return out


@dataclass(frozen=True)
class Reading:
    """What the reader scorer sees of one question: the fitted call, the window it re-read (fitted
    order) and the reader's logits for it. `training.fit_reader_blend` fits the blend on these."""

    base: Assessment
    window: list[ScoredSentence]
    reader_logits: np.ndarray


class ReaderScorer:
    """P(a sentence answers) from the reader (blended with the fitted sentence model where a blend
    ships) for the fitted scorer's best `window` sentences."""

    name = "reader"
    same_article_penalty = 0.0

    def __init__(
        self, fitted: FittedScorer, reader: Reader, window: int = READER_WINDOW, blend: ReaderBlend | None = None
    ) -> None:
        self.fitted = fitted
        self.reader = reader
        self.window = window
        self.blend = blend

    def read(self, question: str, result: SearchResult, data: Corpus) -> Reading:
        candidates, logits = self.fitted.candidates(question, result, data)
        base = self.fitted.decide(candidates, logits)
        window = base.scored[: self.window]
        reader_logits = self.reader.logits(reader_inputs(question, data, [s.sentence_id for s in window]))
        return Reading(base, window, reader_logits)

    def assess(self, question: str, result: SearchResult, data: Corpus) -> Assessment:
        reading = self.read(question, result, data)
        base, window = reading.base, reading.window
        if not base.scored:
            return base
        if self.blend is not None:
            fitted = np.array([s.score for s in window])
            probabilities = self.blend.probabilities(reading.reader_logits, fitted)
            threshold = self.blend.threshold
        else:
            probabilities = sigmoid(reading.reader_logits)
            threshold = self.reader.threshold
        reread = sorted(
            (ScoredSentence(s.sentence_id, float(p), s.dense) for s, p in zip(window, probabilities.tolist())),
            key=lambda s: (-s.score, s.sentence_id),
        )
        # Sentences the reader did not read rank below every one it did, in the fitted order.
        lowest = reread[-1].score
        rest = [ScoredSentence(s.sentence_id, lowest * s.score, s.dense) for s in base.scored[self.window :]]
        best = reread[0].score
        return Assessment(reread + rest, min(best, base.answerable), base.answers and best >= threshold)

    def quote_pool(self, scored: list[ScoredSentence]) -> list[ScoredSentence]:
        return self.fitted.quote_pool(scored)

    def figure_floor(self, best: float) -> float:
        return self.fitted.figure_floor(best)
