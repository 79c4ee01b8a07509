"""Fetching pages and feeds from a local news site: each way a source can fail gives one line naming
the URL and the cause, within the timeout and the size limit; good pages keep their URL and date."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from retrieval.feeds import FeedError, parse_feed, parse_sitemap
from retrieval.fetch import FetchError, fetch, is_web_url, make_client, normalise_url
from retrieval.ingest import parse_article
from retrieval.watch_config import WatchConfigError, load_watch_config
from retrieval.web import page_to_article
from tests.news_site import FERRY, FLOOD, NewsSite, Story, news_site

TIMEOUT_S = 1.0
LIMIT = 5_000_000  # NEWSBOT_MAX_FILE_BYTES' default


@pytest.fixture
def site() -> Iterator[NewsSite]:
    with news_site() as served:
        yield served


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _read(url: str, tmp_path: Path) -> object:
    with make_client(TIMEOUT_S, 5) as client:
        return page_to_article(fetch(url, client, LIMIT, TIMEOUT_S), tmp_path)


@pytest.mark.parametrize(
    ("path", "cause", "permanent"),
    [
        ("/hang.html", "timed out after 1 s without an answer", False),
        ("/loop-a", "too many redirects (a redirect loop?)", True),
        ("/big.html", "larger than the 5,000,000 byte limit", True),
        ("/empty.html", "no article text found on the page", True),
        ("/gone.html", "HTTP 404 Not Found", True),
        ("/down.xml", "HTTP 503 Service Unavailable", False),
        ("/feed.xml", "is a feed, not an article page; add it to the watch config as a feed", True),
    ],
)
def test_each_bad_link_fails_in_one_line_naming_the_url_and_the_cause(
    site: NewsSite, tmp_path: Path, path: str, cause: str, permanent: bool
) -> None:
    site.publish(FLOOD)
    url = site.url(path)
    started = time.monotonic()
    with pytest.raises(FetchError) as raised:
        _read(url, tmp_path)
    assert str(raised.value) == f"{url}: {cause}"
    assert "\n" not in str(raised.value)
    assert raised.value.permanent is permanent
    assert time.monotonic() - started < TIMEOUT_S + 2  # the 50 MB page is dropped at the limit, the hang at the timeout


def test_an_offline_address_says_it_cannot_connect(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/artikel.html"
    with pytest.raises(FetchError, match=r"^http://127\.0\.0\.1:\d+/artikel\.html: cannot connect \(.*\); offline or wrong address\?$"):
        _read(url, tmp_path)


def test_a_page_keeps_its_url_and_its_publication_date_from_the_html_metadata(site: NewsSite, tmp_path: Path) -> None:
    url = site.publish(FLOOD)
    page = _read(url, tmp_path)
    assert page.published == "2024-10-31"  # type: ignore[attr-defined]
    assert page.title == FLOOD.title  # type: ignore[attr-defined]
    text = page.raw.decode()  # type: ignore[attr-defined]
    assert text.splitlines()[:2] == ["2024-10-31", url]
    assert FLOOD.paragraphs[0] in text
    assert "Impressum" not in text and "Startseite" not in text  # only the article, no page furniture


def test_an_undated_page_takes_its_date_from_the_feed_item(site: NewsSite, tmp_path: Path) -> None:
    undated = Story(FERRY.slug, FERRY.title, FERRY.published, FERRY.paragraphs, with_date_meta=False)
    url = site.publish(undated)
    with make_client(TIMEOUT_S, 5) as client:
        bare = page_to_article(fetch(url, client, LIMIT, TIMEOUT_S), tmp_path)
        dated = page_to_article(fetch(url, client, LIMIT, TIMEOUT_S), tmp_path, item_published="2024-11-02")
    assert bare.published is None  # never the day it was fetched, passed off as the publication date
    assert dated.published == "2024-11-02" and dated.fetched is None


def test_a_page_without_any_date_is_dated_by_the_day_it_was_first_fetched_marked_as_fetched(
    site: NewsSite, tmp_path: Path
) -> None:
    undated = Story(FERRY.slug, FERRY.title, FERRY.published, FERRY.paragraphs, with_date_meta=False)
    url = site.publish(undated)
    with make_client(TIMEOUT_S, 5) as client:
        first = page_to_article(fetch(url, client, LIMIT, TIMEOUT_S), tmp_path)
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert (first.published, first.fetched) == (None, today)
    assert f"Fetched: {today}" in first.raw.decode().splitlines()
    article = parse_article(first.raw, first.path.stem, str(first.path), ".txt")
    assert (article.published, article.date_source, article.fallback_date, article.date) == (None, "fetched", today, today)
    assert "Fetched" not in article.text  # a header line, not article text

    # Fetched again a month later, the saved file keeps its first day: the article is unchanged.
    first.path.parent.mkdir(parents=True, exist_ok=True)
    first.path.write_bytes(first.raw.replace(today.encode(), b"2026-11-06"))
    with make_client(TIMEOUT_S, 5) as client:
        again = page_to_article(fetch(url, client, LIMIT, TIMEOUT_S), tmp_path)
    assert again.fetched == "2026-11-06" and again.raw == first.path.read_bytes()


def test_feed_items_carry_link_title_and_date_newest_first(site: NewsSite) -> None:
    site.publish(FLOOD)
    site.publish(FERRY)
    with make_client(TIMEOUT_S, 5) as client:
        items = parse_feed(fetch(site.url("/feed.xml"), client, LIMIT, TIMEOUT_S).content, site.url("/feed.xml"))
    assert [(i.title, i.published) for i in items] == [(FERRY.title, "2024-11-02"), (FLOOD.title, "2024-10-31")]
    assert normalise_url(items[1].url) == site.url("/articles/hochwasser-valencia.html")  # utm_source dropped


def test_a_malformed_feed_is_an_error_naming_the_url_and_the_cause(site: NewsSite) -> None:
    with make_client(TIMEOUT_S, 5) as client:
        content = fetch(site.url("/broken.xml"), client, LIMIT, TIMEOUT_S).content
    with pytest.raises(FeedError, match=r"/broken\.xml: malformed feed \(.*no element found.*\)$"):
        parse_feed(content, site.url("/broken.xml"))


def test_a_sitemap_lists_pages_with_their_news_dates_and_nested_sitemaps() -> None:
    sitemap = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
<url><loc>https://example.org/a.html</loc><news:news><news:publication_date>2024-10-24T10:00:00+02:00</news:publication_date>
<news:title>Erster Bericht</news:title></news:news></url>
<url><loc>https://example.org/b.html</loc><lastmod>2024-10-25</lastmod></url></urlset>"""
    pages, _nested = parse_sitemap(sitemap, "https://example.org/sitemap.xml")
    assert [(p.url, p.published, p.title) for p in pages] == [
        ("https://example.org/b.html", "2024-10-25", None),
        ("https://example.org/a.html", "2024-10-24", "Erster Bericht"),
    ]
    index = b"""<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><sitemap><loc>https://example.org/s1.xml</loc></sitemap></sitemapindex>"""
    assert parse_sitemap(index, "https://example.org/index.xml") == ([], ["https://example.org/s1.xml"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [("https://www.tagesschau.de/ausland/x.html", True), ("http://127.0.0.1:8000/a", True),
     ("Wer ist Sluzki?", False), ("https:/www.tagesschau.de", False), ("ftp://example.org/a", False),
     ("https://example.org/a und mehr", False), ("", False)],
)  # fmt: skip
def test_only_one_http_link_with_a_host_counts_as_a_link(text: str, expected: bool) -> None:
    assert is_web_url(text) is expected


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("interval_s = 300\n", "names no [[feeds]], [[sitemaps]] or [[folders]]"),
        ("[[feeds]]\nurl = 'tagesschau.de/rss'\n", "feeds.0.url: Value error, 'tagesschau.de/rss' is not an http(s) URL"),
        ("intervall_s = 5\n[[feeds]]\nurl = 'https://example.org/rss'\n", "intervall_s: Extra inputs are not permitted"),
        ("[[feeds]\n", "not valid TOML"),
    ],
)
def test_a_wrong_watch_config_is_one_line_naming_the_file_and_the_problem(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "watch.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(WatchConfigError) as raised:
        load_watch_config(path)
    assert str(raised.value).startswith(f"{path}: ") and message in str(raised.value)


def test_watch_config_folders_are_relative_to_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "watch.toml"
    path.parent.mkdir()
    path.write_text("interval_s = 60\n[[folders]]\npath = 'incoming'\n", encoding="utf-8")
    assert load_watch_config(path).folders[0].path == tmp_path / "conf" / "incoming"


def test_an_empty_feed_is_no_failure_but_a_page_that_is_no_feed_is() -> None:
    empty = b"<?xml version='1.0'?><rss version='2.0'><channel><title>Neu</title></channel></rss>"
    assert parse_feed(empty, "https://example.org/rss") == []
    with pytest.raises(FeedError, match=r"^https://example.org/start: not an RSS or Atom feed$"):
        parse_feed(b"<html><body><p>Startseite</p></body></html>", "https://example.org/start")


def test_a_page_served_from_an_ip_address_is_named_by_it_not_by_its_last_digits() -> None:
    from retrieval.metadata import outlet_from_url

    assert outlet_from_url("http://127.0.0.1:8765/valencia.html") == "127.0.0.1"
    assert outlet_from_url("https://p.dw.com/p/4m1qd") == "DW"
