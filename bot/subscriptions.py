"""Daily briefing subscriptions and when each chat was last sent a briefing, one row per chat, kept
in the configured store so they survive a restart: SQLite in the data folder (`SubscriptionStore`),
or the collection's PostgreSQL database (`PgSubscriptionStore`), which several bot replicas share.

Every change is one transaction, so a crash leaves either the old or the new subscription, never
half of one. A scheduled briefing is claimed before it is built (`claim_briefing`): of two replicas
firing for the same chat and slot, one gets the claim and the other sends nothing. A briefing that
then fails (building or sending it) gives its claim back (`release_briefing`), so the chat's next
briefing covers that window instead of skipping it. The store knows nothing about Telegram's job
queue; the bot schedules what it reads.
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
from typing import Protocol

from config.settings import Settings

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
CREATE TABLE IF NOT EXISTS briefings_sent (
    chat_id INTEGER PRIMARY KEY,
    sent_at REAL NOT NULL,     -- seconds since the epoch: the next briefing says what is new since then
    slot TEXT                  -- the scheduled run that sent it ("2026-12-06@07:30:00"); NULL: on request
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


@dataclass(frozen=True)
class BriefingClaim:
    """The right to send one briefing; `since` is when the chat was last sent one (None: never).

    `sent_at` is the time the claim recorded, `previous_slot` the slot recorded before it: what
    `release_briefing` puts back."""

    chat_id: int
    sent_at: float
    since: float | None
    previous_slot: str | None = None


class Subscriptions(Protocol):
    """Where subscriptions and last-sent times live; one implementation per store."""

    def put(self, subscription: Subscription) -> None: ...
    def remove(self, chat_id: int) -> bool: ...
    def get(self, chat_id: int) -> Subscription | None: ...
    def all(self) -> list[Subscription]: ...

    def claim_briefing(self, chat_id: int, slot: str | None, now: float) -> BriefingClaim | None:
        """Record that the chat is sent a briefing now and return when it was last sent one; None
        when `slot` (a scheduled run) was already claimed, by this process or another."""
        ...

    def release_briefing(self, claim: BriefingClaim) -> None:
        """Undo `claim` (its briefing failed): the chat's last briefing is again the one before, unless
        a later claim has replaced it meanwhile."""
        ...


def open_subscriptions(settings: Settings, sqlite_path: Path) -> Subscriptions:
    """The store beside the collection: the PostgreSQL database when one is configured, else `sqlite_path`."""
    url = settings.retrieval.database_url
    if url is not None:
        return PgSubscriptionStore(url.get_secret_value())
    return SubscriptionStore(sqlite_path)


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

    def claim_briefing(self, chat_id: int, slot: str | None, now: float) -> BriefingClaim | None:
        with closing(self._connect()) as connection:
            connection.isolation_level = None
            connection.execute("BEGIN IMMEDIATE")  # one writer at a time: the check and the update are one step
            try:
                row = connection.execute("SELECT sent_at, slot FROM briefings_sent WHERE chat_id = ?", (chat_id,)).fetchone()
                if slot is not None and row is not None and row[1] == slot:
                    connection.execute("ROLLBACK")
                    return None
                connection.execute(
                    "INSERT INTO briefings_sent (chat_id, sent_at, slot) VALUES (?, ?, ?) ON CONFLICT(chat_id) "
                    "DO UPDATE SET sent_at = excluded.sent_at, slot = coalesce(excluded.slot, briefings_sent.slot)",
                    (chat_id, now, slot),
                )
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        return BriefingClaim(chat_id, now, row[0] if row else None, row[1] if row else None)

    def release_briefing(self, claim: BriefingClaim) -> None:
        with closing(self._connect()) as connection, connection:
            if claim.since is None:
                connection.execute(
                    "DELETE FROM briefings_sent WHERE chat_id = ? AND sent_at = ?", (claim.chat_id, claim.sent_at)
                )
            else:
                connection.execute(
                    "UPDATE briefings_sent SET sent_at = ?, slot = ? WHERE chat_id = ? AND sent_at = ?",
                    (claim.since, claim.previous_slot, claim.chat_id, claim.sent_at),
                )
        logger.info("chat %s: released the briefing claim of %.0f", claim.chat_id, claim.sent_at)


_PG_SCHEMA = """
CREATE TABLE IF NOT EXISTS bot_subscriptions (
    chat_id BIGINT PRIMARY KEY, at TEXT NOT NULL, topic TEXT, language TEXT NOT NULL, created DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS bot_briefings_sent (
    chat_id BIGINT PRIMARY KEY, sent_at DOUBLE PRECISION NOT NULL, slot TEXT
);
"""


class PgSubscriptionStore:
    """The same tables in the collection's PostgreSQL database, shared by every bot replica."""

    def __init__(self, url: str) -> None:
        from retrieval.stores.postgres.store import connect

        self._connect_to = lambda: connect(url, autocommit=True)
        with self._connect_to() as connection:
            try:
                connection.execute(_PG_SCHEMA)
            except Exception as e:  # two replicas creating the tables at the same moment
                if "already exists" not in str(e):
                    raise

    def put(self, subscription: Subscription) -> None:
        with self._connect_to() as connection:
            connection.execute(
                "INSERT INTO bot_subscriptions (chat_id, at, topic, language, created) VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (chat_id) DO UPDATE SET at = excluded.at, topic = excluded.topic, language = excluded.language",
                (subscription.chat_id, format_time(subscription.at), subscription.topic, subscription.language, time.time()),
            )
        logger.info("stored subscription for chat %s at %s", subscription.chat_id, format_time(subscription.at))

    def remove(self, chat_id: int) -> bool:
        with self._connect_to() as connection:
            return bool(connection.execute("DELETE FROM bot_subscriptions WHERE chat_id = %s", (chat_id,)).rowcount)

    def get(self, chat_id: int) -> Subscription | None:
        with self._connect_to() as connection:
            row = connection.execute(
                "SELECT chat_id, at, topic, language FROM bot_subscriptions WHERE chat_id = %s", (chat_id,)
            ).fetchone()
        return _subscription(row) if row else None

    def all(self) -> list[Subscription]:
        with self._connect_to() as connection:
            rows = connection.execute("SELECT chat_id, at, topic, language FROM bot_subscriptions ORDER BY chat_id").fetchall()
        return [_subscription(row) for row in rows]

    def claim_briefing(self, chat_id: int, slot: str | None, now: float) -> BriefingClaim | None:
        with self._connect_to() as connection, connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_CLAIM_LOCK, chat_id & 0x7FFFFFFF))
            row = connection.execute("SELECT sent_at, slot FROM bot_briefings_sent WHERE chat_id = %s", (chat_id,)).fetchone()
            if slot is not None and row is not None and row[1] == slot:
                return None
            connection.execute(
                "INSERT INTO bot_briefings_sent (chat_id, sent_at, slot) VALUES (%s, %s, %s) ON CONFLICT (chat_id) "
                "DO UPDATE SET sent_at = excluded.sent_at, slot = coalesce(excluded.slot, bot_briefings_sent.slot)",
                (chat_id, now, slot),
            )
        return BriefingClaim(chat_id, now, row[0] if row else None, row[1] if row else None)

    def release_briefing(self, claim: BriefingClaim) -> None:
        with self._connect_to() as connection:
            if claim.since is None:
                connection.execute(
                    "DELETE FROM bot_briefings_sent WHERE chat_id = %s AND sent_at = %s", (claim.chat_id, claim.sent_at)
                )
            else:
                connection.execute(
                    "UPDATE bot_briefings_sent SET sent_at = %s, slot = %s WHERE chat_id = %s AND sent_at = %s",
                    (claim.since, claim.previous_slot, claim.chat_id, claim.sent_at),
                )
        logger.info("chat %s: released the briefing claim of %.0f", claim.chat_id, claim.sent_at)


_CLAIM_LOCK = 0x62726966  # pg_advisory_xact_lock class ("brif") of briefing claims, one per chat


def _subscription(row: tuple[int, str, str | None, str]) -> Subscription:
    chat_id, at, topic, language = row
    return Subscription(chat_id=chat_id, at=parse_time(at), topic=topic, language=language)
