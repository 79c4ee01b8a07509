"""Which store a process talks to: the embedded index in `data_dir` (default, no server) or the
PostgreSQL collection named by NEWSBOT_DATABASE_URL. The one place that chooses; everything above
gets a `store_protocol.Retriever` and an `IndexReport` either way.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from config.settings import Settings
from models.embedders import Embedder
from retrieval.indexing import IndexReport, ProgressCallback
from retrieval.store_protocol import Retriever
from retrieval.stores.embedded import indexer
from retrieval.stores.embedded.indexer import build_index
from retrieval.stores.embedded.search import EmbeddedRetriever
from retrieval.stores.embedded.store import current_generation
from retrieval.types import Article


def uses_database(settings: Settings) -> bool:
    return settings.retrieval.database_url is not None


def open_retriever(settings: Settings, embedder: Embedder | None = None) -> Retriever:
    """The retriever of the configured store (model and index loaded once; share it)."""
    if uses_database(settings):
        from retrieval.stores.postgres.search import PgRetriever

        return PgRetriever.load(settings, embedder)
    return EmbeddedRetriever.load(settings, embedder)


def index_paths(
    paths: Iterable[Path],
    settings: Settings,
    embedder: Embedder | None = None,
    prune: bool = False,
    progress: ProgressCallback | None = None,
    rebuild: bool = False,
    wait: bool = True,
) -> IndexReport:
    """`newsbot index` into the configured store. `rebuild` and `wait` concern the embedded store's
    generations and writer lock; the database serialises writers in its own transactions."""
    if uses_database(settings):
        from retrieval.stores.postgres.index import build_pg_index

        return build_pg_index(paths, settings, embedder=embedder, prune=prune, progress=progress)
    return build_index(paths, settings, embedder=embedder, prune=prune, progress=progress, rebuild=rebuild, wait=wait)


def has_collection(settings: Settings) -> bool:
    """Whether the configured store already holds an index."""
    if uses_database(settings):
        from retrieval.stores.postgres.index import store_for

        return store_for(settings).read_build_info() is not None
    return current_generation(settings.index_dir) is not None


def index_uploaded_article(raw: bytes, filename: str, settings: Settings, embedder: Embedder | None = None) -> Article:
    """A chat upload into the configured store (see `indexer.index_uploaded_article`)."""
    if uses_database(settings):
        from retrieval.stores.postgres.index import index_uploaded_article_pg

        return index_uploaded_article_pg(raw, filename, settings, embedder)
    return indexer.index_uploaded_article(raw, filename, settings, embedder)
