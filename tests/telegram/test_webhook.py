"""Webhook mode: the bot registers its URL with a secret token and serves only requests carrying it."""

from __future__ import annotations

import socket

import aiohttp
import pytest

from tests.telegram.conftest import USER_ID, answer_parts, newsbot
from tests.telegram.fake_bot_api import FakeBotApi

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
SECRET = "s3cret-token_for-tests"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_webhook_mode_registers_the_secret_and_answers_only_updates_that_carry_it(
    api: FakeBotApi, bot_settings
) -> None:
    pytest.importorskip("tornado", reason="webhook mode needs python-telegram-bot[webhooks]")
    port = free_port()
    url = f"http://127.0.0.1:{port}/newsbot"
    settings = bot_settings(
        TELEGRAM_WEBHOOK_URL=url, TELEGRAM_WEBHOOK_SECRET=SECRET, TELEGRAM_WEBHOOK_LISTEN="127.0.0.1", TELEGRAM_WEBHOOK_PORT=str(port)
    )
    user = api.private_chat(USER_ID)
    forged = {"update_id": 1, "message": api.text_message(USER_ID, user, "Wie viele Soldaten wurden gemeldet?")}
    genuine = {"update_id": 2, "message": api.text_message(USER_ID, user, "Was forderte Kim Hong-kyun?")}
    async with newsbot(settings), aiohttp.ClientSession() as http:
        (registered,) = await api.wait_for(lambda c: c.method == "setWebhook")
        async with http.post(url, json=forged, headers={"X-Telegram-Bot-Api-Secret-Token": "guessed"}) as refused:
            assert refused.status == 403
        async with http.post(url, json=genuine, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as accepted:
            assert accepted.status == 200
        (answer,) = await answer_parts(api, USER_ID)

    assert registered.params["url"] == url and registered.params["secret_token"] == SECRET
    assert "sofortigen Abzug" in answer.text
    assert len(api.sent(USER_ID)) == 1 and not any(c.method == "getUpdates" for c in api.calls)
