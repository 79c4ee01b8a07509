"""One walk over an `Answer` for every front end, and figures that show when they were reported:
each row names the publication day of each citation (a value merged from two sources names both),
and the newest figure of a story is marked newest, in the terminal and in Telegram."""

from __future__ import annotations

import pytest
from rich.console import Console

from answers.labels import label
from answers.types import Answer, Citation, Figure, StoryRows, figure_rows, walk_answer
from bot.render_terminal import render_answer as render_terminal
from bot.telegram_format import render_answer as render_telegram
from tests.telegram.telegram_html import check_message, parse

YONHAP = "Yonhap berichtete, Pjöngjang wolle insgesamt 12.000 Soldaten an die Front schicken."
US = "Das US-Verteidigungsministerium sprach am Dienstag von 12.000 nordkoreanischen Soldaten."
KURSK = "In der Region Kursk seien inzwischen 10.000 Soldaten eingetroffen, sagte ein Pentagon-Sprecher."


def citation(n: int, quote: str, outlet: str, published: str | None) -> Citation:
    return Citation(n, f"doc{n}", f"Bericht {n}", outlet, published, None, quote, 0, len(quote))


def figures_answer(**kw) -> Answer:  # type: ignore[no-untyped-def]
    citations = [
        citation(1, YONHAP, "Yonhap", "2024-10-21"),
        citation(2, KURSK, "DW", "2024-11-06"),
        citation(3, US, "Reuters", "2024-11-05"),
    ]
    figures = [
        Figure("12.000", "Soldaten", "Yonhap; US-Verteidigungsministerium", (1, 3)),
        Figure("10.000", "Soldaten", "ein Pentagon-Sprecher", (2,)),
    ]
    return Answer("Wie viele Soldaten?", "de", "answered", label("de", "lead_figures"), figures, citations, **kw)


class Recorder:
    """An `AnswerDrawing` that writes down which pieces it was asked to draw."""

    def __init__(self) -> None:
        self.pieces: list[str] = []

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return lambda *args: self.pieces.append(name)


@pytest.mark.parametrize(
    ("answer", "pieces"),
    [
        (figures_answer(), ["lead", "figures", "quotes"]),
        (figures_answer(note="Durchsucht wurden nur Artikel, die am 5. November erschienen sind."), ["lead", "figures", "note", "quotes"]),
        (figures_answer(text="Seoul schätzt 12.000 Soldaten [1].", answerer="llm"), ["model_text", "figures", "quotes"]),
        (Answer("?", "en", "declined", label("en", "declined"), read_as="Und Kursk?"), ["read_as", "declined", "quotes"]),
    ],
)
def test_every_front_end_is_drawn_by_the_same_walk(answer: Answer, pieces: list[str]) -> None:
    recorder = Recorder()
    walk_answer(answer, recorder)  # type: ignore[arg-type]
    assert recorder.pieces == pieces


def test_a_figure_merged_from_two_sources_names_each_ones_day_and_the_newest_is_marked() -> None:
    (story,) = figure_rows(figures_answer())
    assert isinstance(story, StoryRows) and story.story is None
    merged, kursk = story.rows
    assert merged.dated == ((1, "2024-10-21"), (3, "2024-11-05")) and not merged.newest
    assert kursk.newest  # 6 November is the latest day of the story
    assert merged.dates_text("neueste") == "[1] 2024-10-21, [3] 2024-11-05"
    assert kursk.dates_text("neueste") == "2024-11-06 (neueste)"


def test_terminal_and_telegram_show_the_figures_days_and_the_newest() -> None:
    answer = figures_answer()
    console = Console(record=True, width=220)
    render_terminal(console, answer)
    shown = console.export_text()
    assert label("de", "figure_dates") in shown
    assert "[1] 2024-10-21, [3] 2024-11-05" in shown and "2024-11-06 (neueste)" in shown
    markup = render_telegram(answer)
    check_message(markup)
    chat = parse(markup)
    assert "• 12.000 Soldaten — Yonhap; US-Verteidigungsministerium [1][3] · [1] 2024-10-21, [3] 2024-11-05" in chat
    assert "• 10.000 Soldaten — ein Pentagon-Sprecher [2] · 2024-11-06 (neueste)" in chat


def test_the_plain_text_keeps_only_numbers_its_quotes_carry() -> None:
    # Dates are not figures: the plain `answer` text (whose every number is in a quote) leaves them to the citations.
    assert figures_answer().answer == (
        f"{label('de', 'lead_figures')}\n- 12.000 Soldaten: Yonhap; US-Verteidigungsministerium [1][3]\n"
        "- 10.000 Soldaten: ein Pentagon-Sprecher [2]"
    )


def test_undated_figures_show_no_date_and_nothing_is_marked_newest() -> None:
    answer = Answer("?", "de", "answered", "x", [Figure("1.500", "Soldaten", None, (1,))], [citation(1, YONHAP, "DW", None)])
    (story,) = figure_rows(answer)
    assert story.rows[0].dates_text("neueste") == "" and not story.rows[0].newest
    assert "·" not in parse(render_telegram(answer))
