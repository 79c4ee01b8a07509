"""Grounded answers on the real seed index: figures with sources, verbatim quotes, abstention, language."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from answers.answer import answer, validate_question
from answers.errors import QuestionError
from answers.evaluation import evaluate, load_questions
from answers.grounding import GroundingError, enforce_grounding, numbers_in
from answers.types import Answer, Citation, Figure
from tests.conftest import REPO, SHARED

pytestmark = pytest.mark.slow
FLAGSHIP = "How many soldiers were reported and by whom?"


@pytest.fixture(scope="module")
def ask(seed_settings, seed_retriever):
    def run(question: str) -> Answer:
        return answer(question, seed_settings, retriever=seed_retriever)

    return run


def assert_grounded(result: Answer, articles) -> None:
    for citation in result.citations:
        assert articles[citation.doc_id].text[citation.start : citation.end] == citation.quote
    quotes = " ".join(c.quote for c in result.citations)
    assert numbers_in(result.answer) <= numbers_in(quotes)


def test_quantity_question_lists_every_figure_with_its_source(ask, seed_retriever) -> None:
    result = ask(FLAGSHIP)
    assert not result.abstained and result.language == "en"
    values = {re.sub(r"\D", "", f.value) for f in result.figures}
    assert {"1500", "12000", "10000", "3000"} <= values
    attributions = " ".join(f.attributed_to or "" for f in result.figures)
    for source in ("Geheimdienst", "Yonhap", "Selenskyj"):
        assert source in attributions
    assert len({c.doc_id for c in result.citations}) >= 3
    assert_grounded(result, seed_retriever.data.articles)
    by_number = {c.n: c for c in result.citations}
    for figure in result.figures:
        assert any(figure.value in by_number[n].quote for n in figure.citations), "each figure is in a quote it cites"


def test_same_figure_from_several_sources_is_one_row_sorted_by_reach(ask) -> None:
    figures = ask(FLAGSHIP).figures
    normalized = [re.sub(r"\D", "", f.value) or f.value for f in figures]
    assert len(normalized) == len(set(normalized))
    twelve = figures[normalized.index("12000")]
    assert len(twelve.citations) >= 3 and "Yonhap" in (twelve.attributed_to or "")
    assert figures[0] is twelve, "12.000 is reported by the most articles"


def test_wire_sentence_in_two_articles_is_quoted_once_with_both_sources(ask) -> None:
    result = ask("Wie viele nordkoreanische Soldaten wurden laut südkoreanischem Geheimdienst nach Russland verlegt?")
    wire = [c for c in result.citations if c.quote.startswith("Der südkoreanische Geheimdienst hatte am Freitag mitgeteilt")]
    assert len(wire) == 1
    assert {wire[0].doc_id, *wire[0].also_reported_by} >= {"000_aae4de4ea5fe19af", "003_63ca718507ea8247"}


@pytest.mark.parametrize(
    ("question", "language", "lead"),
    [
        ("What did NATO Secretary General Mark Rutte warn about?", "en", "According to the articles:"),
        ("Was sagte Kreml-Sprecher Peskow über die Zusammenarbeit mit Nordkorea?", "de", "Laut den Artikeln:"),
        ("Wie ist das Wetter morgen in Berlin?", "de", "Dazu steht nichts in den Artikeln."),
        ("What is a good recipe for apple pie?", "en", "The articles don't say."),
    ],
)
def test_answer_frame_is_in_the_askers_language_and_quotes_stay_german(ask, question: str, language: str, lead: str) -> None:
    result = ask(question)
    assert result.language == language
    assert result.answer.startswith(lead)
    assert all(c.quote for c in result.citations)


@pytest.mark.parametrize(
    "question",
    ["Wie ist das Wetter morgen in Berlin?", "Who won the football World Cup in 2022?", "How many tanks did Germany deliver to Ukraine?"],
)
def test_questions_the_articles_do_not_answer_are_abstained(ask, question: str) -> None:
    result = ask(question)
    assert result.abstained and result.figures == []
    assert len(result.citations) <= 2, "at most the nearest passages, labelled as such"


def test_json_shape_is_the_documented_one(ask) -> None:
    data = json.loads(json.dumps(ask(FLAGSHIP).to_json()))
    assert set(data) >= {"question", "language", "abstained", "answer", "figures", "citations"}
    assert isinstance(data["abstained"], bool) and data["language"] in ("en", "de")
    for figure in data["figures"]:
        assert set(figure) >= {"value", "what", "attributed_to", "citations"}
        assert all(isinstance(n, int) for n in figure["citations"])
    for n, citation in enumerate(data["citations"], start=1):
        assert citation["n"] == n
        assert set(citation) >= {"n", "doc_id", "title", "outlet", "published", "url", "quote", "start", "end"}


QUESTION_PARTS = st.sampled_from(
    ["Wie viele", "How many", "Soldaten", "soldiers", "Kursk", "Putin", "Südkorea", "weapons", "Yonhap", "NATO",
     "Botschafter", "Vertrag", "Pjöngjang", "said", "sagte", "Russland", "Duma", "?"]
)  # fmt: skip


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(QUESTION_PARTS, min_size=1, max_size=6))
def test_every_quote_is_a_substring_of_its_article(ask, seed_retriever, parts: list[str]) -> None:
    result = ask(" ".join(parts))
    assert_grounded(result, seed_retriever.data.articles)


def test_a_line_with_an_unsupported_number_is_removed(seed_retriever) -> None:
    article = seed_retriever.data.articles["004_7cc3b5ee41316440"]
    start = article.text.index("Bis Dezember sollen es demnach 10.000 sein.")
    quote = "Bis Dezember sollen es demnach 10.000 sein."
    citation = Citation(1, article.doc_id, article.title, None, None, None, quote, start, start + len(quote))
    figures = [Figure("10.000", "soldiers", None, (1,)), Figure("20.000", "soldiers", None, (1,))]
    draft = Answer("q", "en", "answered", "Figures:", figures=figures, citations=[citation])
    checked = enforce_grounding(draft, seed_retriever.data.articles)
    assert [f.value for f in checked.figures] == ["10.000"] and checked.dropped_sentences == 1
    assert "20.000" not in checked.answer


def test_a_model_prose_line_with_an_unsupported_number_is_removed(seed_retriever) -> None:
    article = seed_retriever.data.articles["004_7cc3b5ee41316440"]
    start = article.text.index("Bis Dezember sollen es demnach 10.000 sein.")
    quote = "Bis Dezember sollen es demnach 10.000 sein."
    citation = Citation(1, article.doc_id, article.title, None, None, None, quote, start, start + len(quote))
    prose = "By December there should be 10.000 [1].\nLater 20.000 [1]."
    draft = Answer("q", "en", "answered", "Figures:", citations=[citation], answerer="llm", text=prose)
    checked = enforce_grounding(draft, seed_retriever.data.articles)
    assert checked.text == "By December there should be 10.000 [1]." and checked.dropped_sentences == 1


def test_a_quote_that_is_not_verbatim_is_a_bug_not_an_answer(seed_retriever) -> None:
    article = seed_retriever.data.articles["004_7cc3b5ee41316440"]
    wrong = Citation(1, article.doc_id, article.title, None, None, None, "Bis Dezember sollen es 20.000 sein.", 0, 35)
    with pytest.raises(GroundingError):
        enforce_grounding(Answer("q", "en", "answered", "x", citations=[wrong]), seed_retriever.data.articles)


@pytest.mark.parametrize(
    ("question", "reason"),
    [("", "empty"), ("   \n\t ", "empty"), ("x" * 1001, "limit is 1000"), ("Wer ist\x07 Sluzki?", "control characters")],
)
def test_bad_questions_are_refused_with_a_reason(question: str, reason: str) -> None:
    with pytest.raises(QuestionError, match=reason):
        validate_question(question)


@pytest.mark.parametrize(
    ("path", "minimum"),
    [(SHARED / "eval" / "seed_questions.jsonl", 9), (REPO / "tests" / "questions_own.jsonl", 17)],
)
def test_question_sets_pass_with_verbatim_quotes(ask, seed_retriever, path: Path, minimum: int) -> None:
    if not path.exists():
        pytest.skip(f"{path} is not present (shared/ is beside the repo in CI)")
    report = evaluate(load_questions(path), ask, seed_retriever.data.articles)
    failed = [r.id for r in report.results if not r.passed]
    assert report.passed >= minimum, f"failed: {failed}"
    assert report.all_verbatim
