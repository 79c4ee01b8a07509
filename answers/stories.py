"""Stories: groups of articles that report the same event, and the boilerplate that is no story's.

Articles are grouped by the cosine of their vectors (the mean of their sentence vectors, which the
index already holds) with average-linkage agglomerative clustering cut at `STORY_SIMILARITY`. e5
vectors share one strong common direction (any two German news articles score about 0.95), so
the direction of an empty passage is projected out first; unlike centring on the collection's
mean, this works the same for five articles of one story as for thousands of many. A
sentence that recurs near-identically in articles of different stories ("Der Volltext dieses auf
Agenturmeldungen basierenden Artikels steht aus rechtlichen Gründen nicht mehr zur Verfügung.") is
boilerplate: it never counts as corroboration, and it is left out of the article vectors so that
it cannot pull unrelated articles together. Computed once per loaded index.
"""

from __future__ import annotations

import logging
import threading
import weakref
from dataclasses import dataclass

import numpy as np

from models.embedders import Embedder
from retrieval.store import IndexData

logger = logging.getLogger(__name__)

# Fitted by scripts/fit_story_threshold.py on the halves of 10kGNAD articles (two halves of one
# report = one story; 394 articles fit, 98 held out): adjusted Rand index 0.43 fit, 0.53 held out.
# On seeds + 10kGNAD the five seeds form one story that no 10kGNAD article joins. (XQuAD paragraphs
# as stories were tried first: a topic is looser than an event, and its threshold merged 379.)
STORY_SIMILARITY = 0.885
# A near-duplicate group this wide may be boilerplate; narrower groups (two copies) are kept in
# the vectors, since wire copies are what ties an event's articles together.
BOILERPLATE_MIN_ARTICLES = 3


TITLE_CHARS = 90


def short_title(title: str) -> str:
    """A title to head a group: files without a title line give their whole first paragraph."""
    if len(title) <= TITLE_CHARS:
        return title
    cut = title.rfind(" ", 0, TITLE_CHARS)
    return title[: cut if cut > 0 else TITLE_CHARS].rstrip(" ,;:–-") + " …"


@dataclass(frozen=True)
class Story:
    """Articles reporting the same event; `articles` newest first (undated last)."""

    articles: tuple[str, ...]
    outlets: tuple[str, ...]
    newest: str | None


@dataclass(frozen=True)
class StoryMap:
    """Every article's story, and the near-duplicate groups that are boilerplate."""

    stories: tuple[Story, ...]  # most outlets first, then most articles, then newest
    story_of: dict[str, int]  # doc_id -> index into `stories`
    boilerplate_groups: frozenset[int]


# Texts whose embeddings estimate the model's common direction (what every passage shares).
NEUTRAL_PASSAGES = ("", ".", "Text", "Artikel")


_common: dict[int, np.ndarray] = {}


def common_direction(embedder: Embedder) -> np.ndarray:
    """Unit vector of what the model gives every passage, estimated from contentless ones (once per embedder)."""
    cached = _common.get(id(embedder))
    if cached is None:
        mean = embedder.embed_passages(list(NEUTRAL_PASSAGES)).mean(axis=0)
        cached = _common[id(embedder)] = mean / (np.linalg.norm(mean) + 1e-9)
    return cached


def article_sentences(data: IndexData, doc_id: str) -> list[int]:
    """The sentence ids of one article; none when it is not in the collection (any store)."""
    try:
        return list(data.article_sentence_ids(doc_id))
    except KeyError:
        return []


def article_vectors(
    data: IndexData,
    common: np.ndarray | None = None,
    exclude_groups: frozenset[int] = frozenset(),
    doc_ids: list[str] | None = None,
) -> tuple[list[str], np.ndarray]:
    """Unit mean sentence vector per article (all, or `doc_ids`) with `common` projected out;
    sentences of `exclude_groups` are left out (all kept if none would remain)."""
    if doc_ids is None:
        doc_ids = sorted(data.articles)
        rows_of: dict[str, list[int]] = {d: [] for d in doc_ids}
        for sid, sentence in enumerate(data.sentences):
            rows_of[sentence.doc_id].append(sid)
    else:
        rows_of = {d: article_sentences(data, d) for d in doc_ids}
    vectors = np.zeros((len(doc_ids), data.info.dimension), dtype=np.float32)
    for i, doc_id in enumerate(doc_ids):
        rows = rows_of[doc_id]
        kept = [sid for sid in rows if data.sentences[sid].dup_group is None or data.sentences[sid].dup_group not in exclude_groups]
        rows = kept or rows
        if rows:
            mean = np.asarray(data.sentence_vectors[np.array(rows)]).mean(axis=0)
            if common is not None:
                mean = mean - (mean @ common) * common
            vectors[i] = mean / (np.linalg.norm(mean) + 1e-9)
    return doc_ids, vectors


