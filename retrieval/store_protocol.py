"""The one interface of the two stores in `retrieval/stores/`: what the answerer reads (`Corpus`: the
embedded `IndexData`, everything in memory, and the PostgreSQL `PgCorpus`, fetched per question) and
how it searches (`Retriever`: `EmbeddedRetriever` and `PgRetriever`, with one `search` signature).
Above `retrieval/`, code types against these and never imports a store's own classes;
`retrieval/backends.py` picks the store.

Sentence ids are integers; `sentence_base[doc_id] + position` is the id of an article's sentence,
and `sentences[sid - 1]` is the sentence before it when it belongs to the same article.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sized
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from config.settings import Settings
from models.embedders import Embedder
from retrieval.language import detect_language
from retrieval.story_linking import StoryMember
from retrieval.time_window import TimeWindow
from retrieval.types import Article, Chunk, Hit, SearchTimings, Sentence

# 2: BM25 tokens join digit groups written with spaces ("12 000"; retrieval/numbers.py).
# 3: articles say where their date comes from (`Article.date_source`, `fallback_date`). A schema-2
# index is read as is (its undated articles dated by the day they entered the collection, marked
# "indexed") and the next `newsbot index` writes schema 3; older ones are rebuilt.
SCHEMA_VERSION = 3
READABLE_SCHEMAS = (2, 3)


@dataclass(frozen=True)
class BuildInfo:
    """How an index was built; a query must use the same model."""

    model_id: str
    backend: str
    dimension: int
    index_type: str
    chunk_sentences: int
    chunk_overlap: int
    chunk_max_chars: int
    chunk_vectors: str = "embedded"  # indexes written before the setting existed embedded their chunks
    sentence_vectors: str = "embedded"  # "late": from the chunks' pass (retrieval.stores.embedded.indexer)
    precision: str = "fp32"  # number format the vectors were computed in (models.precision)
    schema_version: int = SCHEMA_VERSION
    created: float = 0.0


@runtime_checkable
class DocumentFrequencies(Protocol):
    def document_frequency(self, token: str) -> int:
        """How many chunks hold the (stemmed) word."""
        ...


@runtime_checkable
class SentenceLookup(Protocol):
    def __getitem__(self, sid: int) -> Sentence: ...

    def __len__(self) -> int: ...


@runtime_checkable
class Corpus(Protocol):
    """The read side of a store, as `answers/` uses it."""

    # Read-only properties: each store holds them as it likes (a dict, a lazy mapping).
    @property
    def info(self) -> BuildInfo: ...
    @property
    def articles(self) -> Mapping[str, Article]: ...
    @property
    def sentences(self) -> Any: ...  # SentenceLookup: a list for IndexData, a lazy lookup for PgCorpus
    @property
    def sentence_vectors(self) -> Any: ...  # indexable by one id or an array of ids, like a numpy matrix
    @property
    def sentence_base(self) -> Mapping[str, int]: ...
    @property
    def group_docs(self) -> Mapping[int, tuple[str, ...]]: ...
    @property
    def chunks(self) -> Sized: ...  # only counted: the collection's size in word statistics
    @property
    def lexical(self) -> DocumentFrequencies | None: ...  # None: an index without BM25 statistics
    @property
    def in_memory(self) -> bool:
        """Whether the whole collection is loaded for the life of the index (the embedded store), so
        work over all of it is worth keeping; a database's corpus is a per-search view."""
        ...

    def article_sentence_ids(self, doc_id: str) -> range:
        """The ids of all the article's sentences; each store answers from what it already holds."""
        ...

    def story_members(self, doc_ids: Iterable[str] | None = None) -> list[StoryMember]:
        """Every article of the stories `doc_ids` belong to (of every story when None), with the
        story each was linked to at index time (retrieval/story_linking.py)."""
        ...

    def cross_story_groups(self, doc_ids: Iterable[str] | None = None) -> frozenset[int]:
        """Near-duplicate groups of `doc_ids`' sentences (all when None) that articles of more than
        one story carry: boilerplate, never corroboration."""
        ...

    def several_stories(self) -> bool:
        """Whether the whole collection holds more than one story (answered without counting them all)."""
        ...


def chunk_sentence_ids(corpus: Corpus, chunk: Chunk) -> range:
    """The ids of a chunk's sentences."""
    first = corpus.sentence_base[chunk.doc_id]
    return range(first + chunk.first_sentence, first + chunk.last_sentence + 1)


Mode = Literal["hybrid", "dense", "lexical"]


@dataclass
class SearchResult:
    """Ranked hits plus what the answerer reuses (the query vector and language)."""

    query: str
    language: str
    query_vector: np.ndarray
    hits: list[Hit]
    timings: SearchTimings
    # The publication window the hits were limited to: what the answerer reads beyond the hits (a
    # story's other articles, for its figures) must be limited to it too.
    window: TimeWindow | None = None


def prepare_query(
    embedder: Embedder, query: str, language: str | None, query_vector: np.ndarray | None, timings: SearchTimings
) -> tuple[str, np.ndarray]:
    """The query's language (detected unless given) and vector (embedded unless given: benchmarks embed
    questions in batches), recording the embedding time; every store's search starts here."""
    language = language or detect_language(query)
    started = time.perf_counter()
    if query_vector is None:
        query_vector = embedder.embed_queries([query])[0]
    timings.query_embedding = time.perf_counter() - started
    return language, query_vector


@runtime_checkable
class Retriever(Protocol):
    """A loaded store's search, loaded once and shared by every request; `data` is what the answerer
    reads for the hits of the last search on this thread."""

    embedder: Embedder
    settings: Settings

    @property
    def data(self) -> Corpus: ...
    @property
    def size(self) -> int: ...

    def search(
        self,
        query: str,
        k: int | None = None,
        mode: Mode = "hybrid",
        language: str | None = None,
        query_vector: np.ndarray | None = None,
        exclude_docs: frozenset[str] = frozenset(),
        window: TimeWindow | None = None,
        outlet: str | None = None,
    ) -> SearchResult:
        """The top `k` chunks for `query` (settings' `top_k` when None); scores of retrievers not used by
        `mode` are None.

        `query_vector` skips embedding the query (benchmarks embed thousands of questions in batches).
        `exclude_docs` searches as if those articles were not indexed (the answers benchmark asks
        questions with their article left out). `window` searches only articles published in it
        (retrieval/time_window.py; undated articles fall outside a closed window), `outlet` only
        articles of that outlet.
        """
        ...
