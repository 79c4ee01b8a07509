"""Fetch one web page or feed over HTTP(S), bounded in time, size and redirects.

Why httpx and not `trafilatura.fetch_url`: trafilatura's fetcher returns None on any failure, and a
user (or the watcher's log) must be told which URL failed and why ("timed out after 20 s", "redirect
loop", "larger than the 5,000,000 byte limit", "HTTP 404"). httpx gives the cause; trafilatura still
extracts the article from the bytes (retrieval/web.py). A page is read as a stream and dropped as
soon as it passes the size limit, and a whole fetch never takes longer than its deadline, so a page
that trickles bytes cannot hold the watcher either.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import httpx

from retrieval.errors import IngestError

logger = logging.getLogger(__name__)

USER_AGENT = "newsbot/0.1 (+https://github.com/newsbot; news feed reader)"
ACCEPT = "text/html,application/xhtml+xml,application/rss+xml,application/atom+xml,application/xml;q=0.9,*/*;q=0.5"


class FetchError(IngestError):
    """A URL could not be fetched; the message names the URL and the cause, in one line."""

    def __init__(self, url: str, cause: str, permanent: bool = False) -> None:
        super().__init__(f"{url}: {cause}")
        self.url = url
        self.cause = cause
        # A page that is gone, too large or not a page stays so; a timeout or a 503 may pass.
        self.permanent = permanent


@dataclass(frozen=True)
class FetchedPage:
    """The bytes behind a URL and what the server said about them."""

    url: str  # as asked for
    final_url: str  # after redirects
    content: bytes
    content_type: str
    last_modified: str | None = None
    fetched_at: float = field(default_factory=time.time)  # seconds since the epoch; an undated page is dated by it


def is_web_url(text: str) -> bool:
    """Whether `text` is one http(s) URL with a host (what `newsbot index` and the bot treat as a link)."""
    text = text.strip()
    if not text or any(ch.isspace() for ch in text):
        return False
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def normalise_url(url: str) -> str:
    """The URL an article is known by: no fragment, no tracking parameters, lower-case scheme and host.

    Feeds often append `utm_*` parameters that differ per feed; the same page must be fetched once.
    """
    parts = urlsplit(url.strip())
    query = "&".join(
        p for p in parts.query.split("&") if p and not p.lower().startswith(("utm_", "wt_mc", "at_medium", "at_campaign"))
    )
    netloc = parts.netloc.lower()
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", query, ""))


def make_client(timeout_s: float, max_redirects: int) -> httpx.Client:
    """One client per watcher or command (connection pooling); thread-safe for the watcher's pool."""
    return httpx.Client(
        timeout=httpx.Timeout(timeout_s),
        follow_redirects=True,
        max_redirects=max_redirects,
        headers={"User-Agent": USER_AGENT, "Accept": ACCEPT},
    )


def fetch(
    url: str,
    client: httpx.Client,
    max_bytes: int,
    deadline_s: float,
) -> FetchedPage:
    """GET `url`; raises `FetchError` naming the cause. `deadline_s` bounds the whole fetch, body included."""
    if not is_web_url(url):
        raise FetchError(url, "not an http(s) link", permanent=True)
    started = time.monotonic()
    try:
        with client.stream("GET", url) as response:
            if response.status_code >= 400:
                permanent = response.status_code in (401, 403, 404, 410, 451)
                raise FetchError(url, f"HTTP {response.status_code} {response.reason_phrase}".strip(), permanent)
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise FetchError(url, f"{int(declared):,} bytes is larger than the {max_bytes:,} byte limit", True)
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size > max_bytes:
                    raise FetchError(url, f"larger than the {max_bytes:,} byte limit", permanent=True)
                if time.monotonic() - started > deadline_s:
                    raise FetchError(url, f"still sending after {deadline_s:g} s; gave up")
            return FetchedPage(
                url=url,
                final_url=str(response.url),
                content=b"".join(chunks),
                content_type=response.headers.get("content-type", "").split(";")[0].strip().lower(),
                last_modified=response.headers.get("last-modified"),
            )
    except httpx.TooManyRedirects as e:
        raise FetchError(url, "too many redirects (a redirect loop?)", permanent=True) from e
    except httpx.TimeoutException as e:
        raise FetchError(url, f"timed out after {deadline_s:g} s without an answer") from e
    except httpx.ConnectError as e:
        raise FetchError(url, f"cannot connect ({_reason(e)}); offline or wrong address?") from e
    except httpx.HTTPError as e:
        raise FetchError(url, f"{type(e).__name__}: {_reason(e)}") from e


def _reason(error: Exception) -> str:
    text = str(error) or type(error).__name__
    return text.splitlines()[0][:200]
