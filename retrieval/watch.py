"""`newsbot watch`: follow feeds, sitemaps and folders, and index what is new, in batches.

Each source is polled on its own schedule. A new page is fetched once: a URL already seen (after
`fetch.normalise_url`) is never fetched again, and a page whose article text is already indexed
under another URL (a wire story in two feeds) is not indexed twice. New articles are written as
files (`retrieval/web.py`) and indexed `batch_articles` at a time through the configured store, so
each batch is one new index generation under the writer lock.

A source that is down, malformed or slow costs one log line and a back-off (its interval doubled
per failure, up to `backoff_max_s`); the other sources go on. A page that failed for a passing cause
(timeout, server error) is tried again later, at most `retries` times; one that has no article
text, is too large or loops is not. What was seen is kept in `<data_dir>/watch.sqlite`, so a
restarted watcher does not fetch again what it already has.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from config.settings import Settings
from models.embedders import Embedder
from retrieval.errors import IndexError_, IngestError
from retrieval.feeds import FeedError, FeedItem, parse_feed, parse_sitemap
from retrieval.fetch import FetchError, fetch, make_client, normalise_url
from retrieval.indexing import IndexReport
from retrieval.ingest import SUPPORTED_SUFFIXES, iter_article_files
from retrieval.watch_config import WatchConfig
from retrieval.web import PageArticle, page_to_article, save_page_article

logger = logging.getLogger(__name__)

STATE_FILE = "watch.sqlite"
RETRY_BASE_S = 60.0  # a failed page's first retry; doubled per further failure
MAX_SITEMAP_DEPTH = 2  # a sitemap index of sitemaps, no deeper

IndexFunction = Callable[[list[Path], Settings, Embedder | None], IndexReport]


def _index_with_store(paths: list[Path], settings: Settings, embedder: Embedder | None) -> IndexReport:
    from retrieval.backends import index_paths

    return index_paths(paths, settings, embedder=embedder)


@dataclass(frozen=True)
class Failure:
    """Something that could not be read: the URL (or path) and the cause, one line."""

    where: str
    cause: str


@dataclass
class WatchReport:
    """What one poll did."""

    polled: list[str] = field(default_factory=list)  # sources polled
    fetched: int = 0  # pages fetched and turned into articles
    indexed: list[str] = field(default_factory=list)  # files passed to the index and not skipped
    articles_new: int = 0  # articles the index added or updated
    duplicates: list[str] = field(default_factory=list)  # URLs whose text was already indexed under another
    failed_pages: list[Failure] = field(default_factory=list)
    failed_sources: list[Failure] = field(default_factory=list)
    batches: int = 0
    seconds: float = 0.0


@dataclass
class _Source:
    kind: str  # "feed" | "sitemap" | "folder"
    where: str
    interval_s: float
    due: float = 0.0
    failures: int = 0
    files: dict[str, tuple[int, int]] = field(default_factory=dict)  # folder: path -> (mtime_ns, size) indexed


_SCHEMA = """
CREATE TABLE IF NOT EXISTS pages (
    url TEXT PRIMARY KEY, status TEXT NOT NULL, text_hash TEXT, path TEXT, attempts INTEGER NOT NULL DEFAULT 0,
    next_try REAL, cause TEXT, source TEXT, first_seen REAL NOT NULL, updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS pages_text ON pages(text_hash);
"""


class WatchState:
    """Pages seen, by normalised URL: `indexed`, `saved` (file written, not yet indexed), `duplicate`,
    `retry` (a passing failure; `next_try` says when) or `failed` (for good)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def wanted(self, url: str, now: float) -> bool:
        """Whether `url` should be fetched now: never seen, or a retry that is due."""
        with self._lock:
            row = self._db.execute("SELECT status, next_try FROM pages WHERE url = ?", (url,)).fetchone()
        return row is None or (row[0] == "retry" and (row[1] or 0) <= now)

    def attempts(self, url: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT attempts FROM pages WHERE url = ?", (url,)).fetchone()
        return int(row[0]) if row else 0

    def url_of_text(self, text_hash: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT url FROM pages WHERE text_hash = ? AND status IN ('indexed', 'saved')", (text_hash,)
            ).fetchone()
        return row[0] if row else None

    def pending_files(self) -> list[str]:
        """Files written by an earlier poll whose indexing did not finish (an index error, a kill)."""
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT path FROM pages WHERE status = 'saved'")]

    def record(
        self,
        url: str,
        status: str,
        source: str,
        text_hash: str | None = None,
        path: str | None = None,
        cause: str | None = None,
        next_try: float | None = None,
        attempts: int | None = None,
    ) -> None:
        now = time.time()
        with self._lock:
            self._db.execute(
                "INSERT INTO pages (url, status, text_hash, path, attempts, next_try, cause, source, first_seen, updated) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(url) DO UPDATE SET status = excluded.status, "
                "text_hash = coalesce(excluded.text_hash, text_hash), path = coalesce(excluded.path, path), "
                "attempts = excluded.attempts, next_try = excluded.next_try, cause = excluded.cause, updated = excluded.updated",
                (url, status, text_hash, path, attempts or 0, next_try, cause, source, now, now),
            )

    def mark_indexed(self, paths: Iterable[str]) -> None:
        with self._lock:
            self._db.executemany(
                "UPDATE pages SET status = 'indexed', updated = ? WHERE path = ? AND status = 'saved'",
                [(time.time(), p) for p in paths],
            )

    def close(self) -> None:
        self._db.close()


class Watcher:
    """Polls the sources of a `WatchConfig` and indexes what is new; `run` loops until stopped."""

    def __init__(
        self,
        config: WatchConfig,
        settings: Settings,
        embedder: Embedder | None = None,
        index: IndexFunction = _index_with_store,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.settings = settings
        self.embedder = embedder
        self.index = index
        self.clock = clock
        r = settings.retrieval
        self.timeout_s = r.fetch_timeout_s
        self.max_bytes = r.max_file_bytes
        self.client = make_client(r.fetch_timeout_s, r.fetch_max_redirects)
        self.state = WatchState(r.data_dir / STATE_FILE)
        self.sources = (
            [_Source("feed", s.url, s.interval_s or config.interval_s) for s in config.feeds]
            + [_Source("sitemap", s.url, s.interval_s or config.interval_s) for s in config.sitemaps]
            + [_Source("folder", str(s.path), s.interval_s or config.interval_s) for s in config.folders]
        )
        self.last_report: WatchReport | None = None

    # -- the loop ------------------------------------------------------------------------------

    def run(self, stop: threading.Event, on_report: Callable[[WatchReport], None] | None = None) -> None:
        """Poll until `stop` is set; a poll that fails as a whole (the index is broken) is logged and retried."""
        logger.info("watching %d sources", len(self.sources))
        if self.embedder is not None:
            # The indexing engine loads lazily (seconds); load it now, not when the first article waits for it.
            self.embedder.embed_corpus(["newsbot"], batch_size=1)
        while not stop.is_set():
            try:
                report = self.poll_once()
                if on_report is not None:
                    on_report(report)
            except IndexError_ as e:
                logger.error("watch: indexing failed, will try again at the next poll: %s", e)
            except Exception:  # a bug must not end a watcher that runs inside the bot; log it in full
                logger.exception("watch: the poll failed; trying again at the next one")
            now = self.clock()
            next_due = min((s.due for s in self.sources), default=now + self.config.interval_s)
            stop.wait(max(0.2, next_due - now))
        self.close()

    def close(self) -> None:
        self.client.close()
        self.state.close()

    def poll_once(self, force: bool = False) -> WatchReport:
        """Poll every source that is due (all with `force`), fetch what is new, index it in batches."""
        started = time.perf_counter()
        report = WatchReport()
        now = self.clock()
        pending = [Path(p) for p in self.state.pending_files() if Path(p).is_file()]
        items: list[tuple[FeedItem, str]] = []
        files: list[Path] = []
        folder_marks: list[tuple[_Source, str, tuple[int, int]]] = []
        for source in self.sources:
            if not force and source.due > now:
                continue
            report.polled.append(source.where)
            try:
                if source.kind == "folder":
                    changed = self._changed_files(source)
                    files += [Path(p) for p, _ in changed]
                    folder_marks += [(source, p, mark) for p, mark in changed]
                else:
                    found = self._items(source)
                    items += [(item, source.where) for item in found]
            except (FetchError, FeedError, OSError) as e:
                self._source_failed(source, str(e), report)
                continue
            if source.failures:
                logger.warning("watch: %s %s works again after %d failed polls", source.kind, source.where, source.failures)
            source.failures = 0
            source.due = now + source.interval_s
        pages = self._fetch_new(items, report)
        files += [save_page_article(page) for page in pages] + pending
        self._index_in_batches(files, report)
        for source, path, mark in folder_marks:  # indexed, or skipped with its reason: not read again until it changes
            source.files[path] = mark
        report.seconds = time.perf_counter() - started
        if report.articles_new or report.failed_pages or report.failed_sources:
            logger.info(
                "watch: polled %d sources, fetched %d pages, indexed %d new or changed articles in %d batches, "
                "%d duplicates, %d pages and %d sources failed, in %.1f s",
                len(report.polled), report.fetched, report.articles_new, report.batches, len(report.duplicates),
                len(report.failed_pages), len(report.failed_sources), report.seconds,
            )  # fmt: skip
        self.last_report = report
        return report

    # -- sources -------------------------------------------------------------------------------

    def _source_failed(self, source: _Source, cause: str, report: WatchReport) -> None:
        source.failures += 1
        wait = min(source.interval_s * 2 ** (source.failures - 1), max(self.config.backoff_max_s, source.interval_s))
        source.due = self.clock() + wait
        cause = cause.removeprefix(f"{source.where}: ")
        report.failed_sources.append(Failure(source.where, cause))
        logger.warning("watch: %s %s failed: %s; next try in %.0f s", source.kind, source.where, cause, wait)

    def _get(self, url: str) -> bytes:
        return fetch(url, self.client, self.max_bytes, self.timeout_s).content

    def _items(self, source: _Source) -> list[FeedItem]:
        if source.kind == "feed":
            found = parse_feed(self._get(source.where), source.where)
        else:
            found = self._sitemap_items(source.where, depth=0)
        now = self.clock()
        new = [item for item in found if self.state.wanted(normalise_url(item.url), now)]
        return new[: self.config.max_new_per_poll]

    def _sitemap_items(self, url: str, depth: int) -> list[FeedItem]:
        pages, nested = parse_sitemap(self._get(url), url)
        for child in nested[:50] if depth < MAX_SITEMAP_DEPTH else []:
            try:
                pages += self._sitemap_items(child, depth + 1)
            except (FetchError, FeedError) as e:
                logger.warning("watch: sitemap %s failed: %s", child, e)
        return pages

    def _changed_files(self, source: _Source) -> list[tuple[str, tuple[int, int]]]:
        folder = Path(source.where)
        if not folder.is_dir():
            raise FetchError(source.where, "no such folder")
        changed = []
        for path in iter_article_files([folder]):
            if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                continue
            try:
                info = path.stat()
            except OSError:
                continue
            mark = (info.st_mtime_ns, info.st_size)
            if source.files.get(str(path)) != mark:
                changed.append((str(path), mark))
        return changed

    # -- pages ---------------------------------------------------------------------------------

    def _fetch_new(self, items: Sequence[tuple[FeedItem, str]], report: WatchReport) -> list[PageArticle]:
        """Fetch the new items (`fetch_workers` at a time) and keep those whose text is new."""
        unique: dict[str, tuple[FeedItem, str]] = {}
        for item, source in items:
            unique.setdefault(normalise_url(item.url), (item, source))
        if not unique:
            return []

        def one(url: str) -> PageArticle | Failure:
            item, _ = unique[url]
            try:
                page = fetch(item.url, self.client, self.max_bytes, self.timeout_s)
                return page_to_article(page, self.settings.retrieval.data_dir, item.title, item.published)
            except FetchError as e:
                return Failure(url, e.cause if not e.permanent else "!" + e.cause)
            except (IngestError, httpx.HTTPError, ValueError) as e:
                return Failure(url, "!" + str(e).removeprefix(f"{url}: "))

        with ThreadPoolExecutor(max_workers=self.config.fetch_workers, thread_name_prefix="newsbot-fetch") as pool:
            results = list(pool.map(one, list(unique)))
        pages: list[PageArticle] = []
        hashes: set[str] = set()
        for url, result in zip(unique, results):
            source = unique[url][1]
            if isinstance(result, Failure):
                self._page_failed(url, source, result.cause, report)
                continue
            report.fetched += 1
            earlier = self.state.url_of_text(result.text_hash)
            if earlier is not None or result.text_hash in hashes:
                report.duplicates.append(url)
                self.state.record(url, "duplicate", source, text_hash=result.text_hash, cause=f"same text as {earlier or 'another page of this poll'}")
                logger.info("watch: %s has the same text as %s; not indexed again", url, earlier or "another new page")
                continue
            hashes.add(result.text_hash)
            self.state.record(url, "saved", source, text_hash=result.text_hash, path=str(result.path))
            pages.append(result)
        return pages

    def _page_failed(self, url: str, source: str, cause: str, report: WatchReport) -> None:
        permanent = cause.startswith("!")
        cause = cause.lstrip("!")
        attempts = self.state.attempts(url) + 1
        report.failed_pages.append(Failure(url, cause))
        if permanent or attempts > self.config.retries:
            self.state.record(url, "failed", source, cause=cause, attempts=attempts)
            logger.warning("watch: page %s not indexed: %s", url, cause)
            return
        wait = RETRY_BASE_S * 2 ** (attempts - 1)
        self.state.record(url, "retry", source, cause=cause, attempts=attempts, next_try=self.clock() + wait)
        logger.warning("watch: page %s failed (%s); try %d of %d in %.0f s", url, cause, attempts + 1, self.config.retries + 1, wait)

    # -- indexing ------------------------------------------------------------------------------

    def _index_in_batches(self, files: list[Path], report: WatchReport) -> None:
        unique = list(dict.fromkeys(files))
        size = self.config.batch_articles
        for begin in range(0, len(unique), size):
            batch = unique[begin : begin + size]
            result = self.index(batch, self.settings, self.embedder)
            report.batches += 1
            report.articles_new += len(result.added) + len(result.updated)
            for skipped in result.skipped:
                report.failed_pages.append(Failure(skipped.path, skipped.reason))
                logger.warning("watch: %s", skipped.reason)
            skipped_paths = {s.path for s in result.skipped}
            done = [str(p) for p in batch if str(p) not in skipped_paths]
            report.indexed += done
            self.state.mark_indexed(done)
