"""Reconnecting to a PostgreSQL server that went away: the policy every reader of the database shares.

A server restart or failover breaks each open connection; psycopg reports it on the next query
("server closed the connection unexpectedly", "terminating connection due to administrator
command"), and connecting fails while the server is still starting. A question then waits for the
server: the broken connection is dropped and the call retried after 0.5, 1, 2, 4, then every 8 s,
for at most `NEWSBOT_DATABASE_RECONNECT_S` seconds (30 by default; README, "PostgreSQL"). After that
the caller gets a `StoreUnavailableError` that says so in one line, and the next question tries again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from retrieval.errors import StoreUnavailableError

logger = logging.getLogger(__name__)

T = TypeVar("T")
FIRST_PAUSE_S = 0.5
LONGEST_PAUSE_S = 8.0


def retry_on_lost_connection(
    call: Callable[[], T],
    reset: Callable[[], None],
    window_s: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """`call()`, retried after `reset()` (drop the broken connection) while the server is away, for at most `window_s`."""
    import psycopg

    deadline = clock() + window_s
    pause = FIRST_PAUSE_S
    attempts = 0
    while True:
        try:
            return call()
        except (psycopg.OperationalError, StoreUnavailableError) as e:
            attempts += 1
            reset()
            left = deadline - clock()
            cause = " ".join(str(e).split())[:160] or type(e).__name__
            if left <= 0:
                raise StoreUnavailableError(
                    f"the database in NEWSBOT_DATABASE_URL is not answering after {window_s:g} s "
                    f"(NEWSBOT_DATABASE_RECONNECT_S; {attempts} tries): {cause}; check the server, then ask again"
                ) from e
            logger.warning("lost the database (%s); reconnecting in %.1f s (%.0f s left)", cause, min(pause, left), left)
            sleep(min(pause, left))
            pause = min(pause * 2, LONGEST_PAUSE_S)
