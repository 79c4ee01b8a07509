"""Time in every answer (issue 27): a figure reported by two outlets on two days names each with its
day, newest first; an article without a publication date is dated by the day it was fetched or
first indexed, stored as such in both stores (older indexes and databases are brought up to date),
counted by time windows and shown as "indexiert am …", never as a publication day."""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
from pathlib import Path

import pytest
from rich.console import Console

from answers.answer import answer
from answers.labels import label
from answers.types import figure_rows
from bot.render_terminal import render_answer as render_terminal
from bot.telegram_format import render_answer as render_telegram
from config.settings import Settings
from retrieval.stores.embedded.indexer import build_index
from retrieval.stores.embedded.search import EmbeddedRetriever
from retrieval.stores.embedded.store import current_generation, load_index
from retrieval.time_window import TimeWindow
from tests.conftest import SEEDS, make_settings
from tests.news_site import FERRY, FLOOD
from tests.telegram.telegram_html import check_message, parse

pytestmark = pytest.mark.slow

# The case: Yonhap's 12.000 of October, and the same 12.000 reported in November in a
# sentence that names nobody (only the outlet says who reported it).
YONHAP = """Nordkorea schickt Tausende Soldaten nach Russland
https://en.yna.co.kr/view/AEN20241021
21.10.2024

Nordkorea hat nach Angaben der südkoreanischen Nachrichtenagentur Yonhap rund 12.000 Soldaten nach Russland geschickt. Die Truppen sollen in Lagern im Osten Russlands ausgebildet werden, bevor sie an die Front gebracht werden. Der südkoreanische Geheimdienst beobachtet die Verlegung seit Wochen und berichtete von Transporten per Schiff.
"""
REUTERS = """USA: Nordkorea hat 12.000 Soldaten nach Russland geschickt
https://www.reuters.com/world/us-north-korea-troops-2024-11-05
05.11.2024

Nordkorea hat inzwischen 12.000 Soldaten nach Russland geschickt. Die Truppen seien in Lagern im Osten Russlands ausgebildet worden und würden nun an die Front gebracht, sagte ein Sprecher des US-Verteidigungsministeriums in Washington. Der südkoreanische Geheimdienst hatte die Verlegung seit Wochen beobachtet.
"""
QUESTION = "Wie viele nordkoreanische Soldaten sind in Russland?"


def _today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


