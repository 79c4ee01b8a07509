"""The plain data that flows through retrieval: articles, their sentences and chunks, and search hits.

Offsets (`start`, `end`) always index the article's cleaned text, so `article.text[start:end]`
is exactly what is shown to a user.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

# Where an article's date comes from: its source's own publication date (page metadata, feed item,
# header line), else the day newsbot fetched the page, else the day the article was first indexed.
DateSource = Literal["published", "fetched", "indexed"]


@dataclass(frozen=True)
class Article:
    """One cleaned article with the metadata a citation needs.

    `published` is only ever the source's own date. An article without one carries the day it was
    fetched or first indexed in `fallback_date`, with `date_source` saying which, so no front end
    shows that day as a publication date; `date` is the best day known (what time windows filter on).
    """

    doc_id: str
    title: str
    text: str
    content_hash: str
    source_path: str
    published: str | None = None  # ISO date (YYYY-MM-DD) of the article itself
    url: str | None = None
    outlet: str | None = None
    language: str = "de"
    date_source: DateSource | None = None  # None: no date known yet (an undated file before it is indexed)
    fallback_date: str | None = None  # without `published`: the ISO day it was fetched or first indexed

    @property
    def date(self) -> str | None:
        """The best day known: the publication day, else the day it was fetched or indexed."""
        return self.published or self.fallback_date


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
