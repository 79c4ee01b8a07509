"""The bot over PostgreSQL while the server restarts (issue 28, item 3): a question asked while the
database is away waits for it (NEWSBOT_DATABASE_RECONNECT_S) and is answered once it is back."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_settings
from tests.telegram.conftest import USER_ID, answer_parts, newsbot
from tests.telegram.fake_bot_api import FakeBotApi

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def test_postgres_restarted_while_the_bot_runs_the_next_question_waits_and_is_answered(
    api: FakeBotApi, bot_settings, own_pg_server: Any, seed_index_dir: Path
) -> None:
    from retrieval.stores.postgres.index import migrate_embedded
    from tests.pg_server import fresh_database, start_again, stop

    url = fresh_database(own_pg_server)
    assert len(migrate_embedded(make_settings(seed_index_dir, NEWSBOT_DATABASE_URL=url)).added) == 5
    user = api.private_chat(USER_ID, language_code="de")
    try:
        async with newsbot(bot_settings(NEWSBOT_DATABASE_URL=url, NEWSBOT_DATABASE_RECONNECT_S="20")):
            api.send_text(USER_ID, user, "Was forderte Kim Hong-kyun?")
            (first,) = await answer_parts(api, USER_ID, timeout=60)
            await asyncio.to_thread(stop, own_pg_server)
            api.send_text(USER_ID, user, "Was schrieb Rutte im Onlinedienst X?")
            await asyncio.sleep(3)
            await asyncio.to_thread(start_again, own_pg_server)
            (second,) = await answer_parts(api, USER_ID, answers=2, timeout=60)
    finally:
        start_again(own_pg_server)

    assert "sofortigen Abzug" in first.text
    assert "Eskalation" in second.text
    apologies = [c for c in api.sent(USER_ID) if c.text.startswith("Entschuldigung")]
    assert apologies == []
