"""One walk over an `Answer` for every front end, and figures that show when they were reported:
a row merged from several sources names each source with its outlet and day, newest first, and the
newest figure of a story is marked newest, in the terminal and in Telegram. A day that is only when
the article was fetched or indexed is shown as such, never as a publication day."""

from __future__ import annotations

import pytest
from rich.console import Console

from answers.labels import label
from answers.types import Answer, Citation, Figure, FigureSource, StoryRows, figure_rows, walk_answer
from bot.render_terminal import render_answer as render_terminal
from bot.telegram_format import render_answer as render_telegram
from tests.telegram.telegram_html import check_message, parse

YONHAP = "Yonhap berichtete, Pjöngjang wolle insgesamt 12.000 Soldaten an die Front schicken."
US = "Das US-Verteidigungsministerium sprach am Dienstag von 12.000 nordkoreanischen Soldaten."
KURSK = "In der Region Kursk seien inzwischen 10.000 Soldaten eingetroffen, sagte ein Pentagon-Sprecher."


def citation(n: int, quote: str, outlet: str, published: str | None, fetched: str | None = None) -> Citation:
    source = "published" if published else ("fetched" if fetched else None)
    return Citation(n, f"doc{n}", f"Bericht {n}", outlet, published, None, quote, 0, len(quote), (), source, fetched)


def figures_answer(**kw) -> Answer:  # type: ignore[no-untyped-def]
    citations = [
        citation(1, YONHAP, "Yonhap", "2024-10-21"),
        citation(2, KURSK, "DW", "2024-11-06"),
        citation(3, US, "Reuters", "2024-11-05"),
    ]
    figures = [
        Figure(
            "12.000", "Soldaten", "Yonhap; US-Verteidigungsministerium", (1, 3),
            sources=(FigureSource(1, "Yonhap"), FigureSource(3, "US-Verteidigungsministerium")),
        ),
        Figure("10.000", "Soldaten", "ein Pentagon-Sprecher", (2,), sources=(FigureSource(2, "ein Pentagon-Sprecher"),)),
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


def test_a_figure_merged_from_two_sources_names_each_source_and_day_newest_first() -> None:
    (story,) = figure_rows(figures_answer())
    assert isinstance(story, StoryRows) and story.story is None
    merged, kursk = story.rows
    assert merged.several and not merged.newest
    assert [(s.citations, s.attributed_to, s.outlet, s.day) for s in merged.sources] == [
        ((3,), "US-Verteidigungsministerium", "Reuters", "2024-11-05"),
        ((1,), "Yonhap", "Yonhap", "2024-10-21"),
    ]
    assert merged.sources_text("keine Quelle im Satz genannt", "neueste") == (
        "US-Verteidigungsministerium (Reuters, 2024-11-05) [3]; Yonhap (2024-10-21) [1]"
    )
    assert kursk.newest and not kursk.several  # 6 November is the latest day of the story
    assert kursk.dates_text("neueste") == "2024-11-06 (neueste)"


def test_a_merged_sentence_that_names_nobody_is_named_by_its_outlet_never_hidden() -> None:
    # The case: the US figure of 5 November merged into Yonhap's of October, the US not named.
    answer = figures_answer()
    answer.figures[0] = Figure("12.000", "Soldaten", "Yonhap", (1, 3), sources=(FigureSource(1, "Yonhap"), FigureSource(3, None)))
    merged = figure_rows(answer)[0].rows[0]
    assert merged.sources_text("keine Quelle im Satz genannt", "neueste") == (
        "keine Quelle im Satz genannt (Reuters, 2024-11-05) [3]; Yonhap (2024-10-21) [1]"
    )


def test_terminal_and_telegram_show_the_figures_days_and_the_newest() -> None:
    answer = figures_answer()
    console = Console(record=True, width=220)
    render_terminal(console, answer)
    shown = console.export_text()
    assert label("de", "figure_dates") in shown
    assert "2024-11-06 (neueste)" in shown
    lines = shown.splitlines()
    us = next(line for line in lines if "US-Verteidigungsministerium (Reuters)" in line)
    yonhap = lines[lines.index(us) + 1]  # the merged row's next source, on the next line of the same row
    assert "[3]" in us and "2024-11-05" in us and "Yonhap" in yonhap and "[1]" in yonhap and "2024-10-21" in yonhap
    markup = render_telegram(answer)
    check_message(markup)
    chat = parse(markup)
    assert "• 12.000 Soldaten — US-Verteidigungsministerium (Reuters, 2024-11-05) [3]; Yonhap (2024-10-21) [1]" in chat
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


def test_a_fetched_day_is_shown_as_fetched_never_as_a_publication_day() -> None:
    fetched = citation(1, YONHAP, "127.0.0.1", None, fetched="2026-12-06")
    answer = Answer("?", "de", "answered", "x", [Figure("12.000", "Soldaten", "Yonhap", (1,))], [fetched])
    assert figure_rows(answer)[0].rows[0].dates_text("neueste") == "abgerufen am 2026-12-06"
    chat = parse(render_telegram(answer))
    assert "· abgerufen am 2026-12-06" in chat and "127.0.0.1, abgerufen am 2026-12-06" in chat
    console = Console(record=True, width=220)
    render_terminal(console, Answer("?", "en", "answered", "x", [], [fetched]))
    assert "(127.0.0.1, fetched 2026-12-06)" in console.export_text()
    assert {k: answer.to_json()["citations"][0][k] for k in ("published", "date_source", "fallback_date")} == {
        "published": None, "date_source": "fetched", "fallback_date": "2026-12-06",
    }
    assert answer.to_json()["figures"][0]["sources"] == [
        {"citations": [1], "attributed_to": "Yonhap", "outlet": "127.0.0.1", "date": "2026-12-06", "date_source": "fetched"}
    ]


def test_an_article_without_a_title_line_is_named_by_a_short_title_in_the_terminal_and_in_telegram() -> None:
    """10kGNAD's articles are one line each, so their title is the whole article; the terminal showed it
    all under every quote (Telegram already cut it). Both now show its first words and " …"."""
    article = "Im Zentrum ist es um fünf Grad wärmer als am Stadtrand – Begrünte Fassaden sind billige Klimaanlagen. " * 20
    quote = "Während des Morgens gibt es kühlende Effekte."
    long_titled = Citation(1, "gnad_1", article.strip(), "derStandard", None, None, quote, 0, len(quote), ())
    answer = Answer("?", "de", "answered", "x", [], [long_titled])
    console = Console(record=True, width=220)
    render_terminal(console, answer)
    shown = console.export_text()
    assert "Im Zentrum ist es um fünf Grad wärmer als am Stadtrand – Begrünte Fassaden sind billige …" in shown
    assert shown.count("Begrünte Fassaden") == 1
    chat = parse(render_telegram(answer))
    assert chat.count("Begrünte Fassaden") == 1 and quote in chat
