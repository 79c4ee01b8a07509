"""Getting messages out: HTML parts in order, retried until they arrive, with a typing action meanwhile.

An answer is retried through flood control (429: waiting as long as Telegram's `retry_after` says),
server errors (5xx) and network errors, with growing pauses, for a window of time
(`TELEGRAM_DELIVERY_WINDOW_S`, 10 minutes by default); only then is it given up, with a log line.
Bad requests and blocked chats are not retried: sending again cannot help.

What the Bot API cannot guarantee: it has no idempotency key, so a send whose reply never came back
(a timeout or a dropped connection after Telegram processed it) is indistinguishable from one that
was lost, and sending it again may deliver it twice. Losing an answer is worse; generous read
timeouts (`TELEGRAM_READ_TIMEOUT_S`) keep the case rare.

Messages to one chat keep their order: a handler holds the chat's turn (`chat_turn`) from the
moment an update arrives until its last part is sent, so a later answer never overtakes or
interleaves with an earlier one that is still computing or being retried.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import TypeVar

from telegram import Bot, InlineKeyboardMarkup, LinkPreviewOptions, Message, ReplyParameters
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError, TimedOut

from bot.telegram_format import split_message

logger = logging.getLogger(__name__)

T = TypeVar("T")
NETWORK_ATTEMPTS = 4  # for downloads and callback answers, which a user can simply repeat
FIRST_RETRY_DELAY_S = 0.5
MAX_RETRY_DELAY_S = 30.0
DEFAULT_WINDOW_S = 600.0  # TelegramSettings.delivery_window_s
TYPING_REFRESH_S = 4.0  # Telegram shows "typing…" for about 5 seconds per action


async def with_network_retries(send: Callable[[], Awaitable[T]], what: str) -> T:
    """Await `send()`, repeating it after network errors with growing pauses (bad requests are not retried)."""
    delay = FIRST_RETRY_DELAY_S
    for attempt in range(1, NETWORK_ATTEMPTS + 1):
        try:
            return await send()
        except BadRequest:
            raise  # a subclass of NetworkError, but sending it again cannot help
        except NetworkError as e:
            if attempt == NETWORK_ATTEMPTS:
                raise
            logger.warning("%s failed (%s); retry %d of %d in %.1f s", what, e, attempt, NETWORK_ATTEMPTS - 1, delay)
            await asyncio.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


def _retry_after_seconds(error: RetryAfter) -> float:
    value = error.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


async def deliver(send: Callable[[], Awaitable[T]], what: str, window_s: float = DEFAULT_WINDOW_S) -> T:
    """Await `send()` until it succeeds or `window_s` seconds are spent; then log and re-raise the last error.

    429s wait as long as Telegram asks; 5xx and network errors wait 0.5 s, 1 s, 2 s, ... (at most 30 s).
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    delay = FIRST_RETRY_DELAY_S
    attempt = 0
    while True:
        attempt += 1
        try:
            return await send()
        except BadRequest:
            raise  # a subclass of NetworkError, but sending it again cannot help
        except RetryAfter as e:
            error: TelegramError = e
            wait = _retry_after_seconds(e)
        except NetworkError as e:  # 5xx, connection errors, timeouts
            error, wait = e, delay
            delay = min(delay * 2, MAX_RETRY_DELAY_S)
            if isinstance(e, TimedOut):
                logger.warning("%s timed out; if Telegram processed it, the retry may arrive twice", what)
        elapsed = loop.time() - started
        # The last attempt comes at the window's end, unless Telegram already said it would refuse it.
        hopeless = isinstance(error, RetryAfter) and elapsed + wait > window_s
        wait = min(wait, window_s - elapsed)
        if wait <= 0 or hopeless:
            logger.error(
                "giving up on %s after %d attempts in %.0f s (delivery window %.0f s): %s",
                what, attempt, elapsed, window_s, error,
            )  # fmt: skip
            raise error
        logger.warning("%s failed (%s); attempt %d, retrying in %.1f s", what, error, attempt, wait)
        await asyncio.sleep(wait)


@dataclass
class _Turn:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    owner: asyncio.Task[object] | None = None


# Per event loop (tests run many), per chat; a chat's entry is tiny and reused for its next message.
_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, _Turn]] = weakref.WeakKeyDictionary()


@asynccontextmanager
async def chat_turn(chat_id: int) -> AsyncIterator[None]:
    """Hold `chat_id`'s turn: others wait (first come, first served) until this block ends. Re-entrant per task."""
    turns = _turns.setdefault(asyncio.get_running_loop(), {})
    turn = turns.setdefault(chat_id, _Turn())
    task = asyncio.current_task()
    if task is not None and turn.owner is task:
        yield
        return
    async with turn.lock:
        turn.owner = task
        try:
            yield
        finally:
            turn.owner = None


async def send_html(
    bot: Bot,
    chat_id: int,
    markup: str,
    reply_to: int | None = None,
    reply_markup: InlineKeyboardMarkup | None = None,
    window_s: float = DEFAULT_WINDOW_S,
) -> list[Message]:
    """Send `markup` as one or more messages in the chat's turn; the first replies to `reply_to`, the
    last carries `reply_markup`. Each part is retried for `window_s` seconds (see `deliver`)."""
    async with chat_turn(chat_id):
        return await _send_parts(bot, chat_id, split_message(markup), reply_to, reply_markup, window_s)


async def _send_parts(
    bot: Bot,
    chat_id: int,
    parts: list[str],
    reply_to: int | None,
    reply_markup: InlineKeyboardMarkup | None,
    window_s: float,
) -> list[Message]:
    sent: list[Message] = []
    for index, part in enumerate(parts):
        send = functools.partial(
            bot.send_message,
            chat_id,
            part,
            parse_mode=ParseMode.HTML,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
            reply_parameters=ReplyParameters(reply_to, allow_sending_without_reply=True) if index == 0 and reply_to else None,
            reply_markup=reply_markup if index == len(parts) - 1 else None,
        )
        sent.append(await deliver(send, f"sendMessage to chat {chat_id} (part {index + 1}/{len(parts)})", window_s))
    return sent


@asynccontextmanager
async def typing_action(bot: Bot, chat_id: int) -> AsyncIterator[None]:
    """Show "typing…" in the chat until the block ends; a failed chat action never fails the answer."""

    async def keep_typing() -> None:
        while True:
            try:
                await bot.send_chat_action(chat_id, ChatAction.TYPING)
            except TelegramError as e:
                logger.debug("chat action in chat %s failed: %s", chat_id, e)
            await asyncio.sleep(TYPING_REFRESH_S)

    task = asyncio.create_task(keep_typing())
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
