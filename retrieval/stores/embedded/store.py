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

Stories (retrieval/story_linking.py) are stored with the generation: each article's story, the time
it entered the collection and its names in `meta.sqlite`, its story vector in `article_vectors.npy`.
A generation written before stories existed has neither; every article then reads as its own story
until the next `newsbot index` links them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import sqlite3
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Self

import numpy as np
from filelock import FileLock, Timeout

from retrieval.dense import build_faiss_index, load_faiss_index, save_faiss_index
from retrieval.errors import IndexBusyError, IndexCorruptError, IndexMissingError
from retrieval.lexical import LexicalIndex, tokenize
from retrieval.store_protocol import READABLE_SCHEMAS, BuildInfo
from retrieval.story_linking import NameColumn, StoryMember, StoryTable
from retrieval.types import Article, Chunk, Sentence, first_sentence_rows

logger = logging.getLogger(__name__)

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
    stories: StoryTable | None = None  # None: a generation written before stories were linked
    sentence_base: dict[str, int] = field(init=False)
    group_docs: dict[int, tuple[str, ...]] = field(init=False)
    _article_rows: dict[str, range] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Lookups the answerer needs per question, computed once per load instead of per request.
        self.sentence_base = first_sentence_rows(self.sentences)
        counts = Counter(sentence.doc_id for sentence in self.sentences)
        self._article_rows = {doc: range(base, base + counts[doc]) for doc, base in self.sentence_base.items()}
        members: dict[int, set[str]] = {}
        for sentence in self.sentences:
            if sentence.dup_group is not None:
                members.setdefault(sentence.dup_group, set()).add(sentence.doc_id)
        self.group_docs = {group: tuple(sorted(docs)) for group, docs in members.items()}

    def article_sentence_ids(self, doc_id: str) -> range:
        """The ids of all the article's sentences (they are contiguous); KeyError if it is not indexed."""
        return self._article_rows[doc_id]

    @property
    def in_memory(self) -> bool:
        return True

    def _story_labels(self) -> tuple[dict[str, int], dict[str, float]]:
        """doc_id -> story and doc_id -> time added, from the stored table (built once per load)."""
        labels = getattr(self, "_labels", None)
        if labels is None:
            table = self.stories
            if table is None:  # a generation written before stories: every article its own story
                ordered = sorted(self.articles)
                labels = ({d: -(i + 1) for i, d in enumerate(ordered)}, dict.fromkeys(ordered, self.info.created))
            else:
                labels = (dict(zip(table.doc_ids, table.stories)), dict(zip(table.doc_ids, table.added)))
            self._labels = labels
        return labels

    def story_members(self, doc_ids: Iterable[str] | None = None) -> list[StoryMember]:
        """Every article of the stories of `doc_ids` (of all stories when None), as stored."""
        story, added = self._story_labels()
        if doc_ids is None:
            members = sorted(story)
        else:
            by_story: dict[int, list[str]] | None = getattr(self, "_by_story", None)
            if by_story is None:  # story -> its articles, built once per load
                by_story = {}
                for d, s in story.items():
                    by_story.setdefault(s, []).append(d)
                self._by_story = by_story
            members = sorted({d for s in {story[d] for d in doc_ids if d in story} for d in by_story[s]})
        return [
            StoryMember(d, story[d], self.articles[d].published, self.articles[d].outlet, added[d], self.articles[d].date)
            for d in members
        ]

    def cross_story_groups(self, doc_ids: Iterable[str] | None = None) -> frozenset[int]:
        """Near-duplicate groups (of `doc_ids`' sentences; all when None) carried by more than one story."""
        story, _ = self._story_labels()
        if doc_ids is None:
            groups: Iterable[int] = self.group_docs
        else:
            groups = {
                g for d in doc_ids for i in self._article_rows.get(d, ()) if (g := self.sentences[i].dup_group) is not None
            }
        return frozenset(g for g in groups if len({story.get(d) for d in self.group_docs[g]}) > 1)

    def several_stories(self) -> bool:
        several = getattr(self, "_several", None)
        if several is None:
            several = self._several = len(set(self._story_labels()[0].values())) > 1
        return several


# Each article's story, the row of its vector in `article_vectors.npy`, when it entered the
# collection and its names (space-separated stems); retrieval/story_linking.py.
STORIES_SCHEMA = """
CREATE TABLE article_stories (
    doc_id TEXT PRIMARY KEY REFERENCES articles(doc_id), story INTEGER NOT NULL, row INTEGER NOT NULL,
    added REAL NOT NULL, terms TEXT NOT NULL
);
"""

