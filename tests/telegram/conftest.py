"""Fixtures for running the real newsbot Telegram application against the fake Bot API server.

The model and the seed index come from the session fixtures in tests/conftest.py; each test gets
its own copy of the index (uploads change it) and its own server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from telegram.ext import Application

from bot.app import build_application, running
from config.settings import Settings
from tests.conftest import make_settings
from tests.telegram.fake_bot_api import TOKEN, ApiCall, FakeBotApi

ADMIN_ID = 1001
USER_ID = 2002
GROUP_ID = -1003001


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as server:
        yield server


@pytest.fixture
def bot_settings(writable_seed_index: Path, api: FakeBotApi) -> Callable[..., Settings]:
    """Settings pointing the bot at the fake server and a private copy of the seed index; `env` adds more."""

    def settings(**env: str) -> Settings:
        return make_settings(
            writable_seed_index,
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_API_BASE_URL=api.base_url,
            TELEGRAM_API_FILE_URL=api.file_url,
            TELEGRAM_ADMIN_IDS=str(ADMIN_ID),
            TELEGRAM_TIMEZONE="Europe/Berlin",
            **env,
        )

    return settings


@asynccontextmanager
async def newsbot(settings: Settings) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    """The application `newsbot bot` runs, started in this event loop (long polling the fake server)."""
    async with running(build_application(settings), settings) as application:
        yield application


async def answer_parts(
    api: FakeBotApi, chat_id: int, answers: int = 1, after: int = 0, timeout: float = 30.0
) -> list[ApiCall]:
    """The messages of the `answers`-th answer to `chat_id` (its last part carries the Sources button).

    `after` skips that many earlier messages to the chat (say, a confirmation sent before the answer).
    """
    finished = await api.wait_for(
        lambda c: c.method == "sendMessage" and c.ok and c.chat_id == chat_id and "reply_markup" in c.params,
        count=answers,
        timeout=timeout,
    )
    sent = api.sent(chat_id)
    end = sent.index(finished[answers - 1]) + 1
    start = sent.index(finished[answers - 2]) + 1 if answers > 1 else after
    return sent[start:end]
