"""PostgreSQL + pgvector store: articles, sentences, chunks, vectors and German full text in one
database that many bot processes and ingest workers share.

Transactions replace the embedded store's generation folders: an article is written (or replaced)
with all its sentences and chunks in one transaction, so a reader sees all of it or none of it.
Writers take one advisory lock per batch (the near-duplicate groups and the BM25 statistics are
collection-wide); readers never wait for it.

Sentence ids are `article_no << 16 | position`: the answerer addresses sentences by integer id and
by "the article's first sentence + position" (`sentence_base`), and a replaced article gets a new
`article_no`, so ids a reader already holds never point at another article's text.

Each article's story (retrieval/story_linking.py) is linked in the transaction that writes it, under
the writer lock, and kept on its row with the vector and names later articles are compared with.

Vectors are stored as `halfvec` (16-bit floats): half the memory of `vector`, and XQuAD hybrid R@1
does not move (`newsbot bench --suite pg`, BENCHMARKS.md).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from retrieval.dedup import near_duplicate_groups
from retrieval.errors import IndexCorruptError, IndexMissingError, ModelMismatchError, StoreUnavailableError
from retrieval.numbers import join_digit_groups
from retrieval.store_protocol import BuildInfo
from retrieval.stores.postgres.reconnect import retry_on_lost_connection
from retrieval.story_linking import (
    BOILERPLATE_MIN_ARTICLES,
    CANDIDATES,
    STORY_MEMBERS,
    StoryCandidate,
    StoryLinker,
    StoryMember,
    article_vector,
    name_words,
    terms_of_words,
)
from retrieval.types import Article, Chunk, Sentence

logger = logging.getLogger(__name__)

SENTENCE_BITS = 16
MAX_SENTENCES = 1 << SENTENCE_BITS
WRITER_LOCK = 0x6E657773  # pg_advisory_xact_lock key ("news") held by every writing transaction
TEXT_CONFIG = "german"
# BM25 parameters of bm25s (retrieval/lexical.py), so the lexical scores rank like the embedded store's.
BM25_K1 = 1.5
BM25_B = 0.75
REBUILD_HINT = "run `newsbot index` (or `newsbot migrate`) with NEWSBOT_DATABASE_URL set"
def full_text_input(text: str) -> str:
    """Text as the full-text index sees it: digit groups joined ("1.500", "12 000" → "1500", "12000"), like BM25's tokenizer."""
    return join_digit_groups(text)


def connect(url: str, autocommit: bool = False) -> Any:
    """A psycopg 3 connection with pgvector's types registered (the extension is created if missing)."""
    try:
        import psycopg
        from pgvector.psycopg import register_vector
    except ImportError as e:
        raise StoreUnavailableError(
            "NEWSBOT_DATABASE_URL is set but psycopg/pgvector are not installed; pip install 'newsbot[postgres]'"
        ) from e
    try:
        connection = psycopg.connect(url, autocommit=True)
    except psycopg.OperationalError as e:
        raise StoreUnavailableError(f"cannot connect to the database in NEWSBOT_DATABASE_URL: {e}".strip()) from e
    try:
        connection.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateObject):
        pass  # another process created it at the same moment
    register_vector(connection)
    connection.autocommit = autocommit
    return connection


def _schema(dimension: int) -> str:
    return f"""
CREATE TABLE IF NOT EXISTS build_info (key TEXT PRIMARY KEY, value JSONB NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    no BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    doc_id TEXT NOT NULL UNIQUE, title TEXT NOT NULL, text TEXT NOT NULL, content_hash TEXT NOT NULL,
    source_path TEXT NOT NULL, published TEXT, url TEXT, outlet TEXT, language TEXT NOT NULL,
    indexed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    story BIGINT, story_vector HALFVEC({dimension}), story_terms TEXT[],
    date_source TEXT, fallback_date TEXT
);
CREATE TABLE IF NOT EXISTS sentences (
    article_no BIGINT NOT NULL REFERENCES articles(no) ON DELETE CASCADE,
    position INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL, dup_group BIGINT,
    embedding HALFVEC({dimension}) NOT NULL,
    PRIMARY KEY (article_no, position)
);
CREATE INDEX IF NOT EXISTS sentences_group ON sentences (dup_group) WHERE dup_group IS NOT NULL;
CREATE TABLE IF NOT EXISTS chunks (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    article_no BIGINT NOT NULL REFERENCES articles(no) ON DELETE CASCADE,
    position INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL,
    first_sentence INTEGER NOT NULL, last_sentence INTEGER NOT NULL,
    published TEXT, outlet TEXT, language TEXT NOT NULL, -- published: the article's best day (what windows filter on)
    embedding HALFVEC({dimension}) NOT NULL,
    tsv TSVECTOR NOT NULL, tokens INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_article ON chunks (article_no, position);
CREATE INDEX IF NOT EXISTS chunks_published ON chunks (published);
CREATE INDEX IF NOT EXISTS chunks_outlet ON chunks (outlet);
CREATE INDEX IF NOT EXISTS chunks_tsv ON chunks USING gin (tsv);
CREATE INDEX IF NOT EXISTS chunks_embedding ON chunks USING hnsw (embedding halfvec_ip_ops);
CREATE TABLE IF NOT EXISTS lexemes (lexeme TEXT PRIMARY KEY, chunks INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS corpus_stats (
    id INTEGER PRIMARY KEY CHECK (id = 1), chunks BIGINT NOT NULL, tokens BIGINT NOT NULL
);
INSERT INTO corpus_stats VALUES (1, 0, 0) ON CONFLICT DO NOTHING;
"""


