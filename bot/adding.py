"""Adding a web page from the chat: an admin's `/add URL`, or a private message that is only a link.

A link is never a question: from an admin it is fetched and indexed, from anyone else it gets a
polite refusal, and in either case the answerer never sees it. Fetching and indexing block, so they
run in a thread under the bot's ingest lock (one new generation at a time).
"""

from __future__ import annotations

import asyncio
import logging
import re

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ContextTypes

from answers.dated import date_text
from bot.addressing import question_addressed_to
from bot.delivery import send_html, typing_action
from bot.handlers import on_group_text
from bot.messages import language_of, say
from bot.state import bot_state
from bot.telegram_format import escape
from retrieval.errors import IndexError_, IngestError
from retrieval.fetch import is_web_url
from retrieval.web import index_web_page

logger = logging.getLogger(__name__)

LINK_ONLY = re.compile(r"^\s*https?://\S+\s*$", re.IGNORECASE)
"""A message that is a link and nothing else (what `filters.Regex` routes to `on_link`)."""
HAS_LINK = re.compile(r"https?://", re.IGNORECASE)
"""A group message that may be a link addressed to the bot (`on_group_link` decides)."""

# The fetcher's causes (retrieval/fetch.py, retrieval/web.py) in German; an unknown one gets a general line.
_GERMAN_CAUSES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"timed out after ([\d.]+) s"), "die Seite hat nicht innerhalb von {0} s geantwortet"),
    (re.compile(r"still sending after ([\d.]+) s"), "die Seite war nach {0} s noch nicht fertig geladen"),
    (re.compile(r"too many redirects"), "die Seite leitet im Kreis weiter"),
    (re.compile(r"larger than the ([\d,]+) byte limit"), "die Seite ist größer als die erlaubten {0} Bytes"),
    (re.compile(r"no article text"), "auf der Seite steht kein Artikeltext"),
    (re.compile(r"HTTP (\d{3})"), "der Server antwortete mit HTTP {0}"),
    (re.compile(r"cannot connect"), "der Server ist nicht erreichbar"),
    (re.compile(r"is a feed"), "das ist ein Feed, keine Artikelseite"),
    (re.compile(r"not a web page|not an http"), "das ist keine Webseite"),
]


def cause_in(language: str, cause: str) -> str:
    if language != "de":
        return cause
    for pattern, german in _GERMAN_CAUSES:
        match = pattern.search(cause)
        if match:
            return german.format(*(g.replace(",", ".") for g in match.groups()))
    return "die Seite ließ sich nicht als Artikel lesen"


async def on_add(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Index the page of /add URL (admins only)."""
    args = context.args or []
    url = args[0] if len(args) == 1 else ""
    if not is_web_url(url):
        await _reply(update, context, say(language_of(update.effective_user), "add_usage"))
        return
    await add_link(update, context, url)


async def on_link(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A private message that is only a link: added for an admin, refused for others, never answered as a question."""
    message = update.effective_message
    text = (message.text or "").strip() if message else ""
    if is_web_url(text):
        await add_link(update, context, text)


async def on_group_link(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A group message holding a link: when what is addressed to the bot is only that link, it is
    added (or refused), never answered; any other message goes on as a question."""
    message = update.effective_message
    if message is None:
        return
    addressed = question_addressed_to(message, context.bot.id, context.bot.username)
    if addressed is not None and is_web_url(addressed):
        await add_link(update, context, addressed.strip())
    else:
        await on_group_text(update, context)


async def add_link(update: Update, context: ContextTypes.DEFAULT_TYPE, url: str) -> None:
    state = bot_state(context)
    chat, user = update.effective_chat, update.effective_user
    if chat is None:
        return
    language = language_of(user)
    if not state.access.is_admin(user.id if user else None):
        logger.info("refused a link from user %s", user.id if user else None)
        await _reply(update, context, say(language, "add_refused"))
        return
    async with typing_action(context.bot, chat.id), state.ingest_lock:
        try:
            page = await asyncio.to_thread(index_web_page, url, state.settings, state.retriever.embedder)
        except (IngestError, IndexError_) as e:
            cause = getattr(e, "cause", None) or str(e).split(": ", 1)[-1]
            logger.info("chat %s: link %s not indexed: %s", chat.id, url, cause)
            await _reply(update, context, say(language, "add_failed", url=escape(url), reason=escape(cause_in(language, cause))))
            return
        await asyncio.to_thread(state.live.check_now)  # answer from the new generation at once
    indexed = state.retriever.data.articles.get(page.path.stem)  # a page without a date shows its fetched day, as such
    day = date_text(indexed, language) if indexed is not None else page.published
    await _reply(
        update,
        context,
        say(
            language,
            "upload_done",
            title=escape(page.title),
            date=escape(day or say(language, "no_date")),
            outlet=escape(f", {indexed.outlet}" if indexed is not None and indexed.outlet else ""),
            articles=len(state.retriever.data.articles),
        ),
    )
    logger.info("chat %s: indexed link %s as %s", chat.id, url, page.path.stem)


async def _reply(update: Update, context: ContextTypes.DEFAULT_TYPE, markup: str) -> None:
    """Send `markup` to the chat; in a group as a reply to the message it answers."""
    chat, message = update.effective_chat, update.effective_message
    if chat is not None:
        window = bot_state(context).settings.telegram.delivery_window_s
        reply_to = message.message_id if message is not None and chat.type != ChatType.PRIVATE else None
        await send_html(context.bot, chat.id, markup, reply_to=reply_to, window_s=window)
