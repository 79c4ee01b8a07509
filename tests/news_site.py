"""A small news site on 127.0.0.1 for the ingest tests: an RSS feed, article pages, and every way a
source can fail (a malformed feed, a feed that is down, a page that hangs, a redirect loop, a 50 MB
page, a page with no article text).

The site is real HTTP (a `ThreadingHTTPServer`), so newsbot's fetcher runs unchanged; tests publish
new articles into the feed while it runs (`publish`).
"""

from __future__ import annotations

import email.utils
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BIG_PAGE_BYTES = 50 * 1024 * 1024
HANG_SECONDS = 60.0  # far longer than the tests' fetch timeout; the server stops it on shutdown


@dataclass(frozen=True)
class Story:
    slug: str
    title: str
    published: str  # YYYY-MM-DD
    paragraphs: tuple[str, ...]
    with_date_meta: bool = True


# Real-sounding news text, not lorem ipsum: the tests ask questions about these facts.
FLOOD = Story(
    "hochwasser-valencia",
    "Hochwasser in Valencia: Zahl der Toten steigt auf 158",
    "2024-10-31",
    (
        ("Nach den schweren Unwettern im Osten Spaniens ist die Zahl der Toten nach Angaben der Regionalregierung "
        "von Valencia auf 158 gestiegen."),
        ("Ministerpräsident Pedro Sánchez sagte bei einem Besuch im Krisengebiet, der Staat werde den Betroffenen "
        "mit allen Mitteln helfen."),
        ("Der Wetterdienst Aemet hatte für die Region die höchste Warnstufe ausgerufen; in einigen Orten fiel "
        "binnen acht Stunden so viel Regen wie sonst in einem Jahr."),
    ),
)
FERRY = Story(
    "faehre-ostsee",
    "Fähre auf der Ostsee nach Maschinenschaden abgeschleppt",
    "2024-11-02",
    (
        ("Eine Fähre mit 312 Passagieren an Bord ist nach einem Maschinenschaden vor der Insel Rügen von einem "
        "Schlepper in den Hafen von Sassnitz gezogen worden."),
        "Nach Angaben der Reederei wurde niemand verletzt; die Passagiere konnten das Schiff am Abend verlassen.",
        "Die Wasserschutzpolizei ermittelt, warum beide Maschinen kurz nacheinander ausfielen.",
    ),
)
LIGHTHOUSE = Story(
    "leuchtturm-westerhever",
    "Leuchtturm Westerhever wird für drei Millionen Euro saniert",
    "2024-11-05",
    (
        ("Der Leuchtturm Westerhever an der Nordseeküste wird ab dem Frühjahr für rund drei Millionen Euro saniert, "
        "teilte das Wasserstraßen- und Schifffahrtsamt mit."),
        "Während der Arbeiten bleibt der Turm für Besucher geschlossen; das Leuchtfeuer soll weiter in Betrieb bleiben.",
        "Der 1908 errichtete Turm gehört zu den meistfotografierten Bauwerken Schleswig-Holsteins.",
    ),
)


def story_html(story: Story) -> bytes:
    meta = f'<meta property="article:published_time" content="{story.published}T08:00:00+01:00">' if story.with_date_meta else ""
    body = "".join(f"<p>{escape(p)}</p>" for p in story.paragraphs)
    return (
        f"<!doctype html><html lang='de'><head><meta charset='utf-8'><title>{escape(story.title)}</title>{meta}</head>"
        f"<body><nav><a href='/'>Startseite</a> <a href='/politik'>Politik</a></nav>"
        f"<article><h1>{escape(story.title)}</h1>{body}</article>"
        f"<footer>Impressum · Datenschutz</footer></body></html>"
    ).encode()


NO_ARTICLE_HTML = (
    b"<!doctype html><html><head><title>Startseite</title></head><body><nav><a href='/a'>Politik</a> "
    b"<a href='/b'>Sport</a> <a href='/c'>Kultur</a></nav><footer>Impressum</footer></body></html>"
)