def _story_columns(conn: Any, dimension: int) -> None:
    """Add the story columns to a database written before stories (checked first: an ALTER TABLE
    would lock out readers even when it changes nothing)."""
    present = conn.execute(
        "SELECT 1 FROM information_schema.columns WHERE table_name = 'articles' AND column_name = 'story'"
    ).fetchone()
    if not present:
        conn.execute(
            f"ALTER TABLE articles ADD COLUMN IF NOT EXISTS story BIGINT, "
            f"ADD COLUMN IF NOT EXISTS story_vector HALFVEC({dimension}), ADD COLUMN IF NOT EXISTS story_terms TEXT[]"
        )
    conn.execute("CREATE INDEX IF NOT EXISTS articles_story ON articles (story)")
    # How many linked articles name each stem: the IDF of story linking (kept like `lexemes`).
    conn.execute("CREATE TABLE IF NOT EXISTS story_names (term TEXT PRIMARY KEY, articles INTEGER NOT NULL)")


def _date_columns(conn: Any) -> None:
    """Add where each article's date comes from to a database written before it was stored: dated
    articles as published, undated ones dated by the day they were indexed (as the embedded store
    reads its schema 2), and that day into the chunks' filter column so windows find them. Checked
    first: an ALTER TABLE would lock out readers even when it changes nothing."""
    if _has_date_columns(conn):
        return
    conn.execute("ALTER TABLE articles ADD COLUMN IF NOT EXISTS date_source TEXT, ADD COLUMN IF NOT EXISTS fallback_date TEXT")
    conn.execute(
        "UPDATE articles SET date_source = CASE WHEN published IS NULL THEN 'indexed' ELSE 'published' END, "
        "fallback_date = CASE WHEN published IS NULL THEN to_char(indexed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') END"
    )
    conn.execute(
        "UPDATE chunks c SET published = a.fallback_date FROM articles a "
        "WHERE c.article_no = a.no AND c.published IS NULL AND a.fallback_date IS NOT NULL"
    )
    logger.info("PostgreSQL store: articles now say where their date comes from (undated ones: the day they were indexed)")


def _has_date_columns(conn: Any) -> bool:
    return bool(
        conn.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_name = 'articles' AND column_name = 'date_source'"
        ).fetchone()
    )


@dataclass(frozen=True)
class ArticleRows:
    """One article ready to write: its sentences and chunks with their vectors (row-aligned)."""

    article: Article
    sentences: list[Sentence]
    chunks: list[Chunk]
    sentence_vectors: np.ndarray
    chunk_vectors: np.ndarray


def sentence_id(article_no: int, position: int) -> int:
    return (article_no << SENTENCE_BITS) | position


