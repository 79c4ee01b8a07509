"""The items of an RSS/Atom feed (feedparser) or an XML sitemap: which pages to fetch, with what dates.

A feed that feedparser cannot read into any entry is an error naming the cause; one it reads with
complaints (`bozo`) but with entries is used, as feed readers do.
"""

from __future__ import annotations

import calendar
import logging
import re
import time
from dataclasses import dataclass
from xml.etree import ElementTree

from retrieval.errors import IngestError
from retrieval.fetch import is_web_url
from retrieval.metadata import parse_date

logger = logging.getLogger(__name__)

_ISO_DAY = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[T ]|$)")
MAX_SITEMAP_URLS = 50_000  # the sitemap protocol's own limit per file


class FeedError(IngestError):
    """A feed or sitemap that yields no items; the message names the URL and the cause."""


@dataclass(frozen=True)
class FeedItem:
    """One page a feed or sitemap points to."""

    url: str
    title: str | None = None
    published: str | None = None  # YYYY-MM-DD


def parse_feed(content: bytes, url: str) -> list[FeedItem]:
    """The items of an RSS or Atom document, newest first when the feed dates them."""
    import feedparser

    parsed = feedparser.parse(content)
    items = []
    for entry in parsed.entries:
        link = entry.get("link") or next(
            (l.get("href") for l in entry.get("links", []) if l.get("rel", "alternate") == "alternate"), None
        )
        if not link or not is_web_url(link):
            continue
        items.append(FeedItem(link.strip(), _clean(entry.get("title")), _entry_date(entry)))
    if not items:
        cause = parsed.get("bozo_exception")
        if parsed.get("bozo") and cause:
            raise FeedError(f"{url}: malformed feed ({_one_line(cause)})")
        if not parsed.get("version"):
            raise FeedError(f"{url}: not an RSS or Atom feed")
        return []  # a feed with nothing in it yet is not a failure
    if parsed.get("bozo"):
        logger.info("feed %s is not well-formed (%s); using its %d readable items", url, _one_line(parsed.get("bozo_exception")), len(items))
    items.sort(key=lambda item: item.published or "", reverse=True)
    return items


def parse_sitemap(content: bytes, url: str) -> tuple[list[FeedItem], list[str]]:
    """(pages, nested sitemaps) of a sitemap or sitemap index; Google News `news:publication_date` counts as a date."""
    try:
        root = ElementTree.fromstring(content)
    except ElementTree.ParseError as e:
        raise FeedError(f"{url}: malformed sitemap ({e})") from e
    pages: list[FeedItem] = []
    nested: list[str] = []
    kind = _local(root.tag)
    for node in list(root)[:MAX_SITEMAP_URLS]:
        loc = next((c.text or "" for c in node if _local(c.tag) == "loc"), "").strip()
        if not is_web_url(loc):
            continue
        if kind == "sitemapindex":
            nested.append(loc)
            continue
        dates = [c.text for c in node.iter() if _local(c.tag) in ("publication_date", "lastmod") and c.text]
        titles = [c.text for c in node.iter() if _local(c.tag) == "title" and c.text]
        pages.append(FeedItem(loc, _clean(titles[0]) if titles else None, iso_day(dates[0]) if dates else None))
    if kind not in ("urlset", "sitemapindex"):
        raise FeedError(f"{url}: not a sitemap (its root element is <{kind}>)")
    pages.sort(key=lambda item: item.published or "", reverse=True)
    return pages, nested


def iso_day(text: str) -> str | None:
    """The day of a W3C/ISO timestamp ("2024-10-24T10:00:00+02:00" -> "2024-10-24"), or of any date
    `metadata.parse_date` reads. The local day as written, not converted to UTC."""
    match = _ISO_DAY.match(text.strip())
    return match.group(1) if match else parse_date(text)


def _entry_date(entry: dict) -> str | None:  # type: ignore[type-arg]
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(key)
        if parsed:
            # feedparser normalises to UTC; the date is the UTC day, as the feed's own timestamp says.
            return time.strftime("%Y-%m-%d", time.gmtime(calendar.timegm(parsed)))
    return None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _clean(text: str | None) -> str | None:
    return " ".join(text.split()) if text else None


def _one_line(value: object) -> str:
    return str(value).splitlines()[0][:200] if value else "unknown cause"
