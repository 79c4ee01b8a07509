"""What the answerer reads from a store, whichever store it is: the embedded `IndexData` (everything
in memory) and the PostgreSQL `PgCorpus` (fetched per question) both have this shape.

Sentence ids are integers; `sentence_base[doc_id] + position` is the id of an article's sentence,
and `sentences[sid - 1]` is the sentence before it when it belongs to the same article.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

from retrieval.store import BuildInfo
from retrieval.story_linking import StoryMember
from retrieval.types import Article, Chunk, Sentence


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