class PgStore:
    """Reads and transactional writes of one newsbot collection in PostgreSQL."""

    def __init__(self, url: str) -> None:
        self.url = url

    def connection(self, autocommit: bool = True) -> Any:
        return connect(self.url, autocommit=autocommit)

    # -- build info ----------------------------------------------------------------------------

    def read_build_info(self) -> BuildInfo | None:
        """The collection's build info, or None when nothing was ever indexed into this database."""
        with self.connection() as conn:
            exists = conn.execute("SELECT to_regclass('build_info') IS NOT NULL").fetchone()[0]
            if not exists:
                return None
            rows = conn.execute("SELECT key, value FROM build_info").fetchall()
        if not rows:
            return None
        try:
            return BuildInfo(**{key: value for key, value in rows})
        except TypeError as e:
            raise IndexCorruptError(f"build info in the database is incomplete ({e}); {REBUILD_HINT}") from e

    def require_build_info(self) -> BuildInfo:
        info = self.read_build_info()
        if info is None:
            raise IndexMissingError(f"the database holds no articles yet; {REBUILD_HINT}")
        return info

    # -- writes --------------------------------------------------------------------------------

    def known_articles(self) -> dict[str, tuple[str, str]]:
        """doc_id → (content_hash, source_path) of every stored article."""
        with self.connection() as conn:
            if not conn.execute("SELECT to_regclass('articles') IS NOT NULL").fetchone()[0]:
                return {}
            return {d: (h, p) for d, h, p in conn.execute("SELECT doc_id, content_hash, source_path FROM articles")}

    def first_indexed_days(self, doc_ids: Sequence[str]) -> dict[str, str]:
        """doc_id → the day it was dated by being indexed, for those of `doc_ids` that were (an
        edited undated file keeps that day)."""
        if not doc_ids:
            return {}
        with self.connection() as conn:
            return dict(
                conn.execute(
                    "SELECT doc_id, fallback_date FROM articles WHERE doc_id = ANY(%s) AND date_source = 'indexed'",
                    (list(doc_ids),),
                ).fetchall()
            )

    def add_date_columns(self) -> None:
        """Bring a database written before articles said where their date comes from up to date
        (a reader calls this once at load; nothing is locked when the columns are there)."""
        with self.connection(autocommit=False) as conn:
            if not conn.execute("SELECT to_regclass('articles') IS NOT NULL").fetchone()[0] or _has_date_columns(conn):
                return
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))
                _date_columns(conn)
            conn.commit()

    def counts(self) -> tuple[int, int, int]:
        """(articles, chunks, sentences) stored."""
        with self.connection() as conn:
            if not conn.execute("SELECT to_regclass('articles') IS NOT NULL").fetchone()[0]:
                return 0, 0, 0
            row = conn.execute(
                "SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM chunks), (SELECT count(*) FROM sentences)"
            ).fetchone()
            return int(row[0]), int(row[1]), int(row[2])

    def known_vectors(self, doc_ids: Iterable[str]) -> dict[str, np.ndarray]:
        """Sentence and chunk vectors of stored articles keyed by their text (re-indexing reuses them)."""
        ids = list(doc_ids)
        if not ids:
            return {}
        out: dict[str, np.ndarray] = {}
        with self.connection() as conn:
            for table in ("sentences", "chunks"):
                rows = conn.execute(
                    f'SELECT substr(a.text, t.start + 1, t."end" - t.start), t.embedding FROM {table} t '
                    "JOIN articles a ON a.no = t.article_no WHERE a.doc_id = ANY(%s)",
                    (ids,),
                    binary=True,
                )
                for text, vector in rows:
                    out.setdefault(text, vector.to_numpy().astype(np.float32))
        return out

    def write(
        self, info: BuildInfo, items: Sequence[ArticleRows], removed: Sequence[str] = (), common: np.ndarray | None = None
    ) -> None:
        """Replace or add `items` and delete `removed` in one transaction; with the model's `common`
        direction, link every article that has no story yet (the new ones, in id order).

        Refuses a collection built with another model (`ModelMismatchError`), like the embedded store.
        """
        for item in items:
            if len(item.sentences) >= MAX_SENTENCES:
                raise IndexCorruptError(f"{item.article.doc_id}: more than {MAX_SENTENCES - 1} sentences")
        with self.connection(autocommit=False) as conn:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))
                conn.execute(_schema(info.dimension))
                _story_columns(conn, info.dimension)
                _date_columns(conn)
                self._check_or_store_info(conn, info)
                replaced = [i.article.doc_id for i in items] + list(removed)
                self._delete(conn, replaced)
                for item in items:
                    self._insert(conn, item)
                self._refresh_duplicate_groups(conn)
                if common is not None:
                    self._link_stories(conn, common)
            conn.commit()

    def link_unlinked(self, info: BuildInfo, common: np.ndarray) -> None:
        """Link the articles that have no story (stored before stories existed), if there are any."""
        with self.connection(autocommit=False) as conn:
            if not conn.execute("SELECT to_regclass('articles') IS NOT NULL").fetchone()[0]:
                return
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))
                conn.execute(_schema(info.dimension))
                _story_columns(conn, info.dimension)
                if conn.execute("SELECT 1 FROM articles WHERE story IS NULL LIMIT 1").fetchone():
                    self._link_stories(conn, common)
            conn.commit()

    def _check_or_store_info(self, conn: Any, info: BuildInfo) -> None:
        rows = dict(conn.execute("SELECT key, value FROM build_info").fetchall())
        if rows:
            stored = BuildInfo(**rows)
            mine = (info.model_id, info.dimension, info.chunk_sentences, info.chunk_overlap, info.chunk_max_chars, info.chunk_vectors)
            theirs = (stored.model_id, stored.dimension, stored.chunk_sentences, stored.chunk_overlap, stored.chunk_max_chars, stored.chunk_vectors)
            if mine != theirs:
                raise ModelMismatchError(
                    f"the database was built with {stored.model_id} ({stored.dimension} dimensions, chunks of "
                    f"{stored.chunk_sentences}/{stored.chunk_overlap}/{stored.chunk_max_chars}, {stored.chunk_vectors}) "
                    f"but this run uses {info.model_id} ({info.dimension}, {info.chunk_sentences}/{info.chunk_overlap}/"
                    f"{info.chunk_max_chars}, {info.chunk_vectors}); use a new database or configure the same model"
                )
            return
        from psycopg.types.json import Jsonb

        conn.cursor().executemany(
            "INSERT INTO build_info VALUES (%s, %s)", [(k, Jsonb(v)) for k, v in asdict(info).items()]
        )

    def _delete(self, conn: Any, doc_ids: Sequence[str]) -> None:
        if not doc_ids:
            return
        # BM25 statistics lose the deleted chunks' lexemes before the rows go.
        conn.execute(
            "UPDATE lexemes l SET chunks = l.chunks - s.n FROM ("
            "  SELECT u.lexeme, count(*) AS n FROM chunks c JOIN articles a ON a.no = c.article_no,"
            "  unnest(c.tsv) u WHERE a.doc_id = ANY(%s) GROUP BY u.lexeme) s WHERE l.lexeme = s.lexeme",
            (list(doc_ids),),
        )
        conn.execute(
            "UPDATE corpus_stats SET chunks = corpus_stats.chunks - s.n, tokens = corpus_stats.tokens - s.t FROM ("
            "  SELECT count(*) AS n, coalesce(sum(c.tokens), 0) AS t FROM chunks c JOIN articles a ON a.no = c.article_no"
            "  WHERE a.doc_id = ANY(%s)) s",
            (list(doc_ids),),
        )
        # ...and the story names their linked articles counted.
        conn.execute(
            "UPDATE story_names n SET articles = n.articles - s.c FROM ("
            "  SELECT t, count(*) AS c FROM articles a, unnest(a.story_terms) t"
            "  WHERE a.doc_id = ANY(%s) AND a.story IS NOT NULL GROUP BY t) s WHERE n.term = s.t",
            (list(doc_ids),),
        )
        conn.execute("DELETE FROM articles WHERE doc_id = ANY(%s)", (list(doc_ids),))

    def _insert(self, conn: Any, item: ArticleRows) -> None:
        a = item.article
        article_no = conn.execute(
            "INSERT INTO articles (doc_id, title, text, content_hash, source_path, published, url, outlet, language, "
            "date_source, fallback_date) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING no",
            (a.doc_id, a.title, a.text, a.content_hash, a.source_path, a.published, a.url, a.outlet, a.language)
            + (a.date_source, a.fallback_date),
        ).fetchone()[0]
        with conn.cursor().copy(
            'COPY sentences (article_no, position, start, "end", embedding) FROM STDIN WITH (FORMAT BINARY)'
        ) as copy:
            copy.set_types(["int8", "int4", "int4", "int4", "halfvec"])
            for s, v in zip(item.sentences, item.sentence_vectors):
                copy.write_row((article_no, s.position, s.start, s.end, _halfvec(v)))
        conn.cursor().executemany(
            "INSERT INTO chunks (article_no, position, start, \"end\", first_sentence, last_sentence, published, "
            "outlet, language, embedding, tsv, tokens) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
            f"to_tsvector('{TEXT_CONFIG}', %s), 0)",
            [
                (article_no, c.position, c.start, c.end, c.first_sentence, c.last_sentence, a.date, a.outlet,
                 a.language, _halfvec(v), full_text_input(c.text))
                for c, v in zip(item.chunks, item.chunk_vectors)
            ],
        )  # fmt: skip
        conn.execute(
            "UPDATE chunks SET tokens = (SELECT coalesce(sum(cardinality(u.positions)), 0) FROM unnest(tsv) u) "
            "WHERE article_no = %s",
            (article_no,),
        )
        conn.execute(
            "INSERT INTO lexemes SELECT u.lexeme, count(*) FROM chunks c, unnest(c.tsv) u WHERE c.article_no = %s "
            "GROUP BY u.lexeme ON CONFLICT (lexeme) DO UPDATE SET chunks = lexemes.chunks + excluded.chunks",
            (article_no,),
        )
        conn.execute(
            "UPDATE corpus_stats SET chunks = corpus_stats.chunks + s.n, tokens = corpus_stats.tokens + s.t FROM ("
            "  SELECT count(*) AS n, coalesce(sum(tokens), 0) AS t FROM chunks WHERE article_no = %s) s",
            (article_no,),
        )

    def _refresh_duplicate_groups(self, conn: Any) -> None:
        """Recompute near-duplicate groups over the whole collection (retrieval/dedup.py, as the embedded
        store does). A group's id is its smallest sentence id, so ids stay put when membership does.

        This reads every sentence once per write batch: fine to hundreds of thousands of sentences; past
        that the candidates should come from the database (pg_trgm) instead. The writer lock is held.
        """
        rows = conn.execute(
            'SELECT s.article_no, s.position, a.doc_id, substr(a.text, s.start + 1, s."end" - s.start), s.dup_group '
            "FROM sentences s JOIN articles a ON a.no = s.article_no ORDER BY s.article_no, s.position"
        ).fetchall()
        sentences = [Sentence(doc_id=d, position=p, start=0, end=0, text=t) for _, p, d, t, _ in rows]
        groups = near_duplicate_groups(sentences)
        first: dict[int, int] = {}
        for (no, position, *_), group in zip(rows, groups):
            if group is not None:
                sid = sentence_id(no, position)
                first[group] = min(first.get(group, sid), sid)
        changes = [
            (first[g] if g is not None else None, no, position)
            for (no, position, _, _, old), g in zip(rows, groups)
            if (first[g] if g is not None else None) != old
        ]
        if changes:
            conn.cursor().executemany(
                "UPDATE sentences SET dup_group = %s WHERE article_no = %s AND position = %s", changes
            )


    def _link_stories(self, conn: Any, common: np.ndarray) -> None:
        """Link every article without a story, in id order, to the stories stored before it."""
        todo = conn.execute("SELECT no, doc_id, text FROM articles WHERE story IS NULL ORDER BY doc_id").fetchall()
        if not todo:
            return
        wide = {
            r[0]
            for r in conn.execute(
                "SELECT s.dup_group FROM sentences s WHERE s.dup_group IS NOT NULL GROUP BY s.dup_group "
                "HAVING count(DISTINCT s.article_no) >= %s",
                (BOILERPLATE_MIN_ARTICLES,),
            )
        }
        # Names counted over the stored articles, as the embedded store counts them (story_linking.link_stories).
        counts: dict[str, int] = {}
        linker = StoryLinker(lambda term: counts.get(term, 0), 0)
        next_story = int(conn.execute("SELECT coalesce(max(story), -1) + 1 FROM articles").fetchone()[0])
        linked = int(conn.execute("SELECT count(*) FROM articles WHERE story IS NOT NULL").fetchone()[0])
        for no, _doc_id, text in todo:
            rows = conn.execute(
                'SELECT start, "end", dup_group, embedding FROM sentences WHERE article_no = %s ORDER BY position',
                (no,),
                binary=True,
            ).fetchall()
            kept = [r for r in rows if r[2] not in wide] or rows
            vectors = np.stack([r[3].to_numpy() for r in kept]).astype(np.float32) if kept else np.zeros((0, len(common)), np.float32)
            vector = article_vector(vectors, common)
            terms = terms_of_words(w for start, end, *_ in kept for w in name_words(text[start:end]))
            candidates = [
                StoryCandidate(d, int(story), v.to_numpy().astype(np.float32), frozenset(t or ()))
                for d, story, v, t in conn.execute(
                    "SELECT doc_id, story, story_vector, story_terms FROM articles WHERE story IS NOT NULL "
                    "ORDER BY story_vector <#> %s, doc_id LIMIT %s",
                    (_halfvec(vector), CANDIDATES),
                    binary=True,
                )
            ]
            members = _story_members(conn, list(dict.fromkeys(c.story for c in candidates)))
            wanted = sorted(terms.union(*(m.terms for group in members.values() for m in group)))
            counts = dict(conn.execute("SELECT term, articles FROM story_names WHERE term = ANY(%s)", (wanted,)).fetchall())
            linker.recount(linked)
            story = linker.link(vector, terms, candidates, lambda _, found=members: found)
            if story is None:
                story, next_story = next_story, next_story + 1
            conn.execute(
                "UPDATE articles SET story = %s, story_vector = %s, story_terms = %s WHERE no = %s",
                (story, _halfvec(vector), sorted(terms), no),
            )
            conn.execute(
                "INSERT INTO story_names SELECT unnest(%s::text[]), 1 "
                "ON CONFLICT (term) DO UPDATE SET articles = story_names.articles + 1",
                (sorted(terms),),
            )
            linked += 1
        logger.info("linked %d articles to stories", len(todo))


