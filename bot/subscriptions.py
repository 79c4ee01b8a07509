"""Daily briefing subscriptions, one per chat, kept in SQLite so they survive a restart.

Every change is one transaction, so a crash leaves either the old or the new subscription, never
half of one. The store knows nothing about Telegram's job queue; the bot schedules what it reads.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS subscriptions (
    chat_id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,          -- HH:MM or HH:MM:SS in the bot's timezone
    topic TEXT,                -- NULL: the whole corpus
    language TEXT NOT NULL,    -- language of the briefing's labels
    created REAL NOT NULL
);
"""


class SubscriptionError(ValueError):
    """A /subscribe request that cannot be stored as asked (e.g. a malformed time)."""


@dataclass(frozen=True)
class Subscription:
    """A daily briefing for one chat at a wall-clock time (in the bot's configured timezone)."""

    chat_id: int
    at: dt.time
    topic: str | None
    language: str


def parse_time(text: str) -> dt.time:
    """"07:30" → 07:30. Seconds ("07:30:15") are accepted too, which lets tests use short schedules."""
    match = _TIME.match(text.strip())
    if not match:
        raise SubscriptionError(f"{text!r} is not a time; use HH:MM, e.g. 07:30")
    hour, minute, second = match.groups()
    return dt.time(int(hour), int(minute), int(second or 0))


def format_time(at: dt.time) -> str:
    return at.strftime("%H:%M:%S" if at.second else "%H:%M")


class SubscriptionStore:
    """SQLite table of subscriptions in `path` (created on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as connection, connection:
            connection.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10)

    def put(self, subscription: Subscription) -> None:
        """Store the chat's subscription, replacing the one it had."""
        with closing(self._connect()) as connection, connection:
            connection.execute(
                "INSERT INTO subscriptions (chat_id, at, topic, language, created) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(chat_id) DO UPDATE SET at = excluded.at, topic = excluded.topic, language = excluded.language",
                (subscription.chat_id, format_time(subscription.at), subscription.topic, subscription.language, time.time()),
            )
        logger.info("stored subscription for chat %s at %s", subscription.chat_id, format_time(subscription.at))

    def remove(self, chat_id: int) -> bool:
        """Delete the chat's subscription; False when it had none."""
        with closing(self._connect()) as connection, connection:
            removed = connection.execute("DELETE FROM subscriptions WHERE chat_id = ?", (chat_id,)).rowcount
        return removed > 0

    def get(self, chat_id: int) -> Subscription | None:
        with closing(self._connect()) as connection:
            row = connection.execute(
                "SELECT chat_id, at, topic, language FROM subscriptions WHERE chat_id = ?", (chat_id,)
            ).fetchone()
        return _subscription(row) if row else None

    def all(self) -> list[Subscription]:
        with closing(self._connect()) as connection:
            rows = connection.execute("SELECT chat_id, at, topic, language FROM subscriptions ORDER BY chat_id").fetchall()
        return [_subscription(row) for row in rows]


def _subscription(row: tuple[int, str, str | None, str]) -> Subscription:
    chat_id, at, topic, language = row
    return Subscription(chat_id=chat_id, at=parse_time(at), topic=topic, language=language)