_SCHEMA = STORIES_SCHEMA + """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE articles (
    doc_id TEXT PRIMARY KEY, title TEXT NOT NULL, text TEXT NOT NULL, content_hash TEXT NOT NULL,
    source_path TEXT NOT NULL, published TEXT, url TEXT, outlet TEXT, language TEXT NOT NULL,
    date_source TEXT, fallback_date TEXT
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


VECTOR_BLOCK_ROWS = 65_536  # rows copied or added to FAISS at a time (25 MB at 384 dimensions)


class GenerationWriter:
    """A new generation written batch by batch, made current atomically by `finish`.

    Why: an index build should not hold every sentence and chunk record and every vector until one
    final write (memory would grow with the collection). Rows go into `meta.sqlite` and vectors are
    appended to raw files in the staging folder as each batch is embedded; `finish` turns the raw
    files into `.npy`, builds FAISS from the memory-mapped vectors block by block and BM25 from the
    chunks' tokens (kept, interned, as the only per-chunk state), fsyncs, renames and switches
    `CURRENT`. Until then nothing is visible: an exception (or a kill) leaves the staging folder,
    which `abort` or the next writer's `remove_stale_generations` deletes. Holds the writer lock
    from creation to `finish`/`abort`.
    """

    def __init__(self, index_dir: Path, dimension: int) -> None:
        self.index_dir = index_dir
        self.dimension = dimension
        self.n_chunks = 0
        self.n_sentences = 0
        self.batches = 0
        self._lock = index_writer(index_dir)
        self._lock.__enter__()
        try:
            # What a killed build left (a SIGKILL, a crash on a full disk) goes before this one needs the room.
            remove_unfinished_builds(index_dir)
            self.name = _new_generation_name()
            self.staging = index_dir / f".tmp-{self.name}"
            self.staging.mkdir()
            self._db = sqlite3.connect(self.staging / "meta.sqlite")
            self._db.executescript(_SCHEMA)
            # Open for the writer's lifetime: each batch appends; `finish` or `abort` closes them.
            self._raw = {
                part: open(self.staging / f"{part}.f32", "wb")  # noqa: SIM115
                for part in ("chunk_vectors", "sentence_vectors")
            }
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
        self._sources: list[dict[str, str]] = []
        self._chunk_tokens: list[list[str]] = []
        self._done = False  # finished or aborted
        self._locked = True

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        if not self._done:
            self.abort()

    def add_articles(self, articles: Iterable[Article]) -> None:
        rows = [
            (
                a.doc_id, a.title, a.text, a.content_hash, a.source_path, a.published, a.url, a.outlet, a.language,
                a.date_source, a.fallback_date,
            )
            for a in articles
        ]  # fmt: skip
        self._db.executemany("INSERT INTO articles VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        self._sources += [{"doc_id": r[0], "source_path": r[4], "content_hash": r[3]} for r in rows]

    def add_rows(
        self,
        sentences: Sequence[Sentence],
        chunks: Sequence[Chunk],
        chunk_vectors: np.ndarray,
        sentence_vectors: np.ndarray,
        lexical_tokens: Sequence[list[str]] | None = None,
    ) -> None:
        """Append a batch: rows get the next ids, vectors the next rows (row i of each belongs to item i).
        `lexical_tokens` are the chunks' BM25 tokens when the caller has them already."""
        if len(chunk_vectors) != len(chunks) or len(sentence_vectors) != len(sentences):
            raise ValueError("every chunk and sentence needs exactly one vector")
        self._db.executemany(
            "INSERT INTO sentences VALUES (?, ?, ?, ?, ?, ?)",
            [(self.n_sentences + i, s.doc_id, s.position, s.start, s.end, s.dup_group) for i, s in enumerate(sentences)],
        )
        self._db.executemany(
            "INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (self.n_chunks + i, c.doc_id, c.position, c.start, c.end, c.first_sentence, c.last_sentence)
                for i, c in enumerate(chunks)
            ],
        )
        self._raw["chunk_vectors"].write(np.ascontiguousarray(chunk_vectors, dtype=np.float32).tobytes())
        self._raw["sentence_vectors"].write(np.ascontiguousarray(sentence_vectors, dtype=np.float32).tobytes())
        tokens = lexical_tokens if lexical_tokens is not None else tokenize([c.text for c in chunks])
        self._chunk_tokens += [[sys.intern(t) for t in doc] for doc in tokens]  # one string per distinct token
        self.n_sentences += len(sentences)
        self.n_chunks += len(chunks)
        self.batches += 1

    def set_dup_groups(self, groups: Sequence[int | None]) -> None:
        """Near-duplicate groups, one per sentence row in order (known only once every batch is in)."""
        if len(groups) != self.n_sentences:
            raise ValueError(f"{len(groups)} groups for {self.n_sentences} sentences")
        self._db.executemany(
            "UPDATE sentences SET dup_group = ? WHERE id = ?", [(g, i) for i, g in enumerate(groups) if g is not None]
        )

    def sentence_vectors_written(self) -> np.ndarray:
        """The sentence vectors appended so far (memory-mapped; valid until `finish` or `abort`)."""
        self._raw["sentence_vectors"].flush()
        if self.n_sentences == 0:
            return np.zeros((0, self.dimension), np.float32)
        path = self.staging / "sentence_vectors.f32"
        return np.memmap(path, dtype=np.float32, mode="r", shape=(self.n_sentences, self.dimension))

    def set_stories(self, table: StoryTable) -> None:
        """Every article's story (written once all rows are in; `table` covers every article added)."""
        self._db.executemany(
            "INSERT INTO article_stories VALUES (?, ?, ?, ?, ?)",
            [
                (d, table.stories[i], i, table.added[i], " ".join(sorted(table.terms[i])))
                for i, d in enumerate(table.doc_ids)
            ],
        )
        np.save(self.staging / "article_vectors.npy", np.ascontiguousarray(table.vectors, dtype=np.float32))

    def finish(self, info: BuildInfo, faiss_index: Any = None, lexical: LexicalIndex | None = None) -> Path:
        """Complete the generation and make it current; returns its folder."""
        try:
            previous = current_generation(self.index_dir)
            self._db.executemany("INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in asdict(info).items()])
            self._db.commit()
            self._db.close()
            for handle in self._raw.values():
                handle.close()
            chunk_vectors = self._to_npy("chunk_vectors", self.n_chunks)
            self._to_npy("sentence_vectors", self.n_sentences)
            (self.staging / SOURCES).write_text(json.dumps(self._sources, ensure_ascii=False, indent=0), encoding="utf-8")
            if faiss_index is None:
                faiss_index = build_faiss_index(chunk_vectors, info.index_type)
            del chunk_vectors
            save_faiss_index(faiss_index, self.staging / "chunks.faiss")
            del faiss_index
            if lexical is None:
                lexical = LexicalIndex.from_tokens(self._chunk_tokens)
            self._chunk_tokens = []
            lexical.save(self.staging / "bm25")
            _fsync_tree(self.staging)
            final = self.index_dir / self.name
            os.rename(self.staging, final)
            self.staging = final  # from here an abort removes the renamed folder, until CURRENT names it
            tmp_pointer = self.index_dir / f".{POINTER}.{uuid.uuid4().hex[:8]}"
            with open(tmp_pointer, "w", encoding="utf-8") as handle:
                handle.write(self.name + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_pointer, self.index_dir / POINTER)
            self._done = True  # CURRENT names it: never removed by an abort from here on
            _fsync_dir(self.index_dir)
            remove_stale_generations(self.index_dir)
        except BaseException:
            self.abort()
            raise
        finally:
            self._unlock()
        logger.info(
            "index generation %s is now current (previous: %s)", self.name, previous.name if previous else None
        )
        return final

    def abort(self) -> None:
        """Drop the staging folder; the current generation stays as it was."""
        if not self._done:
            self._done = True
            try:
                self._db.close()
                for handle in self._raw.values():
                    handle.close()
                shutil.rmtree(self.staging, ignore_errors=True)
            finally:
                self._unlock()
        self._unlock()

    def _unlock(self) -> None:
        if self._locked:
            self._locked = False
            self._lock.__exit__(None, None, None)

    def _to_npy(self, part: str, rows: int) -> np.ndarray:
        """`part.npy` from the raw rows appended so far, copied a block at a time; returned memory-mapped.

        Written with ordinary file writes, never through a writable memory map: on a full disk a
        write to a mapped page kills the process with SIGBUS ("Bus error", no message, the staging
        folder left behind), while `write` raises `OSError(ENOSPC)`, which aborts cleanly (issue 28).
        """
        raw_path = self.staging / f"{part}.f32"
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False, "shape": (rows, self.dimension)}
        block_bytes = VECTOR_BLOCK_ROWS * self.dimension * 4
        with open(self.staging / f"{part}.npy", "wb") as target, open(raw_path, "rb") as raw:
            np.lib.format.write_array_header_1_0(target, header)
            while block := raw.read(block_bytes):
                target.write(block)
            target.flush()
            os.fsync(target.fileno())
        raw_path.unlink()
        return np.load(self.staging / f"{part}.npy", mmap_mode="r")