def _story_members(conn: Any, stories: list[int]) -> dict[int, list[StoryCandidate]]:
    """The most recent `STORY_MEMBERS` articles of each story (by when they entered, then by id),
    as the embedded store picks them (story_linking.link_stories)."""
    rows = conn.execute(
        "SELECT doc_id, story, story_vector, story_terms FROM ("
        "  SELECT doc_id, story, story_vector, story_terms, row_number() OVER ("
        "    PARTITION BY story ORDER BY indexed_at DESC, doc_id DESC) AS rank"
        "  FROM articles WHERE story = ANY(%s)) ranked WHERE rank <= %s",
        (stories, STORY_MEMBERS),
        binary=True,
    ).fetchall()
    out: dict[int, list[StoryCandidate]] = {story: [] for story in stories}
    for doc_id, story, vector, terms in rows:
        out[int(story)].append(StoryCandidate(doc_id, int(story), vector.to_numpy().astype(np.float32), frozenset(terms or ())))
    return out


def _halfvec(vector: np.ndarray) -> Any:
    from pgvector import HalfVector

    return HalfVector(np.asarray(vector, dtype=np.float32))


# -- the reading side: a lazy view with the shape of `IndexData` ---------------------------------


@dataclass(frozen=True)
class _LoadedArticle:
    no: int
    article: Article
    sentences: list[Sentence]
    vectors: np.ndarray


