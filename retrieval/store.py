"""On-disk index: one generation folder per build, switched atomically through a pointer file.

A generation holds `meta.sqlite` (articles, sentences, chunks, build info), the chunk and sentence
vectors (`.npy`), the FAISS index and the BM25 index. A build writes a new generation, fsyncs it,
and only then replaces `CURRENT` with `os.replace`; a crash or kill at any point before that leaves
the previous generation untouched and in use.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.dense import build_faiss_index, load_faiss_index, save_faiss_index
from retrieval.errors import IndexCorruptError, IndexMissingError
from retrieval.lexical import LexicalIndex
from retrieval.types import Article, Chunk, Sentence, first_sentence_rows

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 2  # 2: BM25 tokens join digit groups written with spaces ("12 000"; retrieval/numbers.py)
POINTER = "CURRENT"
REBUILD_HINT = "run `newsbot index` to build it"


@dataclass(frozen=True)
class BuildInfo:
    """How an index was built; a query must use the same model."""

    model_id: str
    backend: str
    dimension: int
    index_type: str
    chunk_sentences: int
    chunk_overlap: int
    chunk_max_chars: int
    chunk_vectors: str = "embedded"  # indexes written before the setting existed embedded their chunks
    schema_version: int = SCHEMA_VERSION
    created: float = 0.0


@dataclass
class IndexData:
    """Everything one generation holds, row-aligned: chunk i has vector i, sentence j has vector j."""

    info: BuildInfo
    articles: dict[str, Article]
    sentences: list[Sentence]
    chunks: list[Chunk]
    chunk_vectors: np.ndarray
    sentence_vectors: np.ndarray
    faiss_index: Any = None
    lexical: LexicalIndex | None = None
    sentence_base: dict[str, int] = field(init=False)
    group_docs: dict[int, tuple[str, ...]] = field(init=False)

    def __post_init__(self) -> None:
        # Lookups the answerer needs per question, computed once per load instead of per request.
        self.sentence_base = first_sentence_rows(self.sentences)
        members: dict[int, set[str]] = {}
        for sentence in self.sentences:
            if sentence.dup_group is not None:
                members.setdefault(sentence.dup_group, set()).add(sentence.doc_id)
        self.group_docs = {group: tuple(sorted(docs)) for group, docs in members.items()}


_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE articles (
    doc_id TEXT PRIMARY KEY, title TEXT NOT NULL, text TEXT NOT NULL, content_hash TEXT NOT NULL,
    source_path TEXT NOT NULL, published TEXT, url TEXT, outlet TEXT, language TEXT NOT NULL
);
CREATE TABLE sentences (
    id INTEGER PRIMARY KEY, doc_id TEXT NOT NULL REFERENCES articles(doc_id), position INTEGER NOT NULL,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, dup_group INTEGER
);
CREATE TABLE chunks (
    id INTEGER PRIMARY KEY, doc_id TEXT NOT NULL REFERENCES articles(doc_id), position INTEGER NOT NULL,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, first_sentence INTEGER NOT NULL, last_sentence INTEGER NOT NULL
);
CREATE INDEX sentences_doc ON sentences(doc_id, position);
CREATE INDEX chunks_doc ON chunks(doc_id, position);
"""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(folder: Path) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    for path in sorted((p for p in folder.rglob("*") if p.is_dir()), reverse=True):
        _fsync_dir(path)
    _fsync_dir(folder)


def current_generation(index_dir: Path) -> Path | None:
    """The folder of the index in use, or None when none was ever completed."""
    pointer = index_dir / POINTER
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise IndexCorruptError(f"cannot read {pointer}: {e}; {REBUILD_HINT}") from e
    if not name or "/" in name or name.startswith("."):
        raise IndexCorruptError(f"{pointer} is damaged; {REBUILD_HINT}")
    return index_dir / name


