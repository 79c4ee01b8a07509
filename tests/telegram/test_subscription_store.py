"""The stores of daily briefing subscriptions: one per chat, kept across restarts; a briefing's claim
that its briefing failed to use is given back (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bot.subscriptions import (
    Subscription,
    SubscriptionError,
    Subscriptions,
    SubscriptionStore,
    format_time,
    parse_time,
)


def test_subscriptions_are_kept_across_store_instances_one_per_chat(tmp_path: Path) -> None:
    path = tmp_path / "telegram.sqlite"
    store = SubscriptionStore(path)
    store.put(Subscription(-100, dt.time(7, 30), "Nordkorea", "de"))
    store.put(Subscription(42, dt.time(18, 0), None, "en"))
    store.put(Subscription(-100, dt.time(8, 0), None, "de"))  # replaces the group's earlier one

    reopened = SubscriptionStore(path)

    assert reopened.all() == [Subscription(-100, dt.time(8, 0), None, "de"), Subscription(42, dt.time(18, 0), None, "en")]
    assert reopened.remove(42) is True
    assert reopened.remove(42) is False
    assert SubscriptionStore(path).get(42) is None


@pytest.mark.parametrize(("text", "expected"), [("07:30", dt.time(7, 30)), ("7:05", dt.time(7, 5)), ("23:59:30", dt.time(23, 59, 30))])
def test_times_are_read_as_hh_mm_with_optional_seconds(text: str, expected: dt.time) -> None:
    assert parse_time(text) == expected
    assert parse_time(format_time(expected)) == expected


@pytest.mark.parametrize("text", ["24:00", "7.30", "morgen", "07:60", "", "7:3"])
def test_anything_else_is_refused_with_the_format_to_use(text: str) -> None:
    with pytest.raises(SubscriptionError, match="use HH:MM"):
        parse_time(text)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_failed_briefing_gives_its_claim_back_so_its_window_is_not_skipped(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The defect: a briefing was recorded as sent when claimed, so one that failed to build or send
    left its window out of the chat's next briefing."""
    store: Subscriptions
    if kind == "sqlite":
        store = SubscriptionStore(tmp_path / "telegram.sqlite")
    else:
        pytest.importorskip("psycopg", reason="psycopg is not installed (dev dependency group)")
        from bot.subscriptions import PgSubscriptionStore

        store = PgSubscriptionStore(request.getfixturevalue("pg_url"))
    first = store.claim_briefing(42, "2026-12-05@07:30:00", 1000.0)
    assert first is not None and first.since is None
    failed = store.claim_briefing(42, "2026-12-06@07:30:00", 2000.0)
    assert failed is not None and failed.since == 1000.0
    store.release_briefing(failed)

    # The same scheduled run may be tried again (by this replica or another), from the same point.
    retried = store.claim_briefing(42, "2026-12-06@07:30:00", 2100.0)
    assert retried is not None and retried.since == 1000.0
    # A release that comes after a later claim leaves the later one alone.
    later = store.claim_briefing(42, None, 2200.0)
    assert later is not None and later.since == 2100.0
    store.release_briefing(retried)
    following = store.claim_briefing(42, None, 2300.0)
    assert following is not None and following.since == 2200.0
    # A chat's very first briefing, failed, leaves it with none: the next uses the default window.
    never = store.claim_briefing(7, None, 3000.0)
    assert never is not None
    store.release_briefing(never)
    again = store.claim_briefing(7, None, 3100.0)
    assert again is not None and again.since is None