_ABSENT = Sentence(doc_id="", position=-1, start=0, end=0, text="")

_ARTICLE_QUERY = (
    "SELECT a.no, a.doc_id, a.title, a.text, a.content_hash, a.source_path, a.published, a.url, a.outlet, "
    "a.language, a.date_source, a.fallback_date, "
    'array_agg(s.position ORDER BY s.position), array_agg(s.start ORDER BY s.position), '
    'array_agg(s."end" ORDER BY s.position), array_agg(s.dup_group ORDER BY s.position), '
    "array_agg(s.embedding ORDER BY s.position) "
    "FROM articles a LEFT JOIN sentences s ON s.article_no = a.no WHERE {where} GROUP BY a.no"
)


class PgCorpus:
    """What the answerer reads (articles, sentences by id, their vectors, duplicate groups), fetched
    from the database on first use and cached for the life of this view (one question).

    An article comes with all its sentences in one statement, so a view never holds half an article.
    Given `reconnect` (a new connection), every statement waits for a server that went away (restarted
    between the search and these lazy loads) as `reconnect.py` says, for at most `reconnect_s`.
    """

    def __init__(
        self, conn: Any, info: BuildInfo, reconnect: Callable[[], Any] | None = None, reconnect_s: float = 0.0
    ) -> None:
        self._conn: Any = conn
        self._reconnect = reconnect
        self._reconnect_s = reconnect_s
        self.info = info
        self._by_no: dict[int, _LoadedArticle | None] = {}
        self._no_of: dict[str, int | None] = {}
        self._groups: dict[int, tuple[str, ...]] = {}
        self.articles = _Articles(self)
        self.sentences = _Sentences(self)
        self.sentence_vectors = _SentenceVectors(self)
        self.sentence_base = _SentenceBase(self)
        self.group_docs = _GroupDocs(self)
        # What the fitted answer scorer reads for IDF (answers/answer_scorer.py): the number of chunks
        # and each stem's chunk frequency, from the BM25 statistics the writers keep.
        self.chunks = _ChunkCount(self)
        self.lexical = _LexemeFrequencies(self)

    @property
    def in_memory(self) -> bool:
        return False  # a per-search view: whole-collection work on it would be thrown away with it

    def rows(self, sql: str, params: Any = None, binary: bool = False) -> list[Any]:
        """All rows of one statement, run again on a new connection while the server is away."""
        if self._reconnect is None:
            return self._conn.execute(sql, params, binary=binary).fetchall()
        return retry_on_lost_connection(lambda: self._rows_once(sql, params, binary), self._drop, self._reconnect_s)

    def _rows_once(self, sql: str, params: Any, binary: bool) -> list[Any]:
        if self._conn is None:
            assert self._reconnect is not None
            self._conn = self._reconnect()
        return self._conn.execute(sql, params, binary=binary).fetchall()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        try:
            conn.close()
        except Exception:
            logger.debug("closing a broken database connection failed", exc_info=True)

    def load(self, *, nos: Iterable[int] = (), doc_ids: Iterable[str] = ()) -> None:
        """Fetch the articles not cached yet (one statement for all of them)."""
        nos = [n for n in set(nos) if n not in self._by_no]
        doc_ids = [d for d in set(doc_ids) if d not in self._no_of]
        if not nos and not doc_ids:
            return
        rows = self.rows(  # binary: vectors arrive as bytes, 10x faster than parsing their text
            _ARTICLE_QUERY.format(where="a.no = ANY(%s) OR a.doc_id = ANY(%s)"), (nos, doc_ids), binary=True
        )
        for row in rows:
            self._remember(row)
        for n in nos:
            self._by_no.setdefault(n, None)
        for d in doc_ids:
            self._no_of.setdefault(d, None)

    def _remember(self, row: tuple) -> None:
        no, *fields = row[:12]
        article = Article(*fields)
        positions, starts, ends, groups, vectors = row[12:]
        sentences: list[Sentence] = []
        matrix = np.zeros((0, self.info.dimension), dtype=np.float32)
        if positions and positions[0] is not None:
            sentences = [
                Sentence(article.doc_id, p, s, e, article.text[s:e], g)
                for p, s, e, g in zip(positions, starts, ends, groups)
            ]
            matrix = np.stack([v.to_numpy() for v in vectors]).astype(np.float32)
        self._by_no[no] = _LoadedArticle(no, article, sentences, matrix)
        self._no_of[article.doc_id] = no

    def article_sentence_ids(self, doc_id: str) -> range:
        """The ids of all the article's sentences (fetched with the article); KeyError if it is not stored."""
        no = self.article_no(doc_id)
        loaded = self.loaded(no) if no is not None else None
        if loaded is None:
            raise KeyError(doc_id)
        first = sentence_id(no, 0)
        return range(first, first + len(loaded.sentences))

    def article_no(self, doc_id: str) -> int | None:
        self.load(doc_ids=[doc_id])
        return self._no_of.get(doc_id)

    def loaded(self, no: int) -> _LoadedArticle | None:
        self.load(nos=[no])
        return self._by_no.get(no)

    def story_members(self, doc_ids: Iterable[str] | None = None) -> list[StoryMember]:
        """Every article of the stories of `doc_ids` (all when None); an article not linked yet
        (a collection written before stories) is a story of its own."""
        select = (
            "SELECT doc_id, coalesce(story, -no), published, outlet, extract(epoch FROM indexed_at)::float8, "
            "coalesce(published, fallback_date) FROM articles"
        )
        if doc_ids is None:
            rows = self.rows(select + " ORDER BY doc_id")
        else:
            ids = list(doc_ids)
            # Two index look-ups (an OR would scan the table); an article not linked yet is its own story.
            rows = self.rows(
                f"({select} WHERE story = ANY(SELECT story FROM articles WHERE doc_id = ANY(%s) AND story IS NOT NULL)) "
                f"UNION ALL ({select} WHERE story IS NULL AND doc_id = ANY(%s)) ORDER BY 1",
                (ids, ids),
            )
        return [StoryMember(d, int(s), p, o, float(t), day) for d, s, p, o, t, day in rows]

    def cross_story_groups(self, doc_ids: Iterable[str] | None = None) -> frozenset[int]:
        """Near-duplicate groups (of `doc_ids`' sentences; all when None) that more than one story carries."""
        where, params = "s.dup_group IS NOT NULL", ()
        if doc_ids is not None:
            where = (
                "s.dup_group IN (SELECT s2.dup_group FROM sentences s2 JOIN articles a2 ON a2.no = s2.article_no "
                "WHERE a2.doc_id = ANY(%s) AND s2.dup_group IS NOT NULL)"
            )
            params = (list(doc_ids),)  # type: ignore[assignment]
        rows = self.rows(
            f"SELECT s.dup_group FROM sentences s JOIN articles a ON a.no = s.article_no WHERE {where} "
            "GROUP BY s.dup_group HAVING count(DISTINCT coalesce(a.story, -a.no)) > 1",
            params,
        )
        return frozenset(int(r[0]) for r in rows)

    def several_stories(self) -> bool:
        """Stops at the first article of a second story instead of counting every story."""
        return bool(
            self.rows(
                "SELECT EXISTS (SELECT 1 FROM articles a, (SELECT coalesce(story, -no) AS s FROM articles LIMIT 1) f "
                "WHERE coalesce(a.story, -a.no) <> f.s)"
            )[0][0]
        )

    def group(self, group: int) -> tuple[str, ...]:
        if group not in self._groups:
            rows = self.rows(
                "SELECT DISTINCT a.doc_id FROM sentences s JOIN articles a ON a.no = s.article_no "
                "WHERE s.dup_group = %s ORDER BY 1",
                (group,),
            )
            self._groups[group] = tuple(r[0] for r in rows)
        return self._groups[group]


