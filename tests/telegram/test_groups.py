"""The bot in a group: silent on chatter, answers /ask, /ask@ThisBot, mentions and replies to itself."""

from __future__ import annotations

import asyncio

import pytest

from tests.telegram.conftest import GROUP_ID, USER_ID, answer_parts, newsbot
from tests.telegram.fake_bot_api import FakeBotApi
from tests.telegram.telegram_html import blockquotes

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def test_group_chatter_and_commands_for_other_bots_get_no_reply(api: FakeBotApi, bot_settings) -> None:
    api.group_chat(GROUP_ID)
    alice = api.user(USER_ID)
    async with newsbot(bot_settings()):
        ignored = [
            api.send_text(GROUP_ID, alice, "Hat jemand die Nachrichten zu Nordkorea gelesen?"),
            api.send_text(GROUP_ID, alice, "/ask@OtherBot Wie viele Soldaten wurden gemeldet?"),
            api.send_text(GROUP_ID, alice, "@OtherBot wie viele Soldaten wurden gemeldet?"),
            api.send_text(GROUP_ID, alice, "/briefing@OtherBot"),
        ]
        # A question the bot does answer, sent last: once it is answered the others were handled too.
        control = api.send_text(GROUP_ID, alice, "/ask Was forderte Kim Hong-kyun?")
        await answer_parts(api, GROUP_ID)
        await asyncio.sleep(0.3)

    replied_to = {message.reply_to for message in api.sent(GROUP_ID)}
    assert replied_to == {control["message_id"]}
    assert not replied_to & {message["message_id"] for message in ignored}
    assert len([c for c in api.calls if c.method == "sendMessage" and "reply_markup" in c.params]) == 1


async def test_group_answers_ask_at_this_bot_a_mention_and_a_reply_to_its_own_message(api: FakeBotApi, bot_settings) -> None:
    api.group_chat(GROUP_ID)
    alice, bob = api.user(USER_ID), api.user(USER_ID + 1, "Bob", "de")
    async with newsbot(bot_settings()):
        ask = api.send_text(GROUP_ID, alice, "/ask@NewsbotTestBot Was forderte Kim Hong-kyun?")
        first = await answer_parts(api, GROUP_ID)
        mention = api.send_text(GROUP_ID, bob, "@NewsbotTestBot wie viele Soldaten hat Nordkorea nach Russland verlegt?")
        second = await answer_parts(api, GROUP_ID, answers=2)
        reply = api.send_text(GROUP_ID, alice, "Was sagte der NATO-Generalsekretär Mark Rutte?", reply_to=first[-1].result)
        third = await answer_parts(api, GROUP_ID, answers=3)

    assert first[0].reply_to == ask["message_id"]
    assert second[0].reply_to == mention["message_id"]
    assert third[0].reply_to == reply["message_id"]
    assert any("sofortigen Abzug" in quote for quote in blockquotes(first[0].text))
    assert "1.500" in "".join(part.text for part in second)
    assert any("Rutte" in quote for part in third for quote in blockquotes(part.text))
    assert second[-1].params["reply_markup"]["inline_keyboard"][0][0]["text"] == "Quellen"  # Bob's app is German