def write_generation(index_dir: Path, data: IndexData) -> Path:
    """Write `data` as a new generation and make it current atomically; returns its folder."""
    index_dir.mkdir(parents=True, exist_ok=True)
    name = f"gen-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
    staging = index_dir / f".tmp-{name}"
    staging.mkdir()
    try:
        _write_sqlite(staging / "meta.sqlite", data)
        np.save(staging / "chunk_vectors.npy", data.chunk_vectors.astype(np.float32))
        np.save(staging / "sentence_vectors.npy", data.sentence_vectors.astype(np.float32))
        faiss_index = data.faiss_index or build_faiss_index(data.chunk_vectors, data.info.index_type)
        save_faiss_index(faiss_index, staging / "chunks.faiss")
        lexical = data.lexical or LexicalIndex.build([c.text for c in data.chunks])
        lexical.save(staging / "bm25")
        _fsync_tree(staging)
        final = index_dir / name
        os.rename(staging, final)
        tmp_pointer = index_dir / f".{POINTER}.{uuid.uuid4().hex[:8]}"
        with open(tmp_pointer, "w", encoding="utf-8") as handle:
            handle.write(name + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        previous = current_generation_or_none(index_dir)
        os.replace(tmp_pointer, index_dir / POINTER)
        _fsync_dir(index_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    remove_stale_generations(index_dir, keep=final)
    logger.info("index generation %s is now current (previous: %s)", name, previous.name if previous else None)
    return final


def current_generation_or_none(index_dir: Path) -> Path | None:
    try:
        return current_generation(index_dir)
    except IndexCorruptError:
        return None


def remove_stale_generations(index_dir: Path, keep: Path | None = None) -> None:
    """Delete generations that are not current, and staging folders left by crashed builds."""
    keep = keep or current_generation_or_none(index_dir)
    for child in index_dir.iterdir():
        if child.is_dir() and child != keep and (child.name.startswith("gen-") or child.name.startswith(".tmp-gen-")):
            shutil.rmtree(child, ignore_errors=True)
        elif child.name.startswith(f".{POINTER}."):
            child.unlink(missing_ok=True)


def _write_sqlite(path: Path, data: IndexData) -> None:
    connection = sqlite3.connect(path)
    try:
        connection.executescript(_SCHEMA)
        info = asdict(data.info)
        connection.executemany("INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in info.items()])
        connection.executemany(
            "INSERT INTO articles VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (a.doc_id, a.title, a.text, a.content_hash, a.source_path, a.published, a.url, a.outlet, a.language)
                for a in data.articles.values()
            ],
        )
        connection.executemany(
            "INSERT INTO sentences VALUES (?, ?, ?, ?, ?, ?)",
            [(i, s.doc_id, s.position, s.start, s.end, s.dup_group) for i, s in enumerate(data.sentences)],
        )
        connection.executemany(
            "INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (i, c.doc_id, c.position, c.start, c.end, c.first_sentence, c.last_sentence)
                for i, c in enumerate(data.chunks)
            ],
        )
        connection.commit()
    finally:
        connection.close()


def read_build_info(index_dir: Path) -> BuildInfo | None:
    """Build info of the current index without loading vectors (None: no index)."""
    generation = current_generation(index_dir)
    if generation is None:
        return None
    return _read_info(_connect(generation / "meta.sqlite"))


def _connect(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise IndexCorruptError(f"index file {path} is missing; {REBUILD_HINT}")
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        connection.execute("SELECT count(*) FROM meta").fetchone()
    except sqlite3.DatabaseError as e:
        raise IndexCorruptError(f"index file {path} is corrupt ({e}); {REBUILD_HINT}") from e
    return connection


def _read_info(connection: sqlite3.Connection) -> BuildInfo:
    values = {k: json.loads(v) for k, v in connection.execute("SELECT key, value FROM meta")}
    try:
        return BuildInfo(**values)
    except TypeError as e:
        raise IndexCorruptError(f"index metadata is incomplete ({e}); {REBUILD_HINT}") from e


def load_index(index_dir: Path, with_search_structures: bool = True) -> IndexData:
    """Load the current generation; raises `IndexMissingError` / `IndexCorruptError` with the fix."""
    generation = current_generation(index_dir)
    if generation is None:
        raise IndexMissingError(f"no index in {index_dir}; {REBUILD_HINT}")
    if not generation.is_dir():
        raise IndexCorruptError(f"index folder {generation} is missing; {REBUILD_HINT}")
    connection = _connect(generation / "meta.sqlite")
    try:
        info = _read_info(connection)
        if info.schema_version != SCHEMA_VERSION:
            raise IndexCorruptError(f"index in {generation} has schema {info.schema_version}; {REBUILD_HINT}")
        articles = {
            row[0]: Article(*row)
            for row in connection.execute(
                "SELECT doc_id, title, text, content_hash, source_path, published, url, outlet, language FROM articles"
            )
        }
        sentences = [
            Sentence(doc_id=d, position=p, start=s, end=e, text=articles[d].text[s:e], dup_group=g)
            for d, p, s, e, g in connection.execute(
                'SELECT doc_id, position, start, "end", dup_group FROM sentences ORDER BY id'
            )
        ]
        chunks = [
            Chunk(doc_id=d, position=p, start=s, end=e, text=articles[d].text[s:e], first_sentence=f, last_sentence=lst)
            for d, p, s, e, f, lst in connection.execute(
                'SELECT doc_id, position, start, "end", first_sentence, last_sentence FROM chunks ORDER BY id'
            )
        ]
    except sqlite3.DatabaseError as e:
        raise IndexCorruptError(f"index file {generation / 'meta.sqlite'} is corrupt ({e}); {REBUILD_HINT}") from e
    finally:
        connection.close()

    chunk_vectors = _load_vectors(generation / "chunk_vectors.npy", len(chunks), info.dimension)
    sentence_vectors = _load_vectors(generation / "sentence_vectors.npy", len(sentences), info.dimension)
    data = IndexData(info, articles, sentences, chunks, chunk_vectors, sentence_vectors)
    if with_search_structures:
        faiss_path = generation / "chunks.faiss"
        if not faiss_path.is_file():
            raise IndexCorruptError(f"index file {faiss_path} is missing; {REBUILD_HINT}")
        try:
            data.faiss_index = load_faiss_index(faiss_path)
        except RuntimeError as e:
            raise IndexCorruptError(f"index file {faiss_path} is corrupt ({e}); {REBUILD_HINT}") from e
        if data.faiss_index.ntotal != len(chunks):
            raise IndexCorruptError(f"index file {faiss_path} does not match the metadata; {REBUILD_HINT}")
        try:
            data.lexical = LexicalIndex.load(generation / "bm25", len(chunks))
        except Exception as e:  # bm25s raises assorted errors on damaged files
            raise IndexCorruptError(f"BM25 index in {generation / 'bm25'} is unreadable ({e}); {REBUILD_HINT}") from e
    return data


def _load_vectors(path: Path, rows: int, dimension: int) -> np.ndarray:
    try:
        vectors = np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError as e:
        raise IndexCorruptError(f"index file {path} is missing; {REBUILD_HINT}") from e
    except (ValueError, OSError) as e:
        raise IndexCorruptError(f"index file {path} is corrupt ({e}); {REBUILD_HINT}") from e
    if vectors.shape != (rows, dimension):
        raise IndexCorruptError(f"index file {path} has shape {vectors.shape}, expected {(rows, dimension)}; {REBUILD_HINT}")
    return np.asarray(vectors)
