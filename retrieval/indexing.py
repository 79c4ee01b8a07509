"""What both stores' index builds share: splitting an article into sentences and chunks, embedding
passages with progress reports, and the progress and report types the front ends render.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from config.settings import Settings
from models.embedders import Embedder
from retrieval.chunk import article_sentences, chunk_sentences
from retrieval.ingest import SkippedFile
from retrieval.types import Article, Chunk, Sentence

EMBED_SLICE = 64  # chunks (or texts) per progress step


@dataclass(frozen=True)
class IndexProgress:
    """How far an index build is, reported after every slice of embedded chunks.

    Counts are of the articles and chunks that need embedding in this run (unchanged articles reuse
    their vectors and are not counted), so the rate and the time left describe the real work.
    """

    articles_done: int
    articles_total: int
    chunks_done: int
    seconds: float
    precision: str = "fp32"

    @property
    def chunks_per_s(self) -> float:
        return self.chunks_done / self.seconds if self.seconds > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the pace so far (by articles, whose chunk count is not known before they are split)."""
        if self.articles_done <= 0 or self.seconds <= 0:
            return None
        return self.seconds * (self.articles_total - self.articles_done) / self.articles_done


ProgressCallback = Callable[[IndexProgress], None]
"""Called from the indexing thread; front ends render it (bot/progress.py), the core never prints."""


@dataclass
class IndexReport:
    """What an `index` run did, per article id."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    texts_embedded: int = 0
    chunks_encoded: int = 0  # chunks run through the encoder (late sentence vectors: one pass each)
    total_articles: int = 0
    total_chunks: int = 0
    total_sentences: int = 0
    embed_seconds: float = 0.0
    seconds: float = 0.0
    rebuilt_for_model: str | None = None
    wrote_index: bool = False
    precision: str | None = None
    sentence_vectors: str | None = None
    repaired: list[str] = field(default_factory=list)  # damage found in the current index and rebuilt
    batches_written: int = 0  # batches of articles streamed into the new generation

    @property
    def indexed_anything(self) -> bool:
        return self.total_articles > 0


def segment(article: Article, settings: Settings) -> tuple[list[Sentence], list[Chunk]]:
    r = settings.retrieval
    sentences = article_sentences(article)
    chunks = chunk_sentences(article, sentences, r.chunk_sentences, r.chunk_overlap, r.chunk_max_chars)
    return sentences, chunks


def embed_passages_with_progress(
    embedder: Embedder, texts: Sequence[str], batch_size: int, progress: ProgressCallback | None = None
) -> np.ndarray:
    """Embed `texts` in length-sorted slices, reporting the texts done as chunks after each slice
    (for callers that embed outside `update_index`, e.g. the PostgreSQL store)."""
    vectors = np.zeros((len(texts), embedder.dimension), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    started = time.perf_counter()
    for begin in range(0, len(order), EMBED_SLICE):
        ids = order[begin : begin + EMBED_SLICE]
        vectors[ids] = embedder.embed_corpus([texts[i] for i in ids], batch_size=batch_size)
        if progress:
            progress(IndexProgress(0, 0, begin + len(ids), time.perf_counter() - started))
    return vectors
