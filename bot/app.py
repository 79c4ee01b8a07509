"""Wiring of the Telegram bot: builds the Application, registers the handlers, loads index and model once.

`newsbot bot` calls `run_bot`, which lets PTB own the event loop (signals, bootstrap retries).
`running` starts the very same application inside an event loop that already runs (the tests).
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from telegram import Bot, Update
from telegram.error import InvalidToken, NetworkError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from answers.answer import ensure_index, follow_index, stop_following, warm_up
from answers.live_index import LiveRetriever
from answers.scoring.preload import start_loading_scorer
from bot.access import AccessPolicy, SlidingWindowLimiter
from bot.adding import HAS_LINK, LINK_ONLY, on_add, on_group_link, on_link
from bot.handlers import (
    SOURCES_CALLBACK,
    guard_access,
    on_ask,
    on_briefing,
    on_document,
    on_error,
    on_group_text,
    on_help,
    on_new_conversation,
    on_private_text,
    on_sources,
    on_sources_button,
    on_subscribe,
    on_unknown_command,
    on_unsubscribe,
    schedule_briefing,
)
from bot.messages import COMMANDS
from bot.state import STATE_KEY, BotState
from bot.subscriptions import open_subscriptions
from config.settings import Settings
from retrieval.watch_config import WatchConfigError, load_watch_config

logger = logging.getLogger(__name__)

TOKEN_FORMAT = re.compile(r"^\d+:[A-Za-z0-9_-]{30,}$")
WEBHOOK_SECRET_FORMAT = re.compile(r"^[A-Za-z0-9_-]{1,256}$")  # what Telegram accepts as secret_token
RATE_LIMIT_RETRIES = 3  # 429 RetryAfter answers retried by AIORateLimiter before a send fails
SUBSCRIPTIONS_FILE = "telegram.sqlite"
WATCHER_KEY = "newsbot_watcher"  # bot_data: the feed watcher running inside the bot (NEWSBOT_WATCH_CONFIG)
# PTB logs request URLs, which contain the token, at DEBUG; httpx logs them at INFO.
TOKEN_LEAKING_LOGGERS = ("telegram", "httpx", "httpcore", "apscheduler")
REDACTED = "<TELEGRAM_BOT_TOKEN>"


class BotConfigError(ValueError):
    """The bot cannot start as configured; the message says what to change."""


def bot_token(settings: Settings) -> str:
    """The configured token, checked for BotFather's format (its value never appears in a message)."""
    secret = settings.telegram.bot_token
    token = secret.get_secret_value().strip() if secret else ""
    if not token:
        raise BotConfigError("TELEGRAM_BOT_TOKEN is not set; create a bot with @BotFather and put its token in .env")
    if not TOKEN_FORMAT.match(token):
        raise BotConfigError(
            "TELEGRAM_BOT_TOKEN does not look like a bot token (digits, a colon, then 30 or more letters, "
            "digits, '_' or '-', as @BotFather shows it)"
        )
    return token


def bot_timezone(settings: Settings) -> ZoneInfo:
    try:
        return ZoneInfo(settings.telegram.timezone)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise BotConfigError(f"TELEGRAM_TIMEZONE={settings.telegram.timezone!r} is not a timezone; use e.g. Europe/Berlin") from e


def check_config(settings: Settings) -> None:
    """Everything that can be wrong before any network or model work starts."""
    bot_token(settings)
    bot_timezone(settings)
    telegram = settings.telegram
    if telegram.webhook_url:
        if telegram.webhook_secret and not WEBHOOK_SECRET_FORMAT.match(telegram.webhook_secret.get_secret_value()):
            raise BotConfigError("TELEGRAM_WEBHOOK_SECRET may hold only letters, digits, '_' and '-' (1 to 256)")
        if importlib.util.find_spec("tornado") is None:
            raise BotConfigError("webhook mode needs the webhooks extra: pip install 'python-telegram-bot[webhooks]'")
    if settings.retrieval.watch_config is not None:
        try:
            load_watch_config(settings.retrieval.watch_config)
        except WatchConfigError as e:
            raise BotConfigError(f"NEWSBOT_WATCH_CONFIG: {e}") from None