class NewsSite:
    """The site's content (mutable while it runs) and its address."""

    def __init__(self) -> None:
        self.stories: dict[str, Story] = {}
        self.feed_items: list[str] = []  # slugs, newest last
        self.aliases: dict[str, str] = {}  # another path serving the same story (a wire copy)
        self.link_feeds: dict[str, list[str]] = {}  # path -> the links a further feed lists
        self.requests: list[str] = []
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.base_url = ""

    def publish(self, story: Story, in_feed: bool = True) -> str:
        """Put `story` on the site (and at the top of the feed); returns its URL."""
        with self.lock:
            self.stories[story.slug] = story
            if in_feed:
                self.feed_items.append(story.slug)
        return self.url(f"/articles/{story.slug}.html")

    def url(self, path: str) -> str:
        return self.base_url + path

    def hits(self, path: str) -> int:
        with self.lock:
            return sum(1 for r in self.requests if r.split("?")[0] == path)

    def feed_xml(self, extra_links: list[str] | None = None) -> bytes:
        with self.lock:
            slugs = list(reversed(self.feed_items))
        items = []
        for slug in slugs:
            story = self.stories[slug]
            date = email.utils.format_datetime(_utc(story.published))
            link = self.url(f"/articles/{slug}.html?utm_source=rss")
            items.append(
                f"<item><title>{escape(story.title)}</title><link>{escape(link)}</link><pubDate>{date}</pubDate></item>"
            )
        for link in extra_links or []:
            items.append(f"<item><title>Link</title><link>{escape(link)}</link></item>")
        return (
            "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>Testnachrichten</title>"
            f"<link>{self.url('/')}</link><description>Nachrichten</description>{''.join(items)}</channel></rss>"
        ).encode()


def _utc(day: str):  # type: ignore[no-untyped-def]
    import datetime as dt

    return dt.datetime.fromisoformat(day).replace(hour=9, tzinfo=dt.UTC)


def _handler(site: NewsSite) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            return

        def _send(self, status: int, body: bytes, content_type: str = "text/html; charset=utf-8", **headers: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in headers.items():
                self.send_header(key.replace("_", "-"), value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            with site.lock:
                site.requests.append(self.path)
            path = self.path.split("?")[0]
            if path == "/feed.xml":
                self._send(200, site.feed_xml(), "application/rss+xml")
            elif path == "/failing-pages.xml":
                links = [site.url(p) for p in ("/hang.html", "/loop-a", "/big.html", "/empty.html", "/gone.html")]
                self._send(200, _only(site, links), "application/rss+xml")
            elif path == "/sitemap-index.xml":
                body = f"<sitemapindex xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'><sitemap><loc>{site.url('/sitemap.xml')}</loc></sitemap></sitemapindex>"
                self._send(200, body.encode(), "application/xml")
            elif path == "/sitemap.xml":
                with site.lock:
                    urls = "".join(
                        f"<url><loc>{site.url(f'/articles/{slug}.html')}</loc><lastmod>{site.stories[slug].published}</lastmod></url>"
                        for slug in site.feed_items
                    )
                body = f"<urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>{urls}</urlset>"
                self._send(200, body.encode(), "application/xml")
            elif path in site.link_feeds:
                self._send(200, _only(site, site.link_feeds[path]), "application/rss+xml")
            elif path == "/broken.xml":
                self._send(200, b"<?xml version='1.0'?><rss><channel><title>Kaputt</title><item><title>Ohne Ende", "application/rss+xml")
            elif path == "/down.xml":
                self._send(503, b"Service Unavailable", "text/plain")
            elif path in ("/hang.html", "/hang.xml"):
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", "100000")
                self.end_headers()
                self.wfile.write(b"<html><body><p>")
                self.wfile.flush()
                site.stopping.wait(HANG_SECONDS)
            elif path == "/loop-a":
                self._send(302, b"", Location=site.url("/loop-b"))
            elif path == "/loop-b":
                self._send(302, b"", Location=site.url("/loop-a"))
            elif path == "/big.html":
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()  # no Content-Length: the size shows only while reading
                block = b"<p>" + b"Viel Text ohne Ende. " * 500 + b"</p>\n"
                try:
                    sent = 0
                    while sent < BIG_PAGE_BYTES and not site.stopping.is_set():
                        self.wfile.write(block)
                        sent += len(block)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True
            elif path == "/empty.html":
                self._send(200, NO_ARTICLE_HTML)
            elif path.startswith("/articles/") and path.endswith(".html"):
                slug = path.removeprefix("/articles/").removesuffix(".html")
                slug = site.aliases.get(slug, slug)
                story = site.stories.get(slug)
                if story is None:
                    self._send(404, b"Not Found", "text/plain")
                else:
                    self._send(200, story_html(story))
            else:
                self._send(404, b"Not Found", "text/plain")

    return Handler


def _only(site: NewsSite, links: list[str]) -> bytes:
    items = "".join(f"<item><title>Seite</title><link>{escape(link)}</link></item>" for link in links)
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>Fehlerseiten</title>"
        f"<link>{site.url('/')}</link><description>x</description>{items}</channel></rss>"
    ).encode()


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        return  # a client that hangs up on the 50 MB page or the hanging one is the point of those pages


@contextmanager
def news_site() -> Iterator[NewsSite]:
    """Serve a `NewsSite` on a free port of 127.0.0.1 until the block ends."""
    site = NewsSite()
    server = _QuietServer(("127.0.0.1", 0), _handler(site))
    site.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="news-site", daemon=True)
    thread.start()
    try:
        yield site
    finally:
        site.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        time.sleep(0.05)
