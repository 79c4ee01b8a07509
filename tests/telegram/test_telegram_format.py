"""Telegram HTML rendering and splitting: escaping, blockquotes, and parts Telegram accepts."""

from __future__ import annotations

import html
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from answers.types import Answer, Citation, Figure
from bot.telegram_format import (
    MESSAGE_LIMIT,
    QUOTES_SHOWN,
    escape,
    render_answer,
    render_full_sources,
    split_message,
    utf16_length,
)
from tests.telegram.telegram_html import blockquotes, check_message, parse

DW = "https://p.dw.com/p/4m1qd"


def citation(n: int, quote: str, url: str | None = DW, title: str = "NATO warnt Nordkorea") -> Citation:
    return Citation(n, f"doc{n}", title, "DW", "2024-10-21", url, quote, 0, len(quote))


def figures_answer(quotes: list[str]) -> Answer:
    cites = [citation(i + 1, q) for i, q in enumerate(quotes)]
    return Answer(
        question="Wie viele Soldaten?",
        language="de",
        status="answered",
        lead="In den Artikeln genannte Zahlen:",
        figures=[Figure("1.500", "nordkoreanische Soldaten", "südkoreanische Geheimdienst", (1,))],
        citations=cites,
    )


def test_quotes_are_blockquotes_with_their_source_number_and_sources_link_with_outlet_and_date() -> None:
    markup = render_answer(figures_answer(["Südkorea meldete 1.500 Soldaten.", "Kim forderte den Abzug."]))

    assert blockquotes(markup) == ["[1] Südkorea meldete 1.500 Soldaten.", "[2] Kim forderte den Abzug."]
    assert "• <b>1.500</b> nordkoreanische Soldaten — südkoreanische Geheimdienst [1]" in markup
    assert f'[2] <a href="{DW}">NATO warnt Nordkorea</a> — DW, 2024-10-21' in markup
    assert markup.index("<b>Quellen</b>") > markup.rindex("</blockquote>")  # sources at the end
    check_message(markup)


def test_article_and_user_text_is_escaped_everywhere() -> None:
    nasty = 'Der Wert lag bei <5 & >3 Prozent, "sagte" <b>er</b>.'
    answer = Answer(
        question=nasty,
        language="en",
        status="answered",
        lead="According to the articles:",
        citations=[citation(1, nasty, url='https://example.org/?a=1&b="2"', title="<script>&")],
        note="<i>unclosed",
    )
    markup = render_answer(answer)
    plain = check_message(markup)
    assert "&lt;5 &amp; &gt;3" in markup
    assert nasty in plain and "<script>&" in plain and "<i>unclosed" in plain
    assert 'href="https://example.org/?a=1&amp;b=&quot;2&quot;"' in markup
    assert "<script>&" in check_message(render_full_sources(answer.citations, "en"))


def test_a_source_without_a_web_address_is_plain_text_not_a_link() -> None:
    answer = Answer(
        question="q",
        language="en",
        status="answered",
        lead="According to the articles:",
        citations=[citation(1, "Ein Satz.", url="javascript:alert(1)")],
    )

    markup = render_answer(answer)

    assert "<a " not in markup
    assert "[1] NATO warnt Nordkorea — DW, 2024-10-21" in markup


def test_sources_over_4096_characters_are_split_at_paragraph_boundaries_into_valid_parts() -> None:
    quotes = [f"Laut Landesamt wurden im Kreis {i} genau {1000 + i} Schafe gezählt, und zwar im Oktober." for i in range(80)]
    markup = render_full_sources(figures_answer(quotes).citations, "de")
    assert utf16_length(markup) > 2 * MESSAGE_LIMIT

    parts = split_message(markup)

    assert len(parts) >= 3
    for part in parts:
        check_message(part)
        assert utf16_length(part) <= MESSAGE_LIMIT
        assert not part.startswith("\n") and not part.endswith("\n")
        # cut between lines, never inside a blockquote
        assert part.count("<blockquote>") == part.count("</blockquote>")
    assert [q for part in parts for q in blockquotes(part)] == blockquotes(markup)


def test_a_single_paragraph_longer_than_a_message_is_cut_between_words_with_its_tags_reopened() -> None:
    long_quote = " ".join(f"Wort{i} & mehr" for i in range(900))
    markup = f"<blockquote><b>[1]</b> {escape(long_quote)}</blockquote>"

    parts = split_message(markup, limit=1000)

    assert len(parts) > 5
    for part in parts:
        assert part.startswith("<blockquote>") and part.endswith("</blockquote>")
        check_message(part)
        assert utf16_length(part) <= 1000
    assert " ".join(parse(p).strip() for p in parts) == parse(markup)


