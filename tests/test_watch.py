"""`newsbot index URL` and `newsbot watch` against a local news site, with the real model and index:
new items are fetched once (by URL and by text) and indexed in batches, and every failing source
or page costs one log line naming it and the cause while the rest goes on."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from config.settings import Settings
from retrieval.stores.embedded.search import EmbeddedRetriever
from retrieval.stores.embedded.store import load_index
from retrieval.watch import Watcher, WatchState
from retrieval.watch_config import FolderSource, UrlSource, WatchConfig
from tests.conftest import make_settings
from tests.news_site import FERRY, FLOOD, LIGHTHOUSE, NewsSite, news_site

pytestmark = pytest.mark.slow
runner = CliRunner()


@pytest.fixture
def site() -> Iterator[NewsSite]:
    with news_site() as served:
        yield served


@pytest.fixture
def settings(writable_seed_index: Path) -> Settings:
    return make_settings(writable_seed_index, NEWSBOT_FETCH_TIMEOUT_S="1")


def _watcher(settings: Settings, embedder, **config) -> Watcher:  # type: ignore[no-untyped-def]
    return Watcher(WatchConfig(**config), settings, embedder=embedder)


def _urls(settings: Settings) -> dict[str, str | None]:
    """url -> published of the indexed articles that came from the web."""
    return {a.url: a.published for a in load_index(settings.index_dir).articles.values() if "/web/" in a.source_path}


def test_index_command_fetches_a_link_and_the_answer_cites_its_url_and_date(
    site: NewsSite, writable_seed_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSBOT_DATA_DIR", str(writable_seed_index))
    url = site.publish(FLOOD)
    indexed = runner.invoke(app, ["index", url, "--json", "--quiet"])
    assert indexed.exit_code == 0, indexed.output
    (doc_id,) = json.loads(indexed.stdout)["added"]
    assert doc_id.startswith("hochwasser-valencia-")  # ids read like the page's address
    asked = runner.invoke(app, ["ask", "Wie viele Tote gab es nach den Unwettern in Valencia?", "--json"])
    assert asked.exit_code == 0, asked.output
    answer = json.loads(asked.stdout)
    assert not answer["abstained"]
    first = answer["citations"][0]
    assert (first["url"], first["published"], first["title"]) == (url, "2024-10-31", FLOOD.title)
    assert "158" in first["quote"]


def test_index_command_names_each_bad_link_and_its_cause_in_one_line(
    site: NewsSite, writable_seed_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSBOT_DATA_DIR", str(writable_seed_index))
    monkeypatch.setenv("NEWSBOT_FETCH_TIMEOUT_S", "1")
    links = [site.url("/hang.html"), site.url("/loop-a"), site.url("/empty.html")]
    result = runner.invoke(app, ["index", *links])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"skipped {links[0]}: timed out after 1 s without an answer",
        f"skipped {links[1]}: too many redirects (a redirect loop?)",
        f"skipped {links[2]}: no article text found on the page",
        "error: nothing could be indexed",
    ]


def test_a_link_that_lost_a_slash_is_not_taken_for_a_missing_file(writable_seed_index: Path, monkeypatch) -> None:
    monkeypatch.setenv("NEWSBOT_DATA_DIR", str(writable_seed_index))
    result = runner.invoke(app, ["index", "https:/www.tagesschau.de/ausland/artikel.html"])
    assert result.exit_code == 2
    assert "not an http(s) link: https:/www.tagesschau.de/ausland/artikel.html" in result.stderr


def test_watch_indexes_each_new_item_once_by_url_and_by_text(site: NewsSite, settings: Settings, e5_embedder) -> None:
    site.publish(FLOOD)
    site.publish(FERRY)
    # A second feed carries the flood story at another address (a wire copy): same text, other URL.
    site.aliases["valencia-agentur"] = FLOOD.slug
    wire_copy = site.url("/articles/valencia-agentur.html")
    site.link_feeds["/wire.xml"] = [wire_copy]
    feeds = [UrlSource(url=site.url("/feed.xml")), UrlSource(url=site.url("/wire.xml"))]
    watcher = _watcher(settings, e5_embedder, feeds=feeds, batch_articles=1, fetch_workers=2)
    first = watcher.poll_once(force=True)
    assert (first.fetched, first.articles_new, first.batches, first.duplicates) == (3, 2, 2, [wire_copy])
    assert _urls(settings) == {
        site.url("/articles/hochwasser-valencia.html"): "2024-10-31",
        site.url("/articles/faehre-ostsee.html"): "2024-11-02",
    }

    site.publish(LIGHTHOUSE)
    again = watcher.poll_once(force=True)
    assert (again.fetched, again.articles_new) == (1, 1)  # only the lighthouse: seen URLs are not fetched again
    assert site.hits("/articles/hochwasser-valencia.html") == 1 and site.hits("/articles/valencia-agentur.html") == 1
    assert site.url("/articles/leuchtturm-westerhever.html") in _urls(settings)
    watcher.close()

    # A restarted watcher remembers what it saw (data/watch.sqlite).
    restarted = _watcher(settings, e5_embedder, feeds=feeds)
    assert restarted.poll_once(force=True).fetched == 0
    restarted.close()


def test_watch_goes_on_through_broken_down_and_hanging_feeds_and_bad_pages(
    site: NewsSite, settings: Settings, e5_embedder, caplog: pytest.LogCaptureFixture
) -> None:
    site.publish(FLOOD)
    bad_feeds = ["/broken.xml", "/down.xml", "/hang.xml"]
    watcher = _watcher(
        settings,
        e5_embedder,
        interval_s=60,
        feeds=[UrlSource(url=site.url(p)) for p in [*bad_feeds, "/failing-pages.xml", "/feed.xml"]],
    )
    with caplog.at_level(logging.WARNING, logger="retrieval.watch"):
        report = watcher.poll_once(force=True)

    assert report.articles_new == 1 and _urls(settings) == {site.url("/articles/hochwasser-valencia.html"): "2024-10-31"}
    assert {f.where: f.cause for f in report.failed_sources} == {
        site.url("/broken.xml"): "malformed feed (<unknown>:1:95: no element found)",
        site.url("/down.xml"): "HTTP 503 Service Unavailable",
        site.url("/hang.xml"): "timed out after 1 s without an answer",
    }
    assert {f.where.removeprefix(site.base_url): f.cause for f in report.failed_pages} == {
        "/hang.html": "timed out after 1 s without an answer",
        "/loop-a": "too many redirects (a redirect loop?)",
        "/big.html": "larger than the 5,000,000 byte limit",
        "/empty.html": "no article text found on the page",
        "/gone.html": "HTTP 404 Not Found",
    }
    # One log line per failure, naming it and the cause.
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 8 and all("\n" not in line for line in lines)
    assert f"watch: feed {site.url('/down.xml')} failed: HTTP 503 Service Unavailable; next try in 60 s" in lines
    # Back-off: a failing feed waits its interval, doubled per failure; the hanging page is retried later,
    # the pages that cannot become articles are not.
    down = next(s for s in watcher.sources if s.where.endswith("/down.xml"))
    assert down.failures == 1
    watcher.poll_once(force=True)
    assert down.failures == 2 and down.due - watcher.clock() == pytest.approx(120, abs=5)
    state = WatchState(settings.retrieval.data_dir / "watch.sqlite")
    assert state.wanted(site.url("/hang.html"), now=watcher.clock() + 3600)
    assert not state.wanted(site.url("/big.html"), now=watcher.clock() + 3600)
    state.close()
    watcher.close()


def test_watch_indexes_new_and_changed_files_of_a_folder_once(tmp_path: Path, settings: Settings, e5_embedder) -> None:
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    article = incoming / "leuchtturm.txt"
    article.write_text(f"{LIGHTHOUSE.title}\n{LIGHTHOUSE.published}\n\n" + "\n".join(LIGHTHOUSE.paragraphs) + "\n", encoding="utf-8")
    watcher = _watcher(settings, e5_embedder, folders=[FolderSource(path=incoming)])
    assert watcher.poll_once(force=True).articles_new == 1
    assert watcher.poll_once(force=True).indexed == []  # unchanged: not even read again
    article.write_text(article.read_text(encoding="utf-8") + "Die Sanierung soll 2026 abgeschlossen sein.\n", encoding="utf-8")
    assert watcher.poll_once(force=True).articles_new == 1
    retriever = EmbeddedRetriever.load(settings, embedder=e5_embedder)
    assert any("2026 abgeschlossen" in a.text for a in retriever.data.articles.values())
    watcher.close()


def test_watch_follows_a_sitemap_index_to_its_pages(site: NewsSite, settings: Settings, e5_embedder) -> None:
    site.publish(FERRY)
    watcher = _watcher(settings, e5_embedder, sitemaps=[UrlSource(url=site.url("/sitemap-index.xml"))])
    report = watcher.poll_once(force=True)
    assert (report.fetched, report.articles_new, report.failed_sources) == (1, 1, [])
    assert _urls(settings) == {site.url("/articles/faehre-ostsee.html"): "2024-11-02"}
    watcher.close()


def test_watch_command_once_and_its_usage_errors(
    site: NewsSite, writable_seed_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSBOT_DATA_DIR", str(writable_seed_index))
    assert runner.invoke(app, ["watch"]).exit_code == 2  # no config named anywhere
    bad = tmp_path / "bad.toml"
    bad.write_text("[[feeds]]\nurl = 'feed.xml'\n", encoding="utf-8")
    result = runner.invoke(app, ["watch", "--config", str(bad)])
    assert result.exit_code == 2 and "feeds.0.url: Value error, 'feed.xml' is not an http(s) URL" in result.stderr
    site.publish(FLOOD)
    good = tmp_path / "watch.toml"
    good.write_text(f"[[feeds]]\nurl = '{site.url('/feed.xml')}'\n[[feeds]]\nurl = '{site.url('/down.xml')}'\n", encoding="utf-8")
    once = runner.invoke(app, ["watch", "--once", "--config", str(good)])
    assert once.exit_code == 0, once.output
    assert once.stdout.strip() == "fetched 1, indexed 1, duplicates 0, failed pages 0, failed sources 1"
