"""Getting messages out: HTML parts in order, retried through network errors, with a typing action meanwhile.

Flood-control errors (429 RetryAfter) are retried by PTB's AIORateLimiter, which every request
already passes through. Network errors are not, so sends are wrapped here in a bounded retry.
A retried send whose first attempt timed out may, rarely, arrive twice; losing an answer is worse.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import TypeVar

from telegram import Bot, InlineKeyboardMarkup, LinkPreviewOptions, Message, ReplyParameters
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, NetworkError, TelegramError

from bot.telegram_format import split_message

logger = logging.getLogger(__name__)

T = TypeVar("T")
NETWORK_ATTEMPTS = 4
FIRST_RETRY_DELAY_S = 0.5
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


async def send_html(
    bot: Bot,
    chat_id: int,
    markup: str,
    reply_to: int | None = None,
    reply_markup: InlineKeyboardMarkup | None = None,
) -> list[Message]:
    """Send `markup` as one or more messages; the first replies to `reply_to`, the last carries `reply_markup`."""
    parts = split_message(markup)
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
        sent.append(await with_network_retries(send, f"sendMessage to chat {chat_id} (part {index + 1}/{len(parts)})"))
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
