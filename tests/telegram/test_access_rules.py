"""Allow lists and the sliding-window rate limit, as plain logic (a fake clock stands in for time)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.access import AccessPolicy, SlidingWindowLimiter, whole_seconds


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def policy(chats: set[int] = set(), users: set[int] = set(), admins: set[int] = {1}) -> AccessPolicy:  # noqa: B006
    return AccessPolicy(frozenset(chats), frozenset(users), frozenset(admins))


def test_empty_allow_lists_serve_everyone() -> None:
    assert policy().admits(chat_id=-100, user_id=7)
    assert policy().admits(chat_id=7, user_id=None)


@pytest.mark.parametrize(
    ("chat_id", "user_id", "admitted"),
    [
        (-100, 7, True),  # the allowed group serves everyone in it
        (8, 8, True),  # an allowed user in private
        (-200, 8, True),  # ...and wherever they ask
        (-200, 7, False),  # anyone else in another group
        (7, 7, False),  # anyone else in private
        (5, 1, True),  # admins are always served
    ],
)
def test_listed_chats_and_listed_users_are_served_and_admins_always(chat_id: int, user_id: int, admitted: bool) -> None:
    assert policy(chats={-100}, users={8}).admits(chat_id, user_id) is admitted


def test_a_user_may_ask_limit_times_per_window_and_learns_how_long_to_wait() -> None:
    clock = Clock()
    limiter = SlidingWindowLimiter(limit=5, window=60.0, clock=clock)
    for _ in range(5):
        assert limiter.acquire(7) == 0.0
        clock.now += 10
    assert limiter.acquire(7) == pytest.approx(10.0)  # the first question leaves the window at t+60
    assert limiter.acquire(8) == 0.0  # other users have their own window
    clock.now += 10
    assert limiter.acquire(7) == 0.0


def test_refused_attempts_do_not_extend_the_wait() -> None:
    clock = Clock()
    limiter = SlidingWindowLimiter(limit=1, window=60.0, clock=clock)
    limiter.acquire(7)
    for _ in range(10):
        clock.now += 5
        limiter.acquire(7)
    clock.now += 10.001
    assert limiter.acquire(7) == 0.0


@given(st.lists(st.floats(min_value=0, max_value=30), max_size=60), st.integers(min_value=1, max_value=6))
def test_no_window_ever_holds_more_than_limit_questions(gaps: list[float], limit: int) -> None:
    clock = Clock()
    limiter = SlidingWindowLimiter(limit=limit, window=60.0, clock=clock)
    accepted = []
    for gap in gaps:
        clock.now += gap
        if limiter.acquire(7) == 0.0:
            accepted.append(clock.now)
    for i, start in enumerate(accepted):
        assert len([t for t in accepted[i:] if t < start + 60.0]) <= limit


def test_waits_are_shown_in_whole_seconds_rounded_up() -> None:
    assert [whole_seconds(w) for w in (0.001, 1.0, 1.2, 59.9)] == [1, 1, 2, 60]
