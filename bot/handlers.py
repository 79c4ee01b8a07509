"""The bot's handlers: thin adapters from Telegram updates to the answer core and back.

Blocking work (the model, FAISS, indexing, SQLite) runs in threads via `asyncio.to_thread`, and
the application handles updates concurrently, so one slow answer never holds up other chats.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatType
from telegram.error import Forbidden, NetworkError, TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes, JobQueue

from answers.answer import answer, reload_retriever, validate_question
from answers.briefing import briefing_window_note, build_briefing
from answers.dated import date_text
from answers.errors import QuestionError
from answers.followup import Conversation
from bot.access import whole_seconds
from bot.addressing import question_addressed_to
from bot.delivery import chat_turn, deliver, send_html, typing_action, with_network_retries
from bot.messages import language_of, number, say, upload_failure_reason
from bot.state import CONVERSATION_KEY, LAST_SOURCES_KEY, LastSources, bot_state
from bot.subscriptions import Subscription, SubscriptionError, format_time, parse_time
from bot.telegram_format import escape, render_answer, render_briefing, render_full_sources
from bot.time_options import split_window
from retrieval.backends import index_uploaded_article
from retrieval.errors import IngestError
from retrieval.time_window import TimeWindow, TimeWindowError

logger = logging.getLogger(__name__)

SOURCES_CALLBACK = "sources"
BRIEFING_JOB_PREFIX = "briefing:"
APOLOGY_WINDOW_S = 60.0  # an apology is worth less than an answer: retried for a minute at most


def _window(context: ContextTypes.DEFAULT_TYPE) -> float:
    """Seconds a message is retried before it is given up (TELEGRAM_DELIVERY_WINDOW_S)."""
    return bot_state(context).settings.telegram.delivery_window_s


def _sources_button(language: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(say(language, "sources_button"), callback_data=SOURCES_CALLBACK)]])


def _reply_target(update: Update) -> int | None:
    """In groups the bot replies to the asking message; in a private chat that would only add noise."""
    chat, message = update.effective_chat, update.effective_message
    if chat is None or message is None or chat.type == ChatType.PRIVATE:
        return None
    return message.message_id


async def _say(update: Update, context: ContextTypes.DEFAULT_TYPE, markup: str) -> None:
    chat = update.effective_chat
    if chat is not None:
        await send_html(context.bot, chat.id, markup, reply_to=_reply_target(update), window_s=_window(context))


async def _within_rate_limit(update: Update, context: ContextTypes.DEFAULT_TYPE, language: str) -> bool:
    """Count a question against the asker's limit; tell them how long to wait when it is spent, once
    per rate-limit window (further messages in that window are dropped without a reply)."""
    state = bot_state(context)
    user, chat = update.effective_user, update.effective_chat
    key = user.id if user else (chat.id if chat else 0)
    wait = state.limiter.acquire(key)
    if wait:
        if not state.rate_notices.should_notify(key):
            logger.debug("rate limit: user %s still over it; message dropped without a notice", key)
            return False
        logger.info("rate limit: user %s must wait %.1f s", key, wait)
        limit = state.settings.telegram.questions_per_minute
        await _say(update, context, say(language, "rate_limited", limit=limit, seconds=whole_seconds(wait)))
        return False
    return True


# -- access ------------------------------------------------------------------------------------


async def guard_access(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stop updates the allow lists do not admit: one polite refusal per private chat, silence in groups."""
    if not isinstance(update, Update):
        return
    state = bot_state(context)
    chat, user = update.effective_chat, update.effective_user
    if state.access.admits(chat.id if chat else None, user.id if user else None):
        return
    logger.info("not serving chat %s (user %s)", chat.id if chat else None, user.id if user else None)
    if chat is not None and chat.type == ChatType.PRIVATE and chat.id not in state.refused_chats:
        state.refused_chats.add(chat.id)
        await send_html(context.bot, chat.id, say(language_of(user), "not_allowed"), window_s=_window(context))
    raise ApplicationHandlerStop