def write_generation(index_dir: Path, data: IndexData) -> Path:
    """Write `data` as a new generation and make it current atomically; returns its folder."""
    with GenerationWriter(index_dir, data.info.dimension) as writer:
        writer.add_articles(data.articles.values())
        # A BM25 index that comes with the data needs no tokens of its own.
        tokens = [[] for _ in data.chunks] if data.lexical is not None else None
        writer.add_rows(data.sentences, data.chunks, data.chunk_vectors, data.sentence_vectors, lexical_tokens=tokens)
        if data.stories is not None:
            writer.set_stories(data.stories)
        return writer.finish(data.info, faiss_index=data.faiss_index, lexical=data.lexical)


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
        remove_unfinished_builds(index_dir)


def remove_unfinished_builds(index_dir: Path) -> None:
    """Delete staging folders and pointer files of builds that never finished; call under the writer
    lock (then no build is running, so whatever is there is a leftover)."""
    for child in index_dir.iterdir():
        if child.is_dir() and child.name.startswith(".tmp-gen-"):
            shutil.rmtree(child, ignore_errors=True)
        elif child.name.startswith(f".{POINTER}."):
            child.unlink(missing_ok=True)


def read_sources(generation: Path) -> list[dict[str, str]] | None:
    """The articles a generation held (id, source path, content hash), or None when unreadable."""
    try:
        rows = json.loads((generation / SOURCES).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and {"doc_id", "source_path"} <= r.keys() for r in rows):
        return None
    return rows


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
        if info.schema_version not in READABLE_SCHEMAS:
            raise IndexCorruptError(f"index in {generation} has schema {info.schema_version}; {REBUILD_HINT}")
        columns = "doc_id, title, text, content_hash, source_path, published, url, outlet, language"
        if info.schema_version >= 3:
            columns += ", date_source, fallback_date"
        articles = {row[0]: Article(*row) for row in connection.execute(f"SELECT {columns} FROM articles")}
        if info.schema_version < 3:
            articles = _dated_as_indexed(connection, articles, info)
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


