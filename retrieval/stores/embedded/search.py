"""Hybrid search over the embedded index: the query is embedded once, BM25 and FAISS propose candidates,
each candidate's dense score is sharpened by its best-matching sentence, and `fusion.fuse_scores`
ranks them.

An `EmbeddedRetriever` (a `store_protocol.Retriever`) loads the index and model once and is then
shared by every request.
"""

from __future__ import annotations

import logging
import threading
import time

import numpy as np

from config.settings import Settings
from models.embedders import Embedder, load_embedder
from retrieval.dense import search_faiss
from retrieval.errors import ModelMismatchError
from retrieval.fusion import fuse_scores, with_best_sentence
from retrieval.store_protocol import Mode, SearchResult, prepare_query
from retrieval.stores.embedded.store import IndexData, load_index
from retrieval.time_window import TimeWindow
from retrieval.types import Hit, SearchTimings

logger = logging.getLogger(__name__)


class EmbeddedRetriever:
    """Hybrid retrieval over one loaded index generation."""

    def __init__(self, data: IndexData, embedder: Embedder, settings: Settings) -> None:
        if data.info.model_id != embedder.model_id or data.info.dimension != embedder.dimension:
            raise ModelMismatchError(
                f"the index was built with {data.info.model_id} ({data.info.dimension} dimensions) but the "
                f"configured model is {embedder.model_id} ({embedder.dimension} dimensions); run `newsbot index` "
                f"to rebuild it with the configured model, or set NEWSBOT_EMBEDDING_MODEL={data.info.model_id}"
            )
        self.data = data
        self.embedder = embedder
        self.settings = settings
        self._chunk_language = np.array([data.articles[c.doc_id].language for c in data.chunks])
        # Sentence ids of chunk i are _chunk_first[i] .. _chunk_first[i] + _chunk_sentences[i] - 1.
        self._chunk_first = np.array(
            [data.sentence_base[c.doc_id] + c.first_sentence for c in data.chunks], dtype=np.int64
        )
        self._chunk_sentences = np.array(
            [c.last_sentence - c.first_sentence + 1 for c in data.chunks], dtype=np.int64
        )
        self._lock = threading.Lock()  # FAISS and bm25s objects are shared by the bot's worker threads

    @classmethod
    def load(cls, settings: Settings, embedder: Embedder | None = None) -> EmbeddedRetriever:
        data = load_index(settings.index_dir)
        if embedder is None:
            # Check the model before loading it: loading the wrong one costs seconds and then fails anyway.
            if data.info.model_id != settings.models.embedding_model:
                raise ModelMismatchError(
                    f"the index was built with {data.info.model_id} but the configured model is "
                    f"{settings.models.embedding_model}; run `newsbot index` to rebuild it, or set "
                    f"NEWSBOT_EMBEDDING_MODEL={data.info.model_id}"
                )
            embedder = load_embedder(settings)
        return cls(data, embedder, settings)

    @property
    def size(self) -> int:
        return len(self.data.chunks)

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
        """`store_protocol.Retriever.search`. Excluded articles' chunks (by `exclude_docs`, `window` or
        `outlet`) never become candidates; BM25's and the answerer's word statistics still count
        them, on purpose (bench/answers.py says why)."""
        k = k or self.settings.retrieval.top_k
        timings = SearchTimings()
        language, query_vector = prepare_query(self.embedder, query, language, query_vector, timings)
        t1 = time.perf_counter()
        if window is not None and not window.open:
            exclude_docs = exclude_docs | window.outside((d, a.date) for d, a in self.data.articles.items())
        if outlet is not None:
            exclude_docs = exclude_docs | {d for d, a in self.data.articles.items() if a.outlet != outlet}
        if self.size == 0 or len(exclude_docs) >= len(self.data.articles):
            return SearchResult(query, language, query_vector, [], timings)

        masked = self._chunks_of(exclude_docs)
        pool = min(self.size, max(50, 5 * k))
        with self._lock:
            lexical_all = None
            if mode != "dense" and self.data.lexical is not None:
                lexical_all = self.data.lexical.scores(query)
                if masked.size:
                    lexical_all = lexical_all.copy()
                    lexical_all[masked] = 0.0
            t2 = time.perf_counter()
            dense_ids = np.zeros(0, dtype=np.int64)
            if mode != "lexical":
                _, dense_ids = search_faiss(
                    self.data.faiss_index, query_vector, min(self.size, pool + masked.size)
                )
                if masked.size:
                    dense_ids = dense_ids[~np.isin(dense_ids, masked)][:pool]
            t3 = time.perf_counter()
        timings.lexical = t2 - t1
        timings.dense = t3 - t2

        candidates = set(dense_ids.tolist())
        if lexical_all is not None and mode != "dense":
            top = np.argpartition(-lexical_all, min(pool, self.size) - 1)[:pool]
            candidates.update(int(i) for i in top if lexical_all[i] > 0)
        ids = np.fromiter(sorted(candidates), dtype=np.int64) if candidates else np.zeros(0, dtype=np.int64)
        dense = self.data.chunk_vectors[ids] @ query_vector if mode != "lexical" else None
        lexical = lexical_all[ids] if lexical_all is not None else None
        if mode == "dense":
            fused = dense
        elif mode == "lexical":
            fused = lexical
        else:
            assert dense is not None
            r = self.settings.retrieval
            weight = np.where(
                self._chunk_language[ids] == language,
                r.lexical_weight_same_language,
                r.lexical_weight_cross_language,
            )
            ranked_dense = with_best_sentence(
                dense,
                self.best_sentence_scores(ids, query_vector),
                r.sentence_weight_for(self.data.info.chunk_vectors),
            )
            fused = fuse_scores(
                ranked_dense, lexical if lexical is not None else np.zeros_like(dense), weight
            )
        assert fused is not None
        order = np.argsort(-fused, kind="stable")[:k]
        hits = [
            Hit(
                chunk=self.data.chunks[int(ids[i])],
                article=self.data.articles[self.data.chunks[int(ids[i])].doc_id],
                lexical=float(lexical[i]) if lexical is not None else None,
                dense=float(dense[i]) if dense is not None else None,
                fused=float(fused[i]),
            )
            for i in order
        ]
        timings.fusion = time.perf_counter() - t3
        return SearchResult(query, language, query_vector, hits, timings)

    def _chunks_of(self, doc_ids: frozenset[str]) -> np.ndarray:
        if not doc_ids:
            return np.zeros(0, dtype=np.int64)
        return np.array([i for i, c in enumerate(self.data.chunks) if c.doc_id in doc_ids], dtype=np.int64)

    def best_sentence_scores(self, ids: np.ndarray, query_vector: np.ndarray) -> np.ndarray:
        """Cosine of the query to the best-matching sentence of each chunk in `ids`."""
        if ids.size == 0:
            return np.zeros(0, dtype=np.float32)
        counts = self._chunk_sentences[ids]
        ends = np.cumsum(counts)
        starts = ends - counts
        rows = np.repeat(self._chunk_first[ids] - starts, counts) + np.arange(int(ends[-1]))
        scores = self.data.sentence_vectors[rows] @ query_vector
        return np.maximum.reduceat(scores, starts).astype(np.float32)

