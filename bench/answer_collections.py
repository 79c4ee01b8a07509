"""The collections the answers suite asks questions of, built once and reused between runs.

Three indexes share one embedding cache (so a text is embedded once for all of them):
- `xquad`: the 240 German XQuAD paragraphs (one article each);
- `xquad+gnad`: the same plus the 10kGNAD news articles (unrelated distractors);
- `seeds+gnad`: the seed articles plus the 10kGNAD articles (the dev questions' collection);
- `small-fit-N` / `small-test-N`: two XQuAD titles each (about ten paragraphs), pairs of consecutive
  titles within the fit half and within the test half. A newsroom's collection can be as small as
  the five seed articles of one story; collection-level evidence (IDF, the share of question words
  never seen, BM25 scale, the margin over the next passage) shifts with size, so the scorer is fit
  and measured on small collections too, not only on 240- and 749-article ones.
Each lives in its own data dir under the work dir, built through the real indexer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.embedding_cache import CachedEmbedder, EmbeddingCache, shared_cache
from bench.squad_data import XQuAD, load_xquad
from bench.squad_retrieval import bench_settings, build_corpus_index
from config.settings import Settings
from models.embedders import Embedder
from retrieval.ingest import iter_article_files, read_article
from retrieval.stores.embedded.search import EmbeddedRetriever
from retrieval.stores.embedded.store import load_index
from retrieval.types import Article

logger = logging.getLogger(__name__)


def read_folder(folder: Path) -> dict[str, Article]:
    """Every article file under `folder`, by doc id (the file stem)."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder of articles")
    articles = [read_article(path) for path in iter_article_files([folder])]
    return {a.doc_id: a for a in articles}


@dataclass
class Collections:
    """The loaded retrievers by collection name, the XQuAD data, and the shared embedding cache."""

    xquad: XQuAD
    retrievers: dict[str, EmbeddedRetriever]
    settings: dict[str, Settings]
    cache: EmbeddingCache
    embedder: CachedEmbedder
    distractors: frozenset[str]  # doc ids of the 10kGNAD articles
    small_titles: dict[str, frozenset[str]] = field(default_factory=dict)  # small collection -> its two titles


SMALL_SIZE = 2  # titles per small collection: ~10 paragraphs, the seeds' order of size (5 articles)


def split_titles(xquad: XQuAD) -> tuple[frozenset[str], frozenset[str]]:
    """(fit titles, test titles): titles sorted by name, even positions fit, odd positions test."""
    titles = sorted({a.title for a in xquad.articles.values()})
    return frozenset(titles[0::2]), frozenset(titles[1::2])


def small_collection_titles(xquad: XQuAD) -> dict[str, frozenset[str]]:
    """Pairs of consecutive titles (by name) within each half of `split_titles`."""
    out: dict[str, frozenset[str]] = {}
    for half, titles in zip(("fit", "test"), split_titles(xquad)):
        members = sorted(titles)
        for i in range(0, len(members) - SMALL_SIZE + 1, SMALL_SIZE):
            out[f"small-{half}-{i // SMALL_SIZE}"] = frozenset(members[i : i + SMALL_SIZE])
    return out


def build_collections(
    settings: Settings,
    work_dir: Path,
    embedder: Embedder,
    xquad_dir: Path,
    seeds_dir: Path,
    gnad_dir: Path | None,
    max_paragraphs: int | None = None,
    max_distractors: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> Collections:
    """Index (or reuse) the suite's collections and load a retriever for each."""
    xquad = load_xquad(xquad_dir, max_paragraphs=max_paragraphs)
    cache = shared_cache(work_dir, embedder)
    cached = CachedEmbedder(cache)
    gnad: dict[str, Article] = {}
    if gnad_dir is not None:
        gnad = read_folder(gnad_dir)
        if max_distractors is not None:
            gnad = dict(sorted(gnad.items())[:max_distractors])
    seeds = read_folder(seeds_dir)
    plans: dict[str, dict[str, Article]] = {"xquad": dict(xquad.articles)}
    if gnad:
        plans["xquad+gnad"] = {**xquad.articles, **gnad}
        plans["seeds+gnad"] = {**seeds, **gnad}
    plans["seeds"] = seeds
    small = small_collection_titles(xquad)
    for name, titles in small.items():
        plans[name] = {d: a for d, a in xquad.articles.items() if a.title in titles}
    retrievers: dict[str, EmbeddedRetriever] = {}
    all_settings: dict[str, Settings] = {}
    for name, articles in plans.items():
        folder = f"answers-{name}-{len(xquad.articles)}-{len(gnad)}".replace("+", "_")
        copy = bench_settings(settings, work_dir / folder)
        if progress:
            progress(f"answers: indexing {name} ({len(articles)} articles)")
        build_corpus_index(articles, copy, cached)
        cache.save()
        retrievers[name] = EmbeddedRetriever(load_index(copy.index_dir), cached, copy)
        all_settings[name] = copy
    return Collections(xquad, retrievers, all_settings, cache, cached, frozenset(gnad), small)
