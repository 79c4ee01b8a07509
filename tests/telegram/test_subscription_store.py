"""The SQLite store of daily briefing subscriptions: one per chat, kept across restarts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bot.subscriptions import Subscription, SubscriptionError, SubscriptionStore, format_time, parse_time


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