def test_short_text_is_one_part_and_empty_text_no_part() -> None:
    assert split_message("<b>Hallo</b>") == ["<b>Hallo</b>"]
    assert split_message("  \n ") == []


# -- properties --------------------------------------------------------------------------------

_text = st.text(st.characters(exclude_categories=("Cs", "Cc")) | st.sampled_from("<>&\"' \n"), max_size=80)
_word_text = _text.map(escape)
_inline = st.one_of(
    _word_text,
    _word_text.map(lambda t: f"<b>{t}</b>"),
    _word_text.map(lambda t: f"<i>{t}</i>"),
    st.tuples(st.sampled_from([DW, "https://example.org/a?b=1&c=2"]), _word_text).map(
        lambda p: f'<a href="{escape(p[0])}">{p[1]}</a>'
    ),
)
_line = st.lists(_inline, min_size=1, max_size=3).map("".join)
_block = st.one_of(_line, st.lists(_line, min_size=1, max_size=4).map(lambda ls: "<blockquote>" + "\n".join(ls) + "</blockquote>"))
_document = st.lists(st.tuples(_block, st.sampled_from(["\n", "\n\n", " "])), min_size=1, max_size=20).map(
    lambda blocks: "".join(b + sep for b, sep in blocks)
)


def _visible(markup: str) -> str:
    """The characters a reader sees, whitespace aside (independent of the validator)."""
    return re.sub(r"\s+", "", html.unescape(re.sub(r"<[^>]*>", "", markup)))


@settings(max_examples=300, deadline=None)
@given(markup=_document, limit=st.integers(min_value=150, max_value=1500))
def test_every_part_is_valid_telegram_html_within_the_limit_and_no_character_is_lost(markup: str, limit: int) -> None:
    parts = split_message(markup, limit=limit)

    for part in parts:
        assert utf16_length(part) <= limit
        parse(part)  # balanced, only Telegram's tags, nothing unescaped, not empty
    assert "".join(_visible(p) for p in parts) == _visible(markup)


@settings(max_examples=100, deadline=None)
@given(quotes=st.lists(_text.filter(str.strip), min_size=1, max_size=40), title=_text.filter(str.strip))
def test_rendered_answers_of_any_text_split_into_parts_telegram_accepts(quotes: list[str], title: str) -> None:
    answer = figures_answer(quotes)
    answer.citations = [citation(i + 1, q, title=title) for i, q in enumerate(quotes)]

    parts = split_message(render_answer(answer), limit=700)
    sources = split_message(render_full_sources(answer.citations, "de"), limit=700)

    for part in parts + sources:
        check_message(part)
        assert utf16_length(part) <= 700
    shown = [q for part in parts for q in blockquotes(part)]
    assert shown == [f"[{c.n}] {c.quote}" for c in answer.citations[:QUOTES_SHOWN]]
    assert [q for part in sources for q in blockquotes(part)] == [f"[{c.n}] {c.quote}" for c in answer.citations]


def test_a_chat_answer_shows_one_quote_per_figure_at_most_five_and_each_article_once() -> None:
    quotes = [f"Laut Landesamt wurden im Kreis {n} genau {1000 + n} Schafe gezählt." for n in range(1, 10)]
    answer = figures_answer(quotes)
    answer.citations = [
        Citation(n, "a" if n % 2 else "b", "Ziegen" if n % 2 else "Schafe", "DW", "2024-10-21", None, q, 0, len(q))
        for n, q in enumerate(quotes, start=1)
    ]
    answer.figures = [
        Figure("1009", "Schafe", "Landesamt", (9,)),
        Figure("1007", "Schafe", "Landesamt", (7, 8)),
        Figure("1001", "Schafe", "Landesamt", (1, 2)),
    ]

    markup = render_answer(answer)

    numbers = [int(q.split("]")[0][1:]) for q in blockquotes(markup)]
    assert numbers == [1, 2, 3, 7, 9]  # each figure's first quote, then the first others, in order
    assert "4 weitere Zitate unter Quellen" in parse(markup)
    assert "[1][3][5][7][9] Ziegen — DW, 2024-10-21" in markup  # each article once, with all its numbers
    assert "[2][4][6][8] Schafe — DW, 2024-10-21" in markup
