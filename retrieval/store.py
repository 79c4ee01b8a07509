"""On-disk index: one generation folder per build, switched atomically through a pointer file.

A generation holds `meta.sqlite` (articles, sentences, chunks, build info), the chunk and sentence
vectors (`.npy`), the FAISS index, the BM25 index and `sources.json` (each article's id, source path
and content hash, kept apart so that a damaged `meta.sqlite` still says what the index held). A
build writes a new generation, fsyncs it, and only then replaces `CURRENT` with `os.replace`; a
crash or kill at any point before that leaves the previous generation untouched and in use.

Writers (every `index` run, bot upload or job) hold one cross-process lock (`WRITER.lock`, via
`filelock`) around their whole read-merge-write, so a second writer sees the first one's articles.
Readers take no lock: replaced generations are kept (the newest `KEEP_GENERATIONS`, and any replaced
less than `GRACE_SECONDS` ago) so a reader that read `CURRENT` just before a switch can still open
its generation, and a reader whose generation vanished anyway loads the new `CURRENT` again.
A missing or unreadable `CURRENT` falls back to the newest complete generation; nothing is deleted.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock, Timeout

from retrieval.dense import build_faiss_index, load_faiss_index, save_faiss_index
from retrieval.errors import IndexBusyError, IndexCorruptError, IndexMissingError
from retrieval.lexical import LexicalIndex
from retrieval.types import Article, Chunk, Sentence, first_sentence_rows

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 2  # 2: BM25 tokens join digit groups written with spaces ("12 000"; retrieval/numbers.py)
POINTER = "CURRENT"
WRITER_LOCK = "WRITER.lock"
SOURCES = "sources.json"
GENERATION_PARTS = ("meta.sqlite", "chunk_vectors.npy", "sentence_vectors.npy", "chunks.faiss", "bm25")
BUILD_HINT = "run `newsbot index` to build it"
# `newsbot index` checks the current generation and rebuilds what is damaged from what is intact.
REBUILD_HINT = "run `newsbot index` to repair it"
KEEP_GENERATIONS = 3  # a reader holds a generation for well under a second; three switches is ample
GRACE_SECONDS = 120.0  # ...and a generation replaced this recently is kept whatever the count
READ_ATTEMPTS = 3


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
    sentence_vectors: str = "embedded"  # "late": from the chunks' pass (retrieval.indexer)
    precision: str = "fp32"  # number format the vectors were computed in (models.precision)
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


# -- the writer lock -------------------------------------------------------------------------------

_writer_locks: dict[str, FileLock] = {}
_writer_locks_guard = threading.Lock()


def _writer_lock(index_dir: Path) -> FileLock:
    # One FileLock object per path and process: it is re-entrant within a thread and exclusive
    # between threads (thread_local), and a second object on the same file would deadlock on flock.
    key = str(index_dir.resolve())
    with _writer_locks_guard:
        lock = _writer_locks.get(key)
        if lock is None:
            lock = _writer_locks[key] = FileLock(index_dir / WRITER_LOCK)
        return lock


@contextmanager
def index_writer(index_dir: Path, wait: bool = True) -> Iterator[None]:
    """Hold the cross-process writer lock of `index_dir` for a whole read-merge-write.

    A second writer logs that it waits (or, with `wait=False`, raises `IndexBusyError`). Re-entrant
    within a thread, so the store's own writes can take it again under a caller's update.
    """
    index_dir.mkdir(parents=True, exist_ok=True)
    lock = _writer_lock(index_dir)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if not wait:
            raise IndexBusyError(
                f"another process is writing the index in {index_dir}; try again when it has finished, "
                "or run `newsbot index` without --no-wait to wait for it"
            ) from None
        logger.warning("another process is writing the index in %s; waiting for it to finish", index_dir)
        started = time.perf_counter()
        lock.acquire()
        logger.warning("the index in %s is free again after %.1f s; continuing", index_dir, time.perf_counter() - started)
    try:
        yield
    finally:
        lock.release()


# -- generations -----------------------------------------------------------------------------------


def list_generations(index_dir: Path) -> list[Path]:
    """Completed generation folders, oldest first (names start with their creation time)."""
    try:
        children = list(index_dir.iterdir())
    except FileNotFoundError:
        return []
    return sorted(c for c in children if c.name.startswith("gen-") and c.is_dir())


def is_complete(generation: Path) -> bool:
    """Every part of a generation is present (a cheap check; `load_generation` reads them)."""
    return all((generation / part).exists() for part in GENERATION_PARTS)


def _pointer_name(raw: bytes) -> str | None:
    try:
        name = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        return None
    if not name.startswith("gen-") or "/" in name or "\\" in name or "\0" in name:
        return None
    return name


def _pointed_name(index_dir: Path) -> str | None:
    try:
        return _pointer_name((index_dir / POINTER).read_bytes())
    except OSError:
        return None


def current_generation(index_dir: Path) -> Path | None:
    """The folder of the index in use, or None when no generation was ever completed.

    A missing, unreadable or damaged `CURRENT`, or one naming a folder that is gone, falls back to
    the newest complete generation (logged); the next write repairs the pointer.
    """
    pointer = index_dir / POINTER
    problem = None
    try:
        raw = pointer.read_bytes()
    except FileNotFoundError:
        raw, problem = None, "missing"
    except OSError as e:
        raw, problem = None, f"unreadable ({e.strerror or e})"
    if raw is not None:
        name = _pointer_name(raw)
        if name is None:
            problem = "damaged"
        elif (index_dir / name).is_dir():
            return index_dir / name
        else:
            problem = f"naming {name}, which is gone"
    fallback = next((g for g in reversed(list_generations(index_dir)) if is_complete(g)), None)
    if fallback is not None:
        logger.warning("%s is %s; using the newest complete generation %s", pointer, problem, fallback.name)
    return fallback


def current_generation_or_none(index_dir: Path) -> Path | None:
    try:
        return current_generation(index_dir)
    except IndexCorruptError:
        return None


def _new_generation_name() -> str:
    now = time.time()
    micro = int((now % 1) * 1_000_000)
    return f"gen-{time.strftime('%Y%m%d-%H%M%S', time.localtime(now))}-{micro:06d}-{uuid.uuid4().hex[:8]}"


def write_generation(index_dir: Path, data: IndexData) -> Path:
    """Write `data` as a new generation and make it current atomically; returns its folder."""
    with index_writer(index_dir):
        previous = current_generation(index_dir)
        name = _new_generation_name()
        staging = index_dir / f".tmp-{name}"
        staging.mkdir()
        try:
            _write_sqlite(staging / "meta.sqlite", data)
            _write_sources(staging / SOURCES, data)
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
            os.replace(tmp_pointer, index_dir / POINTER)
            _fsync_dir(index_dir)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        remove_stale_generations(index_dir)
    logger.info("index generation %s is now current (previous: %s)", name, previous.name if previous else None)
    return final


def repair_pointer(index_dir: Path, generation: Path) -> None:
    """Point `CURRENT` at `generation` (after it fell back to it), atomically."""
    with index_writer(index_dir):
        tmp_pointer = index_dir / f".{POINTER}.{uuid.uuid4().hex[:8]}"
        with open(tmp_pointer, "w", encoding="utf-8") as handle:
            handle.write(generation.name + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_pointer, index_dir / POINTER)
        _fsync_dir(index_dir)


def remove_stale_generations(
    index_dir: Path, keep_last: int = KEEP_GENERATIONS, grace_seconds: float = GRACE_SECONDS
) -> None:
    """Delete old generations no reader can still be opening, and what crashed builds left behind.

    Kept: the current generation, the newest `keep_last`, and every generation whose successor
    became current less than `grace_seconds` ago (a reader may have read `CURRENT` just before).
    """
    with index_writer(index_dir):
        current = current_generation_or_none(index_dir)
        generations = list_generations(index_dir)
        now = time.time()
        for position, older in enumerate(generations[: max(len(generations) - keep_last, 0)]):
            successor = generations[position + 1]
            if older == current:
                continue
            try:
                replaced_at = successor.stat().st_ctime  # the rename that completed the successor
            except FileNotFoundError:
                continue
            if now - replaced_at >= grace_seconds:
                shutil.rmtree(older, ignore_errors=True)
        for child in index_dir.iterdir():
            # Under the writer lock no build is running: staging folders and pointer files are leftovers.
            if child.is_dir() and child.name.startswith(".tmp-gen-"):
                shutil.rmtree(child, ignore_errors=True)
            elif child.name.startswith(f".{POINTER}."):
                child.unlink(missing_ok=True)


def _write_sources(path: Path, data: IndexData) -> None:
    rows = [
        {"doc_id": a.doc_id, "source_path": a.source_path, "content_hash": a.content_hash} for a in data.articles.values()
    ]
    path.write_text(json.dumps(rows, ensure_ascii=False, indent=0), encoding="utf-8")


def read_sources(generation: Path) -> list[dict[str, str]] | None:
    """The articles a generation held (id, source path, content hash), or None when unreadable."""
    try:
        rows = json.loads((generation / SOURCES).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and {"doc_id", "source_path"} <= r.keys() for r in rows):
        return None
    return rows


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
    connection = _connect(generation / "meta.sqlite")
    try:
        return _read_info(connection)
    finally:
        connection.close()


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
    try:
        values = {k: json.loads(v) for k, v in connection.execute("SELECT key, value FROM meta")}
        return BuildInfo(**values)
    except (TypeError, ValueError, sqlite3.DatabaseError) as e:
        raise IndexCorruptError(f"index metadata is incomplete ({e}); {REBUILD_HINT}") from e


def load_index(index_dir: Path, with_search_structures: bool = True) -> IndexData:
    """Load the current generation; raises `IndexMissingError` / `IndexCorruptError` with the fix.

    A generation replaced (and, rarely, removed) while it was being read is not damage: the new
    `CURRENT` is read and loaded instead.
    """
    for attempt in range(1, READ_ATTEMPTS + 1):
        generation = current_generation(index_dir)
        if generation is None:
            raise IndexMissingError(f"no index in {index_dir}; {BUILD_HINT}")
        try:
            return load_generation(generation, with_search_structures)
        except IndexCorruptError:
            if attempt < READ_ATTEMPTS and current_generation(index_dir) != generation:
                logger.info("index generation %s was replaced while it was read; reading the new one", generation.name)
                continue
            raise
    raise AssertionError("unreachable")


def load_metadata(generation: Path) -> tuple[BuildInfo, dict[str, Article], list[Sentence], list[Chunk]]:
    """The articles, sentences and chunks of one generation (no vectors)."""
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
    except (sqlite3.DatabaseError, KeyError, TypeError) as e:
        raise IndexCorruptError(f"index file {generation / 'meta.sqlite'} is corrupt ({e!r}); {REBUILD_HINT}") from e
    finally:
        connection.close()
    return info, articles, sentences, chunks


def load_generation(generation: Path, with_search_structures: bool = True) -> IndexData:
    """Load one generation folder, checking every part against the metadata."""
    info, articles, sentences, chunks = load_metadata(generation)
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


# -- repair ----------------------------------------------------------------------------------------


@dataclass
class UpdateBase:
    """What an update merges into: the intact part of the current index, and what had to be repaired.

    `previous` carries only vectors that were checked; `reread` lists (doc_id, source_path) of
    articles whose metadata was lost and must be read again from their files.
    """

    previous: IndexData | None
    repaired: list[str] = field(default_factory=list)
    reread: list[tuple[str, str]] = field(default_factory=list)


def load_for_update(index_dir: Path) -> UpdateBase:
    """The current index as a base for an update, repairing what is damaged from what is intact.

    - FAISS or BM25 damaged: kept metadata and vectors; the search structures are rebuilt on write.
    - vectors damaged: kept metadata; every text is embedded again.
    - metadata damaged: the newest intact older generation, plus the articles the damaged one's
      `sources.json` lists, read again from their files.
    Raises `IndexCorruptError` (naming `newsbot index --rebuild`) only when nothing says what the
    index held, so an update never silently shrinks a collection.
    """
    generation = current_generation(index_dir)
    if generation is None:
        return UpdateBase(None)
    if _pointed_name(index_dir) != generation.name:
        logger.warning("pointing %s at %s again", index_dir / POINTER, generation.name)
        repair_pointer(index_dir, generation)
    try:
        return UpdateBase(load_generation(generation, with_search_structures=True))
    except IndexCorruptError as e:
        problem = str(e).removesuffix(f"; {REBUILD_HINT}")
    logger.warning("repairing the index: %s", problem)
    try:
        return UpdateBase(load_generation(generation, with_search_structures=False), repaired=[problem])
    except IndexCorruptError:
        pass
    try:
        info, articles, _, _ = load_metadata(generation)
        empty = np.zeros((0, info.dimension), np.float32)
        return UpdateBase(IndexData(info, articles, [], [], empty, empty), repaired=[problem])
    except IndexCorruptError:
        pass
    sources = read_sources(generation)
    base: IndexData | None = None
    for older in reversed(list_generations(index_dir)):
        if older == generation:
            continue
        try:
            base = load_generation(older, with_search_structures=False)
            break
        except IndexCorruptError as e:
            logger.warning("earlier generation %s is damaged too: %s", older.name, e)
    if sources is None and base is None:
        raise IndexCorruptError(
            f"the index in {generation} is damaged ({problem}) and neither its list of sources nor an earlier "
            f"generation survived; rebuild it with `newsbot index --rebuild FOLDER...` naming every folder of articles"
        )
    known = base.articles if base is not None else {}
    reread = [
        (row["doc_id"], row["source_path"])
        for row in sources or []
        if row["doc_id"] not in known or known[row["doc_id"]].content_hash != row.get("content_hash")
    ]
    if sources is None:
        logger.warning("%s is unreadable; articles added by the damaged generation must be indexed again", generation / SOURCES)
    return UpdateBase(base, repaired=[problem], reread=reread)
