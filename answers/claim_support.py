"""Whether a cited quote supports a model's sentence, whatever the sentence claims.

The other checks of `verify_llm` catch claims that carry a number, a name, a negation, a harm or a
link. A sentence with none of these ("Die Ukraine hat kapituliert [1].") needs a rule of its own: its
words must be found in its quote, or (when sentence and quote are in different languages, so words
cannot match) its meaning must be close to the quote's. Two measurements, combined by a logistic
model fitted on data:

- `coverage`: the share of the sentence's content words (not German or English stopwords, at
  least three letters) whose first five letters start or sit inside a word of the quote, the same
  tolerance for inflection and compounds as the name check ("Soldaten" ~ "Soldat", "Korea" ~
  "nordkoreanische");
- `cosine`: the multilingual-e5-small cosine of sentence and quote (the `SimilarityFn` the LLM
  answerer already computes).

The weights and the cut come from `scripts/fit_claim_support.py`, fitted on XQuAD (German
paragraphs; German and English questions as the claims, the paragraph sentence holding the answer as
their supporting quote and the paragraph's other sentences as same-topic quotes that do not support
them), on the fit half of the titles (`bench.answer_collections.split_titles`); the script reports
the held-out half, quoted at `SUPPORT_MODEL`.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

_WORD = re.compile(r"[^\W\d_]{3,}")


@functools.cache
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN, STOPWORDS_GERMAN

    return frozenset(w.casefold() for w in (*STOPWORDS_GERMAN, *STOPWORDS_EN))


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
    """P(quote supports sentence) = sigmoid(bias + w · features); supported when P reaches the cut of
    the language pair (sentence and quote in one language, or in two)."""

    bias: float
    w_cosine: float
    w_coverage: float
    w_missing: float  # per content word not found in the quote, counted up to MAX_MISSING
    w_same_language: float
    w_coverage_same_language: float
    cut_same_language: float
    cut_cross_language: float

    def probability(self, cosine: float, cover: float, missing: int, same_language: bool) -> float:
        same = 1.0 if same_language else 0.0
        z = (
            self.bias
            + self.w_cosine * cosine
            + self.w_coverage * cover
            + self.w_missing * min(missing, MAX_MISSING)
            + self.w_same_language * same
            + self.w_coverage_same_language * cover * same
        )
        return 1.0 / (1.0 + math.exp(-z))

    def cut(self, same_language: bool) -> float:
        return self.cut_same_language if same_language else self.cut_cross_language


# Fitted by `scripts/fit_claim_support.py --keep 0.95` (XQuAD, fit half of the titles, 5,992 pairs).
# Each cut keeps 95 % of the supported fit pairs of its language pair: dropping a true sentence
# costs little (its quote still stands, the extractive answer is the fallback). Held-out half (5,522
# pairs): AUC 0.87; same language: 95.4 % of supported pairs kept, 52.2 % of the same-story
# unsupported ones dropped; across languages 95.8 % kept, 38.1 % dropped. The unsupported pairs are
# the hard case (another sentence of the same paragraph); a claim unrelated to its quote scores lower.
SUPPORT_MODEL = SupportModel(
    bias=-10.7361, w_cosine=11.1233, w_coverage=4.2237, w_missing=-0.0419, w_same_language=-2.1168,
    w_coverage_same_language=1.6595, cut_same_language=0.0547, cut_cross_language=0.1002,
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
