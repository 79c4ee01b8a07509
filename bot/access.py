"""Who the bot serves (allow lists, admins) and how fast (a per-user sliding-window rate limit)."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from config.settings import TelegramSettings


@dataclass(frozen=True)
class AccessPolicy:
    """Allow lists from the settings; empty lists mean the bot is open to everyone.

    The lists add up: a message is served when its chat is listed or its sender is listed (a private
    chat's id is the user's id). Admins are always served, so they can never lock themselves out.
    """

    allowed_chats: frozenset[int]
    allowed_users: frozenset[int]
    admins: frozenset[int]

    @classmethod
    def from_settings(cls, settings: TelegramSettings) -> AccessPolicy:
        return cls(frozenset(settings.allowed_chat_ids), frozenset(settings.allowed_user_ids), frozenset(settings.admin_ids))

    @property
    def open(self) -> bool:
        return not self.allowed_chats and not self.allowed_users

    def admits(self, chat_id: int | None, user_id: int | None) -> bool:
        if self.open or (user_id is not None and user_id in self.admins):
            return True
        return (chat_id is not None and chat_id in self.allowed_chats) or (user_id is not None and user_id in self.allowed_users)

    def serves_chat(self, chat_id: int) -> bool:
        """Whether the chat itself is served, whoever writes in it: what a daily briefing needs, since it
        is posted with no sender (a private chat's id is its user's id)."""
        return self.admits(chat_id, chat_id if chat_id > 0 else None)

    def is_admin(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.admins


class SlidingWindowLimiter:
    """At most `limit` events per `window` seconds for each key, counted over a sliding window.

    A fixed per-minute bucket would let a user ask 2×limit questions across a minute boundary;
    remembering the last `limit` event times per key bounds every window exactly.
    """

    def __init__(self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("limit must be at least 1 and window positive")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._events: dict[int, deque[float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: int) -> float:
        """Record an event for `key` and return 0.0, or return the seconds until one is allowed (not recorded)."""
        now = self._clock()
        with self._lock:
            events = self._events.setdefault(key, deque())
            while events and events[0] <= now - self.window:
                events.popleft()
            if len(events) >= self.limit:
                return max(events[0] + self.window - now, 0.001)
            events.append(now)
            return 0.0


class NoticeThrottle:
    """Whether a user over the rate limit is told so: at most once per `window` seconds per key.

    Answering every blocked message spends the bot's outgoing budget on the user who floods it
    (300 messages in 10 s got 295 notices); one notice per window says all there is to say, and
    the messages after it are dropped silently until the window has passed.
    """

    def __init__(self, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        if window <= 0:
            raise ValueError("window must be positive")
        self.window = window
        self._clock = clock
        self._last: dict[int, float] = {}
        self._lock = threading.Lock()

    def should_notify(self, key: int) -> bool:
        """True (and remembered) when `key` was not notified within the last `window` seconds."""
        now = self._clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.window:
                return False
            self._last[key] = now
            if len(self._last) > 10_000:  # forget keys whose window has passed, so memory stays bounded
                self._last = {k: t for k, t in self._last.items() if now - t < self.window}
            return True


def whole_seconds(wait: float) -> int:
    """A wait as shown to a user: rounded up, at least one second."""
    return max(1, math.ceil(wait))
