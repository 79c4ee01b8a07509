"""What a hostile or unlucky user meets in Telegram (issue 28): floods, unserved subscriptions,
questions under photos, German refusals that stay German."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.app import SUBSCRIPTIONS_FILE
from bot.subscriptions import SubscriptionStore
from tests.telegram.conftest import ADMIN_ID, GROUP_ID, USER_ID, answer_parts, newsbot
from tests.telegram.fake_bot_api import FakeBotApi

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def notices(api: FakeBotApi, chat_id: int) -> list[str]:
    return [c.text for c in api.sent(chat_id) if c.text.startswith("Du fragst schneller")]


async def test_rate_limit_notice_is_sent_once_per_window_not_for_every_blocked_message(
    api: FakeBotApi, bot_settings
) -> None:
    """Item 5: 300 messages in 10 s got 295 notices; now one notice per user per window, the rest dropped."""
    user = api.private_chat(USER_ID, language_code="de")
    async with newsbot(bot_settings(TELEGRAM_QUESTIONS_PER_MINUTE="2")):
        flood = [
            api.enqueue({"message": api.text_message(USER_ID, user, f"Was forderte Kim Hong-kyun? ({n})")})
            for n in range(60)
        ]
        await answer_parts(api, USER_ID, answers=2, timeout=90)
        await api.wait_until_delivered(flood[-1], timeout=30)
        await asyncio.sleep(1.0)  # every handler has run to its end

    answers = [c for c in api.sent(USER_ID) if "reply_markup" in c.params]
    assert len(answers) == 2
    (notice,) = notices(api, USER_ID)
    assert "höchstens 2 pro Minute" in notice
    assert len(api.sent(USER_ID)) == len(answers) + 1  # nothing else spent the bot's outgoing budget


async def test_a_subscription_in_a_chat_the_bot_does_not_serve_is_refused_when_made(
    api: FakeBotApi, bot_settings
) -> None:
    """Item 6: an admin (served anywhere) subscribing an unlisted group used to be acknowledged and
    then skipped every day; the refusal now comes at once and nothing is stored."""
    settings = bot_settings(TELEGRAM_ALLOWED_CHAT_IDS=str(GROUP_ID))
    unserved = -1007007
    api.group_chat(unserved)
    api.group_chat(GROUP_ID)
    admin = api.user(ADMIN_ID)
    async with newsbot(settings):
        api.send_text(unserved, admin, "/subscribe 07:30 Nordkorea")
        (refusal,) = await api.wait_for_messages(unserved)
        api.send_text(GROUP_ID, admin, "/subscribe 07:30 Nordkorea")
        (confirmation,) = await api.wait_for_messages(GROUP_ID)

    assert "daily briefings go only to chats this bot serves" in refusal.text
    assert confirmation.text.startswith("Subscribed: a daily briefing")
    stored = SubscriptionStore(settings.retrieval.data_dir / SUBSCRIPTIONS_FILE).all()
    assert [s.chat_id for s in stored] == [GROUP_ID]


def photo_message(api: FakeBotApi, chat_id: int, sender: dict[str, Any], caption: str) -> dict[str, Any]:
    """A photo with a caption, as Telegram delivers it (the caption carries the entities)."""
    message = api.text_message(chat_id, sender, caption)
    message["caption"] = message.pop("text")
    if "entities" in message:
        message["caption_entities"] = message.pop("entities")
    message["photo"] = [{"file_id": "photo-1", "file_unique_id": "uphoto-1", "width": 640, "height": 480}]
    return message


async def test_a_question_in_a_photo_caption_is_answered(api: FakeBotApi, bot_settings) -> None:
    """Item 9: a question under a photo got no reply, in private chats and addressed in groups."""
    user = api.private_chat(USER_ID)
    api.group_chat(GROUP_ID)
    async with newsbot(bot_settings()):
        api.enqueue({"message": photo_message(api, USER_ID, user, "Was forderte Kim Hong-kyun?")})
        (private,) = await answer_parts(api, USER_ID)
        api.enqueue({"message": photo_message(api, GROUP_ID, user, "@NewsbotTestBot Was forderte Kim Hong-kyun?")})
        (group,) = await answer_parts(api, GROUP_ID)

    assert "sofortigen Abzug" in private.text
    assert "sofortigen Abzug" in group.text


@pytest.mark.parametrize(
    ("file_name", "content", "reason"),
    [
        ("scan.pdf", b"%PDF-1.7 binary", "Dateityp .pdf wird nicht unterstützt; schick .txt, .md oder .html"),
        ("leer.txt", b"   \n", "die Datei ist leer"),
        ("kurz.md", b"# Titel\n\nZu kurz.", "ein Artikel braucht mindestens 80"),
    ],
)
async def test_the_upload_refusal_in_german_is_german_throughout(
    api: FakeBotApi, bot_settings, file_name: str, content: bytes, reason: str
) -> None:
    """Item 9: a German admin read "… konnte ich nicht indexieren: unsupported file type .pdf; …"."""
    admin = api.private_chat(ADMIN_ID, language_code="de")
    async with newsbot(bot_settings()):
        api.send_document(ADMIN_ID, admin, file_name, content)
        (message,) = await api.wait_for_messages(ADMIN_ID, timeout=30)

    assert message.text.startswith(f"{file_name} konnte ich nicht indexieren: ")
    assert reason in message.text
    for english in ("unsupported", "file", "empty", "characters", "article", "bytes", "limit"):
        assert english not in message.text.lower().replace(file_name, ""), english


async def test_the_too_large_refusal_in_german_writes_numbers_the_german_way(api: FakeBotApi, bot_settings) -> None:
    """Item 9: "… ist 6,000,000 Bytes groß" put English digit groups into a German sentence."""
    admin = api.private_chat(ADMIN_ID, language_code="de")
    async with newsbot(bot_settings(NEWSBOT_MAX_FILE_BYTES="1000")):
        api.send_document(ADMIN_ID, admin, "lang.txt", b"Ein langer Bericht. " * 100)
        (message,) = await api.wait_for_messages(ADMIN_ID, timeout=30)

    assert message.text == "lang.txt ist 2.000 Bytes groß; erlaubt sind 1.000 Bytes."