def build_application(settings: Settings) -> Application:  # type: ignore[type-arg]
    """The configured Application with every handler registered; nothing is loaded until it starts."""
    token = bot_token(settings)
    timezone = bot_timezone(settings)

    async def post_init(application: Application) -> None:  # type: ignore[type-arg]
        await load_state(application, settings, timezone)

    async def post_shutdown(application: Application) -> None:  # type: ignore[type-arg]
        await asyncio.to_thread(release_state, application, settings)

    telegram = settings.telegram
    application = (
        ApplicationBuilder()
        .token(token)
        .base_url(telegram.api_base_url)
        .base_file_url(telegram.api_file_url)
        .rate_limiter(AIORateLimiter(max_retries=RATE_LIMIT_RETRIES))
        # Generous: a send that times out after Telegram processed it is sent again and arrives twice.
        .read_timeout(telegram.read_timeout_s)
        .write_timeout(telegram.read_timeout_s)
        .concurrent_updates(True)  # a slow answer must not hold up other chats
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .build()
    )
    register_handlers(application)
    return application


def register_handlers(application: Application) -> None:  # type: ignore[type-arg]
    new = filters.UpdateType.MESSAGE  # edits of old messages are not new questions
    private = filters.ChatType.PRIVATE & new
    groups = filters.ChatType.GROUPS & new
    application.add_handler(TypeHandler(Update, guard_access), group=-1)
    application.add_handlers(
        [
            CommandHandler(["start", "help"], on_help, filters=new),
            CommandHandler("ask", on_ask, filters=new),
            CommandHandler("sources", on_sources, filters=new),
            CommandHandler("new", on_new_conversation, filters=new),
            CommandHandler("briefing", on_briefing, filters=new),
            CommandHandler("subscribe", on_subscribe, filters=new),
            CommandHandler("unsubscribe", on_unsubscribe, filters=new),
            CallbackQueryHandler(on_sources_button, pattern=f"^{SOURCES_CALLBACK}$"),
            MessageHandler(private & filters.Document.ALL, on_document),
            CommandHandler("add", on_add, filters=new),
            MessageHandler(private & filters.Regex(LINK_ONLY), on_link),  # a link is never a question
            MessageHandler(groups & filters.TEXT & filters.Regex(HAS_LINK), on_group_link),
            # A question may come as a photo's caption as well as a text message.
            MessageHandler(private & (filters.TEXT | filters.CAPTION) & ~filters.COMMAND, on_private_text),
            MessageHandler(groups & (filters.TEXT | filters.CAPTION) & ~filters.COMMAND, on_group_text),
            MessageHandler(private & filters.COMMAND, on_unknown_command),
        ]
    )
    application.add_error_handler(on_error)


def _load_retriever(settings: Settings) -> LiveRetriever:
    start_loading_scorer(settings)  # the reader (where configured) loads beside the index, not at the first question
    ensure_index(settings)
    live = follow_index(settings)  # answers come from the newest generation, whoever writes it
    warm_up(live.retriever)
    return live


def release_state(application: Application, settings: Settings) -> None:  # type: ignore[type-arg]
    """Stop the feed watcher and the index follower (PTB calls this after the bot stopped)."""
    watcher = application.bot_data.pop(WATCHER_KEY, None)
    if watcher is not None:
        watcher.stop()
    stop_following(settings)


async def load_state(application: Application, settings: Settings, timezone: ZoneInfo) -> None:  # type: ignore[type-arg]
    """Load index and model once (in a thread), restore subscriptions, publish the command menu."""
    started = time.perf_counter()
    live = await asyncio.to_thread(_load_retriever, settings)
    retriever = live.retriever
    store = await asyncio.to_thread(open_subscriptions, settings, settings.retrieval.data_dir / SUBSCRIPTIONS_FILE)
    state = BotState(
        settings=settings,
        live=live,
        access=AccessPolicy.from_settings(settings.telegram),
        limiter=SlidingWindowLimiter(settings.telegram.questions_per_minute, window=60.0),
        subscriptions=store,
        timezone=timezone,
    )
    application.bot_data[STATE_KEY] = state
    if settings.retrieval.watch_config is not None:
        from bot.watching import BackgroundWatcher

        application.bot_data[WATCHER_KEY] = BackgroundWatcher(settings, retriever.embedder).start()
    subscriptions = await asyncio.to_thread(store.all)
    assert application.job_queue is not None, "install python-telegram-bot[job-queue]"
    for subscription in subscriptions:
        schedule_briefing(application.job_queue, subscription, timezone)
    for language, commands in COMMANDS.items():
        await application.bot.set_my_commands(commands, language_code=None if language == "en" else language)
    logger.info(
        "bot @%s ready in %.1f s: %d articles indexed, %d daily briefings restored",
        application.bot.username, time.perf_counter() - started, len(retriever.data.articles), len(subscriptions),
    )  # fmt: skip


