"""Stories at 1k, 20k and 100k articles: what adding an article and a figure question's story look-up
cost in each store, beside the question-time clustering they replace.

Real articles cannot be embedded by the hundred thousand on this CPU, so the collection is
synthetic but shaped like one: stories of three articles around points of
`bench.scale.clustered_vectors` (topic structure, as text embeddings have), each article naming its
story's own names beside common ones drawn from a Zipf vocabulary. What is timed is the product's own code:
`story_linking.link_stories` and the stories part of a generation (`GenerationWriter.set_stories`,
`store._load_stories`) for the embedded store, `PgStore.write` (which links the new article in its
transaction) and `PgCorpus.story_members` for PostgreSQL, and `answers.stories.story_map` for the
question. Memory is the growth of the process's peak RSS over each step.

    python -m bench.stories_scale [N ...]        # default 1000 20000 100000; prints JSON
"""

from __future__ import annotations

import gc
import json
import sqlite3
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from bench.coldstart import peak_rss_bytes
from bench.scale import clustered_vectors
from retrieval.store_protocol import BuildInfo
from retrieval.stores.embedded.store import STORIES_SCHEMA, IndexData, load_stories
from retrieval.story_linking import ArticleFeatures, StoryTable, link_stories
from retrieval.types import Article, Sentence

DIM = 384
VOCABULARY = 50_000
NAMES_PER_ARTICLE = 25
SIZES = (1_000, 20_000, 100_000)
QUICK_SIZES = (1_000, 20_000)
PAIRWISE_MAX = 5_000  # the old clustering's pdist needs n²/2 distances: 20k took 55 s and 3.5 GB


