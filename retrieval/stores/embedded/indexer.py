"""Build or update the index from article files: ingest → clean → split → chunk → embed → store.

Updates are incremental: vectors of chunk and sentence texts already in the current index are
reused (keyed by text), so unchanged files embed nothing and a changed file embeds only its new
text. Nothing is written when nothing changed. Every update holds the index's cross-process writer
lock from reading the current index to switching to the new one, and first repairs what is damaged
(`store.load_for_update`).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from config.settings import Settings
from models.embedders import Embedder, load_embedder, supports_late_chunking
from retrieval.dedup import near_duplicate_groups, near_duplicate_groups_of, sentence_tokens
from retrieval.dense import choose_index_type
from retrieval.errors import IngestError
from retrieval.indexing import EMBED_SLICE, IndexProgress, IndexReport, ProgressCallback, segment
from retrieval.ingest import (
    SkippedFile,
    assign_doc_ids,
    dated_when_indexed,
    display_path,
    first_indexed_day,
    iter_article_files,
    read_article,
    source_key,
    today_utc,
)
from retrieval.pooling import pooled_chunk_vectors
from retrieval.store_protocol import SCHEMA_VERSION, BuildInfo
from retrieval.stores.embedded.store import (
    GenerationWriter,
    IndexData,
    UpdateBase,
    index_writer,
    load_for_update,
    remove_stale_generations,
    write_generation,
)
from retrieval.story_linking import (
    BOILERPLATE_MIN_ARTICLES,
    NEUTRAL_PASSAGES,
    ArticleFeatures,
    StoryTable,
    article_vector,
    common_direction_of,
    link_stories,
    name_words,
    terms_of_words,
)
from retrieval.types import Article, Chunk, Sentence

logger = logging.getLogger(__name__)


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


# --- the steps of an update, in order --------------------------------------------------------------


def merge_articles(
    read: Mapping[str, Article], previous: IndexData | None, prune: bool, report: IndexReport
) -> dict[str, Article]:
    """Step 1: the previous index's articles with the freshly read ones laid over them (`report` says which changed).

    A new or changed article without a date of its own (and not fetched) is dated by the day it was
    first indexed (`dated_when_indexed`)."""
    old_articles = dict(previous.articles) if previous else {}
    today = today_utc()
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
        articles[doc_id] = dated_when_indexed(article, today, first_indexed_day(old))
    return articles


@dataclass(frozen=True)
class VectorPlan:
    """How this build makes its vectors (recorded in the build info; a change re-embeds what it affects)."""

    sentence_vectors: str  # "embedded" | "late"
    chunk_vectors: str  # "embedded" | "pooled"


def vector_plan(settings: Settings, embedder: Embedder) -> VectorPlan:
    r = settings.retrieval
    late = r.sentence_vectors == "late"
    if late and not supports_late_chunking(embedder):
        logger.warning(
            "backend %s cannot give late sentence vectors; embedding sentences on their own", embedder.backend
        )
        late = False
    if late and r.chunk_vectors == "pooled":
        # The chunk's own vector comes out of the same pass as its sentences', so pooling would save nothing.
        logger.info(
            "late sentence vectors come with the chunks' own vectors; chunk_vectors=pooled is ignored"
        )
    return VectorPlan("late" if late else "embedded", "embedded" if late else r.chunk_vectors)


def chunking_changed(previous: IndexData, settings: Settings, plan: VectorPlan) -> bool:
    """Step 2: whether the previous index was cut or vectorised differently (then every article is re-segmented)."""
    r, info = settings.retrieval, previous.info
    return (info.chunk_sentences, info.chunk_overlap, info.chunk_max_chars, info.chunk_vectors, info.sentence_vectors) != (
        r.chunk_sentences, r.chunk_overlap, r.chunk_max_chars, plan.chunk_vectors, plan.sentence_vectors,
    )  # fmt: skip


def mark_near_duplicates(sentences: list[Sentence]) -> list[Sentence]:
    """Step 4: near-identical sentences across articles share a `dup_group` (answers cite one of them)."""
    groups = near_duplicate_groups(sentences)
    return [
        Sentence(s.doc_id, s.position, s.start, s.end, s.text, dup_group=g) for s, g in zip(sentences, groups)
    ]


class ReusableVectors:
    """Step 5: vectors of the previous index that this build may keep.

    Sentences embedded on their own (and embedded chunks) are keyed by text: the same text gets the same
    vector wherever it stands. A late sentence vector depends on its chunk's context, so in that mode
    whole articles are reused: an unchanged article under unchanged settings keeps its rows.
    """

    def __init__(
        self, previous: IndexData | None, same_model: bool, settings: Settings, plan: VectorPlan
    ) -> None:
        self.by_text: dict[str, np.ndarray] = {}
        self.by_article: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._hashes: dict[str, str] = {}
        if previous is None or not same_model:
            return
        info = previous.info
        if plan.sentence_vectors == "late":
            if not chunking_changed(previous, settings, plan):
                chunk_rows: dict[str, list[int]] = {}
                sentence_rows: dict[str, list[int]] = {}
                for row, c in enumerate(previous.chunks):
                    chunk_rows.setdefault(c.doc_id, []).append(row)
                for row, s in enumerate(previous.sentences):
                    sentence_rows.setdefault(s.doc_id, []).append(row)
                for doc_id, article in previous.articles.items():
                    self._hashes[doc_id] = article.content_hash
                    self.by_article[doc_id] = (
                        np.asarray(previous.chunk_vectors[chunk_rows.get(doc_id, [])]),
                        np.asarray(previous.sentence_vectors[sentence_rows.get(doc_id, [])]),
                    )
            return
        if info.chunk_vectors == "embedded":  # a pooled chunk vector is not the chunk text's embedding
            for c, v in zip(previous.chunks, previous.chunk_vectors):
                self.by_text[c.text] = v
        if info.sentence_vectors == "embedded":  # a late sentence vector is not the sentence text's embedding
            for s, v in zip(previous.sentences, previous.sentence_vectors):
                self.by_text[s.text] = v

    def article(self, article: Article) -> tuple[np.ndarray, np.ndarray] | None:
        """(chunk vectors, sentence vectors) of an unchanged article, in late mode."""
        if self._hashes.get(article.doc_id) != article.content_hash:
            return None
        return self.by_article.get(article.doc_id)


class VectorSink:
    """Rows of chunk and sentence vectors, appended batch by batch into arrays that grow by doubling."""

    def __init__(self, dimension: int) -> None:
        self.dimension = dimension
        self._chunks = np.zeros((0, dimension), np.float32)
        self._sentences = np.zeros((0, dimension), np.float32)
        self.n_chunks = 0
        self.n_sentences = 0

    @staticmethod
    def _append(store: np.ndarray, used: int, rows: np.ndarray) -> np.ndarray:
        if used + len(rows) > len(store):
            grown = np.zeros((max(2 * len(store), used + len(rows), 256), store.shape[1]), np.float32)
            grown[:used] = store[:used]
            store = grown
        store[used : used + len(rows)] = rows
        return store

    def add(self, chunk_vectors: np.ndarray, sentence_vectors: np.ndarray) -> None:
        self._chunks = self._append(self._chunks, self.n_chunks, chunk_vectors)
        self._sentences = self._append(self._sentences, self.n_sentences, sentence_vectors)
        self.n_chunks += len(chunk_vectors)
        self.n_sentences += len(sentence_vectors)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return self._chunks[: self.n_chunks], self._sentences[: self.n_sentences]


class BatchEmbedder:
    """Step 6: vectors for one batch of segmented articles, by the build's `VectorPlan`."""

    def __init__(
        self,
        embedder: Embedder,
        settings: Settings,
        plan: VectorPlan,
        reuse: ReusableVectors,
        report: IndexReport,
        on_chunks: Callable[[int], None],
    ) -> None:
        self.embedder = embedder
        self.batch_size = settings.models.embedding_batch_size
        self.plan = plan
        self.reuse = reuse
        self.report = report
        self.on_chunks = on_chunks
        self.dimension = embedder.dimension
        self.slice_size = EMBED_SLICE  # texts per embedder call (and progress step); a GPU wants far more

    def vectors(
        self, articles: Sequence[Article], segmented: Sequence[tuple[list[Sentence], list[Chunk]]]
    ) -> tuple[np.ndarray, np.ndarray]:
        """(chunk vectors, sentence vectors) of the batch, rows in the order of its chunks and sentences."""
        started = time.perf_counter()
        try:
            if self.plan.sentence_vectors == "late":
                return self._late(articles, segmented)
            return self._by_text(segmented)
        finally:
            self.report.embed_seconds += time.perf_counter() - started

    def _late(
        self, articles: Sequence[Article], segmented: Sequence[tuple[list[Sentence], list[Chunk]]]
    ) -> tuple[np.ndarray, np.ndarray]:
        parts: list[tuple[np.ndarray, np.ndarray] | None] = [self.reuse.article(a) for a in articles]
        todo = [i for i, part in enumerate(parts) if part is None]
        chunks = [c for i in todo for c in segmented[i][1]]
        spans = [
            [
                (s.start - c.start, s.end - c.start)
                for s in segmented[i][0][c.first_sentence : c.last_sentence + 1]
            ]
            for i in todo
            for c in segmented[i][1]
        ]
        chunk_vectors = np.zeros((len(chunks), self.dimension), np.float32)
        per_chunk: list[np.ndarray] = [np.zeros((0, self.dimension), np.float32)] * len(chunks)
        order = sorted(range(len(chunks)), key=lambda k: len(chunks[k].text))  # similar lengths pad little
        late = self.embedder.embed_chunks_late  # type: ignore[attr-defined]
        for begin in range(0, len(order), self.slice_size):
            ids = order[begin : begin + self.slice_size]
            vectors, sentence_parts = late(
                [chunks[k].text for k in ids], [spans[k] for k in ids], self.batch_size
            )
            chunk_vectors[ids] = vectors
            for k, part in zip(ids, sentence_parts):
                per_chunk[k] = part
            self.report.chunks_encoded += len(ids)
            self.report.texts_embedded += len(ids)
            self.on_chunks(len(ids))
        # A sentence in the overlap of two chunks gets the mean of its two vectors: each carries one side
        # of its context, and the mean does not depend on where the window happened to start.
        k = 0
        for i in todo:
            sentences, doc_chunks = segmented[i]
            sums = np.zeros((len(sentences), self.dimension), np.float32)
            for c in doc_chunks:
                sums[c.first_sentence : c.last_sentence + 1] += per_chunk[k]
                k += 1
            sums /= np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
            parts[i] = (chunk_vectors[k - len(doc_chunks) : k], sums)
        done = [p for p in parts if p is not None]
        return (
            np.concatenate([p[0] for p in done]) if done else np.zeros((0, self.dimension), np.float32),
            np.concatenate([p[1] for p in done]) if done else np.zeros((0, self.dimension), np.float32),
        )

    def _by_text(
        self, segmented: Sequence[tuple[list[Sentence], list[Chunk]]]
    ) -> tuple[np.ndarray, np.ndarray]:
        known = self.reuse.by_text
        sentences = [s for doc, _ in segmented for s in doc]
        chunks = [c for _, doc in segmented for c in doc]
        pooled = self.plan.chunk_vectors == "pooled"
        wanted = dict.fromkeys(([] if pooled else [c.text for c in chunks]) + [s.text for s in sentences])
        missing = sorted((t for t in wanted if t not in known), key=len)  # similar lengths pad little
        chunk_texts = {c.text for c in chunks}
        reported = 0
        for begin in range(0, len(missing), self.slice_size):
            texts = missing[begin : begin + self.slice_size]
            known.update(zip(texts, self.embedder.embed_corpus(texts, batch_size=self.batch_size)))
            self.report.texts_embedded += len(texts)
            if pooled:  # no chunk is embedded: the batch's chunks are done as its sentences are
                done = len(chunks) * (begin + len(texts)) // len(missing)
                self.on_chunks(done - reported)
                reported = done
            else:
                self.on_chunks(sum(1 for t in texts if t in chunk_texts))
        dim = self.dimension
        sentence_vectors = (
            np.stack([known[s.text] for s in sentences]) if sentences else np.zeros((0, dim), np.float32)
        )
        if pooled:
            chunk_vectors = pooled_chunk_vectors(chunks, sentences, sentence_vectors)
        else:
            chunk_vectors = (
                np.stack([known[c.text] for c in chunks]) if chunks else np.zeros((0, dim), np.float32)
            )
        return chunk_vectors, sentence_vectors


