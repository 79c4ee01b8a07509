"""Hybrid search inside PostgreSQL: pgvector proposes the nearest chunks, the German full-text index
proposes the chunks that share words with the question, one statement scores every candidate
(dense cosine, best sentence, BM25) and `fusion.fuse_scores` ranks them exactly as the embedded
store does.

Full-text ranking: Postgres' `ts_rank_cd` knows no inverse document frequency, so a common word
counts as much as a rare name. Here BM25 is computed in SQL from the tsvector (term frequency from
the lexeme positions, document frequency from the `lexemes` table the writers keep), with bm25s'
parameters; `ts_rank_cd` stays selectable (`lexical_scoring="ts_rank"`) so the bench measures
what it costs.

Filters (date range, outlet) run inside the vector index scan with pgvector's iterative scans:
without them HNSW returns its `ef_search` nearest rows and the filter then drops most of them, so
a filtered search silently returns fewer hits than asked.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from config.settings import Settings
from models.embedders import Embedder, load_embedder
from retrieval.errors import ModelMismatchError
from retrieval.fusion import fuse_scores, with_best_sentence
from retrieval.store_protocol import BuildInfo, Mode, SearchResult, prepare_query
from retrieval.stores.postgres.reconnect import retry_on_lost_connection
from retrieval.stores.postgres.store import (
    BM25_B,
    BM25_K1,
    SENTENCE_BITS,
    TEXT_CONFIG,
    PgCorpus,
    PgStore,
    connect,
    full_text_input,
)
from retrieval.time_window import TimeWindow
from retrieval.types import Chunk, Hit, SearchTimings

logger = logging.getLogger(__name__)

LexicalScoring = Literal["bm25", "ts_rank"]
IterativeScan = Literal["relaxed_order", "strict_order", "off"]


@dataclass(frozen=True)
class SearchFilter:
    """Restrict a search to articles published in [published_from, published_to], to one outlet and/or
    to articles not in `excluded` (doc ids): the SQL form of `search`'s `window`, `outlet` and
    `exclude_docs`.

    Dates are ISO strings (YYYY-MM-DD) and compare as text, as they are stored."""

    published_from: str | None = None
    published_to: str | None = None
    outlet: str | None = None
    month_day: str | None = None  # "10-24": that day of any year (a question naming "24 October")
    excluded: frozenset[str] = frozenset()

    @classmethod
    def of_window(cls, window: TimeWindow) -> SearchFilter:
        """The filter of a time window (retrieval/time_window.py); undated articles fall outside, as in the embedded store."""
        return cls(
            published_from=window.since.isoformat() if window.since else None,
            published_to=window.until.isoformat() if window.until else None,
            month_day=f"{window.month_day[0]:02d}-{window.month_day[1]:02d}" if window.month_day else None,
        )

    def sql(self) -> tuple[str, dict[str, Any]]:
        parts: list[str] = ["TRUE"]
        params: dict[str, Any] = {}
        if self.published_from:
            parts.append("c.published >= %(published_from)s")
            params["published_from"] = self.published_from
        if self.published_to:
            parts.append("c.published <= %(published_to)s")
            params["published_to"] = self.published_to
        if self.outlet:
            parts.append("c.outlet = %(outlet)s")
            params["outlet"] = self.outlet
        if self.month_day:
            parts.append("substr(c.published, 6, 5) = %(month_day)s")
            params["month_day"] = self.month_day
        if self.excluded:
            parts.append("c.article_no NOT IN (SELECT no FROM articles WHERE doc_id = ANY(%(excluded)s))")
            params["excluded"] = sorted(self.excluded)
        return " AND ".join(parts), params


_LEXICAL_SCORE = {
    # BM25 (Lucene idf, as bm25s) of chunk c for the query lexemes, from the tsvector's positions.
    "bm25": """(SELECT coalesce(sum(ln(1 + (st.chunks - l.chunks + 0.5) / (l.chunks + 0.5))
                     * cardinality(u.positions) * (%(k1)s + 1)
                     / (cardinality(u.positions) + %(k1)s * (1 - %(b)s + %(b)s * c.tokens / st.avgdl))), 0)
                FROM unnest(c.tsv) u JOIN lexemes l ON l.lexeme = u.lexeme
                WHERE u.lexeme IN (SELECT unnest(lx) FROM q))""",
    "ts_rank": "ts_rank_cd(c.tsv, (SELECT tsq FROM q))",
}

_SEARCH_SQL = """
WITH q AS (
    SELECT array_agg(u.lexeme) AS lx, string_agg(quote_literal(u.lexeme), ' | ')::tsquery AS tsq
    FROM unnest(to_tsvector('{config}', %(text)s)) u
), st AS (
    SELECT chunks::float8 AS chunks, greatest(tokens::float8 / greatest(chunks, 1), 1) AS avgdl FROM corpus_stats
), dense AS MATERIALIZED (
    SELECT c.id FROM chunks c WHERE {where} ORDER BY c.embedding <#> %(vector)s LIMIT %(pool)s
), lexical AS MATERIALIZED (
    SELECT c.id, {score} AS score FROM chunks c, st
    WHERE {lexical_on} AND c.tsv @@ (SELECT tsq FROM q) AND {where}
    ORDER BY score DESC LIMIT %(pool)s
), candidates AS (
    SELECT id FROM dense UNION SELECT id FROM lexical WHERE score > 0
)
SELECT c.id, c.article_no, c.position, c.start, c."end", c.first_sentence, c.last_sentence, c.language,
       -(c.embedding <#> %(vector)s) AS dense,
       (SELECT max(-(s.embedding <#> %(vector)s)) FROM sentences s
         WHERE s.article_no = c.article_no AND s.position BETWEEN c.first_sentence AND c.last_sentence) AS best_sentence,
       {lexical_select} AS lexical
FROM candidates JOIN chunks c USING (id), st
ORDER BY c.id
"""


class PgRetriever:
    """The `store_protocol.Retriever` of a PostgreSQL collection; `data` is its `Corpus`.

    `data` is a fresh `PgCorpus` per search on each thread, so one question reads one consistent set
    of articles while other processes keep writing.
    """

    def __init__(
        self,
        store: PgStore,
        info: BuildInfo,
        embedder: Embedder,
        settings: Settings,
        lexical_scoring: LexicalScoring = "bm25",
        iterative_scan: IterativeScan = "relaxed_order",
    ) -> None:
        if info.model_id != embedder.model_id or info.dimension != embedder.dimension:
            raise ModelMismatchError(
                f"the database was built with {info.model_id} ({info.dimension} dimensions) but the configured "
                f"model is {embedder.model_id} ({embedder.dimension} dimensions); set "
                f"NEWSBOT_EMBEDDING_MODEL={info.model_id} or index into a new database"
            )
        self.store = store
        self.info = info
        self.embedder = embedder
        self.settings = settings
        self.lexical_scoring = lexical_scoring
        self.iterative_scan = iterative_scan
        self._local = threading.local()

    @classmethod
    def load(cls, settings: Settings, embedder: Embedder | None = None) -> PgRetriever:
        url = settings.retrieval.database_url
        assert url is not None, "PgRetriever needs NEWSBOT_DATABASE_URL"
        store = PgStore(url.get_secret_value())
        info = store.require_build_info()
        store.add_date_columns()  # a database written before articles said where their date comes from
        if embedder is None:
            if info.model_id != settings.models.embedding_model:
                raise ModelMismatchError(
                    f"the database was built with {info.model_id} but the configured model is "
                    f"{settings.models.embedding_model}; set NEWSBOT_EMBEDDING_MODEL={info.model_id}"
                )
            embedder = load_embedder(settings)
        return cls(store, info, embedder, settings)

    def _connection(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = self._local.conn = connect(self.store.url, autocommit=True)
        return conn

    @property
    def data(self) -> PgCorpus:
        corpus = getattr(self._local, "corpus", None)
        if corpus is None:
            corpus = self._local.corpus = self._corpus(self._connection())
        return corpus

    def _corpus(self, conn: Any) -> PgCorpus:
        """A view for one question; its lazy loads after the search wait for a restarted server too."""
        return PgCorpus(conn, self.info, self._reconnected, self.settings.retrieval.database_reconnect_s)

    def _reconnected(self) -> Any:
        """A new connection for this thread (the view that asks for it closed the broken one and keeps
        the articles it holds)."""
        self._local.conn = None
        return self._connection()

    @property
    def size(self) -> int:
        return int(self._connection().execute("SELECT chunks FROM corpus_stats").fetchone()[0])

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

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
        """`store_protocol.Retriever.search`, its filters run inside the vector index scan.

        A server that went away (restarted) is waited for as `retrieval/stores/postgres/reconnect.py` says."""
        filters = SearchFilter(outlet=outlet, excluded=frozenset(exclude_docs))
        if window is not None and not window.open:
            dates = SearchFilter.of_window(window)
            filters = replace(filters, published_from=dates.published_from, published_to=dates.published_to,
                              month_day=dates.month_day)  # fmt: skip
        return retry_on_lost_connection(
            lambda: self._search_once(query, k, mode, language, query_vector, filters),
            self._drop_connection,
            self.settings.retrieval.database_reconnect_s,
        )

    def _drop_connection(self) -> None:
        """Forget this thread's connection and corpus (broken by a server restart); the next use reconnects."""
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        self._local.corpus = None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                logger.debug("closing a broken database connection failed", exc_info=True)

    def _search_once(
        self,
        query: str,
        k: int | None,
        mode: Mode,
        language: str | None,
        query_vector: np.ndarray | None,
        filters: SearchFilter,
    ) -> SearchResult:
        k = k or self.settings.retrieval.top_k
        timings = SearchTimings()
        language, query_vector = prepare_query(self.embedder, query, language, query_vector, timings)
        t1 = time.perf_counter()
        conn = self._connection()
        corpus = self._local.corpus = self._corpus(conn)

        pool = max(50, 5 * k)
        where, params = filters.sql()
        score = _LEXICAL_SCORE[self.lexical_scoring]
        sql = _SEARCH_SQL.format(
            config=TEXT_CONFIG,
            where=where,
            score=score,
            lexical_on="TRUE" if mode != "dense" else "FALSE",
            lexical_select=score if mode != "dense" else "NULL::float8",
        )
        from pgvector import HalfVector

        params.update(
            text=full_text_input(query), vector=HalfVector(np.asarray(query_vector, dtype=np.float32)), pool=pool,
            k1=BM25_K1, b=BM25_B,
        )  # fmt: skip
        if mode == "lexical":
            sql = sql.replace("LIMIT %(pool)s\n), lexical", "LIMIT 0\n), lexical", 1)
        with conn.transaction():
            conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(min(1000, max(40, pool))),))
            conn.execute("SELECT set_config('hnsw.iterative_scan', %s, true)", (self.iterative_scan,))
            rows = conn.execute(sql, params, binary=True).fetchall()
        t2 = time.perf_counter()
        timings.dense = t2 - t1  # one statement does both; the split is not observable from outside
        if not rows:
            timings.fusion = time.perf_counter() - t2
            return SearchResult(query, language, query_vector, [], timings)

        corpus.load(nos=[r[1] for r in rows])
        dense = np.array([r[8] for r in rows], dtype=np.float32)
        best = np.array([r[9] if r[9] is not None else r[8] for r in rows], dtype=np.float32)
        lexical = np.array([r[10] or 0.0 for r in rows], dtype=np.float32) if mode != "dense" else None
        if mode == "dense":
            fused = dense
        elif mode == "lexical":
            assert lexical is not None
            fused = lexical
        else:
            assert lexical is not None
            r = self.settings.retrieval
            chunk_language = np.array([row[7] for row in rows])
            weight = np.where(chunk_language == language, r.lexical_weight_same_language, r.lexical_weight_cross_language)
            fused = fuse_scores(with_best_sentence(dense, best, r.sentence_weight_for(self.info.chunk_vectors)), lexical, weight)
        order = np.argsort(-fused, kind="stable")[:k]
        hits = []
        for i in order:
            _, no, position, start, end, first, last, *_ = rows[int(i)]
            loaded = corpus.loaded(no)
            if loaded is None:  # deleted between the search and the fetch; the next search won't see it
                continue
            article = loaded.article
            chunk = Chunk(article.doc_id, position, start, end, article.text[start:end], first, last)
            hits.append(
                Hit(
                    chunk=chunk,
                    article=article,
                    lexical=float(lexical[i]) if lexical is not None else None,
                    dense=float(dense[i]) if mode != "lexical" else None,
                    fused=float(fused[i]),
                )
            )
        timings.fusion = time.perf_counter() - t2
        return SearchResult(query, language, query_vector, hits, timings)


__all__ = ["SENTENCE_BITS", "PgRetriever", "SearchFilter"]
