"""The briefing digest built from the real seed index: figures with sources, corroborated claims, newest articles."""

from __future__ import annotations

import pytest

from answers.briefing import MAX_CLAIMS, MAX_FIGURES, MAX_NEWEST, build_briefing
from answers.figures import find_figures, normalize_value

pytestmark = pytest.mark.slow


def test_every_quote_in_a_briefing_is_verbatim_from_its_article(seed_settings, seed_retriever) -> None:
    for topic in (None, "Nordkorea", "NATO"):
        briefing = build_briefing(seed_settings, seed_retriever, topic)
        assert briefing.citations
        for citation in briefing.citations:
            article = seed_retriever.data.articles[citation.doc_id]
            assert article.text[citation.start : citation.end] == citation.quote
        assert [c.n for c in briefing.citations] == list(range(1, len(briefing.citations) + 1))


def test_key_figures_say_what_they_count_and_who_reported_them_most_widely_reported_first(
    seed_settings, seed_retriever
) -> None:
    briefing = build_briefing(seed_settings, seed_retriever)

    assert 1 <= len(briefing.figures) <= MAX_FIGURES
    assert all(figure.attributed_to and figure.what for figure in briefing.figures)
    first = briefing.figures[0]
    assert (first.value, first.what) == ("1.500", "nordkoreanische Soldaten")
    for figure in briefing.figures:
        for n in figure.citations:  # "1.500" is also cited where an article writes "1500"
            quoted = {found.normalized for found in find_figures(briefing.citations[n - 1].quote)}
            assert normalize_value(figure.value) in quoted


def test_corroborated_claims_are_sentences_that_several_articles_carry(seed_settings, seed_retriever) -> None:
    briefing = build_briefing(seed_settings, seed_retriever)

    assert 1 <= len(briefing.claims) <= MAX_CLAIMS
    sizes = [len(claim.articles) for claim in briefing.claims]
    assert sizes == sorted(sizes, reverse=True) and min(sizes) >= 2
    for claim in briefing.claims:
        citation = briefing.citations[claim.citation - 1]
        assert citation.doc_id in claim.articles
        assert set(citation.also_reported_by) == set(claim.articles) - {citation.doc_id}


def test_newest_articles_come_newest_first_each_with_its_lead_sentence(seed_settings, seed_retriever) -> None:
    briefing = build_briefing(seed_settings, seed_retriever)

    assert [a.published for a in briefing.newest] == ["2024-10-24", "2024-10-22", "2024-10-21"][:MAX_NEWEST]
    for article in briefing.newest:
        lead = briefing.citations[article.citation - 1]
        assert lead.doc_id == article.doc_id and lead.quote.endswith(".")


@pytest.mark.parametrize("topic", ["Fußball", "Klimawandel", "Apple iPhone"])
def test_a_topic_the_articles_do_not_cover_gives_an_empty_briefing(seed_settings, seed_retriever, topic: str) -> None:
    briefing = build_briefing(seed_settings, seed_retriever, topic)

    assert briefing.empty and briefing.topic == topic and briefing.articles == 0