class _ChunkCount(Sized):
    """`len(corpus.chunks)`: the collection's chunk count (the chunks themselves stay in the database)."""

    def __init__(self, corpus: PgCorpus) -> None:
        self._c = corpus
        self._n: int | None = None

    def __len__(self) -> int:
        if self._n is None:
            self._n = int(self._c.rows("SELECT chunks FROM corpus_stats")[0][0])
        return self._n


class _LexemeFrequencies:
    """`document_frequency(stem)` like the embedded store's BM25 index, from the `lexemes` table
    (PostgreSQL's Snowball stems; the embedded store's are PyStemmer's Snowball, the same algorithm)."""

    def __init__(self, corpus: PgCorpus) -> None:
        self._c = corpus
        self._df: dict[str, int] = {}

    def document_frequency(self, token: str) -> int:
        if token not in self._df:
            rows = self._c.rows("SELECT chunks FROM lexemes WHERE lexeme = %s", (token,))
            self._df[token] = int(rows[0][0]) if rows else 0
        return self._df[token]


class _Articles(Mapping[str, Article]):
    def __init__(self, corpus: PgCorpus) -> None:
        self._c = corpus

    def __getitem__(self, doc_id: str) -> Article:
        no = self._c.article_no(doc_id)
        loaded = self._c.loaded(no) if no is not None else None
        if loaded is None:
            raise KeyError(doc_id)
        return loaded.article

    def __iter__(self) -> Iterator[str]:
        return iter([r[0] for r in self._c.rows("SELECT doc_id FROM articles ORDER BY doc_id")])

    def __len__(self) -> int:
        return int(self._c.rows("SELECT count(*) FROM articles")[0][0])


