"""A private chat with the bot, end to end: real PTB over HTTP to the fake Bot API server."""

from __future__ import annotations

import html
import re

import pytest

from retrieval.stores.embedded.store import load_index
from tests.telegram.conftest import USER_ID, answer_parts, newsbot
from tests.telegram.fake_bot_api import FakeBotApi
from tests.telegram.telegram_html import blockquotes, parse

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def test_private_question_is_answered_with_verbatim_quotes_and_sources(api: FakeBotApi, bot_settings) -> None:
    settings = bot_settings()
    articles = load_index(settings.index_dir, with_search_structures=False).articles
    user = api.private_chat(USER_ID)
    async with newsbot(settings):
        api.send_text(USER_ID, user, "How many soldiers were reported and by whom?")
        parts = await answer_parts(api, USER_ID)

    assert all(part.params["parse_mode"] == "HTML" for part in parts)
    assert any(c.method == "sendChatAction" and c.params["action"] == "typing" for c in api.calls)
    markup = "".join(part.text for part in parts)
    quotes = blockquotes(markup)
    assert len(quotes) >= 3
    for quote in quotes:
        text = re.match(r"\[\d+\] (.*)", quote, re.DOTALL).group(1)  # type: ignore[union-attr]
        assert any(text in article.text for article in articles.values()), text
    plain = "".join(parse(part.text) for part in parts)
    assert "12.000" in plain and "Soldaten" in plain
    assert "Sources" in plain and 'href="https://p.dw.com/p/4m1qd"' in markup
    buttons = parts[-1].params["reply_markup"]["inline_keyboard"]
    assert buttons[0][0]["text"] == "Sources" and buttons[0][0]["callback_data"] == "sources"


async def test_sources_button_and_command_show_the_full_sources_of_the_last_answer(api: FakeBotApi, bot_settings) -> None:
    user = api.private_chat(USER_ID)
    async with newsbot(bot_settings()):
        api.send_text(USER_ID, user, "/sources")
        (nothing_yet,) = await api.wait_for_messages(USER_ID)
        api.send_text(USER_ID, user, "Was forderte Kim Hong-kyun?")
        answer = (await answer_parts(api, USER_ID))[-1]
        before = len(api.sent(USER_ID))
        api.press_button(user, answer.result, "sources")
        from_button = (await api.wait_for_messages(USER_ID, before + 1))[before]
        api.send_text(USER_ID, user, "/sources")
        from_command = (await api.wait_for_messages(USER_ID, before + 2))[before + 1]

    assert "no answer" in nothing_yet.text
    assert any(c.method == "answerCallbackQuery" for c in api.calls)
    assert from_button.reply_to == answer.result["message_id"]
    for sources in (from_button, from_command):
        plain = parse(sources.text)
        assert "Quellen der letzten Antwort" in plain  # in the language of the (German) answer
        assert "000_aae4de4ea5fe19af" in plain  # the article id and the quoted characters
        assert re.search(r"Zeichen \d+–\d+", plain)
    assert from_button.text == from_command.text


async def test_start_and_help_explain_usage_in_the_users_language_and_commands_are_registered(
    api: FakeBotApi, bot_settings
) -> None:
    german = api.private_chat(USER_ID, language_code="de-DE")
    english = api.private_chat(USER_ID + 1, language_code="fr")
    async with newsbot(bot_settings()):
        api.send_text(USER_ID, german, "/start")
        api.send_text(USER_ID + 1, english, "/help")
        (german_help,) = await api.wait_for_messages(USER_ID)
        (english_help,) = await api.wait_for_messages(USER_ID + 1)

    assert "Schick mir eine Frage" in german_help.text
    assert "Send me a question" in english_help.text  # languages the bot does not speak get English
    menus = {c.params.get("language_code"): c.params["commands"] for c in api.calls if c.method == "setMyCommands"}
    assert set(menus) == {None, "de"}
    assert [c["command"] for c in menus[None]] == ["ask", "briefing", "subscribe", "unsubscribe", "sources", "new", "help"]


