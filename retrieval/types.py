"""The plain data that flows through retrieval: articles, their sentences and chunks, and search hits.

Offsets (`start`, `end`) always index the article's cleaned text, so `article.text[start:end]`
is exactly what is shown to a user.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Article:
    """One cleaned article with the metadata a citation needs."""

    doc_id: str
    title: str
    text: str
    content_hash: str
    source_path: str
    published: str | None = None  # ISO date (YYYY-MM-DD) of the article itself
    url: str | None = None
    outlet: str | None = None
    language: str = "de"


@dataclass(frozen=True)
class Sentence:
    """A sentence of an article; `dup_group` is shared by near-identical sentences across articles."""

    doc_id: str
    position: int
    start: int
    end: int
    text: str
    dup_group: int | None = None


@dataclass(frozen=True)
class Chunk:
    """Consecutive whole sentences of one article, the unit that is embedded and searched."""

    doc_id: str
    position: int
    start: int
    end: int
    text: str
    first_sentence: int
    last_sentence: int  # inclusive


def first_sentence_rows(sentences: Sequence[Sentence]) -> dict[str, int]:
    """Row of each article's first sentence in a list that holds every article's sentences
    contiguously and in order (the layout of an index); sentence `position` p of article `d` is at
    row `first_sentence_rows(...)[d] + p`."""
    rows: dict[str, int] = {}
    for row, sentence in enumerate(sentences):
        rows.setdefault(sentence.doc_id, row)
    return rows


@dataclass(frozen=True)
class Hit:
    """A ranked chunk with the scores that ranked it (None: that retriever did not find it)."""

    chunk: Chunk
    article: Article
    lexical: float | None
    dense: float | None
    fused: float


@dataclass
class SearchTimings:
    """Seconds spent per retrieval stage, for benchmarks and logs."""

    query_embedding: float = 0.0
    lexical: float = 0.0
    dense: float = 0.0
    fusion: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)
