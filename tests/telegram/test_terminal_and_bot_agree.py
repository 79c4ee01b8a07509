"""The terminal and the Telegram bot give the same answer to the same question (issue 12).

The terminal side is `answer()` rendered by bot/render_terminal.py (what `newsbot ask` prints);
the bot side is the real python-telegram-bot application talking HTTP to the fake Bot API server,
its message plus every quote behind its Sources button. Formatting differs by design (the chat
shows five quotes and lists the rest behind the button); the quotes, their order, the figures
and whether newsbot declined must not.
"""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from answers.answer import answer as answer_core
from answers.types import Answer
from bot.render_terminal import render_answer as render_terminal
from bot.telegram_format import render_full_sources, split_message
from tests.telegram.conftest import USER_ID, answer_parts, newsbot
from tests.telegram.fake_bot_api import FakeBotApi
from tests.telegram.telegram_html import blockquotes, parse

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def terminal_text(result: Answer) -> str:
    """What `newsbot ask` shows, as plain text, wide enough that no quote is wrapped."""
    out = io.StringIO()
    render_terminal(Console(file=out, width=4000, color_system=None, force_terminal=False), result)
    return " ".join(out.getvalue().split())


@pytest.mark.parametrize(
    "question",
    [
        "Wie viele Soldaten hat Nordkorea nach Russland geschickt?",  # figures table
        "What did NATO Secretary General Mark Rutte warn about?",  # quotes, English frame
        "Wie ist das Wetter morgen in Berlin?",  # declined, nearest passages shown
    ],
)
async def test_terminal_and_telegram_show_the_same_quotes_and_figures(
    api: FakeBotApi, bot_settings, question: str
) -> None:
    settings = bot_settings()
    terminal_answer = answer_core(question, settings)
    shown = terminal_text(terminal_answer)
    user = api.private_chat(USER_ID)
    async with newsbot(settings):
        api.send_text(USER_ID, user, question)
        parts = await answer_parts(api, USER_ID)
        before = len(api.sent(USER_ID))
        api.press_button(user, parts[-1].result, "sources")
        expected_parts = len(split_message(render_full_sources(terminal_answer.citations, terminal_answer.language)))
        sent = await api.wait_for_messages(USER_ID, before + expected_parts)

    chat = " ".join(parse("".join(part.text for part in parts)).split())
    behind_button = [q for part in sent[before:] for q in blockquotes(part.text)]

    # Same quotes in the same order: every one the terminal prints is behind the chat's button.
    assert terminal_answer.citations, "both front ends show quotes (or the nearest passages when declining)"
    assert behind_button == [f"[{c.n}] {c.quote}" for c in terminal_answer.citations]
    for citation in terminal_answer.citations:
        assert " ".join(f"„{citation.quote}“".split()) in shown
    # Same decision and the same figures with their sources.
    assert terminal_answer.lead in chat and terminal_answer.lead in shown
    for figure in terminal_answer.figures:
        assert re.search(rf"{re.escape(figure.value)} {re.escape(figure.what)}", chat), figure
        assert figure.value in shown and figure.what in shown
        # A row merged from several sources names each one's source (else its outlet) in both.
        for source in figure.sources or ():
            if source.attributed_to:
                assert source.attributed_to in chat and source.attributed_to in shown
        if figure.attributed_to and not figure.sources:
            assert figure.attributed_to in chat