def _undated(folder: Path, slug: str, paragraphs: tuple[str, ...], title: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{slug}.txt"
    path.write_text(f"{title}\n\n" + "\n".join(paragraphs) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def two_reports(tmp_path: Path, e5_embedder) -> Settings:
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "yonhap.txt").write_text(YONHAP, encoding="utf-8")
    (folder / "reuters.txt").write_text(REUTERS, encoding="utf-8")
    settings = make_settings(tmp_path / "data")
    build_index([folder], settings, embedder=e5_embedder)
    return settings


def test_one_figure_from_two_outlets_on_two_days_names_both_with_their_days_newest_first(two_reports, e5_embedder) -> None:
    result = answer(QUESTION, two_reports, EmbeddedRetriever.load(two_reports, embedder=e5_embedder))

    [row] = [row for group in figure_rows(result) for row in group.rows if row.figure.value == "12.000"]
    assert [(s.outlet, s.day) for s in row.sources] == [("Reuters", "2024-11-05"), ("Yonhap", "2024-10-21")]
    assert row.sources[0].attributed_to is None and "Yonhap" in (row.sources[1].attributed_to or "")
    assert row.newest  # the story's newest figure, marked on its newest source

    markup = render_telegram(result)
    check_message(markup)
    chat = parse(markup)
    assert re.search(
        r"• 12\.000 Soldaten — keine Quelle im Satz genannt \(Reuters, 2024-11-05, neueste\) (\[\d\])+; "
        r"südkoreanische Nachrichtenagentur Yonhap \(2024-10-21\) \[\d\]",
        chat,
    ), chat

    console = Console(record=True, width=200)
    render_terminal(console, result)
    lines = console.export_text().splitlines()
    reuters = next(i for i, line in enumerate(lines) if "(Reuters)" in line and "12.000" in line)
    assert "2024-11-05 (neueste)" in lines[reuters]
    assert "Yonhap" in lines[reuters + 1] and "2024-10-21" in lines[reuters + 1]  # the same row's next source

    [figure] = [f for f in result.to_json()["figures"] if f["value"] == "12.000"]
    assert [(s["outlet"], s["date"]) for s in figure["sources"]] == [("Reuters", "2024-11-05"), ("Yonhap", "2024-10-21")]


def test_an_undated_file_is_dated_by_the_day_it_was_first_indexed_and_shown_as_such(tmp_path: Path, e5_embedder) -> None:
    folder = tmp_path / "articles"
    path = _undated(folder, "faehre", FERRY.paragraphs, FERRY.title)
    settings = make_settings(tmp_path / "data")
    build_index([folder], settings, embedder=e5_embedder)
    article = load_index(settings.index_dir).articles["faehre"]
    assert (article.published, article.date_source, article.fallback_date) == (None, "indexed", _today())

    # An index that dated it a month ago: an edit of the file keeps that first day.
    with sqlite3.connect(current_generation(settings.index_dir) / "meta.sqlite") as connection:
        connection.execute("UPDATE articles SET fallback_date = '2026-11-06' WHERE doc_id = 'faehre'")
    path.write_text(path.read_text(encoding="utf-8") + "Die Reederei kündigte eine Untersuchung an.\n", encoding="utf-8")
    assert build_index([folder], settings, embedder=e5_embedder).updated == ["faehre"]
    assert load_index(settings.index_dir).articles["faehre"].fallback_date == "2026-11-06"

    # A window counts it by that day, and the answer says so and shows the day as the day it was indexed.
    retriever = EmbeddedRetriever.load(settings, embedder=e5_embedder)
    question = "Wie viele Passagiere waren an Bord der Fähre?"
    result = answer(question, settings, retriever, window=TimeWindow(dt.date(2026, 11, 1), dt.date(2026, 11, 10)))
    assert not result.declined and {c.date_source for c in result.citations} == {"indexed"}
    assert result.note is not None and result.note.endswith(label("de", "window_fallback"))
    assert "indexiert am 2026-11-06" in parse(render_telegram(result))
    console = Console(record=True, width=200)
    render_terminal(console, result)
    assert "indexiert am 2026-11-06" in console.export_text()
    assert answer(question, settings, retriever, window=TimeWindow(dt.date(2026, 11, 7))).declined


def test_a_schema_2_index_is_read_with_undated_articles_dated_as_indexed_then_stored_as_schema_3(
    writable_seed_index: Path, e5_embedder
) -> None:
    settings = make_settings(writable_seed_index)
    meta = current_generation(settings.index_dir) / "meta.sqlite"
    with sqlite3.connect(meta) as connection:  # as written before articles said where their date comes from
        connection.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
        connection.execute("ALTER TABLE articles DROP COLUMN date_source")
        connection.execute("ALTER TABLE articles DROP COLUMN fallback_date")
        added = dict(connection.execute("SELECT doc_id, added FROM article_stories").fetchall())

    old = load_index(settings.index_dir)
    assert old.info.schema_version == 2
    undated = {d for d, a in old.articles.items() if not a.published}
    assert undated == {"000_aae4de4ea5fe19af", "002_877e01af3c7ff7d7"}
    for doc_id, article in old.articles.items():
        if doc_id in undated:
            day = dt.datetime.fromtimestamp(added[doc_id], dt.UTC).date().isoformat()
            assert (article.date_source, article.fallback_date) == ("indexed", day)
        else:
            assert (article.date_source, article.fallback_date) == ("published", None)

    report = build_index([SEEDS], settings, embedder=e5_embedder)
    assert report.wrote_index and report.texts_embedded == 0  # a rewrite of the metadata, nothing embedded
    new = load_index(settings.index_dir)
    assert new.info.schema_version == 3
    assert {d: (a.date_source, a.fallback_date) for d, a in new.articles.items()} == {
        d: (a.date_source, a.fallback_date) for d, a in old.articles.items()
    }


def test_the_postgresql_store_keeps_where_dates_come_from_and_brings_an_older_database_up_to_date(
    pg_url: str, tmp_path: Path, e5_embedder
) -> None:
    from retrieval.stores.postgres.index import build_pg_index
    from retrieval.stores.postgres.search import PgRetriever
    from retrieval.stores.postgres.store import connect

    folder = tmp_path / "articles"
    _undated(folder, "faehre", FERRY.paragraphs, FERRY.title)
    (folder / "hochwasser.txt").write_text(f"{FLOOD.title}\n{FLOOD.published}\n\n" + "\n".join(FLOOD.paragraphs) + "\n")
    settings = make_settings(tmp_path / "data", NEWSBOT_DATABASE_URL=pg_url)
    build_pg_index([folder], settings, embedder=e5_embedder)
    today = dt.date.fromisoformat(_today())
    query = "Fähre Passagiere Hochwasser Valencia"

    def dates_and_window_hits() -> tuple[dict[str, tuple[str | None, str | None, str | None]], set[str]]:
        retriever = PgRetriever.load(settings, embedder=e5_embedder)
        try:
            articles = {d: retriever.data.articles[d] for d in ("faehre", "hochwasser")}
            hits = retriever.search(query, k=10, window=TimeWindow(today)).hits
            return (
                {d: (a.published, a.date_source, a.fallback_date) for d, a in articles.items()},
                {h.article.doc_id for h in hits},
            )
        finally:
            retriever.close()

    expected = {"faehre": (None, "indexed", today.isoformat()), "hochwasser": ("2024-10-31", "published", None)}
    assert dates_and_window_hits() == (expected, {"faehre"})  # the window counts the day it was indexed

    with connect(pg_url) as conn:  # a database written before articles said where their date comes from
        conn.execute("ALTER TABLE articles DROP COLUMN date_source, DROP COLUMN fallback_date")
        conn.execute("UPDATE chunks SET published = NULL WHERE published = %s", (today.isoformat(),))
    assert dates_and_window_hits() == (expected, {"faehre"})  # a reader's load brought it up to date


def test_the_search_json_says_where_each_hits_date_comes_from(two_reports, monkeypatch) -> None:
    from typer.testing import CliRunner

    from bot.cli import app

    monkeypatch.setenv("NEWSBOT_DATA_DIR", str(two_reports.retrieval.data_dir))
    searched = CliRunner().invoke(app, ["search", "Soldaten Russland", "--json"])
    assert searched.exit_code == 0, searched.output
    hits = json.loads(searched.stdout)
    assert {(h["published"], h["date_source"], h["fallback_date"]) for h in hits} == {
        ("2024-10-21", "published", None), ("2024-11-05", "published", None)
    }  # fmt: skip