def update_index(
    read: Mapping[str, Article],
    settings: Settings,
    embedder: Embedder | None,
    previous: IndexData | None,
    report: IndexReport,
    prune: bool = False,
    progress: ProgressCallback | None = None,
    started: float | None = None,
) -> IndexReport:
    """Merge freshly read articles into the previous index and write a new generation if anything changed.

    Articles stream through segmenting, embedding and writing in batches of `index_batch_articles`:
    each batch's rows and vectors go into the new generation (`GenerationWriter`) as soon as they are
    embedded, so what the run holds does not grow with the collection except each sentence's word
    set (for the near-duplicate step), each chunk's BM25 tokens and the article texts as read.
    """
    started = started if started is not None else time.perf_counter()
    embedder = embedder or load_embedder(settings)
    same_model = previous is not None and (
        previous.info.model_id == embedder.model_id and previous.info.dimension == embedder.dimension
    )
    if previous is not None and not same_model:
        report.rebuilt_for_model = embedder.model_id
        logger.info(
            "index was built with %s; re-embedding everything with %s",
            previous.info.model_id,
            embedder.model_id,
        )
    articles = merge_articles(read, previous, prune, report)
    plan = vector_plan(settings, embedder)
    report.sentence_vectors = plan.sentence_vectors
    changed = (
        bool(report.added or report.updated or report.removed or report.repaired)
        or not same_model
        or (previous is not None and chunking_changed(previous, settings, plan))
        or (previous is not None and previous.stories is None)  # written before stories: link them now
        or (previous is not None and previous.info.schema_version < SCHEMA_VERSION)  # store where dates come from
    )
    report.total_articles = len(articles)
    if not changed or not articles:
        if previous is not None and not changed:
            report.total_chunks, report.total_sentences = len(previous.chunks), len(previous.sentences)
            remove_stale_generations(settings.index_dir)
        report.seconds = time.perf_counter() - started
        return report

    reuse = ReusableVectors(previous, same_model, settings, plan)
    fresh = set(report.added) | set(report.updated) if previous is not None and same_model else set(articles)
    if previous is not None and same_model and chunking_changed(previous, settings, plan):
        fresh = set(articles)
    precision = str(getattr(embedder, "precision", "fp32")) if fresh else "fp32"  # asking loads a lazy engine
    report.precision = precision
    embed_started = time.perf_counter()
    counts = {"articles": 0, "chunks": 0, "batch_articles": 0, "batch_chunks": 0, "batch_done": 0}

    def on_chunks(n: int) -> None:
        counts["chunks"] += n
        counts["batch_done"] += n
        # Articles of the batch being embedded count by the share of its chunks done, so the time left
        # shows from the first slice on instead of after the first batch.
        within = counts["batch_articles"] * min(counts["batch_done"], counts["batch_chunks"]) // max(1, counts["batch_chunks"])
        if progress:
            progress(
                IndexProgress(
                    counts["articles"] + within,
                    len(fresh),
                    counts["chunks"],
                    time.perf_counter() - embed_started,
                    precision,
                )
            )

    batcher = BatchEmbedder(embedder, settings, plan, reuse, report, on_chunks)
    # What the run keeps of the rows it has written: each sentence's words for the near-duplicate
    # step (which compares sentences across the whole collection) and its article id.
    dedup_tokens: list[frozenset[str]] = []
    dedup_docs: list[str] = []
    ordered = sorted(articles)
    stories = previous.stories if previous is not None else None
    to_link = {d for d in ordered if d in fresh or stories is None or stories.row(d) is None}
    link_rows: dict[str, tuple[int, list[list[str]]]] = {}  # first sentence row, names per sentence
    size = settings.retrieval.index_batch_articles
    with GenerationWriter(settings.index_dir, embedder.dimension) as writer:
        for begin in range(0, len(ordered), size):  # steps 3, 6 and 7 a batch at a time
            batch = [articles[d] for d in ordered[begin : begin + size]]
            segmented = [segment(a, settings) for a in batch]
            counts["batch_articles"] = sum(1 for a in batch if a.doc_id in fresh)
            counts["batch_chunks"] = sum(len(c) for a, (_, c) in zip(batch, segmented) if a.doc_id in fresh)
            counts["batch_done"] = 0
            chunk_vectors, sentence_vectors = batcher.vectors(batch, segmented)
            sentences = [s for doc_sentences, _ in segmented for s in doc_sentences]
            writer.add_articles(batch)
            row = writer.n_sentences
            for article, (doc_sentences, _) in zip(batch, segmented):
                if article.doc_id in to_link:
                    link_rows[article.doc_id] = (row, [name_words(s.text) for s in doc_sentences])
                row += len(doc_sentences)
            writer.add_rows(sentences, [c for _, doc_chunks in segmented for c in doc_chunks], chunk_vectors, sentence_vectors)
            dedup_tokens += [frozenset(sys.intern(t) for t in sentence_tokens(s.text)) for s in sentences]
            dedup_docs += [s.doc_id for s in sentences]
            del segmented, sentences, chunk_vectors, sentence_vectors
            counts["articles"] += counts["batch_articles"]
            counts["batch_articles"] = counts["batch_chunks"] = counts["batch_done"] = 0
            on_chunks(0)
        groups = near_duplicate_groups_of(dedup_tokens, dedup_docs)
        writer.set_dup_groups(groups)  # step 4
        writer.set_stories(_linked_stories(stories, ordered, link_rows, groups, dedup_docs, writer, embedder))
        del dedup_tokens, dedup_docs, groups
        writer.finish(build_info(settings, embedder, plan, precision, writer.n_chunks))
    report.batches_written = writer.batches
    return finish_report(report, articles, writer.n_chunks, writer.n_sentences, started)


