"""Follow-up questions in Telegram: each chat is its own conversation; /new starts afresh."""

from __future__ import annotations

import pytest

from tests.telegram.conftest import USER_ID, answer_parts, newsbot
from tests.telegram.fake_bot_api import FakeBotApi
from tests.telegram.telegram_html import parse

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

SOLDIERS = "Wie viele Soldaten hat Nordkorea geschickt?"
SLUZKI = "Wer ist Leonid Sluzki?"
FOLLOW_UP = "Und wer hat das gemeldet?"


async def test_two_chats_keep_their_own_previous_question_and_new_starts_afresh(
    api: FakeBotApi, bot_settings
) -> None:
    alice, bob = api.private_chat(USER_ID), api.private_chat(USER_ID + 1)
    async with newsbot(bot_settings()):
        api.send_text(USER_ID, alice, SOLDIERS)
        await answer_parts(api, USER_ID, answers=1)
        api.send_text(USER_ID + 1, bob, SLUZKI)
        await answer_parts(api, USER_ID + 1, answers=1)
        api.send_text(USER_ID, alice, FOLLOW_UP)
        alice_follow_up = "".join(p.text for p in await answer_parts(api, USER_ID, answers=2))
        api.send_text(USER_ID + 1, bob, FOLLOW_UP)
        bob_follow_up = "".join(p.text for p in await answer_parts(api, USER_ID + 1, answers=2))
        before = len(api.sent(USER_ID))
        api.send_text(USER_ID, alice, "/new")
        fresh_confirmation = (await api.wait_for_messages(USER_ID, before + 1))[before]
        api.send_text(USER_ID, alice, FOLLOW_UP)
        alice_fresh = "".join(p.text for p in await answer_parts(api, USER_ID, answers=3))

    assert f"Gelesen als: {SOLDIERS} {FOLLOW_UP}" in parse(alice_follow_up)
    assert f"Gelesen als: {SLUZKI} {FOLLOW_UP}" in parse(bob_follow_up)  # Bob's chat, Bob's question
    assert SOLDIERS not in parse(bob_follow_up)
    assert "New conversation" in fresh_confirmation.text
    assert "Gelesen als" not in parse(alice_fresh)
