"""Briefings that say what is new: a chat's second briefing holds only the articles added since its
first (with what each adds), a third says there is nothing new, and on one PostgreSQL database two
bot replicas send each scheduled briefing exactly once."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from zoneinfo import ZoneInfo

import pytest

from bot.state import STATE_KEY
from bot.subscriptions import Subscription
from tests.conftest import GNAD, SEEDS
from tests.telegram.conftest import USER_ID, answer_parts, newsbot
from tests.telegram.fake_bot_api import FakeBotApi
from tests.telegram.telegram_html import parse

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
BERLIN = ZoneInfo("Europe/Berlin")

# A follow-up report of the seed story from an outlet the story had not carried, with a figure no
# seed article reports (11.000 soldiers, per the Pentagon).
FOLLOW_UP = """Pentagon: 11.000 nordkoreanische Soldaten in Russland

25. Oktober 2024

https://www.tagesschau.de/ausland/asien/nordkorea-soldaten-russland-pentagon-100.html

Das US-Verteidigungsministerium hat die Verlegung nordkoreanischer Soldaten nach Russland bestätigt. Nach Angaben des Pentagon sind inzwischen rund 11.000 nordkoreanische Soldaten in Russland, sagte Pentagon-Sprecherin Sabrina Singh am Freitag in Washington.

Ein Teil der Truppen sei bereits in die russische Region Kursk nahe der ukrainischen Grenze gebracht worden. Südkoreas Geheimdienst hatte zuvor von 3.000 nordkoreanischen Soldaten in Russland gesprochen.

