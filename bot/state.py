"""What every handler shares, loaded once in `post_init` and kept in `application.bot_data`."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field

from telegram.ext import CallbackContext

from answers.live_index import LiveRetriever
from answers.types import Citation
from bot.access import AccessPolicy, NoticeThrottle, SlidingWindowLimiter
from bot.subscriptions import Subscriptions
from config.settings import Settings
from retrieval.store_protocol import Retriever

STATE_KEY = "newsbot"
LAST_SOURCES_KEY = "last_sources"
CONVERSATION_KEY = "conversation"  # chat_data: the chat's `Conversation` (its previous question)


@dataclass
class BotState:
    """The loaded index and model, access rules, limits and the subscription store."""

    settings: Settings
    live: LiveRetriever  # the newest index generation's retriever, whoever wrote it (answers/live_index.py)
    access: AccessPolicy
    limiter: SlidingWindowLimiter
    subscriptions: Subscriptions
    timezone: dt.tzinfo
    ingest_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    refused_chats: set[int] = field(default_factory=set)  # chats told once that they are not served
    # One "you're asking too fast" per user per rate-limit window (README: Access); the limiter's window.
    rate_notices: NoticeThrottle = field(default_factory=lambda: NoticeThrottle(window=60.0))

    @property
    def retriever(self) -> Retriever:
        """The retriever of the newest generation; an answer in flight keeps the one it started with."""
        return self.live.retriever

    @retriever.setter
    def retriever(self, retriever: Retriever) -> None:
        self.live.replace(retriever)


@dataclass(frozen=True)
class LastSources:
    """The citations of the last answer or briefing in a chat, for /sources and the Sources button."""

    language: str
    citations: tuple[Citation, ...]


def bot_state(context: CallbackContext) -> BotState:  # type: ignore[type-arg]
    return context.bot_data[STATE_KEY]