def cluster(vectors: np.ndarray, similarity: float = STORY_SIMILARITY) -> np.ndarray:
    """A cluster label per row: average-linkage clusters whose mean cosine is at least `similarity`.

    scipy's hierarchical clustering (the same average linkage scikit-learn's AgglomerativeClustering
    runs) imports in ~0.4 s where scikit-learn takes ~1.2 s, which a first quantity question paid.
    """
    if len(vectors) < 2:
        return np.zeros(len(vectors), dtype=np.int64)
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist

    distances = np.clip(pdist(vectors.astype(np.float64), metric="cosine"), 0.0, 2.0)
    tree = linkage(distances, method="average")
    # Merges strictly closer than the cut join (as with scikit-learn's distance_threshold).
    return fcluster(tree, t=np.nextafter(1.0 - similarity, 0.0), criterion="distance").astype(np.int64) - 1


def build_story_map(
    data: IndexData, common: np.ndarray | None, similarity: float = STORY_SIMILARITY, doc_ids: list[str] | None = None
) -> StoryMap:
    """Stories of the whole index (or of the articles `doc_ids`, as a database view answers one
    question); a wide near-duplicate group spanning several stories is boilerplate."""
    docs = sorted(data.articles) if doc_ids is None else sorted(set(doc_ids))
    groups: dict[int, tuple[str, ...]] = (
        dict(data.group_docs) if doc_ids is None else _groups_of(data, docs)
    )
    wide = frozenset(g for g, members in groups.items() if len(members) >= BOILERPLATE_MIN_ARTICLES)
    docs, vectors = article_vectors(data, common, exclude_groups=wide, doc_ids=None if doc_ids is None else docs)
    labels = cluster(vectors, similarity)
    members_of: dict[int, list[str]] = {}
    for doc_id, label in zip(docs, labels.tolist()):
        members_of.setdefault(label, []).append(doc_id)
    stories = [_story(data, members) for members in members_of.values()]
    # Corroboration first (outlets, then articles carrying the story), recency among equals.
    stories.sort(key=lambda s: (-len(s.outlets), -len(s.articles), _descending(s.newest), s.articles[0]))
    story_of = {doc_id: i for i, story in enumerate(stories) for doc_id in story.articles}
    boilerplate = frozenset(
        g for g, members in groups.items() if len({story_of[d] for d in members if d in story_of}) > 1
    )
    logger.info(
        "%d articles in %d stories (%d with several articles); %d boilerplate sentence groups",
        len(docs), len(stories), sum(len(s.articles) > 1 for s in stories), len(boilerplate),
    )  # fmt: skip
    return StoryMap(stories=tuple(stories), story_of=story_of, boilerplate_groups=boilerplate)


def _groups_of(data: IndexData, doc_ids: list[str]) -> dict[int, tuple[str, ...]]:
    """The near-duplicate groups of these articles' sentences, each with every article carrying it."""
    groups = {data.sentences[sid].dup_group for d in doc_ids for sid in article_sentences(data, d)} - {None}
    return {g: tuple(data.group_docs[g]) for g in groups if g is not None}


def view_story_map(data: IndexData, doc_ids: list[str], embedder: Embedder) -> StoryMap:
    """Stories among the articles one question retrieved from a database corpus (a per-question
    view: the whole collection is not in memory). Corroboration is then counted among them."""
    return build_story_map(data, common_direction(embedder), doc_ids=doc_ids)


def _descending(date: str | None) -> tuple[int, str]:
    """Sort key putting the newest ISO date first and undated last."""
    if not date:
        return (1, "")
    return (0, "".join(chr(0x10FFFF - ord(ch)) for ch in date))


def _story(data: IndexData, doc_ids: list[str]) -> Story:
    ordered = sorted(doc_ids, key=lambda d: (_descending(data.articles[d].published), d))
    outlets = tuple(sorted({data.articles[d].outlet for d in doc_ids if data.articles[d].outlet}))
    return Story(articles=tuple(ordered), outlets=outlets, newest=data.articles[ordered[0]].published)


_cache: dict[int, tuple[weakref.ref[IndexData], StoryMap]] = {}
_lock = threading.Lock()


def story_map(data: IndexData, embedder: Embedder) -> StoryMap:
    """The index's stories, computed on first use and kept as long as the loaded index lives."""
    with _lock:
        cached = _cache.get(id(data))
    if cached is not None and cached[0]() is data:
        return cached[1]
    built = build_story_map(data, common_direction(embedder))
    with _lock:
        for key in [k for k, (ref, _) in _cache.items() if ref() is None]:
            del _cache[key]  # indexes that were replaced (an upload) and freed
        _cache[id(data)] = (weakref.ref(data), built)
    return built