# -- questions ---------------------------------------------------------------------------------


async def on_help(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Explain usage in the user's language (/start and /help)."""
    state = bot_state(context)
    await _say(update, context, say(language_of(update.effective_user), "help", timezone=escape(str(state.timezone))))


async def on_private_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer any text in a private chat as a question, also a photo's (or video's) caption."""
    message = update.effective_message
    question = (message.text or message.caption) if message else None
    if question:
        await answer_question(update, context, question)


async def on_group_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer group messages that mention the bot or reply to it; stay silent on everything else."""
    message = update.effective_message
    if message is None:
        return
    question = question_addressed_to(message, context.bot.id, context.bot.username)
    if question is not None:
        await answer_question(update, context, question)


async def on_ask(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer /ask <question> (and /ask@ThisBot; PTB already ignores /ask@OtherBot); `--since`/`--until` as in the CLI."""
    try:
        window, words = split_window(context.args or [], dt.datetime.now())
    except TimeWindowError as e:
        await _say(update, context, say(language_of(update.effective_user), "bad_question", reason=escape(str(e))))
        return
    question = " ".join(words)
    if not question.strip():
        await _say(update, context, say(language_of(update.effective_user), "ask_usage"))
        return
    await answer_question(update, context, question, window)


async def answer_question(
    update: Update, context: ContextTypes.DEFAULT_TYPE, question: str, window: TimeWindow | None = None
) -> None:
    """Validate, rate-limit, answer off the event loop, and send the answer with a Sources button.

    The chat's turn is taken before anything else, so answers leave in the order the questions came.
    """
    chat = update.effective_chat
    assert chat is not None
    async with chat_turn(chat.id):
        await _answer_in_turn(update, context, question, window)


async def _answer_in_turn(
    update: Update, context: ContextTypes.DEFAULT_TYPE, question: str, window: TimeWindow | None = None
) -> None:
    state = bot_state(context)
    chat = update.effective_chat
    assert chat is not None
    language = language_of(update.effective_user)
    try:
        question = validate_question(question, state.settings.models.max_question_chars)
    except QuestionError as e:
        await _say(update, context, say(language, "bad_question", reason=escape(str(e))))
        return
    if not await _within_rate_limit(update, context, language):
        return
    started = time.perf_counter()
    conversation = _conversation(context)
    previous = conversation.anchor
    conversation.remember(conversation.read(question))  # now, so a question sent meanwhile reads this one
    async with typing_action(context.bot, chat.id):
        result = await asyncio.to_thread(
            answer, question, state.settings, state.retriever, previous=previous, window=window
        )
    markup = render_answer(result)
    if context.chat_data is not None:
        context.chat_data[LAST_SOURCES_KEY] = LastSources(result.language, tuple(result.citations))
    button = _sources_button(language) if result.citations else None
    sent = await send_html(
        context.bot, chat.id, markup, reply_to=_reply_target(update), reply_markup=button, window_s=_window(context)
    )
    logger.info(
        "chat %s: answered a %d-character question in %.0f ms (%d citations, %d messages)",
        chat.id, len(question), (time.perf_counter() - started) * 1000, len(result.citations), len(sent),
    )  # fmt: skip


def _conversation(context: ContextTypes.DEFAULT_TYPE) -> Conversation:
    """This chat's conversation (PTB keeps `chat_data` per chat, so chats never share one)."""
    if context.chat_data is None:
        return Conversation()
    return context.chat_data.setdefault(CONVERSATION_KEY, Conversation())


async def on_new_conversation(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Start afresh (/new): the next question is read on its own."""
    _conversation(context).reset()
    await _say(update, context, say(language_of(update.effective_user), "new_conversation"))


async def on_sources(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show the full sources of the last answer in this chat (/sources)."""
    last = context.chat_data.get(LAST_SOURCES_KEY) if context.chat_data is not None else None
    if not last or not last.citations:
        await _say(update, context, say(language_of(update.effective_user), "no_answer_yet"))
        return
    await _say(update, context, render_full_sources(list(last.citations), last.language))


async def on_sources_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show the full sources of the last answer when its Sources button is pressed."""
    query = update.callback_query
    if query is None:
        return
    await with_network_retries(query.answer, "answerCallbackQuery")
    chat = update.effective_chat
    last = context.chat_data.get(LAST_SOURCES_KEY) if context.chat_data is not None else None
    if chat is None:
        return
    if not last or not last.citations:
        await send_html(context.bot, chat.id, say(language_of(update.effective_user), "no_answer_yet"), window_s=_window(context))
        return
    reply_to = query.message.message_id if query.message is not None else None
    await send_html(
        context.bot, chat.id, render_full_sources(list(last.citations), last.language), reply_to=reply_to, window_s=_window(context)
    )


async def on_unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Point to /help when a private chat sends a command the bot does not have."""
    await _say(update, context, say(language_of(update.effective_user), "unknown_command"))


# -- briefings ---------------------------------------------------------------------------------


async def on_briefing(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Post a digest of the corpus, or of the topic after /briefing; `--since`/`--until` as in /ask
    limit it to articles published then (what is new is otherwise since the chat's last briefing)."""
    chat = update.effective_chat
    assert chat is not None
    language = language_of(update.effective_user)
    try:
        window, words = split_window(context.args or [], dt.datetime.now())
    except TimeWindowError as e:
        await _say(update, context, say(language, "bad_question", reason=escape(str(e))))
        return
    topic = " ".join(words).strip() or None
    if topic is not None:
        try:
            topic = validate_question(topic, bot_state(context).settings.models.max_question_chars)
        except QuestionError as e:
            await _say(update, context, say(language, "bad_question", reason=escape(str(e))))
            return
    if not await _within_rate_limit(update, context, language):
        return
    await post_briefing(context, chat.id, topic, language, reply_to=_reply_target(update), published=window)


async def post_briefing(
    context: ContextTypes.DEFAULT_TYPE,
    chat_id: int,
    topic: str | None,
    language: str,
    reply_to: int | None = None,
    slot: str | None = None,
    published: TimeWindow | None = None,
) -> None:
    """Build the briefing of what is new since the chat's previous one (else the configured window)
    in a thread and send it; it becomes the chat's last answer for /sources. A scheduled `slot`
    another replica already claimed sends nothing. With a publication window (`published`) it
    covers every article published then instead of what is new."""
    state = bot_state(context)
    now = time.time()
    claim = await asyncio.to_thread(state.subscriptions.claim_briefing, chat_id, slot, now)
    if claim is None:
        logger.info("chat %s: briefing %s was already sent (another replica)", chat_id, slot)
        return
    since = claim.since if claim.since is not None else now - state.settings.telegram.briefing_window_hours * 3600
    if published is not None:
        since = None  # asked for the articles published then: all of them, not only what arrived lately
    try:
        await _build_and_send_briefing(context, chat_id, topic, language, since, reply_to, published)
    except BaseException:
        # Not sent: give the claim back, so the next briefing covers this window instead of skipping it.
        await asyncio.to_thread(state.subscriptions.release_briefing, claim)
        raise


async def _build_and_send_briefing(
    context: ContextTypes.DEFAULT_TYPE,
    chat_id: int,
    topic: str | None,
    language: str,
    since: float | None,
    reply_to: int | None,
    published: TimeWindow | None = None,
) -> None:
    """The briefing of what is new since `since` (of articles `published` in a window), built in a
    thread and sent in the chat's turn."""
    state = bot_state(context)
    window = _window(context)
    async with chat_turn(chat_id):
        async with typing_action(context.bot, chat_id):
            briefing = await asyncio.to_thread(build_briefing, state.settings, state.retriever, topic, since, published)
        if briefing.nothing_new:
            markup = render_briefing(briefing, language, state.timezone)
            await send_html(context.bot, chat_id, markup, reply_to=reply_to, window_s=window)
            logger.info("chat %s: nothing new for its briefing", chat_id)
            return
        if briefing.empty:
            said = [say(language, "nothing_on_topic", topic=escape(topic or ""))] if topic or not briefing.window else []
            if briefing.window is not None:  # which days it covered, or that nothing was published then
                said.append(escape(briefing_window_note(briefing, language)))
            nothing = "\n\n".join(said)
            await send_html(context.bot, chat_id, nothing, reply_to=reply_to, window_s=window)
            return
        if context.chat_data is not None:
            context.chat_data[LAST_SOURCES_KEY] = LastSources(language, tuple(briefing.citations))
        markup = render_briefing(briefing, language, state.timezone)
        button = _sources_button(language)
        sent = await send_html(context.bot, chat_id, markup, reply_to=reply_to, reply_markup=button, window_s=window)
    logger.info("chat %s: posted a briefing (%d citations, %d messages)", chat_id, len(briefing.citations), len(sent))


async def on_subscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Store and schedule a daily briefing for this chat: /subscribe HH:MM [topic]."""
    state = bot_state(context)
    chat = update.effective_chat
    assert chat is not None
    language = language_of(update.effective_user)
    args = context.args or []
    try:
        at = parse_time(args[0]) if args else None
        topic = validate_question(" ".join(args[1:]), state.settings.models.max_question_chars) if len(args) > 1 else None
    except (SubscriptionError, QuestionError) as e:
        logger.info("chat %s: unusable /subscribe (%s)", chat.id, e)
        at = None
    if at is None:
        await _say(update, context, say(language, "subscribe_usage"))
        return
    if not state.access.serves_chat(chat.id):
        # The briefing is posted with no sender, so only the chat's own admission counts; an admin or
        # listed user asking in an unlisted group would get a briefing that is skipped every day.
        logger.info("chat %s: refused /subscribe, the chat is not served", chat.id)
        await _say(update, context, say(language, "subscribe_not_served"))
        return
    subscription = Subscription(chat_id=chat.id, at=at, topic=topic, language=language)
    await asyncio.to_thread(state.subscriptions.put, subscription)
    assert context.job_queue is not None
    schedule_briefing(context.job_queue, subscription, state.timezone)
    about = say(language, "subscribed_about", topic=escape(topic)) if topic else ""
    when = format_time(at)
    await _say(update, context, say(language, "subscribed", about=about, time=when, timezone=escape(str(state.timezone))))


async def on_unsubscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stop this chat's daily briefing (/unsubscribe)."""
    state = bot_state(context)
    chat = update.effective_chat
    assert chat is not None
    removed = await asyncio.to_thread(state.subscriptions.remove, chat.id)
    if context.job_queue is not None:
        for job in context.job_queue.get_jobs_by_name(f"{BRIEFING_JOB_PREFIX}{chat.id}"):
            job.schedule_removal()
    await _say(update, context, say(language_of(update.effective_user), "unsubscribed" if removed else "not_subscribed"))


def schedule_briefing(job_queue: JobQueue, subscription: Subscription, timezone: dt.tzinfo) -> None:
    """(Re)schedule the chat's daily briefing job, replacing any earlier one."""
    name = f"{BRIEFING_JOB_PREFIX}{subscription.chat_id}"
    for job in job_queue.get_jobs_by_name(name):
        job.schedule_removal()
    job_queue.run_daily(
        post_scheduled_briefing,
        time=subscription.at.replace(tzinfo=timezone),
        chat_id=subscription.chat_id,
        name=name,
        data=subscription,
    )


async def post_scheduled_briefing(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Post a subscribed daily briefing; a chat that blocked or removed the bot is unsubscribed."""
    assert context.job is not None
    subscription: Subscription = context.job.data  # type: ignore[assignment]
    chat_id = subscription.chat_id
    if not bot_state(context).access.serves_chat(chat_id):
        logger.info("chat %s is no longer allowed; skipping its daily briefing", chat_id)  # allow lists changed
        return
    slot = f"{dt.datetime.now(bot_state(context).timezone):%Y-%m-%d}@{format_time(subscription.at)}"
    try:
        await post_briefing(context, subscription.chat_id, subscription.topic, subscription.language, slot=slot)
    except Forbidden as e:
        logger.info("chat %s no longer accepts messages (%s); removing its subscription", subscription.chat_id, e)
        await asyncio.to_thread(bot_state(context).subscriptions.remove, subscription.chat_id)
        context.job.schedule_removal()


# -- uploads -----------------------------------------------------------------------------------


async def on_document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Index an article file an admin sends in a private chat; refuse everyone else politely."""
    state = bot_state(context)
    message, chat, user = update.effective_message, update.effective_chat, update.effective_user
    if message is None or message.document is None or chat is None:
        return
    language = language_of(user)
    if not state.access.is_admin(user.id if user else None):
        logger.info("refused an upload from user %s", user.id if user else None)
        await _say(update, context, say(language, "upload_refused"))
        return
    document = message.document
    name = document.file_name or "upload.txt"
    limit = state.settings.retrieval.max_file_bytes
    if document.file_size and document.file_size > limit:
        size, allowed = number(language, document.file_size), number(language, limit)
        await _say(update, context, say(language, "upload_too_large", name=escape(name), size=size, limit=allowed))
        return
    async with typing_action(context.bot, chat.id):
        file = await with_network_retries(lambda: context.bot.get_file(document.file_id), "getFile")
        raw = bytes(await with_network_retries(file.download_as_bytearray, "file download"))
        async with state.ingest_lock:  # one index generation at a time
            try:
                article = await asyncio.to_thread(
                    index_uploaded_article, raw, name, state.settings, state.retriever.embedder
                )
            except IngestError as e:
                logger.info("chat %s: upload %r not indexed: %s", chat.id, name, e)
                reason = upload_failure_reason(language, str(e).split(": ", 1)[-1])  # without the file path
                await _say(update, context, say(language, "upload_failed", name=escape(name), reason=escape(reason)))
                return
            state.retriever = await asyncio.to_thread(reload_retriever, state.settings)
    outlet = f", {article.outlet}" if article.outlet else ""
    stored = state.retriever.data.articles.get(article.doc_id) or article  # as indexed: undated, it has its indexed day
    await _say(
        update,
        context,
        say(
            language,
            "upload_done",
            title=escape(article.title),
            date=escape(date_text(stored, language) or say(language, "no_date")),
            outlet=escape(outlet),
            articles=len(state.retriever.data.articles),
        ),
    )
    logger.info("chat %s: indexed upload %r as %s", chat.id, name, article.doc_id)


# -- errors ------------------------------------------------------------------------------------


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the failure with its context first, then apologise briefly to whoever is waiting."""
    error = context.error
    chat = update.effective_chat if isinstance(update, Update) else None
    if update is None and isinstance(error, NetworkError):
        logger.warning("network error while polling Telegram: %s", error)  # PTB retries polling itself
        return
    logger.error(
        "error handling update %s in chat %s: %s",
        update.update_id if isinstance(update, Update) else None, chat.id if chat else None, error, exc_info=error,
    )  # fmt: skip
    if chat is None or not isinstance(update, Update):
        return
    try:
        apology = say(language_of(update.effective_user), "apology")
        await deliver(lambda: context.bot.send_message(chat.id, apology), f"apology to chat {chat.id}", APOLOGY_WINDOW_S)
    except TelegramError as e:
        logger.warning("could not send the apology to chat %s: %s", chat.id, e)