def synthetic_table(n: int, rng: np.random.Generator) -> StoryTable:
    """`n` articles in stories of three: each member is its story's centre (a `clustered_vectors`
    point) moved by a little noise, and names its story's own rare names beside common ones."""
    stories = (np.arange(n) // 3).tolist()
    centres = clustered_vectors(n // 3 + 1, DIM, rng)
    vectors = centres[stories] + rng.standard_normal((n, DIM), dtype=np.float32) * np.float32(0.02)
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float16).astype(np.float32)
    common = np.minimum(rng.zipf(1.3, size=(n, NAMES_PER_ARTICLE // 2)), VOCABULARY)
    terms = [
        frozenset(f"name{r}" for r in common[i].tolist())
        | {f"story{stories[i]}x{j}" for j in range(NAMES_PER_ARTICLE // 2)}
        for i in range(n)
    ]
    return StoryTable([f"a{i:07d}" for i in range(n)], stories, [0.0] * n, terms, vectors)


def synthetic_index(table: StoryTable) -> IndexData:
    info = BuildInfo("synthetic", "none", DIM, "flat", 4, 1, 900)
    articles = {
        d: Article(d, d, "Text.", d, d, published="2024-10-21", outlet=f"outlet{i % 50}")
        for i, d in enumerate(table.doc_ids)
    }
    sentences = [Sentence(d, 0, 0, 5, "Text.") for d in table.doc_ids]
    empty = np.zeros((0, DIM), np.float32)
    data = IndexData(info, articles, sentences, [], empty, np.zeros((len(sentences), DIM), np.float32))
    data.stories = table
    return data


def timed(step: Any) -> tuple[Any, float, int]:
    """(result, seconds, peak RSS growth in bytes) of `step()`."""
    gc.collect()
    before = peak_rss_bytes()
    started = time.perf_counter()
    result = step()
    return result, time.perf_counter() - started, max(0, peak_rss_bytes() - before)


def embedded(n: int, rng: np.random.Generator) -> dict[str, Any]:
    from answers.stories import story_map

    table = synthetic_table(n, rng)
    new = ArticleFeatures("new", table.vectors[n // 2], table.terms[n // 2])  # a report of an existing story
    linked, link_s, link_rss = timed(lambda: link_stories(table, table.doc_ids, [new], time.time()))
    with tempfile.TemporaryDirectory() as folder:
        generation = Path(folder)

        def write() -> None:
            db = sqlite3.connect(generation / "meta.sqlite")
            db.executescript(
                STORIES_SCHEMA + "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
            )
            db.executemany(
                "INSERT INTO article_stories VALUES (?, ?, ?, ?, ?)",
                [
                    (d, linked.stories[i], i, linked.added[i], " ".join(sorted(linked.terms[i])))
                    for i, d in enumerate(linked.doc_ids)
                ],
            )
            db.commit()
            db.close()
            np.save(generation / "article_vectors.npy", linked.vectors)

        _, write_s, _ = timed(write)
        loaded, load_s, load_rss = timed(lambda: load_stories(generation, DIM))
    data = synthetic_index(loaded)
    whole, map_s, map_rss = timed(lambda: story_map(data))
    around = [loaded.doc_ids[i] for i in rng.choice(n, 20, replace=False)]
    _, warm_s, _ = timed(lambda: [story_map(data, around=around) for _ in range(100)])
    result = {
        "link_one_article_s": round(link_s, 4), "link_peak_rss_growth_mb": round(link_rss / 2**20, 1),
        "joined_its_story": linked.stories[-1] == table.stories[n // 2],
        "write_stories_s": round(write_s, 3), "load_stories_s": round(load_s, 3), "load_peak_rss_growth_mb": round(load_rss / 2**20, 1),
        "first_question_story_map_s": round(map_s, 3), "story_map_peak_rss_growth_mb": round(map_rss / 2**20, 1),
        "warm_question_story_map_ms": round(warm_s * 10, 3), "stories": len(whole.stories),
    }  # fmt: skip
    if n <= PAIRWISE_MAX:
        from scipy.cluster.hierarchy import fcluster, linkage
        from scipy.spatial.distance import pdist

        def old() -> Any:
            tree = linkage(
                np.clip(pdist(table.vectors.astype(np.float64), metric="cosine"), 0.0, 2.0), method="average"
            )
            return fcluster(tree, t=1.0 - 0.885, criterion="distance")

        _, old_s, old_rss = timed(old)
        result["old_question_time_clustering_s"] = round(old_s, 3)
        result["old_peak_rss_growth_mb"] = round(old_rss / 2**20, 1)
    return result


def postgres(n: int, rng: np.random.Generator) -> dict[str, Any]:
    """The same collection in PostgreSQL: rows written by COPY, then one real `PgStore.write`."""
    from psycopg.types.json import Jsonb

    from bench.pg_scale import throwaway_server

    with throwaway_server() as server:
        return _postgres_in(server.get_uri("bench"), n, rng, Jsonb)


def _postgres_in(url: str, n: int, rng: np.random.Generator, jsonb: Any) -> dict[str, Any]:
    from retrieval.stores.postgres.search import PgCorpus
    from retrieval.stores.postgres.store import (
        ArticleRows,
        PgStore,
        _halfvec,
        _schema,
        _story_columns,
        connect,
    )

    info = BuildInfo("synthetic", "none", DIM, "pgvector-hnsw", 4, 1, 900)
    common = np.zeros(DIM, np.float32)
    common[0] = 1.0  # stands in for the model's common direction (no model here)
    store = PgStore(url)
    table = synthetic_table(n, rng)
    with connect(url, autocommit=True) as conn:
        conn.execute(_schema(DIM))
        _story_columns(conn, DIM)
        with conn.cursor().copy(
            "COPY articles (doc_id, title, text, content_hash, source_path, language, story, story_vector, story_terms) "
            "FROM STDIN WITH (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["text", "text", "text", "text", "text", "text", "int8", "halfvec", "text[]"])
            for i, d in enumerate(table.doc_ids):
                copy.write_row(
                    (
                        d,
                        d,
                        "Text.",
                        d,
                        d,
                        "de",
                        table.stories[i],
                        _halfvec(table.vectors[i]),
                        sorted(table.terms[i]),
                    )
                )
        conn.execute("ANALYZE articles")
        conn.cursor().executemany(
            "INSERT INTO build_info VALUES (%s, %s)", [(k, jsonb(v)) for k, v in asdict(info).items()]
        )
    vector = table.vectors[n // 2]
    text = " ".join(t.capitalize() for t in sorted(table.terms[n // 2]))  # the same names, capitalised
    article = Article("new", "Neu", text, "new", "new", published="2024-10-25")
    rows = ArticleRows(
        article, [Sentence("new", 0, 0, len(text), text)], [], vector[None, :], np.zeros((0, DIM), np.float32)
    )
    _, write_s, write_rss = timed(lambda: store.write(info, [rows], (), common))
    with connect(url, autocommit=True) as conn:
        corpus = PgCorpus(conn, info)
        around = [table.doc_ids[i] for i in rng.choice(n, 20, replace=False)] + ["new"]

        def question() -> Any:
            members = corpus.story_members(around)
            return members, corpus.cross_story_groups([m.doc_id for m in members]), corpus.several_stories()

        _, ask_s, _ = timed(question)
        _, warm_s, _ = timed(lambda: [question() for _ in range(20)])
        joined = conn.execute("SELECT story FROM articles WHERE doc_id = 'new'").fetchone()[0]
    return {
        "write_and_link_one_article_s": round(write_s, 3), "write_peak_rss_growth_mb": round(write_rss / 2**20, 1),
        "question_story_lookup_s": round(ask_s, 4), "warm_question_story_lookup_ms": round(warm_s * 50, 2),
        "joined_its_story": joined == table.stories[n // 2],
    }  # fmt: skip


def main(sizes: list[int]) -> dict[str, Any]:
    rng = np.random.default_rng(26)
    results: dict[str, Any] = {"embedded": {}, "postgres": {}}
    for n in sizes:
        results["embedded"][n] = embedded(n, rng)
    from bench.pg_scale import PostgresUnavailableForBench

    try:
        for n in sizes:
            results["postgres"][n] = postgres(n, rng)
    except PostgresUnavailableForBench as e:  # no server on this machine: the embedded half still stands
        results["postgres"] = {"skipped": str(e)}
    return results


def stories_section(results: dict[str, Any]) -> list[str]:
    """The suite's part of results.md."""
    lines = ["## Stories at scale (adding an article, a figure question's story look-up)", ""]
    for store, rows in results.items():
        if store == "load_average" or not isinstance(rows, dict):
            continue
        if "skipped" in rows:
            lines += [f"{store}: skipped ({rows['skipped']})", ""]
            continue
        keys = sorted({k for row in rows.values() for k in row})
        lines += [
            f"### {store}",
            "",
            "| articles | " + " | ".join(keys) + " |",
            "|---" * (len(keys) + 1) + "|",
        ]
        lines += [
            f"| {n} | " + " | ".join(str(row.get(k, "–")) for k in keys) + " |" for n, row in rows.items()
        ]
        lines.append("")
    return lines


if __name__ == "__main__":
    print(json.dumps(main([int(a) for a in sys.argv[1:]] or list(SIZES)), indent=2))