def _linked_stories(
    previous: StoryTable | None,
    ordered: list[str],
    link_rows: dict[str, tuple[int, list[list[str]]]],
    groups: Sequence[int | None],
    group_docs: Sequence[str],
    writer: GenerationWriter,
    embedder: Embedder,
) -> StoryTable:
    """Step 4b: the stories of the new generation: kept articles keep theirs, the others are linked
    (retrieval/story_linking.py) in id order, boilerplate sentences left out of their vectors and names."""
    members: dict[int, set[str]] = {}
    for group, doc_id in zip(groups, group_docs):
        if group is not None:
            members.setdefault(group, set()).add(doc_id)
    wide = {g for g, docs in members.items() if len(docs) >= BOILERPLATE_MIN_ARTICLES}
    new = []
    if link_rows:
        common = common_direction_of(embedder.embed_passages(list(NEUTRAL_PASSAGES)))
        vectors = writer.sentence_vectors_written()
        for doc_id in ordered:
            if doc_id not in link_rows:
                continue
            first, words = link_rows[doc_id]
            keep = [i for i in range(len(words)) if groups[first + i] not in wide] or list(range(len(words)))
            new.append(
                ArticleFeatures(
                    doc_id,
                    article_vector(np.asarray(vectors[[first + i for i in keep]]), common),
                    terms_of_words(w for i in keep for w in words[i]),
                )
            )
        del vectors
    kept = [d for d in ordered if d not in link_rows]
    table = link_stories(previous, kept, new, time.time())
    logger.info("%d articles in %d stories (%d linked now)", len(table.doc_ids), len(set(table.stories)), len(new))
    return table


