"""The running bot and a live collection: links sent by admins are indexed (anyone else's refused,
never answered as a question), and articles published into a feed that `newsbot watch` follows (in
its own process, or inside the bot) are answered from within a minute, without a restart."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from retrieval.stores.embedded.store import current_generation
from tests.conftest import REPO
from tests.news_site import FERRY, FLOOD, LIGHTHOUSE, NewsSite, Story, news_site
from tests.telegram.conftest import ADMIN_ID, USER_ID, answer_parts, newsbot
from tests.telegram.fake_bot_api import FakeBotApi
from tests.telegram.telegram_html import parse

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

QUESTION = "Wie viele Tote gab es nach den Unwettern in Valencia?"


@pytest.fixture
def site() -> Iterator[NewsSite]:
    with news_site() as served:
        yield served


def _watch_config(folder: Path, site: NewsSite) -> Path:
    path = folder / "watch.toml"
    path.write_text(f"interval_s = 1\n\n[[feeds]]\nurl = \"{site.url('/feed.xml')}\"\n", encoding="utf-8")
    return path


async def _answer_with(api: FakeBotApi, chat: dict, user_id: int, needle: str, within_s: float) -> tuple[str, float]:  # type: ignore[type-arg]
    """Ask QUESTION every few seconds until the answer holds `needle`; (that answer, seconds it took)."""
    started = time.monotonic()
    asked = 0
    text = ""
    while time.monotonic() - started < within_s:
        api.send_text(user_id, chat, QUESTION)
        asked += 1
        parts = await answer_parts(api, user_id, answers=asked, timeout=60)
        text = "\n".join(p.text for p in parts)
        if needle in text:
            return text, time.monotonic() - started
        await asyncio.sleep(2)
    raise AssertionError(f"no answer with {needle!r} within {within_s} s; the last: {text!r}")


async def test_an_admins_link_is_indexed_and_the_next_question_quotes_it(api: FakeBotApi, bot_settings, site: NewsSite) -> None:
    settings = bot_settings()
    url = site.publish(FLOOD)
    admin = api.private_chat(ADMIN_ID, language_code="de")
    async with newsbot(settings):
        api.send_text(ADMIN_ID, admin, url)
        (confirmation,) = await api.wait_for_messages(ADMIN_ID, timeout=60)
        api.send_text(ADMIN_ID, admin, QUESTION)
        parts = await answer_parts(api, ADMIN_ID, after=1)
    assert confirmation.text.startswith(f"Indexiert: „{FLOOD.title}“ (2024-10-31")
    assert "6 Artikel im Index" in confirmation.text
    assert "158" in "\n".join(p.text for p in parts)


async def test_a_page_without_a_date_is_shown_with_the_day_it_was_fetched_never_as_published(
    api: FakeBotApi, bot_settings, site: NewsSite
) -> None:
    settings = bot_settings(TELEGRAM_QUESTIONS_PER_MINUTE="100")
    url = site.publish(Story(FERRY.slug, FERRY.title, FERRY.published, FERRY.paragraphs, with_date_meta=False))
    admin = api.private_chat(ADMIN_ID, language_code="de")
    today = time.strftime("%Y-%m-%d", time.gmtime())
    async with newsbot(settings):
        api.send_text(ADMIN_ID, admin, url)
        (confirmation,) = await api.wait_for_messages(ADMIN_ID, timeout=60)
        api.send_text(ADMIN_ID, admin, "/ask --since 24h Wie viele Passagiere waren an Bord der Fähre?")
        parts = await answer_parts(api, ADMIN_ID, after=1, timeout=60)
    assert confirmation.text.startswith(f"Indexiert: „{FERRY.title}“ (abgerufen am {today}")
    text = parse("\n".join(p.text for p in parts))
    assert "312" in text and f"127.0.0.1, abgerufen am {today}" in text
    assert "Ein Artikel ohne Erscheinungsdatum zählt nach dem Tag, an dem er abgerufen oder indexiert wurde" in text


async def test_a_link_from_someone_who_is_not_an_admin_is_refused_and_never_answered(
    api: FakeBotApi, bot_settings, site: NewsSite
) -> None:
    settings = bot_settings()
    before = current_generation(settings.index_dir)
    user = api.private_chat(USER_ID)
    async with newsbot(settings):
        api.send_text(USER_ID, user, site.publish(FLOOD))
        api.send_text(USER_ID, user, f"/add {site.url('/articles/hochwasser-valencia.html')}")
        refusals = await api.wait_for_messages(USER_ID, count=2, timeout=30)
        await asyncio.sleep(0.5)
    assert [m.text for m in refusals] == [
        "Sorry, only the bot's admins can add articles; a link is not a question. Ask me about the articles instead."
    ] * 2
    assert len(api.sent(USER_ID)) == 2  # no answer, no Sources button
    assert site.hits("/articles/hochwasser-valencia.html") == 0
    assert current_generation(settings.index_dir) == before


@pytest.mark.parametrize(
    ("path", "language", "reason"),
    [
        ("/hang.html", "en", "timed out after 1 s without an answer"),
        ("/loop-a", "en", "too many redirects (a redirect loop?)"),
        ("/empty.html", "de", "auf der Seite steht kein Artikeltext"),
    ],
)
async def test_a_bad_link_gets_one_line_naming_it_and_the_cause(
    api: FakeBotApi, bot_settings, site: NewsSite, path: str, language: str, reason: str
) -> None:
    settings = bot_settings(NEWSBOT_FETCH_TIMEOUT_S="1")
    before = current_generation(settings.index_dir)
    admin = api.private_chat(ADMIN_ID, language_code=language)
    async with newsbot(settings):
        api.send_text(ADMIN_ID, admin, f"/add {site.url(path)}")
        (message,) = await api.wait_for_messages(ADMIN_ID, timeout=30)
    expected = (
        f"I could not add {site.url(path)}: {reason}. The index is unchanged."
        if language == "en"
        else f"{site.url(path)} konnte ich nicht hinzufügen: {reason}. Der Index ist unverändert."
    )
    assert message.text == expected
    assert current_generation(settings.index_dir) == before


async def test_the_running_bot_answers_from_a_feed_that_newsbot_watch_follows_within_a_minute(
    api: FakeBotApi, bot_settings, site: NewsSite, tmp_path: Path
) -> None:
    """The README's demo: `newsbot watch` in its own process, the bot in another, an article published."""
    settings = bot_settings(NEWSBOT_INDEX_POLL_S="1", TELEGRAM_QUESTIONS_PER_MINUTE="100")
    env = {
        **os.environ,
        "NEWSBOT_DATA_DIR": str(settings.retrieval.data_dir),
        "NEWSBOT_MODEL_CACHE_DIR": str(settings.model_cache_dir),
        "PYTHONPATH": str(REPO),
        "HF_HUB_OFFLINE": "1",
    }
    watch = subprocess.Popen(  # noqa: ASYNC220 - starting the process does not block; it runs beside the loop
        [sys.executable, "-m", "bot", "-v", "watch", "--config", str(_watch_config(tmp_path, site))],
        env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    user = api.private_chat(USER_ID, language_code="de")
    try:
        async with newsbot(settings):
            deadline = time.monotonic() + 120
            while site.hits("/feed.xml") == 0:  # the watcher is up (model loaded) and polling
                assert watch.poll() is None and time.monotonic() < deadline, watch.stderr.read() if watch.stderr else ""
                await asyncio.sleep(0.2)
            site.publish(FLOOD)
            text, seconds = await _answer_with(api, user, USER_ID, "158", within_s=60)
    finally:
        watch.terminate()
        watch.wait(timeout=30)
        log = watch.stderr.read() if watch.stderr else ""
        print(log[-3000:])
    assert "Valencia" in text
    print(f"\nthe running bot answered from the published article {seconds:.1f} s after it appeared in the feed")


async def test_the_watcher_inside_the_bot_indexes_a_published_article(
    api: FakeBotApi, bot_settings, site: NewsSite, tmp_path: Path
) -> None:
    settings = bot_settings(
        NEWSBOT_WATCH_CONFIG=str(_watch_config(tmp_path, site)), NEWSBOT_INDEX_POLL_S="1", TELEGRAM_QUESTIONS_PER_MINUTE="100"
    )
    user = api.private_chat(USER_ID, language_code="de")
    async with newsbot(settings):
        site.publish(FLOOD)
        text, _seconds = await _answer_with(api, user, USER_ID, "158", within_s=60)
    assert "Valencia" in text
    assert (settings.retrieval.data_dir / "watch.sqlite").is_file()


async def test_ask_takes_a_time_window_and_a_dated_question_is_answered_from_that_day(api: FakeBotApi, bot_settings) -> None:
    settings = bot_settings(TELEGRAM_QUESTIONS_PER_MINUTE="100")
    user = api.private_chat(USER_ID, language_code="de")
    async with newsbot(settings):
        api.send_text(USER_ID, user, "/ask --since 2024-11-01 Wie viele Soldaten hat Nordkorea geschickt?")
        (windowed,) = await api.wait_for_messages(USER_ID, count=1, timeout=60)
        api.send_text(USER_ID, user, "Was wurde am 24. Dezember über Nordkorea gemeldet?")
        dated = (await api.wait_for_messages(USER_ID, count=2, timeout=60))[-1]
        api.send_text(USER_ID, user, "/ask --since letzte Woche Wie viele Soldaten?")
        bad = (await api.wait_for_messages(USER_ID, count=3, timeout=60))[-1]
    # No seed is published after 24 October 2024; the two undated ones count by the day they were
    # indexed (today), and the answer quotes them saying so, their day shown as such.
    today = time.strftime("%Y-%m-%d", time.gmtime())
    windowed_text = parse(windowed.text)
    assert "Durchsucht wurden nur Artikel, die seit 2024-11-01 erschienen sind. Ein Artikel ohne Erscheinungsdatum" in windowed_text
    assert f"indexiert am {today}" in windowed_text and "2024-10-2" not in windowed_text
    assert parse(dated.text) == "Dazu steht nichts in den Artikeln.\n\nKein Artikel der Sammlung ist am 24. Dezember erschienen."
    assert bad.text.startswith("Das kann ich leider nicht beantworten: 'letzte' is neither a date nor a duration")


async def test_a_link_addressed_to_the_bot_in_a_group_is_refused_for_others_and_never_answered(
    api: FakeBotApi, bot_settings, site: NewsSite
) -> None:
    from tests.telegram.conftest import GROUP_ID

    settings = bot_settings()
    api.group_chat(GROUP_ID)
    alice = api.user(USER_ID)
    async with newsbot(settings):
        chatter = api.send_text(GROUP_ID, alice, f"Schaut mal: {site.publish(FLOOD)}")  # not addressed: ignored
        mention = api.send_text(GROUP_ID, alice, f"@NewsbotTestBot {site.url('/articles/hochwasser-valencia.html')}")
        (refusal,) = await api.wait_for_messages(GROUP_ID, timeout=30)
        await asyncio.sleep(0.5)
    assert refusal.reply_to == mention["message_id"] and refusal.reply_to != chatter["message_id"]
    assert refusal.text.startswith("Sorry, only the bot's admins can add articles; a link is not a question.")
    assert len(api.sent(GROUP_ID)) == 1 and site.hits("/articles/hochwasser-valencia.html") == 0


async def test_briefing_takes_a_publication_window_and_says_when_nothing_was_published_then(
    api: FakeBotApi, bot_settings, tmp_path: Path, e5_embedder
) -> None:
    from retrieval.stores.embedded.indexer import build_index

    settings = bot_settings(TELEGRAM_QUESTIONS_PER_MINUTE="100")
    folder = tmp_path / "dated"
    folder.mkdir()
    for story in (FLOOD, FERRY, LIGHTHOUSE):
        (folder / f"{story.slug}.txt").write_text(f"{story.title}\n{story.published}\n\n" + "\n".join(story.paragraphs) + "\n")
    build_index([folder], settings, embedder=e5_embedder)
    user = api.private_chat(USER_ID, language_code="de")
    async with newsbot(settings):
        api.send_text(USER_ID, user, "/briefing --since 2024-11-01 --until 2024-11-03")
        parts = await answer_parts(api, USER_ID, timeout=60)
        api.send_text(USER_ID, user, "/briefing --since 2024-12-20 --until 2024-12-24")
        nothing = (await api.wait_for_messages(USER_ID, count=len(parts) + 1, timeout=60))[-1]
    text = parse("".join(p.text for p in parts))
    assert "(aus 1 Artikeln)" in text
    assert "Durchsucht wurden nur Artikel, die vom 2024-11-01 bis 2024-11-03 erschienen sind." in text
    assert FERRY.title in text and FLOOD.title not in text and LIGHTHOUSE.title not in text
    assert parse(nothing.text) == "Kein Artikel der Sammlung ist vom 2024-12-20 bis 2024-12-24 erschienen."
