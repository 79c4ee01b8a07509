"""Processes for the concurrency test: writers add synthetic articles (known sentence and chunk
counts, vectors drawn at random), readers check that every article they see is complete."""

from __future__ import annotations

import hashlib
import time

import numpy as np

from retrieval.store_protocol import BuildInfo
from retrieval.stores.postgres.store import ArticleRows, PgCorpus, PgStore, connect
from retrieval.types import Article, Chunk, Sentence

DIM = 16
INFO = BuildInfo("synthetic-unit-vectors", "none", DIM, "pgvector-hnsw", 2, 0, 900, "embedded")


def synthetic_article(doc_id: str, sentences: int, rng: np.random.Generator, outlet: str = "Kurier",
                      published: str = "2024-01-01") -> ArticleRows:  # fmt: skip
    """An article of `sentences` sentences in chunks of two; its title records the counts."""
    parts = [f"Satz {i} des Artikels {doc_id} über Haushalt und Renten." for i in range(sentences)]
    text = " ".join(parts)
    spans, start = [], 0
    for part in parts:
        spans.append((start, start + len(part)))
        start += len(part) + 1
    chunk_count = (sentences + 1) // 2
    article = Article(doc_id, f"{sentences} sentences {chunk_count} chunks", text,
                      hashlib.sha256(text.encode()).hexdigest(), f"/nowhere/{doc_id}.txt", published, None, outlet, "de")  # fmt: skip
    sents = [Sentence(doc_id, i, s, e, text[s:e]) for i, (s, e) in enumerate(spans)]
    chunks = []
    for c in range(chunk_count):
        first, last = 2 * c, min(2 * c + 1, sentences - 1)
        s, e = spans[first][0], spans[last][1]
        chunks.append(Chunk(doc_id, c, s, e, text[s:e], first, last))

    def unit(n: int) -> np.ndarray:
        v = rng.standard_normal((n, DIM)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    return ArticleRows(article, sents, chunks, unit(sentences), unit(chunk_count))


def writer(url: str, name: str, articles: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    store = PgStore(url)
    done = 0
    while done < articles:
        batch = [synthetic_article(f"{name}-{done + i}", int(rng.integers(1, 12)), rng) for i in range(min(3, articles - done))]
        store.write(INFO, batch)
        done += len(batch)


def reader(url: str, seconds: float, out: object) -> None:
    """Reads everything repeatedly; puts (articles checked, problems) on the queue `out`."""
    conn = connect(url, autocommit=True)
    checked, problems = 0, []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        corpus = PgCorpus(conn, INFO)
        nos = [r[0] for r in conn.execute("SELECT no FROM articles")]
        corpus.load(nos=nos)
        for no in nos:
            loaded = corpus.loaded(no)
            if loaded is None:
                continue  # replaced meanwhile
            expected_sentences = int(loaded.article.title.split()[0])
            chunks = conn.execute("SELECT count(*) FROM chunks WHERE article_no = %s", (no,)).fetchone()[0]
            expected_chunks = int(loaded.article.title.split()[2])
            if len(loaded.sentences) != expected_sentences or chunks != expected_chunks:
                problems.append(f"{loaded.article.doc_id}: {len(loaded.sentences)} sentences, {chunks} chunks")
            checked += 1
    out.put((checked, problems))  # type: ignore[attr-defined]