def webhook_options(settings: Settings) -> dict[str, Any]:
    """Arguments for PTB's webhook server; without a configured secret a random one is used per run."""
    telegram = settings.telegram
    assert telegram.webhook_url is not None
    secret = telegram.webhook_secret.get_secret_value() if telegram.webhook_secret else secrets.token_urlsafe(32)
    return {
        "listen": telegram.webhook_listen,
        "port": telegram.webhook_port,
        "url_path": urlparse(telegram.webhook_url).path.lstrip("/"),
        "webhook_url": telegram.webhook_url,
        "secret_token": secret,
    }


class RedactToken(logging.Filter):
    """Replaces the token in every record a handler emits: PTB quotes it in some messages and tracebacks."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.token in message:
            record.msg, record.args = message.replace(self.token, REDACTED), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text and self.token in record.exc_text:
            record.exc_text = record.exc_text.replace(self.token, REDACTED)
        return True


def keep_token_out_of_logs(token: str) -> None:
    """Quiet the loggers that print request URLs and redact the token in whatever is still logged."""
    for name in TOKEN_LEAKING_LOGGERS:
        library_logger = logging.getLogger(name)
        library_logger.setLevel(max(library_logger.getEffectiveLevel(), logging.WARNING))
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactToken(token))


async def verify_token(settings: Settings) -> str:
    """Ask the Bot API who the token belongs to; its @username, or `BotConfigError` in one line.

    PTB reports a rejected token with a logged traceback that quotes it; asking first keeps that
    out of the output and says what to do instead.
    """
    token = bot_token(settings)
    bot = Bot(token, base_url=settings.telegram.api_base_url, base_file_url=settings.telegram.api_file_url)
    try:
        async with bot:
            return bot.username
    except InvalidToken:
        raise BotConfigError("Telegram rejected TELEGRAM_BOT_TOKEN; check it with @BotFather (/mybots → API Token)") from None
    except NetworkError as e:
        reason = str(e).replace(token, REDACTED)
        raise BotConfigError(f"cannot reach the Bot API at {settings.telegram.api_base_url}: {reason}") from None


def run_bot(settings: Settings) -> None:
    """Serve until interrupted: long polling, or a webhook when TELEGRAM_WEBHOOK_URL is set."""
    check_config(settings)
    keep_token_out_of_logs(bot_token(settings))
    username = asyncio.run(verify_token(settings))
    logger.info("starting @%s (%s)", username, "webhook" if settings.telegram.webhook_url else "long polling")
    application = build_application(settings)
    if settings.telegram.webhook_url:
        application.run_webhook(allowed_updates=Update.ALL_TYPES, **webhook_options(settings))
    else:
        application.run_polling(allowed_updates=Update.ALL_TYPES)


@asynccontextmanager
async def running(
    application: Application, settings: Settings, poll_interval: float = 0.0  # type: ignore[type-arg]
) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    """Start `application` in the running event loop as `run_bot` would, and stop it on exit."""
    assert application.updater is not None
    await application.initialize()
    try:
        if application.post_init:
            await application.post_init(application)
        if settings.telegram.webhook_url:
            await application.updater.start_webhook(allowed_updates=Update.ALL_TYPES, **webhook_options(settings))
        else:
            await application.updater.start_polling(poll_interval=poll_interval, allowed_updates=Update.ALL_TYPES)
        await application.start()
        try:
            yield application
        finally:
            await application.updater.stop()
            await application.stop()
    finally:
        await application.shutdown()
        if application.post_shutdown:
            await application.post_shutdown(application)
