"""Web pages as article files: a fetched page becomes a small `.txt` article under `<data_dir>/web/`.

Why a file: everything the index does with articles (ids by source path, repair from `sources.json`,
`--prune`, the PostgreSQL store, re-indexing a changed article) is built on source files. A page
saved as a header (title, publication date or the day it was fetched, URL) plus the text trafilatura extracted goes through
that same path, and its URL and date survive a repair because they are in the file. The saved text
is what trafilatura found, so quotes stay verbatim from the page's article text.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from config.settings import Settings
from models.embedders import Embedder
from retrieval.errors import IngestError
from retrieval.feeds import iso_day
from retrieval.fetch import FetchedPage, FetchError, normalise_url
from retrieval.ingest import MIN_ARTICLE_CHARS, SkippedFile, parse_article
from retrieval.metadata import FETCHED_LINE, read_header

logger = logging.getLogger(__name__)

WEB_FOLDER = "web"
FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/xml", "text/xml", "application/rdf+xml")


@dataclass(frozen=True)
class PageArticle:
    """A page turned into an article file's bytes, before it is written."""

    url: str  # normalised, the identity of the page
    path: Path  # where the file goes under <data_dir>/web/
    raw: bytes  # the file: header lines, then the article text
    text_hash: str  # of the article text alone: the same story under two URLs has one hash
    title: str
    published: str | None  # YYYY-MM-DD, from the page's metadata or else the feed item
    fetched: str | None = None  # YYYY-MM-DD it was first fetched, for a page without a date of its own


def web_folder(data_dir: Path) -> Path:
    return data_dir / WEB_FOLDER


def article_path(data_dir: Path, url: str) -> Path:
    """`<data_dir>/web/<host>/<last path segment>-<hash>.txt`: readable ids, never two URLs on one file."""
    parts = urlsplit(url)
    host = re.sub(r"[^\w.-]+", "_", (parts.hostname or "unknown").removeprefix("www."))
    segment = [s for s in parts.path.split("/") if s]
    slug = re.sub(r"\.(s?html?|php|aspx?)$", "", segment[-1] if segment else "index", flags=re.IGNORECASE)
    slug = re.sub(r"[^\w-]+", "-", slug).strip("-_")[:60] or "page"
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:10]
    return web_folder(data_dir) / host / f"{slug}-{digest}.txt"


def page_to_article(
    page: FetchedPage, data_dir: Path, item_title: str | None = None, item_published: str | None = None
) -> PageArticle:
    """Extract the article of a fetched page; `FetchError` (permanent) when the page holds none.

    The date is the page's own (HTML metadata, read by trafilatura through htmldate), else the feed
    item's. A page and item without one get a `Fetched:` header line with the day it was fetched
    (the day the file already records, when this URL was saved before), which the index shows as
    a fetched date, never as a publication date.
    """
    import trafilatura

    url = normalise_url(page.url)
    asked = page.url  # errors name the URL as it was given
    if page.content_type in FEED_TYPES or page.content.lstrip()[:200].lower().startswith((b"<rss", b"<feed")):
        raise FetchError(asked, "is a feed, not an article page; add it to the watch config as a feed", permanent=True)
    if page.content_type and not (page.content_type.startswith("text/") or "html" in page.content_type):
        raise FetchError(asked, f"is {page.content_type}, not a web page", permanent=True)
    try:
        doc = trafilatura.bare_extraction(
            page.content, url=page.final_url, with_metadata=True, include_comments=False, include_tables=False
        )
    except Exception as e:  # trafilatura raises assorted parser errors on broken markup
        raise FetchError(asked, f"the page could not be parsed ({type(e).__name__})", permanent=True) from e
    body = (getattr(doc, "text", None) or "").strip() if doc is not None else ""
    if len(body) < MIN_ARTICLE_CHARS:
        raise FetchError(asked, "no article text found on the page", permanent=True)
    title = " ".join((getattr(doc, "title", None) or item_title or "").split())
    published = _iso_date(getattr(doc, "date", None)) or _iso_date(item_published)
    lines = body.split("\n")
    header = [] if title and lines[0].strip() == title else ([title] if title else [])
    if published:
        header.append(published)
    else:
        header.append(FETCHED_LINE.format(day=_fetched_day(data_dir, url, page.fetched_at)))
    header.append(normalise_url(page.final_url) if page.final_url.startswith("http") else url)  # the address cited
    raw = ("\n".join(header) + "\n\n" + body + "\n").encode("utf-8")
    path = article_path(data_dir, url)
    try:
        article = parse_article(raw, doc_id=path.stem, source_path=str(path), suffix=".txt")  # validates now
    except IngestError as e:
        raise FetchError(asked, str(e).split(": ", 1)[-1], permanent=True) from e
    text_hash = hashlib.sha256(" ".join(body.split()).encode("utf-8")).hexdigest()
    return PageArticle(url, path, raw, text_hash, article.title, article.published, article.fallback_date)


def save_page_article(page: PageArticle) -> Path:
    """Write the article file atomically (a reader never sees half of it)."""
    page.path.parent.mkdir(parents=True, exist_ok=True)
    staging = page.path.with_name(f".{page.path.name}.partial")
    staging.write_bytes(page.raw)
    staging.replace(page.path)
    return page.path


def _fetched_day(data_dir: Path, url: str, fetched_at: float) -> str:
    """The day the page was first fetched: kept from its saved file (so fetching it again changes
    neither the file nor the article's day), else the day of `fetched_at` (UTC)."""
    path = article_path(data_dir, url)
    if path.is_file():
        with path.open("rb") as saved:
            header = read_header(saved.read(4096).decode("utf-8", errors="replace").split("\n"))
        if header.fetched:
            return header.fetched
    return dt.datetime.fromtimestamp(fetched_at, dt.UTC).date().isoformat()


def _iso_date(value: object) -> str | None:
    return iso_day(str(value)) if value else None


def fetch_articles(urls: Sequence[str], settings: Settings) -> tuple[list[Path], list[SkippedFile]]:
    """Fetch each URL and save its article file (for `newsbot index URL...`); failures as skipped, one line each."""
    from retrieval.fetch import fetch, make_client

    r = settings.retrieval
    saved: list[Path] = []
    skipped: list[SkippedFile] = []
    with make_client(r.fetch_timeout_s, r.fetch_max_redirects) as client:
        for url in urls:
            try:
                page = fetch(url, client, r.max_file_bytes, r.fetch_timeout_s)
                saved.append(save_page_article(page_to_article(page, r.data_dir)))
            except FetchError as e:
                logger.info("not indexed: %s", e)
                skipped.append(SkippedFile(url, str(e)))
    return saved, skipped


def index_web_page(url: str, settings: Settings, embedder: Embedder | None = None) -> PageArticle:
    """Fetch one page and index it into the configured store (a link sent to the bot); returns what
    was indexed. A page that cannot be fetched or holds no article raises `FetchError` and changes nothing."""
    from retrieval.backends import index_paths
    from retrieval.fetch import fetch, make_client

    r = settings.retrieval
    with make_client(r.fetch_timeout_s, r.fetch_max_redirects) as client:
        page = page_to_article(fetch(url, client, r.max_file_bytes, r.fetch_timeout_s), r.data_dir)
    save_page_article(page)
    report = index_paths([page.path], settings, embedder=embedder)
    if report.skipped:
        raise FetchError(url, report.skipped[0].reason.split(": ", 1)[-1], permanent=True)
    return page
