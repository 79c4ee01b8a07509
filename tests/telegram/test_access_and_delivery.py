"""Access control, the per-user rate limit, and delivery through 429s, network errors and long answers."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.telegram_format import QUOTES_SHOWN
from retrieval.stores.embedded.indexer import build_index
from tests.telegram.conftest import ADMIN_ID, GROUP_ID, USER_ID, answer_parts, newsbot
from tests.telegram.fake_bot_api import FakeBotApi
from tests.telegram.telegram_html import blockquotes, check_message, utf16_length

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
OTHER_GROUP = -1009009


async def test_a_chat_not_allowed_gets_one_polite_refusal_in_private_and_silence_in_groups(
    api: FakeBotApi, bot_settings
) -> None:
    settings = bot_settings(TELEGRAM_ALLOWED_CHAT_IDS=str(GROUP_ID))
    stranger = api.private_chat(USER_ID)
    admin = api.private_chat(ADMIN_ID)
    api.group_chat(GROUP_ID)
    api.group_chat(OTHER_GROUP)
    async with newsbot(settings):
        api.send_text(USER_ID, stranger, "Wie viele Soldaten wurden gemeldet?")
        api.send_text(USER_ID, stranger, "Und was sagte die NATO?")
        api.send_text(OTHER_GROUP, stranger, "/ask@NewsbotTestBot Wie viele Soldaten wurden gemeldet?")
        api.send_text(GROUP_ID, stranger, "/ask Was forderte Kim Hong-kyun?")
        await answer_parts(api, GROUP_ID)  # the allowed group is served, whoever asks
        api.send_text(ADMIN_ID, admin, "Was forderte Kim Hong-kyun?")
        await answer_parts(api, ADMIN_ID)  # admins are always served
        await asyncio.sleep(0.3)

    (refusal,) = api.sent(USER_ID)
    assert "not available in this chat" in refusal.text
    assert api.sent(OTHER_GROUP) == []


async def test_a_user_over_the_rate_limit_is_told_when_to_ask_again_and_others_are_still_served(
    api: FakeBotApi, bot_settings
) -> None:
    alice, bob = api.private_chat(USER_ID), api.private_chat(USER_ID + 1)
    async with newsbot(bot_settings(TELEGRAM_QUESTIONS_PER_MINUTE="1")):
        api.send_text(USER_ID, alice, "Was forderte Kim Hong-kyun?")
        answered = await answer_parts(api, USER_ID)
        api.send_text(USER_ID, alice, "Was sagte Mark Rutte?")
        limited = (await api.wait_for_messages(USER_ID, len(answered) + 1))[-1]
        api.send_text(USER_ID + 1, bob, "Was sagte Mark Rutte?")
        await answer_parts(api, USER_ID + 1)

    assert "at most 1 per minute" in limited.text
    assert "try again in" in limited.text and "reply_markup" not in limited.params


async def test_an_answer_refused_with_429_retry_after_is_sent_again_and_arrives(api: FakeBotApi, bot_settings) -> None:
    user = api.private_chat(USER_ID)
    api.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", {"retry_after": 1})
    async with newsbot(bot_settings()):
        api.send_text(USER_ID, user, "Was forderte Kim Hong-kyun?")
        (answer,) = await answer_parts(api, USER_ID)

    refused, delivered = [c for c in api.calls if c.method == "sendMessage"]
    assert refused.status == 429 and delivered is answer
    assert delivered.text == refused.text
    assert delivered.at - refused.at >= 1.0  # it waited as told


async def test_network_errors_while_sending_are_retried_so_the_answer_arrives(api: FakeBotApi, bot_settings) -> None:
    user = api.private_chat(USER_ID)
    api.fail_next("sendMessage", 502, "Bad Gateway", times=2)
    async with newsbot(bot_settings()):
        api.send_text(USER_ID, user, "Was forderte Kim Hong-kyun?")
        (answer,) = await answer_parts(api, USER_ID)

    attempts = [c for c in api.calls if c.method == "sendMessage"]
    assert [c.status for c in attempts] == [502, 502, 200]
    assert "sofortigen Abzug" in answer.text


async def test_an_answer_over_4096_characters_arrives_in_parts_that_are_each_valid_html(
    api: FakeBotApi, bot_settings, e5_embedder
) -> None:
    settings = bot_settings()
    districts = ["Barnim", "Uckermark", "Havelland", "Prignitz", "Oberhavel", "Spree-Neiße", "Elbe-Elster", "Teltow-Fläming"]
    sentences = [
        f"Laut dem Landesamt für Statistik lebten im Landkreis {district} im Jahr {2000 + year} genau "
        f"{1000 + 37 * i} Schafe auf den Weiden der Region."
        for i, (district, year) in enumerate((d, y) for y in range(12) for d in districts)
    ]
    article = settings.retrieval.data_dir / "schafe.txt"
    article.write_text("Schafzählung in Brandenburg\n" + "\n".join(sentences) + "\n", encoding="utf-8")
    build_index([article], settings, embedder=e5_embedder)
    user = api.private_chat(USER_ID)
    async with newsbot(settings):
        api.send_text(USER_ID, user, "Wie viele Schafe lebten laut Landesamt in den Landkreisen?")
        parts = await answer_parts(api, USER_ID)

    assert len(parts) >= 2
    for part in parts:
        assert utf16_length(part.text) <= 4096
        check_message(part.text)  # balanced tags, escaped text, within Telegram's limit
        assert part.text.count("<blockquote>") == part.text.count("</blockquote>")  # never cut inside a quote
    quotes = [quote for part in parts for quote in blockquotes(part.text)]
    assert len(quotes) == QUOTES_SHOWN  # the other quotes are behind the Sources button
    text = article.read_text(encoding="utf-8")
    assert all(quote.split("] ", 1)[1] in text for quote in quotes)
    assert parts[0].reply_to is None and "reply_markup" in parts[-1].params


async def test_a_failure_is_logged_with_its_context_and_the_user_gets_a_short_apology(
    api: FakeBotApi, bot_settings, caplog: pytest.LogCaptureFixture
) -> None:
    admin = api.private_chat(ADMIN_ID)
    api.fail_next("file", 500, "Internal Server Error", times=10)  # every download attempt fails
    with caplog.at_level(logging.ERROR, logger="bot.handlers"):
        async with newsbot(bot_settings()):
            api.send_document(ADMIN_ID, admin, "bericht.txt", "Ein Bericht über das Wetter in Kiel.\n".encode() * 5)
            (apology,) = await api.wait_for_messages(ADMIN_ID, timeout=30)

    assert apology.text == "Sorry, something went wrong on my side. Please try again in a moment."
    (record,) = [r for r in caplog.records if r.name == "bot.handlers" and r.levelno == logging.ERROR]
    assert f"chat {ADMIN_ID}" in record.getMessage() and record.exc_info is not None
    assert len([c for c in api.calls if c.method == "file"]) == 4  # retried before giving up