async def test_article_text_with_markup_characters_arrives_escaped(api: FakeBotApi, bot_settings, e5_embedder) -> None:
    from retrieval.stores.embedded.indexer import build_index

    settings = bot_settings()
    article = settings.retrieval.data_dir / "inflation.txt"
    article.write_text(
        "Inflation in Bayern bleibt niedrig\n"
        "Das Landesamt für Statistik meldete am Dienstag neue Zahlen zur Teuerung in Bayern.\n"
        "Der Wert lag bei <5 & >3 Prozent, teilte das Landesamt mit.\n"
        "Ökonomen hatten mit einem höheren Anstieg der Verbraucherpreise gerechnet.\n",
        encoding="utf-8",
    )
    build_index([article], settings, embedder=e5_embedder)
    user = api.private_chat(USER_ID)
    async with newsbot(settings):
        api.send_text(USER_ID, user, "Bei welchem Wert lag die Inflation in Bayern laut Landesamt?")
        (reply,) = await answer_parts(api, USER_ID)

    assert "&lt;5 &amp; &gt;3 Prozent" in reply.text
    assert "Der Wert lag bei <5 &amp; >3 Prozent" not in reply.text
    # Escaping is what this test is about; which number the quote gets is sentence choice (test_answers).
    quoted = [re.sub(r"^\[\d+\] ", "", q) for q in blockquotes(reply.text)]
    assert "Der Wert lag bei <5 & >3 Prozent, teilte das Landesamt mit." in quoted


async def test_user_text_in_a_reply_is_escaped(api: FakeBotApi, bot_settings) -> None:
    user = api.private_chat(USER_ID)
    async with newsbot(bot_settings()):
        api.send_text(USER_ID, user, "/briefing <b>Fußball</b> & Tennis")
        (reply,) = await api.wait_for_messages(USER_ID)

    assert "&lt;b&gt;Fußball&lt;/b&gt; &amp; Tennis" in reply.text
    assert "<b>Fußball</b> & Tennis" in html.unescape(reply.text)


async def test_a_slow_answer_does_not_hold_up_other_chats(api: FakeBotApi, bot_settings) -> None:
    alice, bob = api.private_chat(USER_ID), api.private_chat(USER_ID + 1)
    async with newsbot(bot_settings()):
        api.send_text(USER_ID, alice, "How many soldiers were reported and by whom?")
        await api.wait_for(lambda c: c.method == "sendChatAction" and c.chat_id == USER_ID)  # answering has begun
        api.send_text(USER_ID + 1, bob, "/help")
        (help_text,) = await api.wait_for_messages(USER_ID + 1)
        answer = await answer_parts(api, USER_ID)

    assert help_text.at < answer[0].at  # Bob was served while Alice's answer was being computed


async def test_flagship_answer_fits_one_message_with_five_quotes_and_the_rest_behind_sources(
    api: FakeBotApi, bot_settings
) -> None:
    from answers.answer import answer as answer_core
    from answers.stories import short_title
    from bot.telegram_format import render_full_sources, split_message

    settings = bot_settings()
    full = answer_core("How many soldiers were reported and by whom?", settings)
    user = api.private_chat(USER_ID)
    async with newsbot(settings):
        api.send_text(USER_ID, user, "How many soldiers were reported and by whom?")
        (message,) = await answer_parts(api, USER_ID)  # one message, carrying the Sources button
        before = len(api.sent(USER_ID))
        api.press_button(user, message.result, "sources")
        parts = len(split_message(render_full_sources(full.citations, full.language)))
        sources = await api.wait_for_messages(USER_ID, before + parts)

    assert len(full.citations) > 5  # the terminal and --json keep every quote
    shown = blockquotes(message.text)
    assert len(shown) == 5
    for figure in full.figures[:5]:  # the first five figures' quotes are in the message, not only behind the button
        assert any(q.startswith(f"[{n}] ") for n in figure.citations for q in shown), figure.value
    plain = parse(message.text)
    for title in {short_title(c.title) for c in full.citations}:
        assert plain.count(title) == 1  # each article named once, not under every quote
    assert f"{len(full.citations) - 5} more quotes under Sources" in plain
    behind = [q for part in sources[before:] for q in blockquotes(part.text)]
    assert behind == [f"[{c.n}] {c.quote}" for c in full.citations]
