"""Stories, answers and briefings read the same from both stores (a real PostgreSQL server): the
same articles indexed into each give the same stories, the same figures for the flagship question
and the same whole-collection briefing; a new article joins its story without re-linking others."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import GNAD, GNAD_SAMPLE, SEEDS, make_settings

pytest.importorskip("psycopg", reason="psycopg is not installed (dev dependency group)")
pytest.importorskip("pgvector", reason="pgvector is not installed (dev dependency group)")

pytestmark = pytest.mark.slow

FLAGSHIP = "How many soldiers were reported and by whom?"


@pytest.fixture(scope="module")
def both_stores(pg_server, e5_embedder, tmp_path_factory):
    """(embedded settings, PostgreSQL settings): the seeds and the 10kGNAD sample indexed into each."""
    from retrieval.backends import index_paths
    from tests.pg_server import fresh_database

    if not GNAD.is_dir():
        pytest.skip(f"10kGNAD articles not found in {GNAD}")
    articles = tmp_path_factory.mktemp("parity-articles")
    for path in SEEDS.glob("*.txt"):
        shutil.copy(path, articles / path.name)
    for name in GNAD_SAMPLE:
        shutil.copy(GNAD / f"{name}.txt", articles / f"{name}.txt")
    embedded = make_settings(tmp_path_factory.mktemp("parity-embedded"))
    postgres = make_settings(
        tmp_path_factory.mktemp("parity-pg"), NEWSBOT_DATABASE_URL=fresh_database(pg_server)
    )
    for settings in (embedded, postgres):
        index_paths([articles], settings, embedder=e5_embedder)
    return embedded, postgres


def partition(corpus) -> set[frozenset[str]]:  # type: ignore[no-untyped-def]
    from answers.stories import story_map

    return {frozenset(story.articles) for story in story_map(corpus).stories}


def test_both_stores_link_the_same_stories_and_the_seeds_are_one(both_stores, e5_embedder) -> None:
    from retrieval.backends import open_retriever

    embedded, postgres = (open_retriever(s, e5_embedder) for s in both_stores)
    stories = partition(embedded.data)
    assert partition(postgres.data) == stories
    seeds = frozenset(p.stem for p in SEEDS.glob("*.txt"))
    assert seeds in stories  # one event, five outlets, and no unrelated article joined it
    assert len(stories) > 5


def test_the_flagship_question_and_the_briefing_are_the_same_on_both_stores(both_stores, e5_embedder) -> None:
    from answers.answer import answer
    from answers.briefing import build_briefing
    from answers.extractive import ExtractiveAnswerer
    from retrieval.backends import open_retriever

    results, briefings = [], []
    for settings in both_stores:
        retriever = open_retriever(settings, e5_embedder)
        answerer = ExtractiveAnswerer(settings, e5_embedder)
        results.append(answer(FLAGSHIP, settings, retriever=retriever, answerer=answerer))
        briefings.append(build_briefing(settings, retriever))
    embedded, postgres = results
    assert embedded.figures
    assert [(f.value, f.what, f.story) for f in postgres.figures] == [
        (f.value, f.what, f.story) for f in embedded.figures
    ]
    seeds = {p.stem for p in SEEDS.glob("*.txt")}
    assert {c.doc_id for c in embedded.citations if c.n in embedded.figures[0].citations} <= seeds
    embedded_briefing, postgres_briefing = briefings
    assert [s.articles for s in postgres_briefing.stories] == [s.articles for s in embedded_briefing.stories]
    assert [[f.value for f in s.figures] for s in postgres_briefing.stories] == [
        [f.value for f in s.figures] for s in embedded_briefing.stories
    ]


def test_a_new_article_joins_its_story_and_leaves_every_other_story_as_it_was(
    both_stores, e5_embedder
) -> None:
    from retrieval.backends import index_uploaded_article, open_retriever

    raw = (SEEDS / "001_28c85fedd7a7b3aa.txt").read_text(encoding="utf-8")
    # A follow-up report of the seed event: the seed's own text, reworded at the top.
    follow_up = "Nordkoreanische Soldaten in Russland: NATO bestätigt Verlegung\n\n" + raw.split("\n", 1)[1]
    for settings in both_stores:
        before = open_retriever(settings, e5_embedder).data
        old = partition(before)
        article = index_uploaded_article(follow_up.encode(), "nato-folgebericht.txt", settings, e5_embedder)
        after = partition(open_retriever(settings, e5_embedder).data)
        seeds = frozenset(p.stem for p in SEEDS.glob("*.txt"))
        assert seeds | {article.doc_id} in after
        assert after - {seeds | {article.doc_id}} == old - {seeds}
