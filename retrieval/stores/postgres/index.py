"""Indexing into PostgreSQL: the same reading, segmenting and embedding as the embedded index
(retrieval/stores/embedded/indexer.py), written article by article in transactions instead of a new generation.

Only new and changed articles are segmented and embedded; a changed article reuses the vectors of
its unchanged sentences and chunks. `migrate_embedded` copies an embedded collection with its
vectors, so nothing is embedded again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from config.settings import Settings
from models.embedders import Embedder, load_embedder
from retrieval.errors import IngestError
from retrieval.indexing import IndexReport, ProgressCallback, embed_passages_with_progress, segment
from retrieval.ingest import (
    SkippedFile,
    assign_doc_ids,
    dated_when_indexed,
    display_path,
    iter_article_files,
    read_article,
    today_utc,
)
from retrieval.pooling import pooled_chunk_vectors
from retrieval.store_protocol import BuildInfo
from retrieval.stores.embedded.store import IndexData, load_index
from retrieval.stores.postgres.store import ArticleRows, PgStore
from retrieval.story_linking import NEUTRAL_PASSAGES, common_direction_of
from retrieval.types import Article

logger = logging.getLogger(__name__)

WRITE_BATCH = 64  # articles per transaction: a reader sees each batch appear whole


def store_for(settings: Settings) -> PgStore:
    url = settings.retrieval.database_url
    assert url is not None, "indexing into PostgreSQL needs NEWSBOT_DATABASE_URL"
    return PgStore(url.get_secret_value())


def build_info_for(embedder: Embedder, settings: Settings, chunks: int) -> BuildInfo:
    r = settings.retrieval
    return BuildInfo(
        model_id=embedder.model_id,
        backend=embedder.backend,
        dimension=embedder.dimension,
        index_type="pgvector-hnsw",
        chunk_sentences=r.chunk_sentences,
        chunk_overlap=r.chunk_overlap,
        chunk_max_chars=r.chunk_max_chars,
        chunk_vectors=r.chunk_vectors,
        created=time.time(),
    )


def read_articles(
    paths: Iterable[Path], settings: Settings, report: IndexReport, stored: Mapping[str, tuple[str, str]]
) -> dict[str, Article]:
    """Every readable article under `paths`, keyed by an id that cannot collide (`ingest.assign_doc_ids`,
    as in the embedded store: a stored file keeps its id, a new file whose stem is taken gets the stem
    plus a hash of its path); unreadable files go to `report.skipped`."""
    fresh: list[Article] = []
    for path in iter_article_files(paths):
        try:
            fresh.append(read_article(path, settings.retrieval.max_file_bytes))
        except IngestError as e:
            report.skipped.append(SkippedFile(display_path(path), str(e)))
    # Only the id, source path and content hash of stored articles matter for the assignment.
    indexed = {
        doc_id: Article(doc_id=doc_id, title="", text="", content_hash=content_hash, source_path=source_path)
        for doc_id, (content_hash, source_path) in stored.items()
    }
    return assign_doc_ids(fresh, indexed)


def build_pg_index(
    paths: Iterable[Path],
    settings: Settings,
    embedder: Embedder | None = None,
    prune: bool = False,
    progress: ProgressCallback | None = None,
) -> IndexReport:
    """`newsbot index` for a PostgreSQL collection (same report as the embedded indexer)."""
    started = time.perf_counter()
    report = IndexReport()
    read = read_articles(paths, settings, report, store_for(settings).known_articles())
    return update_pg_index(read, settings, embedder, report, prune=prune, progress=progress, started=started)


def update_pg_index(
    read: dict[str, Article],
    settings: Settings,
    embedder: Embedder | None,
    report: IndexReport,
    prune: bool = False,
    progress: ProgressCallback | None = None,
    started: float | None = None,
) -> IndexReport:
    started = started if started is not None else time.perf_counter()
    store = store_for(settings)
    embedder = embedder or load_embedder(settings)
    known = store.known_articles()
    changed: dict[str, Article] = {}
    for doc_id, article in read.items():
        old = known.get(doc_id)
        if old is None:
            report.added.append(doc_id)
        elif old != (article.content_hash, article.source_path):
            report.updated.append(doc_id)
        else:
            report.unchanged.append(doc_id)
            continue
        changed[doc_id] = article
    first_indexed = store.first_indexed_days(report.updated)
    today = today_utc()
    changed = {d: dated_when_indexed(a, today, first_indexed.get(d)) for d, a in changed.items()}
    if prune:
        report.removed = sorted(d for d, (_, path) in known.items() if d not in read and not Path(path).exists())

    pooled = settings.retrieval.chunk_vectors == "pooled"
    segmented = {doc_id: segment(article, settings) for doc_id, article in changed.items()}
    vectors = store.known_vectors(report.updated)
    wanted = list(
        dict.fromkeys(
            t
            for sentences, chunks in segmented.values()
            for t in ([] if pooled else [c.text for c in chunks]) + [s.text for s in sentences]
        )
    )
    missing = [t for t in wanted if t not in vectors]
    embed_started = time.perf_counter()
    if missing:
        fresh = embed_passages_with_progress(embedder, missing, settings.models.embedding_batch_size, progress)
        vectors.update(zip(missing, fresh))
    report.embed_seconds = time.perf_counter() - embed_started
    report.texts_embedded = len(missing)

    items = []
    dim = embedder.dimension
    for doc_id in sorted(segmented):
        sentences, chunks = segmented[doc_id]
        sentence_vectors = np.stack([vectors[s.text] for s in sentences]) if sentences else np.zeros((0, dim), np.float32)
        if pooled:
            chunk_vectors = pooled_chunk_vectors(chunks, sentences, sentence_vectors)
        else:
            chunk_vectors = np.stack([vectors[c.text] for c in chunks]) if chunks else np.zeros((0, dim), np.float32)
        items.append(ArticleRows(changed[doc_id], sentences, chunks, sentence_vectors, chunk_vectors))
    info = build_info_for(embedder, settings, sum(len(i.chunks) for i in items))
    write_items(store, info, items, report.removed, common_direction(embedder))
    report.wrote_index = bool(items or report.removed)
    report.total_articles, report.total_chunks, report.total_sentences = store.counts()
    report.seconds = time.perf_counter() - started
    logger.info(
        "indexed into PostgreSQL: %d added, %d updated, %d removed, %d texts embedded in %.1fs",
        len(report.added), len(report.updated), len(report.removed), len(missing), report.embed_seconds,
    )  # fmt: skip
    return report


def common_direction(embedder: Embedder) -> np.ndarray:
    """The model's common direction, which story linking projects out of article vectors."""
    return common_direction_of(embedder.embed_passages(list(NEUTRAL_PASSAGES)))


