"""Build or update the index from article files: ingest → clean → split → chunk → embed → store.

Updates are incremental: vectors of chunk and sentence texts already in the current index are
reused (keyed by text), so unchanged files embed nothing and a changed file embeds only its new
text. Nothing is written when nothing changed. Every update holds the index's cross-process writer
lock from reading the current index to switching to the new one, and first repairs what is damaged
(`store.load_for_update`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from config.settings import Settings
from models.embedders import Embedder, load_embedder
from retrieval.chunk import article_sentences, chunk_sentences
from retrieval.dedup import near_duplicate_groups
from retrieval.dense import choose_index_type
from retrieval.errors import IngestError
from retrieval.ingest import (
    SkippedFile,
    assign_doc_ids,
    display_path,
    iter_article_files,
    read_article,
    source_key,
)
from retrieval.pooling import pooled_chunk_vectors
from retrieval.store import (
    BuildInfo,
    IndexData,
    UpdateBase,
    index_writer,
    load_for_update,
    remove_stale_generations,
    write_generation,
)
from retrieval.types import Article, Chunk, Sentence

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]
EMBED_SLICE = 128  # texts per progress step; sorted by length so batches pad little


@dataclass
class IndexReport:
    """What an `index` run did, per article id."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    texts_embedded: int = 0
    total_articles: int = 0
    total_chunks: int = 0
    total_sentences: int = 0
    embed_seconds: float = 0.0
    seconds: float = 0.0
    rebuilt_for_model: str | None = None
    wrote_index: bool = False
    repaired: list[str] = field(default_factory=list)  # damage found in the current index and rebuilt

    @property
    def indexed_anything(self) -> bool:
        return self.total_articles > 0


def segment(article: Article, settings: Settings) -> tuple[list[Sentence], list[Chunk]]:
    r = settings.retrieval
    sentences = article_sentences(article)
    chunks = chunk_sentences(article, sentences, r.chunk_sentences, r.chunk_overlap, r.chunk_max_chars)
    return sentences, chunks


