"""Story linking: whether a new article reports the same event as one already stored, decided once,
when the article is indexed (a story is one event, not a topic or a genre).

An article is described by two things: its vector (the mean of its sentence vectors, boilerplate
left out, with the model's common direction projected out: e5 gives any two German news texts a
cosine near 0.95) and the names it mentions (capitalised words, stemmed like BM25 and weighted by
how rare they are in the collection, so "Pjöngjang" or "Rapid" counts and "Regierung" barely does).
Two football reports share a genre and a vocabulary but not the clubs; two reports of one summit
share the people and places. The pair score is a logistic model of the two similarities, and a new
article joins the story of its best-scoring near neighbour when that score clears the fitted
threshold, or opens a story of its own. Nothing already assigned is revisited, so adding an article
costs one nearest-neighbour look-up whatever the collection's size.

Both stores (retrieval/store.py with retrieval/indexer.py, retrieval/pg_store.py) use this one
linker; they differ only in where candidates and document frequencies come from.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from retrieval.lexical import tokenize

# Texts whose embeddings estimate the model's common direction (what every passage shares).
NEUTRAL_PASSAGES = ("", ".", "Text", "Artikel")
# A near-duplicate sentence group spanning this many articles is boilerplate ("Der Volltext dieses
# auf Agenturmeldungen basierenden Artikels ...") and is left out of article vectors and names;
# two copies are kept, since wire copies are what ties an event's articles together.
BOILERPLATE_MIN_ARTICLES = 3
# Nearest articles (by vector) whose stories a new article may join. Candidates beyond the first
# twenty never won on the fitting data (scripts/fit_story_linking.py reports the rank of the link).
CANDIDATES = 20

_NAME = re.compile(r"\b[A-ZÄÖÜ][\w\-]*[\w]")


@dataclass(frozen=True)
class LinkModel:
    """P(same event) = sigmoid(intercept + cosine_weight·cosine + names_weight·names); link when ≥ threshold."""

    intercept: float
    cosine_weight: float
    names_weight: float
    threshold: float

    def score(self, cosine: float, names: float) -> float:
        z = self.intercept + self.cosine_weight * cosine + self.names_weight * names
        return 1.0 / (1.0 + math.exp(-z))


# Fitted by scripts/fit_story_linking.py on seeds + 10kGNAD (halves of one article = one event,
# different articles = different events; 394 articles fit, 98 + the 5 seeds held out): held-out
# pair precision 0.883, recall 0.843, purity 0.970, where the average-linkage clustering this
# replaces scored 0.674 / 0.537 / 0.930 (BENCHMARKS.md, "Stories").
LINK_MODEL = LinkModel(intercept=-15.4953, cosine_weight=12.0665, names_weight=35.0333, threshold=0.4)


def common_direction_of(neutral_vectors: np.ndarray) -> np.ndarray:
    """Unit vector of what the model gives every passage, from the vectors of `NEUTRAL_PASSAGES`."""
    mean = np.asarray(neutral_vectors, dtype=np.float32).mean(axis=0)
    return mean / (np.linalg.norm(mean) + 1e-9)


def article_vector(sentence_vectors: np.ndarray, common: np.ndarray) -> np.ndarray:
    """Unit mean of an article's sentence vectors with `common` projected out (zeros for no sentence)."""
    if len(sentence_vectors) == 0:
        return np.zeros(len(common), dtype=np.float32)
    mean = np.asarray(sentence_vectors, dtype=np.float32).mean(axis=0)
    mean = mean - (mean @ common) * common
    return (mean / (np.linalg.norm(mean) + 1e-9)).astype(np.float32)


def named_terms(texts: Iterable[str]) -> frozenset[str]:
    """The stems (as BM25 stems them) of the capitalised words of `texts`; stopwords ("Die") drop out."""
    words = [m.group(0) for text in texts for m in _NAME.finditer(text)]
    if not words:
        return frozenset()
    return frozenset(tokenize([" ".join(words)])[0])


@dataclass(frozen=True)
class StoryCandidate:
    """A stored article a new one may join: its story, vector and names."""

    doc_id: str
    story: int
    vector: np.ndarray
    terms: frozenset[str]


class StoryLinker:
    """Decides the story of a new article among its nearest stored articles.

    `document_frequency(stem)` and `documents` are the collection's BM25 statistics (chunks
    containing the stem, chunks in all): both stores keep them already, and a name is as rare in
    chunks as it is in articles for this purpose.
    """

    def __init__(
        self, document_frequency: Callable[[str], int], documents: int, model: LinkModel = LINK_MODEL
    ) -> None:
        self.document_frequency = document_frequency
        self.documents = max(documents, 1)
        self.model = model
        self._idf: dict[str, float] = {}

    def idf(self, term: str) -> float:
        value = self._idf.get(term)
        if value is None:
            value = self._idf[term] = math.log((self.documents + 1) / (self.document_frequency(term) + 1)) + 1.0
        return value

    def names_similarity(self, a: frozenset[str], b: frozenset[str]) -> float:
        """Cosine of the two name sets weighted by inverse document frequency (0 when either is empty)."""
        if not a or not b:
            return 0.0
        shared = sum(self.idf(t) ** 2 for t in a & b)
        if shared == 0.0:
            return 0.0
        return shared / math.sqrt(sum(self.idf(t) ** 2 for t in a) * sum(self.idf(t) ** 2 for t in b))

    def pair_score(self, vector: np.ndarray, terms: frozenset[str], other: StoryCandidate) -> float:
        return self.model.score(float(vector @ other.vector), self.names_similarity(terms, other.terms))

    def link(self, vector: np.ndarray, terms: frozenset[str], candidates: Sequence[StoryCandidate]) -> int | None:
        """The story the article joins, or None when it opens a story of its own."""
        best, best_score = None, self.model.threshold
        for candidate in candidates:
            score = self.pair_score(vector, terms, candidate)
            if score >= best_score:
                best, best_score = candidate.story, score
        return best


def nearest_rows(vectors: np.ndarray, vector: np.ndarray, k: int = CANDIDATES) -> np.ndarray:
    """Rows of the `k` vectors with the highest cosine to `vector` (unit vectors), best first."""
    if len(vectors) == 0:
        return np.zeros(0, dtype=np.int64)
    scores = vectors @ vector
    if len(scores) <= k:
        return np.argsort(-scores, kind="stable")
    top = np.argpartition(-scores, k)[:k]
    return top[np.argsort(-scores[top], kind="stable")]
