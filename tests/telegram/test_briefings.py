"""/briefing, and daily briefings by /subscribe that fire on time and survive a restart of the bot."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from bot.app import SUBSCRIPTIONS_FILE
from bot.subscriptions import SubscriptionStore
from retrieval.stores.embedded.store import load_index
from tests.telegram.conftest import GROUP_ID, USER_ID, answer_parts, newsbot
from tests.telegram.fake_bot_api import FakeBotApi
from tests.telegram.telegram_html import blockquotes, parse

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
BERLIN = ZoneInfo("Europe/Berlin")


def seconds_from_now(seconds: int) -> str:
    """A /subscribe time `seconds` ahead in the bot's timezone (seconds are accepted for short test schedules)."""
    return (dt.datetime.now(BERLIN) + dt.timedelta(seconds=seconds)).strftime("%H:%M:%S")


def briefing_text(parts) -> str:  # type: ignore[no-untyped-def]
    return "".join(parse(part.text) for part in parts)


async def test_briefing_posts_key_figures_corroborated_claims_and_newest_articles_with_quotes(
    api: FakeBotApi, bot_settings
) -> None:
    settings = bot_settings()
    articles = load_index(settings.index_dir, with_search_structures=False).articles
    user = api.private_chat(USER_ID)
    async with newsbot(settings):
        api.send_text(USER_ID, user, "/briefing")
        parts = await answer_parts(api, USER_ID)
        api.send_text(USER_ID, user, "/briefing Fußball")
        nothing = (await api.wait_for_messages(USER_ID, len(parts) + 1))[-1]

    text = briefing_text(parts)
    for heading in ("Briefing on all articles", "Key figures and who reported them", "Most corroborated", "Newest articles"):
        assert heading in text
    assert "1.500 nordkoreanische Soldaten — südkoreanischer Geheimdienst" in text
    assert text.index("2024-10-24") < text.index("2024-10-22") < text.index("2024-10-21", text.index("Newest articles"))
    quotes = [quote.split("] ", 1)[1] for part in parts for quote in blockquotes(part.text)]
    assert len(quotes) >= 8
    assert all(any(quote in article.text for article in articles.values()) for quote in quotes)
    assert nothing.text == "The articles say nothing about “Fußball”."


async def test_a_daily_briefing_subscription_fires_at_its_time(api: FakeBotApi, bot_settings) -> None:
    settings = bot_settings()
    api.group_chat(GROUP_ID)
    alice = api.user(USER_ID, language_code="de")
    async with newsbot(settings):
        api.send_text(GROUP_ID, alice, f"/subscribe {seconds_from_now(3)} Nordkorea")
        (confirmation,) = await api.wait_for_messages(GROUP_ID)
        parts = await answer_parts(api, GROUP_ID, after=1, timeout=15)

    assert "Abonniert: täglicher Überblick zu „Nordkorea“" in confirmation.text
    assert "Überblick: Nordkorea" in briefing_text(parts)
    assert parts[0].reply_to is None  # a scheduled post replies to nobody
    (stored,) = SubscriptionStore(settings.retrieval.data_dir / SUBSCRIPTIONS_FILE).all()
    assert (stored.chat_id, stored.topic, stored.language) == (GROUP_ID, "Nordkorea", "de")


async def test_a_subscription_survives_a_restart_of_the_bot_and_unsubscribe_ends_it(api: FakeBotApi, bot_settings) -> None:
    settings = bot_settings()
    user = api.private_chat(USER_ID)
    async with newsbot(settings):
        api.send_text(USER_ID, user, f"/subscribe {seconds_from_now(6)}")
        (confirmation,) = await api.wait_for_messages(USER_ID)
    assert "Subscribed: a daily briefing here at" in confirmation.text
    stopped_at = len(api.calls)

    async with newsbot(settings) as application:  # a new process would read the same SQLite file
        parts = await answer_parts(api, USER_ID, after=1, timeout=20)
        assert "Briefing on all articles" in briefing_text(parts)
        assert any(c.method == "getMe" for c in api.calls[stopped_at:])  # it came from the restarted bot
        before = len(api.sent(USER_ID))
        api.send_text(USER_ID, user, "/unsubscribe")
        ended = (await api.wait_for_messages(USER_ID, before + 1))[before]
        assert application.job_queue.get_jobs_by_name(f"briefing:{USER_ID}") == ()

    assert ended.text == "The daily briefing in this chat is stopped."
    assert SubscriptionStore(settings.retrieval.data_dir / SUBSCRIPTIONS_FILE).all() == []


async def test_subscribe_without_a_valid_time_explains_the_format(api: FakeBotApi, bot_settings) -> None:
    user = api.private_chat(USER_ID)
    async with newsbot(bot_settings()):
        api.send_text(USER_ID, user, "/subscribe morgen früh")
        (usage,) = await api.wait_for_messages(USER_ID)

    assert usage.text.startswith("Use /subscribe HH:MM [topic]")
