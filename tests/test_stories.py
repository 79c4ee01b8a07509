"""Stories over a collection of many: articles grouped by event, boilerplate told from corroboration."""

from __future__ import annotations

import pytest

from answers.answer import answer
from answers.briefing import FIGURES_PER_STORY, build_briefing
from answers.figures import find_figures, normalize_value
from answers.stories import story_map
from bot.telegram_format import render_briefing, split_message
from tests.telegram.telegram_html import check_message

pytestmark = pytest.mark.slow

BOILERPLATE = "Der Volltext dieses auf Agenturmeldungen basierenden Artikels steht aus rechtlichen Gründen nicht mehr zur Verfügung."


def seeds_of(retriever) -> set[str]:  # type: ignore[no-untyped-def]
    return {d for d in retriever.data.articles if not d.startswith("gnad_")}


def test_the_seed_articles_form_one_story_that_no_unrelated_article_joins(mixed_retriever) -> None:
    stories = story_map(mixed_retriever.data)
    seeds = seeds_of(mixed_retriever)

    (seed_story,) = {stories.story_of[d] for d in seeds}
    assert set(stories.stories[seed_story].articles) == seeds
    assert len(stories.stories) > 2


def test_a_sentence_repeated_across_unrelated_stories_is_boilerplate(mixed_retriever) -> None:
    data = mixed_retriever.data
    stories = story_map(data)
    repeated = {s.dup_group for s in data.sentences if s.text == BOILERPLATE}

    (group,) = repeated
    assert len(data.group_docs[group]) >= 3
    assert group in stories.boilerplate_groups
    # Wire copies inside the seed story are corroboration, not boilerplate.
    seed_groups = {s.dup_group for s in data.sentences if s.doc_id in seeds_of(mixed_retriever) and s.dup_group}
    assert seed_groups and not seed_groups & stories.boilerplate_groups


def test_whole_collection_briefing_gives_top_stories_with_their_figures_and_no_boilerplate(
    mixed_settings, mixed_retriever
) -> None:
    briefing = build_briefing(mixed_settings, mixed_retriever)
    seeds = seeds_of(mixed_retriever)

    assert len(briefing.stories) >= 2
    first = briefing.stories[0]
    assert set(first.articles) == seeds  # carried by the most outlets
    assert 1 <= len(first.figures) <= FIGURES_PER_STORY
    by_number = {c.n: c for c in briefing.citations}
    for story in briefing.stories:
        assert by_number[story.lead].doc_id in story.articles
        for figure in story.figures:
            assert figure.attributed_to and figure.what
            for n in figure.citations:  # a story's figures come from its own articles only
                assert by_number[n].doc_id in story.articles
                assert normalize_value(figure.value) in {f.normalized for f in find_figures(by_number[n].quote)}
    assert not any(c.quote == BOILERPLATE for c in briefing.citations)
    assert not briefing.claims and not briefing.figures  # per story instead
    markup = render_briefing(briefing, "de")
    for part in split_message(markup):
        check_message(part)
    assert "Die wichtigsten Themen" in markup and BOILERPLATE not in markup


def test_a_topic_briefing_over_many_stories_stays_on_its_topic(mixed_settings, mixed_retriever) -> None:
    briefing = build_briefing(mixed_settings, mixed_retriever, "Nordkorea")
    seeds = seeds_of(mixed_retriever)

    assert not briefing.stories and briefing.figures
    assert {c.doc_id for c in briefing.citations} <= seeds


def test_flagship_figures_are_grouped_by_story_the_story_asked_about_first(mixed_settings, mixed_retriever) -> None:
    result = answer("How many soldiers were reported and by whom?", mixed_settings, mixed_retriever)
    seeds = seeds_of(mixed_retriever)
    by_number = {c.n: c for c in result.citations}

    first_story = result.figures[0].story
    first = [f for f in result.figures if f.story == first_story]
    assert {"1500", "3000", "10000", "12000"} <= {normalize_value(f.value) for f in first}
    for figure in first:  # every figure of the first group is the seed story's, with source and quote
        assert figure.attributed_to
        assert all(by_number[n].doc_id in seeds for n in figure.citations)
        assert any(normalize_value(figure.value) in {x.normalized for x in find_figures(by_number[n].quote)} for n in figure.citations)
    others = [f for f in result.figures if f.story != first_story]
    assert others, "the soldiers of the other stories are listed, each under its own story"
    for figure in others:
        assert not any(by_number[n].doc_id in seeds for n in figure.citations)
    stories_in_order = list(dict.fromkeys(f.story for f in result.figures))
    assert [f.story for f in result.figures] == sorted(
        (f.story for f in result.figures), key=stories_in_order.index
    )  # each story's figures together