Die NATO und Südkorea forderten Pjöngjang auf, die Soldaten abzuziehen.
"""
UNRELATED = "gnad_0253"  # Nestlé takes Maggi noodles off the shelves in India: another event


def text_of(parts) -> str:  # type: ignore[no-untyped-def]
    return "".join(parse(part.text) for part in parts)


def new_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().startswith("new:")]


async def add_articles(settings, embedder) -> list[str]:  # type: ignore[no-untyped-def]
    """Index the follow-up and the unrelated article as uploads; their doc ids."""
    from retrieval.backends import index_uploaded_article

    follow_up = await asyncio.to_thread(
        index_uploaded_article, FOLLOW_UP.encode(), "pentagon.txt", settings, embedder
    )
    raw = (GNAD / f"{UNRELATED}.txt").read_bytes()
    other = await asyncio.to_thread(index_uploaded_article, raw, f"{UNRELATED}.txt", settings, embedder)
    return [follow_up.doc_id, other.doc_id]


async def until(condition, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.2)


async def test_the_second_briefing_holds_only_what_was_added_since_the_first(
    api: FakeBotApi, bot_settings, e5_embedder
) -> None:
    if not GNAD.is_dir():
        pytest.skip(f"10kGNAD articles not found in {GNAD}")
    settings = bot_settings(NEWSBOT_INDEX_POLL_S="0.2")
    user = api.private_chat(USER_ID)
    async with newsbot(settings) as application:
        api.send_text(USER_ID, user, "/subscribe 23:59")
        await api.wait_for_messages(USER_ID)
        api.send_text(USER_ID, user, "/briefing")
        first = await answer_parts(api, USER_ID, after=1)
        added = await add_articles(settings, e5_embedder)
        state = application.bot_data[STATE_KEY]
        await until(lambda: all(d in state.retriever.data.articles for d in added))
        api.send_text(USER_ID, user, "/briefing")
        second = await answer_parts(api, USER_ID, answers=2)
        count = len(api.sent(USER_ID))
        api.send_text(USER_ID, user, "/briefing")
        third = (await api.wait_for_messages(USER_ID, count + 1))[-1]

    # Everything was new to the chat: the whole digest, saying so.
    assert (
        "New since" in text_of(first) and ": 5 articles" in text_of(first) and "Key figures" in text_of(first)
    )
    second_text = text_of(second)
    assert "New since" in second_text and ": 2 articles" in second_text
    lines = new_lines(second_text)
    assert len(lines) == 2  # the two new articles, each under its story, and nothing older
    pentagon = next(line for line in lines if "Pentagon" in line)
    assert "tagesschau.de" in pentagon and "first report from this outlet" in pentagon
    assert "adds: 11.000 nordkoreanische Soldaten" in second_text
    assert "adds: 3.000" not in second_text  # the seeds reported that figure already
    seed_titles = [
        line.split("\n")[0] for line in (p.read_text(encoding="utf-8") for p in SEEDS.glob("*.txt"))
    ]
    assert not any(title.strip() and title.strip() in "\n".join(lines) for title in seed_titles)
    assert "Nothing new since" in parse(third.text)


async def test_a_briefing_that_fails_to_send_is_not_recorded_and_the_next_covers_its_window(
    api: FakeBotApi, bot_settings, e5_embedder
) -> None:
    """The defect: the briefing was recorded as sent before it was built and sent, so one that failed
    (here Telegram refuses the message) made the next briefing skip its window ("Nothing new")."""
    if not GNAD.is_dir():
        pytest.skip(f"10kGNAD articles not found in {GNAD}")
    settings = bot_settings(NEWSBOT_INDEX_POLL_S="0.2")
    user = api.private_chat(USER_ID)
    async with newsbot(settings) as application:
        api.send_text(USER_ID, user, "/briefing")
        await answer_parts(api, USER_ID)
        added = await add_articles(settings, e5_embedder)
        state = application.bot_data[STATE_KEY]
        await until(lambda: all(d in state.retriever.data.articles for d in added))
        count = len(api.sent(USER_ID))
        api.fail_next("sendMessage", 400, "Bad Request: message is too long")  # the briefing's first part
        api.send_text(USER_ID, user, "/briefing")
        apology = (await api.wait_for_messages(USER_ID, count + 1))[-1]
        api.send_text(USER_ID, user, "/briefing")
        retried = await answer_parts(api, USER_ID, answers=2)

    assert "Sorry, something went wrong" in parse(apology.text)
    text = text_of(retried)
    assert "Nothing new" not in text
    assert "New since" in text and ": 2 articles" in text
    assert len(new_lines(text)) == 2 and any("Pentagon" in line for line in new_lines(text))


async def test_two_replicas_on_one_database_send_each_scheduled_briefing_once(
    api: FakeBotApi, bot_settings, pg_url, e5_embedder, caplog
) -> None:
    """Two applications (each with its own connections and job queue) read one subscription from the
    database and fire at the same moment: one claims the slot, the other sends nothing."""
    pytest.importorskip("psycopg", reason="psycopg is not installed (dev dependency group)")
    from bot.subscriptions import PgSubscriptionStore
    from retrieval.backends import index_paths

    if not GNAD.is_dir():
        pytest.skip(f"10kGNAD articles not found in {GNAD}")
    settings = bot_settings(NEWSBOT_DATABASE_URL=pg_url)
    index_paths([SEEDS], settings, embedder=e5_embedder)
    store = PgSubscriptionStore(pg_url)
    api.private_chat(USER_ID)
    caplog.set_level(logging.INFO, logger="bot.handlers")

    async def round_of_two_replicas() -> str:
        at = (dt.datetime.now(BERLIN) + dt.timedelta(seconds=8)).time().replace(microsecond=0)
        store.put(Subscription(USER_ID, at, None, "en"))
        before = len(api.sent(USER_ID))
        async with newsbot(settings), newsbot(settings):
            await api.wait_for_messages(USER_ID, before + 1, timeout=40)
            await asyncio.sleep(4.0)  # time for a second, duplicate briefing to arrive
        sent = api.sent(USER_ID)[before:]
        assert sum(c.params["text"].startswith("<b>Briefing on all articles</b>") for c in sent) == 1
        assert sum("reply_markup" in c.params for c in sent) == 1  # the last part of the one briefing
        # Both replicas fired; the one that lost the claim said so and sent nothing.
        assert sum("was already sent (another replica)" in r.getMessage() for r in caplog.records) == 1
        caplog.clear()
        return text_of(sent)

    first = await round_of_two_replicas()
    assert first.count("Briefing on all articles") == 1
    added = await add_articles(settings, e5_embedder)
    second = await round_of_two_replicas()
    assert second.count("Briefing on all articles") == 1
    assert "New since" in second and ": 2 articles" in second
    assert len(new_lines(second)) == 2 and any("Pentagon" in line for line in new_lines(second))
    assert added


async def test_two_bot_processes_on_one_database_send_a_scheduled_briefing_once(
    api: FakeBotApi, bot_settings, pg_url, e5_embedder, caplog
) -> None:
    """A second `newsbot bot` process beside this one: the chat subscribes through it, this replica
    reads the subscription from the database at start, both fire at the same second, one sends."""
    import os
    import sys
    from pathlib import Path

    from retrieval.backends import index_paths
    from tests.conftest import MODEL_CACHE, TEST_PRECISION
    from tests.telegram.conftest import ADMIN_ID, TOKEN

    settings = bot_settings(NEWSBOT_DATABASE_URL=pg_url)
    index_paths([SEEDS], settings, embedder=e5_embedder)
    caplog.set_level(logging.INFO, logger="bot.handlers")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("NEWSBOT_", "TELEGRAM_"))},
        "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": api.base_url, "TELEGRAM_API_FILE_URL": api.file_url,
        "TELEGRAM_ADMIN_IDS": str(ADMIN_ID), "TELEGRAM_TIMEZONE": "Europe/Berlin",
        "NEWSBOT_DATA_DIR": str(settings.retrieval.data_dir), "NEWSBOT_MODEL_CACHE_DIR": str(MODEL_CACHE),
        "NEWSBOT_EMBEDDING_PRECISION": TEST_PRECISION, "NEWSBOT_DATABASE_URL": pg_url,
    }  # fmt: skip
    other = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("newsbot")), "-v", "bot",
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    log: list[str] = []

    async def read_log() -> None:
        assert other.stderr is not None
        async for line in other.stderr:
            log.append(line.decode(errors="replace"))

    reader = asyncio.create_task(read_log())
    try:
        await until(lambda: any(" ready in " in line for line in log), timeout=120)
        user = api.private_chat(USER_ID)
        at = (dt.datetime.now(BERLIN) + dt.timedelta(seconds=20)).strftime("%H:%M:%S")
        api.send_text(USER_ID, user, f"/subscribe {at}")
        (confirmation,) = await api.wait_for_messages(USER_ID)  # the other process took the command
        assert "Subscribed" in confirmation.params["text"]
        async with newsbot(settings):  # this replica restores the subscription from the database
            await api.wait_for_messages(USER_ID, 2, timeout=60)
            await asyncio.sleep(5.0)  # time for a duplicate to arrive
    finally:
        other.terminate()
        await other.wait()
        reader.cancel()
    briefings = [
        c for c in api.sent(USER_ID) if c.params["text"].startswith("<b>Briefing on all articles</b>")
    ]
    assert len(briefings) == 1
    skipped_here = any("was already sent (another replica)" in r.getMessage() for r in caplog.records)
    skipped_there = any("was already sent (another replica)" in line for line in log)
    assert skipped_here != skipped_there  # exactly one of the two processes stood down