def _dated_as_indexed(connection: sqlite3.Connection, articles: dict[str, Article], info: BuildInfo) -> dict[str, Article]:
    """The articles of a schema-2 generation, which did not record where dates come from: dated ones
    as published, undated ones by the day they entered the collection (the build's day when it
    predates stories), marked "indexed". The next `newsbot index` stores this as schema 3."""
    try:
        added = dict(connection.execute("SELECT doc_id, added FROM article_stories").fetchall())
    except sqlite3.DatabaseError:
        added = {}
    logger.info("index schema %d: undated articles are dated by the day they were indexed", info.schema_version)
    dated = {}
    for doc_id, article in articles.items():
        if article.published:
            dated[doc_id] = replace(article, date_source="published")
        else:
            when = float(added.get(doc_id, info.created))
            day = dt.datetime.fromtimestamp(when, dt.UTC).date().isoformat()
            dated[doc_id] = replace(article, date_source="indexed", fallback_date=day)
    return dated


def load_generation(generation: Path, with_search_structures: bool = True) -> IndexData:
    """Load one generation folder, checking every part against the metadata."""
    info, articles, sentences, chunks = load_metadata(generation)
    chunk_vectors = _load_vectors(generation / "chunk_vectors.npy", len(chunks), info.dimension)
    sentence_vectors = _load_vectors(generation / "sentence_vectors.npy", len(sentences), info.dimension)
    data = IndexData(info, articles, sentences, chunks, chunk_vectors, sentence_vectors)
    data.stories = load_stories(generation, info.dimension)
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


def load_stories(generation: Path, dimension: int) -> StoryTable | None:
    """The generation's stories, or None when it was written before stories were linked."""
    path = generation / "article_vectors.npy"
    if not path.is_file():
        return None
    connection = _connect(generation / "meta.sqlite")
    try:
        rows = connection.execute("SELECT doc_id, story, added, terms FROM article_stories ORDER BY row").fetchall()
    except sqlite3.DatabaseError as e:
        raise IndexCorruptError(f"stories in {generation / 'meta.sqlite'} are unreadable ({e}); {REBUILD_HINT}") from e
    finally:
        connection.close()
    vectors = _load_vectors(path, len(rows), dimension)
    return StoryTable(
        doc_ids=[r[0] for r in rows],
        stories=[int(r[1]) for r in rows],
        added=[float(r[2]) for r in rows],
        terms=NameColumn([r[3] for r in rows]),
        vectors=vectors,
    )


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