def build_info(settings: Settings, embedder: Embedder, plan: VectorPlan, precision: str, n_chunks: int) -> BuildInfo:
    """Everything the build used, recorded with the generation (a query must use the same model)."""
    r = settings.retrieval
    return BuildInfo(
        model_id=embedder.model_id,
        backend=embedder.backend,
        dimension=embedder.dimension,
        index_type=choose_index_type(r.index_type, n_chunks, r.exact_search_max_chunks),
        chunk_sentences=r.chunk_sentences,
        chunk_overlap=r.chunk_overlap,
        chunk_max_chars=r.chunk_max_chars,
        chunk_vectors=plan.chunk_vectors,
        sentence_vectors=plan.sentence_vectors,
        precision=precision,
        created=time.time(),
    )


def write_index(
    settings: Settings,
    embedder: Embedder,
    plan: VectorPlan,
    precision: str,
    articles: dict[str, Article],
    sentences: list[Sentence],
    chunks: list[Chunk],
    chunk_vectors: np.ndarray,
    sentence_vectors: np.ndarray,
) -> None:
    """A new generation from whole lists (callers that hold them anyway, e.g. bench/gpu.py)."""
    info = build_info(settings, embedder, plan, precision, len(chunks))
    write_generation(
        settings.index_dir, IndexData(info, articles, sentences, chunks, chunk_vectors, sentence_vectors)
    )


def finish_report(
    report: IndexReport, articles: dict[str, Article], n_chunks: int, n_sentences: int, started: float
) -> IndexReport:
    """Step 8: totals and timings of the run, logged."""
    report.wrote_index = True
    report.total_chunks = n_chunks
    report.total_sentences = n_sentences
    report.seconds = time.perf_counter() - started
    logger.info(
        "indexed %d articles (%d added, %d updated, %d removed), embedded %d texts in %.1fs (%s, %s sentence vectors)",
        len(articles), len(report.added), len(report.updated), len(report.removed), report.texts_embedded,
        report.embed_seconds, report.precision, report.sentence_vectors,
    )  # fmt: skip
    return report


def index_uploaded_article(
    raw: bytes, filename: str, settings: Settings, embedder: Embedder | None = None
) -> Article:
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
        raise UnsupportedFileError(
            f"{filename}: unsupported file type {suffix or '(none)'}; send .txt, .md or .html"
        )
    if len(raw) > settings.retrieval.max_file_bytes:
        raise IngestError(
            f"{filename}: {len(raw):,} bytes is larger than the {settings.retrieval.max_file_bytes:,} byte limit"
        )
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
