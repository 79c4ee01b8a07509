"""Time windows: `--since`/`--until` and a day named in the question limit the articles searched by
publication day, in the embedded store and in PostgreSQL; a dated question is answered from that
day's articles or declined, saying why."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from answers.answer import answer
from bot.cli import app
from config.settings import Settings
from retrieval.stores.embedded.indexer import build_index
from retrieval.stores.embedded.search import EmbeddedRetriever
from retrieval.time_window import TimeWindow, TimeWindowError, window_from_options, window_named_in
from tests.conftest import make_settings
from tests.news_site import FERRY, FLOOD, LIGHTHOUSE, Story

NOW = dt.datetime(2024, 11, 6, 9, 30)
runner = CliRunner()


@pytest.mark.parametrize(
    ("since", "until", "expected"),
    [
        ("24h", None, TimeWindow(dt.date(2024, 11, 5), None)),
        ("7d", "2024-11-05", TimeWindow(dt.date(2024, 10, 30), dt.date(2024, 11, 5))),
        ("2w", None, TimeWindow(dt.date(2024, 10, 23), None)),
        (None, "2024-10-31", TimeWindow(None, dt.date(2024, 10, 31))),
    ],
)
def test_since_and_until_take_dates_and_durations_back_from_now(since, until, expected) -> None:
    assert window_from_options(since, until, NOW) == expected


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [
        ("gestern", None, "'gestern' is neither a date nor a duration; use a date such as 2024-10-20 or a duration"),
        ("2024-11-05", "2024-11-01", "--until 2024-11-01 is before --since 2024-11-05"),
    ],
)
def test_a_bad_window_says_what_to_write(since, until, message) -> None:
    with pytest.raises(TimeWindowError, match=message):
        window_from_options(since, until, NOW)


@pytest.mark.parametrize(
    ("question", "window"),
    [
        ("What was reported on 24 October?", TimeWindow(month_day=(10, 24))),
        ("Was wurde am 24. Oktober gemeldet?", TimeWindow(month_day=(10, 24))),
        ("What happened on October 24th, 2024?", TimeWindow(dt.date(2024, 10, 24), dt.date(2024, 10, 24))),
        ("Was meldete Yonhap am 22.10.2024?", TimeWindow(dt.date(2024, 10, 22), dt.date(2024, 10, 22))),
        ("Was geschah gestern in Valencia?", TimeWindow(dt.date(2024, 11, 5), dt.date(2024, 11, 5))),
        ("What did Rutte say today?", TimeWindow(dt.date(2024, 11, 6), dt.date(2024, 11, 6))),
        ("Wie viele der 12.000 Soldaten sind in Kursk?", None),  # a figure is no date
        ("How many soldiers may 2 brigades hold?", None),
        ("Was passierte am 31. Februar?", None),
    ],
)
def test_the_day_a_question_names(question: str, window: TimeWindow | None) -> None:
    assert window_named_in(question, NOW) == window


def test_a_window_leaves_out_undated_articles_and_those_outside() -> None:
    window = TimeWindow(dt.date(2024, 10, 31), dt.date(2024, 11, 2))
    dated = [("a", "2024-10-30"), ("b", "2024-10-31"), ("c", "2024-11-02"), ("d", None), ("e", "2024-11")]
    assert window.outside(dated) == {"a", "d", "e"}
    assert TimeWindow(month_day=(10, 31)).outside(dated) == {"a", "c", "d", "e"}
    assert TimeWindow().outside(dated) == frozenset()


# -- with the real model and index ----------------------------------------------------------------


def _story_file(folder: Path, story: Story) -> Path:
    path = folder / f"{story.slug}.txt"
    path.write_text(f"{story.title}\n{story.published}\n\n" + "\n".join(story.paragraphs) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def dated_settings(writable_seed_index: Path, tmp_path: Path, e5_embedder) -> Settings:
    """The seeds (three dated 21-24 October 2024, two undated) and three dated stories."""
    folder = tmp_path / "dated"
    folder.mkdir()
    settings = make_settings(writable_seed_index)
    build_index([_story_file(folder, s) for s in (FLOOD, FERRY, LIGHTHOUSE)], settings, embedder=e5_embedder)
    return settings


@pytest.fixture
def dated_retriever(dated_settings: Settings, e5_embedder) -> EmbeddedRetriever:
    return EmbeddedRetriever.load(dated_settings, embedder=e5_embedder)


@pytest.mark.slow
def test_search_in_a_window_finds_only_articles_published_in_it(dated_retriever: EmbeddedRetriever) -> None:
    window = TimeWindow(dt.date(2024, 11, 1), dt.date(2024, 11, 3))
    hits = dated_retriever.search("Unwetter Tote Valencia Fähre Leuchtturm", k=10, window=window).hits
    assert hits and {h.article.published for h in hits} == {"2024-11-02"}
    assert dated_retriever.search("Valencia", window=TimeWindow(dt.date(2030, 1, 1))).hits == []


@pytest.mark.slow
def test_a_question_naming_a_day_is_answered_from_that_days_articles(dated_settings: Settings, dated_retriever: EmbeddedRetriever) -> None:
    result = answer("Wie viele Passagiere waren am 2. November an Bord der Fähre?", dated_settings, dated_retriever, now=NOW)
    assert not result.declined
    assert {c.published for c in result.citations} == {"2024-11-02"} and "312" in result.citations[0].quote
    assert result.note == "Durchsucht wurden nur Artikel, die am 2. November erschienen sind."


@pytest.mark.slow
def test_a_question_naming_a_day_without_articles_is_declined_saying_why(dated_settings: Settings, dated_retriever: EmbeddedRetriever) -> None:
    result = answer("What was reported on 24 December?", dated_settings, dated_retriever, now=NOW)
    assert result.declined and result.citations == []
    assert result.note == "No article in the collection was published on 24 December."
    other_day = answer("Wie viele Passagiere waren am 31. Oktober an Bord der Fähre?", dated_settings, dated_retriever, now=NOW)
    assert all(c.published == "2024-10-31" for c in other_day.citations)  # never the ferry of 2 November


@pytest.mark.slow
def test_ask_and_search_take_since_and_until(dated_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSBOT_DATA_DIR", str(dated_settings.retrieval.data_dir))
    asked = runner.invoke(app, ["ask", "Wie viele Tote gab es nach den Unwettern?", "--since", "2024-10-30", "--until", "2024-10-31", "--json"])
    assert asked.exit_code == 0, asked.output
    data = json.loads(asked.stdout)
    assert not data["abstained"] and {c["published"] for c in data["citations"]} == {"2024-10-31"}
    assert data["note"] == "Durchsucht wurden nur Artikel, die vom 2024-10-30 bis 2024-10-31 erschienen sind."
    searched = runner.invoke(app, ["search", "Leuchtturm Fähre Valencia", "--since", "2024-11-03", "--json"])
    assert searched.exit_code == 0
    hits = json.loads(searched.stdout)
    # Of the dated articles only 5 November's; the undated seeds count by the day they were indexed
    # (today, after 3 November), and say so: never passed off as published.
    assert {h["published"] for h in hits if h["date_source"] == "published"} == {"2024-11-05"}
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert all((h["published"], h["fallback_date"]) == (None, today) for h in hits if h["date_source"] == "indexed")
    assert {h["date_source"] for h in hits} == {"published", "indexed"}
    bad = runner.invoke(app, ["search", "Valencia", "--since", "letzte Woche"])
    assert bad.exit_code == 2 and "'letzte Woche' is neither a date nor a duration" in bad.stderr


@pytest.mark.slow
def test_the_postgresql_store_searches_the_same_window(pg_url: str, tmp_path: Path, e5_embedder) -> None:
    from retrieval.stores.postgres.index import build_pg_index
    from retrieval.stores.postgres.search import PgRetriever

    folder = tmp_path / "dated"
    folder.mkdir()
    settings = make_settings(tmp_path / "data", NEWSBOT_DATABASE_URL=pg_url)
    build_pg_index([_story_file(folder, s) for s in (FLOOD, FERRY, LIGHTHOUSE)], settings, embedder=e5_embedder)
    retriever = PgRetriever.load(settings, embedder=e5_embedder)
    try:
        query = "Unwetter Tote Valencia Fähre Leuchtturm"
        in_window = retriever.search(query, k=10, window=TimeWindow(dt.date(2024, 11, 1), dt.date(2024, 11, 3))).hits
        assert in_window and {h.article.published for h in in_window} == {"2024-11-02"}
        named_day = retriever.search(query, k=10, window=TimeWindow(month_day=(10, 31))).hits
        assert named_day and {h.article.published for h in named_day} == {"2024-10-31"}
    finally:
        retriever.close()


# -- briefings over a publication window ----------------------------------------------------------


@pytest.mark.slow
def test_a_briefing_published_between_two_days_covers_only_those_articles_and_says_so(
    dated_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSBOT_DATA_DIR", str(dated_settings.retrieval.data_dir))
    window = ["--published-since", "2024-11-01", "--published-until", "2024-11-03"]
    as_json = runner.invoke(app, ["briefing", *window, "--json"])
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.stdout)
    # Every article was added minutes ago; a publication window alone asks for all of its articles.
    assert data["articles"] == 1 and data["since"] is None
    assert {c["published"] for c in data["citations"]} == {"2024-11-02"}
    assert data["window"] == {"since": "2024-11-01", "until": "2024-11-03", "month_day": None}

    text = runner.invoke(app, ["briefing", *window]).stdout
    assert "Durchsucht wurden nur Artikel, die vom 2024-11-01 bis 2024-11-03 erschienen sind." in text
    assert FERRY.title in text and FLOOD.title not in text and LIGHTHOUSE.title not in text

    # On a topic that the window holds nothing of: the window is named, nothing claimed about the collection.
    topic = runner.invoke(app, ["briefing", "Hochwasser Valencia", "--published-since", "2024-11-04", "--json"])
    assert topic.exit_code == 0 and FLOOD.title not in topic.stdout
    # --since keeps its meaning (added since), beside a publication window
    added = json.loads(runner.invoke(app, ["briefing", *window, "--since", "2h", "--json"]).stdout)
    assert added["since"] is not None and added["articles"] == 1
    bad = runner.invoke(app, ["briefing", "--published-since", "letzte Woche"])
    assert bad.exit_code == 2 and "'letzte Woche' is neither a date nor a duration" in bad.stderr


@pytest.mark.slow
def test_a_briefing_over_a_window_draws_on_the_same_articles_in_both_stores(
    dated_settings: Settings, pg_url: str, tmp_path: Path, e5_embedder
) -> None:
    from answers.briefing import build_briefing
    from retrieval.stores.postgres.index import build_pg_index
    from retrieval.stores.postgres.search import PgRetriever

    folder = tmp_path / "pg-dated"
    folder.mkdir()
    settings = make_settings(tmp_path / "pg-data", NEWSBOT_DATABASE_URL=pg_url)
    build_pg_index([_story_file(folder, s) for s in (FLOOD, FERRY, LIGHTHOUSE)], settings, embedder=e5_embedder)
    window = TimeWindow(dt.date(2024, 10, 31), dt.date(2024, 11, 2))
    pg = PgRetriever.load(settings, embedder=e5_embedder)
    try:
        for retriever in (EmbeddedRetriever.load(dated_settings, embedder=e5_embedder), pg):
            briefing = build_briefing(settings, retriever, window=window)
            assert briefing.articles == 2 and briefing.window == window
            assert {c.published for c in briefing.citations} == {"2024-10-31", "2024-11-02"}
            on_topic = build_briefing(settings, retriever, "Fähre Passagiere", window=TimeWindow(dt.date(2024, 11, 3)))
            assert all(c.published != "2024-11-02" for c in on_topic.citations)
    finally:
        pg.close()


@pytest.mark.slow
def test_a_windowed_figures_answer_quotes_no_article_of_its_story_from_outside_the_window(
    dated_settings: Settings, dated_retriever: EmbeddedRetriever
) -> None:
    # The seeds are one story; before, its figures were read from every article of the story, the
    # 21 and 22 October ones too, under a note saying only articles since 24 October were searched.
    window = TimeWindow(dt.date(2024, 10, 24))
    result = answer("Wie viele nordkoreanische Soldaten hat Nordkorea geschickt?", dated_settings, dated_retriever, window=window)
    assert not result.declined and result.figures
    assert all(window.admits(c.published or c.fallback_date) for c in result.citations)
    assert {c.published for c in result.citations if c.published} == {"2024-10-24"}
