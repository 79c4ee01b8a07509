"""What the answerer reads from a store, whichever store it is: the embedded `IndexData` (everything
in memory) and the PostgreSQL `PgCorpus` (fetched per question) both have this shape.

Sentence ids are integers; `sentence_base[doc_id] + position` is the id of an article's sentence,
and `sentences[sid - 1]` is the sentence before it when it belongs to the same article.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from retrieval.store import BuildInfo
from retrieval.types import Article, Chunk, Sentence


@runtime_checkable
class SentenceLookup(Protocol):
    def __getitem__(self, sid: int) -> Sentence: ...

    def __len__(self) -> int: ...


@runtime_checkable
class Corpus(Protocol):
    """The read side of a store, as `answers/` uses it."""

    info: BuildInfo
    articles: Mapping[str, Article]
    sentences: Any  # SentenceLookup: a list for IndexData, a lazy lookup for PgCorpus
    sentence_vectors: Any  # indexable by one id or an array of ids, like a numpy matrix
    sentence_base: Mapping[str, int]
    group_docs: Mapping[int, tuple[str, ...]]

    def article_sentence_ids(self, doc_id: str) -> range:
        """The ids of all the article's sentences; each store answers from what it already holds."""
        ...


def chunk_sentence_ids(corpus: Corpus, chunk: Chunk) -> range:
    """The ids of a chunk's sentences."""
    first = corpus.sentence_base[chunk.doc_id]
    return range(first + chunk.first_sentence, first + chunk.last_sentence + 1)
