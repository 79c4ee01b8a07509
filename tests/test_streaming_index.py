"""An index build streams (issue 11): articles go through splitting, embedding and writing a batch at a
time, so what a build holds does not grow with the collection, and the index it writes is the same
whatever the batch size."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from retrieval.stores.embedded.indexer import build_index
from retrieval.stores.embedded.search import EmbeddedRetriever
from retrieval.stores.embedded.store import list_generations, load_index
from tests.conftest import SEEDS, make_settings
from tests.numeric_paths import BF16_BATCHING_ATOL

pytestmark = pytest.mark.slow


def test_a_build_writes_one_batch_at_a_time_and_equals_a_one_batch_build(tmp_path: Path, fp32_embedder) -> None:
    """In float32 (pinned: the one numeric path whose vectors do not depend on the batch) the streamed
    index equals the one-batch index to float rounding."""
    articles = len(list(SEEDS.glob("*.txt")))
    streamed = make_settings(tmp_path / "streamed", NEWSBOT_INDEX_BATCH_ARTICLES="2", NEWSBOT_EMBEDDING_PRECISION="fp32")
    whole = make_settings(tmp_path / "whole", NEWSBOT_INDEX_BATCH_ARTICLES="1000", NEWSBOT_EMBEDDING_PRECISION="fp32")
    e5_embedder = fp32_embedder

    in_batches = build_index([SEEDS], streamed, embedder=e5_embedder)
    at_once = build_index([SEEDS], whole, embedder=e5_embedder)

    assert in_batches.batches_written == math.ceil(articles / 2) and at_once.batches_written == 1
    a, b = load_index(streamed.index_dir), load_index(whole.index_dir)
    assert a.info.chunk_vectors == b.info.chunk_vectors == "pooled"
    assert a.articles == b.articles and a.chunks == b.chunks
    assert a.sentences == b.sentences  # near-duplicate groups included: they span batches
    assert any(s.dup_group is not None for s in a.sentences), "the seeds repeat wire sentences across articles"
    # Vectors agree to float rounding (a batch pads its texts with different neighbours).
    np.testing.assert_allclose(a.sentence_vectors, b.sentence_vectors, atol=1e-5)
    np.testing.assert_allclose(a.chunk_vectors, b.chunk_vectors, atol=1e-5)
    assert a.faiss_index.ntotal == b.faiss_index.ntotal == len(a.chunks)
    for query in ("Kursk", "Wie viele Soldaten schickte Nordkorea?"):
        np.testing.assert_allclose(a.lexical.scores(query), b.lexical.scores(query), rtol=1e-6)
        hits_a = EmbeddedRetriever(a, e5_embedder, streamed).search(query, k=5).hits
        hits_b = EmbeddedRetriever(b, e5_embedder, whole).search(query, k=5).hits
        assert [(h.chunk.doc_id, h.chunk.position) for h in hits_a] == [(h.chunk.doc_id, h.chunk.position) for h in hits_b]
    assert not any(p.name.startswith(".tmp-gen-") for p in streamed.index_dir.iterdir())  # staging became the generation
    assert len(list_generations(streamed.index_dir)) == 1


def test_under_bf16_a_streamed_build_gives_the_one_batch_builds_search_results_and_duplicate_groups(
    tmp_path: Path, bf16_embedder
) -> None:
    """bf16 (native where the CPU has the units, emulated elsewhere) rounds a vector differently with
    the batch it was padded in (measured: `BF16_BATCHING_ATOL`), so for bf16 the streaming writer
    promises what a user sees: the same articles, chunks, sentences and duplicate groups, the same
    search results, and vectors within the measured batching tolerance."""
    streamed = make_settings(tmp_path / "streamed", NEWSBOT_INDEX_BATCH_ARTICLES="2", NEWSBOT_EMBEDDING_PRECISION="bf16")
    whole = make_settings(tmp_path / "whole", NEWSBOT_INDEX_BATCH_ARTICLES="1000", NEWSBOT_EMBEDDING_PRECISION="bf16")
    build_index([SEEDS], streamed, embedder=bf16_embedder)
    build_index([SEEDS], whole, embedder=bf16_embedder)
    a, b = load_index(streamed.index_dir), load_index(whole.index_dir)
    assert a.info.precision == b.info.precision == "bf16"
    assert a.articles == b.articles and a.chunks == b.chunks and a.sentences == b.sentences
    assert any(s.dup_group is not None for s in a.sentences)
    np.testing.assert_allclose(a.sentence_vectors, b.sentence_vectors, atol=BF16_BATCHING_ATOL)
    np.testing.assert_allclose(a.chunk_vectors, b.chunk_vectors, atol=BF16_BATCHING_ATOL)
    for query in ("Kursk", "Wie viele Soldaten schickte Nordkorea?", "Who is Leonid Slutsky?"):
        hits_a = EmbeddedRetriever(a, bf16_embedder, streamed).search(query, k=5).hits
        hits_b = EmbeddedRetriever(b, bf16_embedder, whole).search(query, k=5).hits
        assert [(h.chunk.doc_id, h.chunk.position) for h in hits_a] == [(h.chunk.doc_id, h.chunk.position) for h in hits_b]


def test_a_build_that_fails_midway_leaves_no_partial_generation(tmp_path: Path, e5_embedder) -> None:
    """The streamed generation stays in its staging folder until it is complete: a failure after some
    batches were written deletes it and the previous generation stays current."""
    settings = make_settings(tmp_path / "data", NEWSBOT_INDEX_BATCH_ARTICLES="2")
    build_index([next(SEEDS.glob("000_*.txt"))], settings, embedder=e5_embedder)
    before = load_index(settings.index_dir)

    class FailsOnThirdCall:
        """The real model, failing from its third bulk call on (the machine running out of memory after
        the first batch was written): only the failure is injected, everything else is real."""

        def __init__(self) -> None:
            self.calls = 0
            self.model_id, self.dimension, self.backend = e5_embedder.model_id, e5_embedder.dimension, e5_embedder.backend
            self.precision = "fp32"

        def embed_queries(self, texts):  # type: ignore[no-untyped-def]
            return e5_embedder.embed_queries(texts)

        def embed_passages(self, texts, batch_size=None):  # type: ignore[no-untyped-def]
            return e5_embedder.embed_passages(texts, batch_size)

        def embed_corpus(self, texts, batch_size=None):  # type: ignore[no-untyped-def]
            self.calls += 1
            if self.calls > 2:
                raise MemoryError("out of memory while embedding")
            return e5_embedder.embed_corpus(texts, batch_size)

    with pytest.raises(MemoryError):
        build_index([SEEDS], settings, embedder=FailsOnThirdCall())  # type: ignore[arg-type]
    assert not any(p.name.startswith(".tmp-gen-") for p in settings.index_dir.iterdir())
    after = load_index(settings.index_dir)
    assert after.articles == before.articles and len(after.chunks) == len(before.chunks)