def write_items(
    store: PgStore, info: BuildInfo, items: list[ArticleRows], removed: list[str], common: np.ndarray | None = None
) -> None:
    """Write in batches of `WRITE_BATCH` articles, one transaction each; then, with the model's
    `common` direction, link every article without a story in one more transaction. Linking after
    the last batch sees the whole collection's boilerplate (near-duplicate groups across three or
    more articles), as the embedded store's build does, so both stores link alike."""
    if not items and removed:
        store.write(info, [], removed)
    for start in range(0, len(items), WRITE_BATCH):
        store.write(info, items[start : start + WRITE_BATCH], removed if start == 0 else ())
    if common is not None:
        store.link_unlinked(info, common)


def migrate_embedded(settings: Settings) -> IndexReport:
    """Copy the embedded collection in `settings.index_dir` into the database, vectors included."""
    started = time.perf_counter()
    data: IndexData = load_index(settings.index_dir, with_search_structures=False)
    store = store_for(settings)
    info = BuildInfo(**{**data.info.__dict__, "index_type": "pgvector-hnsw", "created": time.time()})
    report = IndexReport()
    items = []
    chunk_row = 0
    by_doc_sentences: dict[str, list[int]] = {}
    for row, s in enumerate(data.sentences):
        by_doc_sentences.setdefault(s.doc_id, []).append(row)
    by_doc_chunks: dict[str, list[int]] = {}
    for row, c in enumerate(data.chunks):
        by_doc_chunks.setdefault(c.doc_id, []).append(row)
    known = store.known_articles()
    for doc_id, article in sorted(data.articles.items()):
        if known.get(doc_id) == (article.content_hash, article.source_path):
            report.unchanged.append(doc_id)
            continue
        (report.updated if doc_id in known else report.added).append(doc_id)
        s_rows = by_doc_sentences.get(doc_id, [])
        c_rows = by_doc_chunks.get(doc_id, [])
        items.append(
            ArticleRows(
                article,
                [data.sentences[i] for i in s_rows],
                [data.chunks[i] for i in c_rows],
                np.asarray(data.sentence_vectors[s_rows], dtype=np.float32),
                np.asarray(data.chunk_vectors[c_rows], dtype=np.float32),
            )
        )
        chunk_row += len(c_rows)
    write_items(store, info, items, [], common_direction(load_embedder(settings)))
    report.wrote_index = bool(items)
    report.total_articles = len(data.articles)
    report.total_chunks = len(data.chunks)
    report.total_sentences = len(data.sentences)
    report.seconds = time.perf_counter() - started
    logger.info("migrated %d articles (%d chunks) into PostgreSQL in %.1fs", len(items), chunk_row, report.seconds)
    return report



def index_uploaded_article_pg(raw: bytes, filename: str, settings: Settings, embedder: Embedder | None = None) -> Article:
    """`indexer.index_uploaded_article` for a PostgreSQL collection: the same checks and the same
    file kept under `<data_dir>/uploads/`, then one transaction for the article."""
    import re as _re

    from retrieval.errors import UnsupportedFileError
    from retrieval.ingest import SUPPORTED_SUFFIXES, parse_article

    name = _re.sub(r"[^\w.-]+", "_", Path(filename).name).strip("._") or "upload.txt"
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnsupportedFileError(f"{filename}: unsupported file type {suffix or '(none)'}; send .txt, .md or .html")
    if len(raw) > settings.retrieval.max_file_bytes:
        raise IngestError(f"{filename}: {len(raw):,} bytes is larger than the {settings.retrieval.max_file_bytes:,} byte limit")
    if not raw.strip():
        raise IngestError(f"{filename}: file is empty")
    uploads = settings.retrieval.data_dir / "uploads"
    target = uploads / name
    article = parse_article(raw, doc_id=target.stem, source_path=str(target), suffix=suffix)  # validates first
    uploads.mkdir(parents=True, exist_ok=True)
    staging = uploads / f".{name}.partial"
    staging.write_bytes(raw)
    staging.replace(target)
    update_pg_index({article.doc_id: article}, settings, embedder, IndexReport())
    return article