class _Sentences(Sequence[Sentence]):
    """Sentences by id; an id between two articles reads as an empty sentence of no article (the
    answerer asks for `sid - 1` to find a previous sentence and compares doc ids)."""

    def __init__(self, corpus: PgCorpus) -> None:
        self._c = corpus

    def __getitem__(self, sid: Any) -> Any:
        sid = int(sid)
        loaded = self._c.loaded(sid >> SENTENCE_BITS)
        position = sid & (MAX_SENTENCES - 1)
        if loaded is None or position >= len(loaded.sentences):
            return _ABSENT
        return loaded.sentences[position]

    def __len__(self) -> int:
        top = self._c.rows("SELECT coalesce(max(no), 0) FROM articles")[0][0]
        return (int(top) + 1) << SENTENCE_BITS


class _SentenceVectors:
    def __init__(self, corpus: PgCorpus) -> None:
        self._c = corpus

    def __getitem__(self, ids: Any) -> np.ndarray:
        if isinstance(ids, (int, np.integer)):
            return self._row(int(ids))
        if isinstance(ids, slice):  # an article's rows, `vectors[base : base + count]`
            ids = range(*ids.indices(ids.stop if ids.stop is not None else 0))
        sids = [int(i) for i in np.asarray(ids).ravel()]
        self._c.load(nos=[s >> SENTENCE_BITS for s in sids])
        if not sids:
            return np.zeros((0, self._c.info.dimension), dtype=np.float32)
        return np.stack([self._row(s) for s in sids])

    def _row(self, sid: int) -> np.ndarray:
        loaded = self._c.loaded(sid >> SENTENCE_BITS)
        position = sid & (MAX_SENTENCES - 1)
        if loaded is None or position >= len(loaded.sentences):
            raise KeyError(f"no sentence {sid}")
        return loaded.vectors[position]


class _SentenceBase(Mapping[str, int]):
    def __init__(self, corpus: PgCorpus) -> None:
        self._c = corpus

    def __getitem__(self, doc_id: str) -> int:
        no = self._c.article_no(doc_id)
        if no is None:
            raise KeyError(doc_id)
        return sentence_id(no, 0)

    def __iter__(self) -> Iterator[str]:
        return iter(self._c.articles)

    def __len__(self) -> int:
        return len(self._c.articles)


class _GroupDocs(Mapping[int, tuple[str, ...]]):
    def __init__(self, corpus: PgCorpus) -> None:
        self._c = corpus

    def __getitem__(self, group: int) -> tuple[str, ...]:
        return self._c.group(int(group))

    def get(self, group: Any, default: Any = None) -> Any:
        docs = self._c.group(int(group))
        return docs if docs else default

    def __iter__(self) -> Iterator[int]:
        rows = self._c.rows("SELECT DISTINCT dup_group FROM sentences WHERE dup_group IS NOT NULL")
        return iter([r[0] for r in rows])

    def __len__(self) -> int:
        return sum(1 for _ in self)


def info_json(info: BuildInfo) -> str:
    return json.dumps(asdict(info))
