"""Whether a cited quote supports a model's sentence, whatever the sentence claims.

The other checks of `verify_llm` catch claims that carry a number, a name, a negation, a harm or a
link. A sentence with none of these ("Die Ukraine hat kapituliert [1].") needs a rule of its own: what
it asserts, its content words with the predicate ("kapituliert"), must be carried by its quote, not
merely a name it shares with it; across languages, where words cannot match, its meaning must be
close to the quote's. Two measurements, combined by a logistic model fitted on data:

- `coverage`: the share of the sentence's content words (not German or English stopwords or
  auxiliaries, at least three letters) whose first five letters start or sit inside a word of the
  quote, the same tolerance for inflection and compounds as the name check ("Soldaten" ~ "Soldat",
  "Korea" ~ "nordkoreanische"), and how many are missing;
- `cosine`: the multilingual-e5-small cosine of sentence and quote (the `SimilarityFn` the LLM
  answerer already computes).

The weights and the cuts come from `training/fit_claim_support.py` (report committed beside it,
training/claim_support_fit.json): XQuAD's German sentences as quotes; as supported claims a clause
restating a sentence, the aligned English translation of it, and questions with their answer; as
unsupported ones the same claims against the paragraph's other sentences and the claims with one
carried word swapped for another article's word (all names still there, one asserted word not). Fitted
on one half of the titles, measured on the other (quoted at `SUPPORT_MODEL`).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

_WORD = re.compile(r"[^\W\d_]{3,}")


# Auxiliary and modal verbs that bm25s's stopword lists lack: they carry tense and voice, not what a
# sentence asserts ("Die Ukraine hat kapituliert" asserts "kapituliert"), so they are not counted.
_AUXILIARIES = frozenset(
    """
    has have had having would could should might must can may will shall been being does did done
    wurde wurden worden werde werden wird sei seien seiest soll sollen sollte sollten hat hatte hatten
    habe haben hätte hätten ist sind war waren wäre wären kann können könne konnte konnten könnte
    könnten muss müssen musste mussten müsste darf dürfen durfte will wollen wollte wollten
    """.split()  # noqa: SIM905 - a word list reads better as words than as quoted strings
)


@functools.cache
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN, STOPWORDS_GERMAN

    return frozenset(w.casefold() for w in (*STOPWORDS_GERMAN, *STOPWORDS_EN)) | _AUXILIARIES


def content_words(text: str) -> list[str]:
    """The words of `text` that carry its content: three letters or more, not a stopword, casefolded."""
    stop = _stopwords()
    return [w for w in (m.group(0).casefold() for m in _WORD.finditer(text)) if w not in stop]


MAX_MISSING = 5


def coverage(sentence: str, quote: str) -> tuple[float, int]:
    """(share of the sentence's content words found in `quote` by their first five letters, how many
    were not found); (1.0, 0) for a sentence without content words."""
    words = content_words(sentence)
    if not words:
        return 1.0, 0
    joined = " " + " ".join(sorted(set(content_words(quote)))) + " "
    found = sum(w[:5] in joined for w in words)
    return found / len(words), len(words) - found


@dataclass(frozen=True)
class SupportModel:
    """P(quote supports sentence) = sigmoid(bias + w · `row(features)`); supported when P reaches the
    cut of the language pair (sentence and quote in one language, or in two)."""

    bias: float
    w_cosine: float
    w_coverage: float
    w_missing: float  # per content word not found in the quote, counted up to MAX_MISSING
    w_same_language: float
    w_coverage_same_language: float
    w_missing_same_language: float
    cut_same_language: float
    cut_cross_language: float

    @staticmethod
    def row(cosine: float, cover: float, missing: int, same_language: bool) -> list[float]:
        """The model's inputs, in the order of its weights."""
        same = 1.0 if same_language else 0.0
        held = float(min(missing, MAX_MISSING))
        return [cosine, cover, held, same, cover * same, held * same]

    @classmethod
    def from_coefficients(cls, bias: float, weights: Sequence[float], cut_same: float, cut_cross: float) -> SupportModel:
        w = [round(float(v), 4) for v in weights]
        return cls(round(bias, 4), *w, cut_same_language=cut_same, cut_cross_language=cut_cross)  # type: ignore[misc]

    def probability(self, cosine: float, cover: float, missing: int, same_language: bool) -> float:
        weights = (
            self.w_cosine, self.w_coverage, self.w_missing, self.w_same_language,
            self.w_coverage_same_language, self.w_missing_same_language,
        )  # fmt: skip
        z = self.bias + sum(w * v for w, v in zip(weights, self.row(cosine, cover, missing, same_language)))
        return 1.0 / (1.0 + math.exp(-z))

    def cut(self, same_language: bool) -> float:
        return self.cut_same_language if same_language else self.cut_cross_language


# Fitted by `training/fit_claim_support.py --beta 0.75` (XQuAD, fit half of the titles, 12,896 pairs;
# training/claim_support_fit.json). Each cut maximises F0.75 of "supported" on its language pair's fit
# pairs: precision first (a kept false sentence is shown as checked prose; a dropped true one leaves its
# quote), but F0.5 also dropped faithful paraphrases with one synonym ("meldete" for "mitgeteilt").
# Held-out half (12,246 pairs): AUC 0.92; "supported" precision 0.62, recall 0.65 (same language 0.70 /
# 0.64, across languages 0.55 / 0.68); 97.5 % of restatements and 84 % of translations kept, 73 % of
# one-word-swapped claims dropped in one language and 58 % across languages (words cannot match there).
SUPPORT_MODEL = SupportModel(
    bias=-14.5146, w_cosine=14.8393, w_coverage=4.3233, w_missing=-0.0477, w_same_language=-3.415,
    w_coverage_same_language=1.0596, w_missing_same_language=0.0897, cut_same_language=0.531,
    cut_cross_language=0.2511,
)


def features(sentence: str, quote: str, cosine: float, same_language: bool) -> tuple[float, float, int, bool]:
    """(cosine, coverage, missing words, same language): what `SupportModel` reads for one sentence and quote."""
    cover, missing = coverage(sentence, quote)
    return cosine, cover, missing, same_language


def best_support(
    sentence: str,
    quotes: Sequence[str],
    cosines: Sequence[float],
    same_language: Sequence[bool],
    model: SupportModel = SUPPORT_MODEL,
) -> tuple[float, int]:
    """(highest P of support among `quotes` less the cut of its language pair, index of that quote):
    the sentence is supported when the first is >= 0."""
    scored = [
        (model.probability(*features(sentence, q, c, s)) - model.cut(s), i)
        for i, (q, c, s) in enumerate(zip(quotes, cosines, same_language))
    ]
    return max(scored)
