"""The structured Answer: front ends render its fields, labels come from one table per language."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from rich.console import Console

from answers.labels import LABELS, label
from answers.types import Answer, Citation, Figure
from bot.render_terminal import render_answer as render_terminal
from bot.telegram_format import render_answer as render_telegram
from tests.conftest import REPO
from tests.telegram.telegram_html import check_message

QUOTE = "Laut Schätzungen aus Seoul könnten es bis Dezember bis zu 12.000 Soldaten werden."


def citation(n: int = 1, quote: str = QUOTE) -> Citation:
    return Citation(n, f"doc{n}", "Nordkorea schickt Soldaten", "DW", "2024-10-21", None, quote, 0, len(quote))


def terminal_text(answer: Answer) -> str:
    console = Console(record=True, width=200)
    render_terminal(console, answer)
    return console.export_text()


def test_a_lead_that_is_not_the_first_line_of_any_text_is_what_every_front_end_shows_first() -> None:
    # The lead is a field: a front end that split some text would show something else.
    answer = Answer("Wie viele?", "de", "answered", "Eine eigene Überschrift", citations=[citation()])

    assert terminal_text(answer).splitlines()[0] == "Eine eigene Überschrift"
    assert render_telegram(answer).startswith("<b>Eine eigene Überschrift</b>")
    assert answer.answer.splitlines()[0] == "Eine eigene Überschrift"


def test_a_figures_answer_renders_its_figures_from_fields_in_terminal_telegram_and_json() -> None:
    figure = Figure("12.000", "Soldaten", "Schätzungen aus Seoul", (1,))
    answer = Answer("Wie viele Soldaten?", "de", "answered", label("de", "lead_figures"), [figure], [citation()])

    shown = terminal_text(answer)
    assert label("de", "lead_figures") in shown and "Schätzungen aus Seoul" in shown
    assert all(header in shown for header in (label("de", "figure"), label("de", "counts"), label("de", "attributed_to")))
    markup = render_telegram(answer)
    check_message(markup)
    assert "• <b>12.000</b> Soldaten — Schätzungen aus Seoul [1]" in markup
    data = json.loads(json.dumps(answer.to_json()))
    assert data["status"] == "answered" and data["abstained"] is False and data["lead"] == label("de", "lead_figures")
    assert data["answer"] == f"{label('de', 'lead_figures')}\n- 12.000 Soldaten: Schätzungen aus Seoul [1]"
    assert data["figures"] == [
        {
            "value": "12.000", "what": "Soldaten", "attributed_to": "Schätzungen aus Seoul", "citations": [1], "story": None,
            "newest": False,
            "sources": [
                {"citations": [1], "attributed_to": "Schätzungen aus Seoul", "outlet": "DW", "date": "2024-10-21",
                 "date_source": "published"},
            ],
        }
    ]  # fmt: skip


@pytest.mark.parametrize("language", ["en", "de"])
def test_a_declined_answer_shows_its_lead_and_labels_its_citations_as_nearest_passages(language: str) -> None:
    answer = Answer("?", language, "declined", label(language, "declined"), citations=[citation()])

    assert answer.abstained and answer.to_json()["status"] == "declined" and answer.to_json()["abstained"] is True
    for shown in (terminal_text(answer), render_telegram(answer), answer.answer):
        assert label(language, "declined") in shown and label(language, "nearest") in shown


def test_a_declined_answer_without_citations_does_not_announce_nearest_passages() -> None:
    answer = Answer("?", "en", "declined", label("en", "declined"))

    for shown in (terminal_text(answer), render_telegram(answer), answer.answer):
        assert label("en", "nearest") not in shown


def test_model_prose_is_shown_whole_under_the_model_label() -> None:
    prose = "Seoul schätzt bis zu 12.000 Soldaten [1].\nDas sagte der Geheimdienst [1]."
    answer = Answer("?", "de", "answered", label("de", "lead_quotes"), citations=[citation()], answerer="llm", text=prose)

    shown = terminal_text(answer)
    assert "Das sagte der Geheimdienst [1]." in shown and label("de", "model_worded") in shown
    assert "Das sagte der Geheimdienst [1]." in render_telegram(answer)
    assert answer.to_json()["answer"] == prose and answer.to_json()["text"] == prose


def test_both_languages_have_the_same_labels() -> None:
    assert set(LABELS["en"]) == set(LABELS["de"])
    assert all(LABELS["en"][key] != LABELS["de"][key] for key in LABELS["en"])


FRONT_ENDS = ["bot/render_terminal.py", "bot/telegram_format.py", "bot/cli.py", "bot/handlers.py", "bot/messages.py"]


@pytest.mark.parametrize("path", FRONT_ENDS)
def test_front_ends_never_parse_the_answer_text_and_define_no_label_table_of_their_own(path: str) -> None:
    tree = ast.parse(Path(REPO, path).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        # `x.answer.split(...)` / `x.text.split(...)`: re-parsing the core's text
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("split", "splitlines"):
            target = node.func.value
            assert not (isinstance(target, ast.Attribute) and target.attr in ("answer", "text", "lead")), (
                f"{path}:{node.lineno} splits answer text"
            )
        # a dict literal keyed by language whose values hold answer labels is a second table
        if isinstance(node, ast.Dict):
            keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
            if {"en", "de"} <= keys:
                values = [v for v in node.values if isinstance(v, ast.Dict)]
                labels_here = {k.value for v in values for k in v.keys if isinstance(k, ast.Constant)}
                assert not labels_here & set(LABELS["en"]), f"{path}:{node.lineno} has its own answer labels"
