"""Story linking: whether a new article reports the same event as one already stored, decided once,
when the article is indexed (a story is one event, not a topic or a genre).

An article is described by two things: its vector (the mean of its sentence vectors, boilerplate
left out, with the model's common direction projected out: e5 gives any two German news texts a
cosine near 0.95) and the names it mentions (capitalised words, stemmed like BM25 and weighted by
how few of the stored articles name them, so "Pjöngjang" or "Rapid" counts and "Regierung" barely does).
Two football reports share a genre and a vocabulary but not the clubs; two reports of one summit
share the people and places. The pair score is a logistic model of the two similarities, and a new
article joins the story of its best-scoring near neighbour when that score clears the fitted
threshold, or opens a story of its own. Nothing already assigned is revisited, so adding an article
costs one nearest-neighbour look-up whatever the collection's size.

Both stores (retrieval/stores/embedded/, retrieval/stores/postgres/) use this one
linker; they differ only in where candidates and document frequencies come from.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from retrieval.lexical import tokenize

# Texts whose embeddings estimate the model's common direction (what every passage shares).
NEUTRAL_PASSAGES = ("", ".", "Text", "Artikel")
# A near-duplicate sentence group spanning this many articles is boilerplate ("Der Volltext dieses
# auf Agenturmeldungen basierenden Artikels ...") and is left out of article vectors and names;
# two copies are kept, since wire copies are what ties an event's articles together.
BOILERPLATE_MIN_ARTICLES = 3
# Nearest articles (by vector) whose stories a new article may join: a bound on the work per
# article, not a fitted value (linking compares with their stories' members, not with these alone).
CANDIDATES = 20
# Members of a story a new article is compared with (the most recent): a bound on the work per
# article for stories that grow for weeks; no story of the fitting data reaches it.
STORY_MEMBERS = 10

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


# Fitted by training/fit_story_linking.py on seeds + 10kGNAD (halves of one article = one event,
# different articles = different events; 394 articles fit, 98 + the 5 seeds held out; threshold by
# pair F0.5, precision first): held-out pair precision 0.934, recall 0.657, purity 0.985, where the
# average-linkage clustering this replaces scored 0.674 / 0.537 / 0.930 (BENCHMARKS.md, "Stories").
LINK_MODEL = LinkModel(intercept=-15.0493, cosine_weight=11.5399, names_weight=35.3916, threshold=0.7)


def common_direction_of(neutral_vectors: np.ndarray) -> np.ndarray:
    """Unit vector of what the model gives every passage, from the vectors of `NEUTRAL_PASSAGES`."""
    mean = np.asarray(neutral_vectors, dtype=np.float32).mean(axis=0)
    return mean / (np.linalg.norm(mean) + 1e-9)


def article_vector(sentence_vectors: np.ndarray, common: np.ndarray) -> np.ndarray:
    """Unit mean of an article's sentence vectors with `common` projected out (zeros for no sentence).

    Inputs and result are rounded to 16-bit floats, the precision PostgreSQL keeps (`halfvec`), so
    both stores compute the same vector from the same article and link it the same way."""
    if len(sentence_vectors) == 0:
        return np.zeros(len(common), dtype=np.float32)
    mean = np.asarray(sentence_vectors, dtype=np.float16).astype(np.float32).mean(axis=0)
    mean = mean - (mean @ common) * common
    return (mean / (np.linalg.norm(mean) + 1e-9)).astype(np.float16).astype(np.float32)


def name_words(text: str) -> list[str]:
    """The capitalised words of `text` (names, and in German every noun: the IDF weighting sorts them)."""
    return [m.group(0) for m in _NAME.finditer(text)]


def terms_of_words(words: Iterable[str]) -> frozenset[str]:
    """Stems (as BM25 stems them) of `name_words`; stopwords ("Die", "Im") drop out."""
    joined = " ".join(words)
    return frozenset(tokenize([joined])[0]) if joined else frozenset()


def named_terms(texts: Iterable[str]) -> frozenset[str]:
    """The stemmed names of `texts` (an article's sentences, boilerplate left out)."""
    return terms_of_words(w for text in texts for w in name_words(text))


@dataclass(frozen=True)
class StoryCandidate:
    """A stored article a new one may join: its story, vector and names."""

    doc_id: str
    story: int
    vector: np.ndarray
    terms: frozenset[str]


class StoryLinker:
    """Decides the story of a new article among its nearest stored articles.

    `document_frequency(stem)` is how many of the `documents` stored articles name the stem (their
    stored names, not BM25's chunk statistics: the two stores tokenise full text differently, and
    the same counts are what makes both link alike).
    """

    def __init__(
        self, document_frequency: Callable[[str], int], documents: int, model: LinkModel = LINK_MODEL
    ) -> None:
        self.document_frequency = document_frequency
        self.documents = max(documents, 1)
        self.model = model
        self._idf: dict[str, float] = {}

    def recount(self, documents: int) -> None:
        """The collection grew to `documents` articles (IDF values are cached until then)."""
        self.documents = max(documents, 1)
        self._idf = {}

    def idf(self, term: str) -> float:
        value = self._idf.get(term)
        if value is None:
            value = self._idf[term] = (
                math.log((self.documents + 1) / (self.document_frequency(term) + 1)) + 1.0
            )
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

    def link(
        self,
        vector: np.ndarray,
        terms: frozenset[str],
        candidates: Sequence[StoryCandidate],
        members_of: Callable[[list[int]], dict[int, list[StoryCandidate]]],
    ) -> int | None:
        """The story the article joins, or None when it opens a story of its own.

        The stories of the nearest articles (`candidates`) are scored by the mean pair score over
        their most recent members (`members_of(stories)`, up to `STORY_MEMBERS` each): average
        linkage, so one article sharing a place name with one report of a story does not pull a
        different event into it, as a best single link would."""
        stories = list(dict.fromkeys(c.story for c in candidates))
        best, best_score = None, self.model.threshold
        for story, members in members_of(stories).items():
            score = sum(self.pair_score(vector, terms, m) for m in members) / max(len(members), 1)
            if score >= best_score:
                best, best_score = story, score
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


@dataclass(frozen=True)
class StoryMember:
    """One article's place in the stories, with what ordering stories needs (both stores give these)."""

    doc_id: str
    story: int
    published: str | None
    outlet: str | None
    added: float  # when the article entered the collection (seconds since the epoch)
    date: str | None = None  # the best day known (`Article.date`: published, else fetched or indexed)


class NameColumn(Sequence[frozenset[str]]):
    """Stored names (space-joined stems), split only when read: questions never read them, linking
    does, and 100k frozensets cost hundreds of MB that a loaded index need not hold."""

    def __init__(self, joined: list[str]) -> None:
        self._joined = joined

    def __getitem__(self, row: int) -> frozenset[str]:  # type: ignore[override]
        return frozenset(self._joined[row].split())

    def __len__(self) -> int:
        return len(self._joined)


@dataclass
class StoryTable:
    """The stories of an in-memory collection, row-aligned: article `doc_ids[i]` is in story
    `stories[i]`, has vector `vectors[i]` and names `terms[i]`, and entered the collection at `added[i]`."""

    doc_ids: list[str]
    stories: list[int]
    added: list[float]
    terms: Sequence[frozenset[str]]
    vectors: np.ndarray
    _row: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._row = {d: i for i, d in enumerate(self.doc_ids)}

    def row(self, doc_id: str) -> int | None:
        return self._row.get(doc_id)

    def story_of(self, doc_id: str) -> int | None:
        row = self._row.get(doc_id)
        return None if row is None else self.stories[row]


@dataclass(frozen=True)
class ArticleFeatures:
    """What linking needs of a new article."""

    doc_id: str
    vector: np.ndarray
    terms: frozenset[str]


def link_stories(
    previous: StoryTable | None,
    kept: Sequence[str],
    new: Sequence[ArticleFeatures],
    now: float,
    model: LinkModel = LINK_MODEL,
) -> StoryTable:
    """The table of `kept` articles (their rows from `previous`) plus the `new` ones, each linked in
    order to the stories before it. Nothing kept is re-linked; a new article costs one look-up."""
    rows = [previous.row(d) for d in kept] if previous is not None else []
    keep = [(d, r) for d, r in zip(kept, rows) if r is not None]
    dimension = new[0].vector.shape[0] if new else (previous.vectors.shape[1] if previous is not None else 0)
    total = len(keep) + len(new)
    vectors = np.zeros((total, dimension), np.float32)
    doc_ids, stories, added, terms = [], [], [], []
    for i, (doc_id, r) in enumerate(keep):
        assert previous is not None
        vectors[i] = previous.vectors[r]
        doc_ids.append(doc_id)
        stories.append(previous.stories[r])
        added.append(previous.added[r])
        terms.append(previous.terms[r])
    named: Counter[str] = Counter(t for article_terms in terms for t in article_terms)
    linker = StoryLinker(named.__getitem__, 0, model)
    next_story = max(stories, default=-1) + 1
    rows_of: dict[int, list[int]] = {}
    for row, label in enumerate(stories):
        rows_of.setdefault(label, []).append(row)

    def members_of(wanted: list[int]) -> dict[int, list[StoryCandidate]]:
        """The most recent members of each story (by when they entered, then by id), as PostgreSQL orders them."""
        out = {}
        for story in wanted:
            recent = sorted(rows_of[story], key=lambda r: (added[r], doc_ids[r]), reverse=True)[
                :STORY_MEMBERS
            ]
            out[story] = [StoryCandidate(doc_ids[r], story, vectors[r], terms[r]) for r in recent]
        return out

    for article in new:
        linker.recount(len(doc_ids))
        n = len(doc_ids)
        candidates = [
            StoryCandidate(doc_ids[r], stories[r], vectors[r], terms[r])
            for r in nearest_rows(vectors[:n], article.vector).tolist()
        ]
        joined = linker.link(article.vector, article.terms, candidates, members_of)
        if joined is None:
            joined, next_story = next_story, next_story + 1
        story = joined
        rows_of.setdefault(story, []).append(n)
        vectors[n] = article.vector
        doc_ids.append(article.doc_id)
        stories.append(story)
        added.append(now)
        terms.append(article.terms)
        named.update(article.terms)
    return StoryTable(doc_ids, stories, added, terms, vectors)