def embed_passages_with_progress(
    embedder: Embedder, texts: Sequence[str], batch_size: int, progress: ProgressCallback | None = None
) -> np.ndarray:
    """Embed `texts` in length-sorted slices, reporting progress after each slice."""
    vectors = np.zeros((len(texts), embedder.dimension), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    done = 0
    for start in range(0, len(order), EMBED_SLICE):
        ids = order[start : start + EMBED_SLICE]
        vectors[ids] = embedder.embed_corpus([texts[i] for i in ids], batch_size=batch_size)
        done += len(ids)
        if progress:
            progress(done, len(texts))
    return vectors


def build_index(
    paths: Iterable[Path],
    settings: Settings,
    embedder: Embedder | None = None,
    prune: bool = False,
    progress: ProgressCallback | None = None,
    rebuild: bool = False,
    wait: bool = True,
) -> IndexReport:
    """Index the article files under `paths` into `settings.index_dir`; see module docstring.

    `rebuild` ignores the current index (the last resort when it cannot be repaired); `wait=False`
    raises `IndexBusyError` instead of waiting for another writer.
    """
    started = time.perf_counter()
    report = IndexReport()
    with index_writer(settings.index_dir, wait=wait):
        base = UpdateBase(None) if rebuild else load_for_update(settings.index_dir)
        report.repaired = base.repaired
        indexed = base.previous.articles if base.previous else {}
        fresh: list[Article] = []
        for path in [*iter_article_files(paths), *(Path(source) for _, source in base.reread)]:
            try:
                fresh.append(read_article(path, settings.retrieval.max_file_bytes))
            except IngestError as e:
                report.skipped.append(SkippedFile(display_path(path), str(e)))
        # Articles the damaged generation listed keep their ids (matched by source path).
        relisted = {source_key(source): doc_id for doc_id, source in base.reread}
        known = dict(indexed)
        for article in fresh:
            doc_id = relisted.get(source_key(article.source_path))
            if doc_id is not None and doc_id not in known:
                known[doc_id] = article
        read = assign_doc_ids(fresh, known)
        return update_index(read, settings, embedder, base.previous, report, prune=prune, progress=progress, started=started)


def update_index(
    read: dict[str, Article],
    settings: Settings,
    embedder: Embedder | None,
    previous: IndexData | None,
    report: IndexReport,
    prune: bool = False,
    progress: ProgressCallback | None = None,
    started: float | None = None,
) -> IndexReport:
    """Merge freshly read articles into the previous index and write a new generation if anything changed."""
    started = started if started is not None else time.perf_counter()
    embedder = embedder or load_embedder(settings)
    old_articles = dict(previous.articles) if previous else {}
    same_model = previous is not None and (
        previous.info.model_id == embedder.model_id and previous.info.dimension == embedder.dimension
    )
    if previous is not None and not same_model:
        report.rebuilt_for_model = embedder.model_id
        logger.info("index was built with %s; re-embedding everything with %s", previous.info.model_id, embedder.model_id)

    articles: dict[str, Article] = {}
    for doc_id, kept in old_articles.items():
        if prune and doc_id not in read and not Path(kept.source_path).exists():
            report.removed.append(doc_id)
        else:
            articles[doc_id] = kept
    for doc_id, article in read.items():
        old = old_articles.get(doc_id)
        if old is None:
            report.added.append(doc_id)
        elif old.content_hash != article.content_hash or old.source_path != article.source_path:
            report.updated.append(doc_id)
        else:
            report.unchanged.append(doc_id)
            continue
        articles[doc_id] = article

    r = settings.retrieval
    chunking_changed = previous is not None and (
        (previous.info.chunk_sentences, previous.info.chunk_overlap, previous.info.chunk_max_chars, previous.info.chunk_vectors)
        != (r.chunk_sentences, r.chunk_overlap, r.chunk_max_chars, r.chunk_vectors)
    )
    changed = bool(report.added or report.updated or report.removed or report.repaired) or not same_model or chunking_changed
    report.total_articles = len(articles)
    if not changed:
        report.total_chunks = len(previous.chunks) if previous else 0
        report.total_sentences = len(previous.sentences) if previous else 0
        report.seconds = time.perf_counter() - started
        if previous is not None:
            remove_stale_generations(settings.index_dir)
        return report
    if not articles:
        report.seconds = time.perf_counter() - started
        return report

    sentences: list[Sentence] = []
    chunks: list[Chunk] = []
    for doc_id in sorted(articles):
        doc_sentences, doc_chunks = segment(articles[doc_id], settings)
        sentences.extend(doc_sentences)
        chunks.extend(doc_chunks)
    groups = near_duplicate_groups(sentences)
    sentences = [
        Sentence(s.doc_id, s.position, s.start, s.end, s.text, dup_group=g) for s, g in zip(sentences, groups)
    ]

    pooled = r.chunk_vectors == "pooled"
    known: dict[str, np.ndarray] = {}
    if previous is not None and same_model:
        if previous.info.chunk_vectors == "embedded":  # a pooled chunk vector is not the chunk text's embedding
            for c, v in zip(previous.chunks, previous.chunk_vectors):
                known[c.text] = v
        for s, v in zip(previous.sentences, previous.sentence_vectors):
            known[s.text] = v
    wanted = list(dict.fromkeys(([] if pooled else [c.text for c in chunks]) + [s.text for s in sentences]))
    missing = [t for t in wanted if t not in known]
    if missing:
        embedder.embed_corpus([])  # an engine that loads on first use (auto: torch) is not embedding time
    embed_started = time.perf_counter()
    if missing:
        fresh = embed_passages_with_progress(embedder, missing, settings.models.embedding_batch_size, progress)
        known.update(zip(missing, fresh))
    report.embed_seconds = time.perf_counter() - embed_started
    report.texts_embedded = len(missing)

    dim = embedder.dimension
    sentence_vectors = np.stack([known[s.text] for s in sentences]) if sentences else np.zeros((0, dim), np.float32)
    if pooled:
        chunk_vectors = pooled_chunk_vectors(chunks, sentences, sentence_vectors)
    else:
        chunk_vectors = np.stack([known[c.text] for c in chunks]) if chunks else np.zeros((0, dim), np.float32)
    info = BuildInfo(
        model_id=embedder.model_id,
        backend=embedder.backend,
        dimension=dim,
        index_type=choose_index_type(r.index_type, len(chunks), r.exact_search_max_chunks),
        chunk_sentences=r.chunk_sentences,
        chunk_overlap=r.chunk_overlap,
        chunk_max_chars=r.chunk_max_chars,
        chunk_vectors=r.chunk_vectors,
        created=time.time(),
    )
    write_generation(settings.index_dir, IndexData(info, articles, sentences, chunks, chunk_vectors, sentence_vectors))
    report.wrote_index = True
    report.total_chunks = len(chunks)
    report.total_sentences = len(sentences)
    report.seconds = time.perf_counter() - started
    logger.info(
        "indexed %d articles (%d added, %d updated, %d removed), embedded %d texts in %.1fs",
        len(articles), len(report.added), len(report.updated), len(report.removed), len(missing), report.embed_seconds,
    )  # fmt: skip
    return report


def index_uploaded_article(raw: bytes, filename: str, settings: Settings, embedder: Embedder | None = None) -> Article:
    """Index an article received as bytes (a chat upload); returns it as indexed.

    The file is kept under `<data_dir>/uploads/` so later runs (and `--prune`) see its source.
    A file that is not an article raises `IngestError` and leaves the index and uploads unchanged.
    """
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
    with index_writer(settings.index_dir):
        uploads.mkdir(parents=True, exist_ok=True)
        staging = uploads / f".{name}.partial"
        staging.write_bytes(raw)
        staging.replace(target)
        base = load_for_update(settings.index_dir)
        report = IndexReport(repaired=base.repaired)
        read = assign_doc_ids([article], base.previous.articles if base.previous else {})
        update_index(read, settings, embedder, base.previous, report)
    return next(iter(read.values()))
