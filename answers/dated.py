"""Which articles a question is answered from in time, and how the answer says so.

A window given by the asker (`--since`, `--until`) wins; otherwise a day the question names ("on 24
October", "gestern") restricts the search to articles published that day, so "what was reported
on 24 October?" is answered from 24 October's articles or declined, never from December's. The
answer says which window was searched, and, when nothing was published in it, that this is why it
is declined.

A window filters on the best day known of each article (`Article.date`): its publication day, else
the day newsbot fetched or first indexed it. A journalist asking for the last 24 hours wants the
page that arrived this morning without a date too; the answer then says that such days count and
shows each of them as "fetched …"/"indexed …", never as a publication date (`date_text`).
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from answers.labels import label
from retrieval.time_window import TimeWindow, window_named_in
from retrieval.types import DateSource


class Dated(Protocol):
    """An article or a citation: its publication day, or the fetched/indexed day that stands in for it."""

    @property
    def published(self) -> str | None: ...

    @property
    def date_source(self) -> DateSource | None: ...

    @property
    def fallback_date(self) -> str | None: ...


def date_text(item: Dated, language: str) -> str | None:
    """"2024-10-21" for a publication day; "fetched 2026-12-06" / "abgerufen am 2026-12-06" (or
    indexed) for the day that stands in for a missing one; None when nothing is known."""
    if item.published:
        return item.published[:10]
    if item.fallback_date and item.date_source in ("fetched", "indexed"):
        return label("de" if language == "de" else "en", f"date_{item.date_source}").format(day=item.fallback_date[:10])
    return None


def best_day(item: Dated) -> str | None:
    """The day a window or "newest" judges `item` by: its publication day, else its fetched/indexed day."""
    day = item.published or item.fallback_date
    return day[:10] if day else None


def dated_by_fallback(item: Dated) -> bool:
    """Whether `item`'s only date is the day it was fetched or indexed."""
    return not item.published and bool(item.fallback_date)

_MONTHS = {
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
    "de": ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
           "November", "Dezember"),
}  # fmt: skip


def window_for(question: str, window: TimeWindow | None, now: dt.datetime | None = None) -> TimeWindow | None:
    """The asker's window when given, else the day the question names, else None (all articles)."""
    if window is not None and not window.open:
        return window
    return window_named_in(question, now or dt.datetime.now())


def _day(day: dt.date, language: str) -> str:
    return day.isoformat()


def window_phrase(window: TimeWindow, language: str) -> str:
    """"on 24 October", "am 24. Oktober", "since 2024-10-20", "vom 2024-10-20 bis 2024-10-25"."""
    lang = "de" if language == "de" else "en"
    if window.month_day is not None:
        month, day = window.month_day
        named = f"{day}. {_MONTHS['de'][month - 1]}" if lang == "de" else f"{day} {_MONTHS['en'][month - 1]}"
        return label(lang, "window_day").format(day=named)
    if window.since is not None and window.since == window.until:
        return label(lang, "window_day").format(day=_day(window.since, lang))
    if window.since is not None and window.until is not None:
        return label(lang, "window_between").format(since=_day(window.since, lang), until=_day(window.until, lang))
    if window.since is not None:
        return label(lang, "window_since").format(day=_day(window.since, lang))
    assert window.until is not None
    return label(lang, "window_until").format(day=_day(window.until, lang))


def window_note(window: TimeWindow, language: str, found_any: bool, fallback_dates: bool = False) -> str:
    """The line an answer carries about its window: what was searched, or that nothing was published
    then; with `fallback_dates` (an article it cites is dated only by when it was fetched or
    indexed), also that such days counted."""
    lang = "de" if language == "de" else "en"
    key = "window_only" if found_any else "window_empty"
    note = label(lang, key).format(when=window_phrase(window, language))
    return f"{note} {label(lang, 'window_fallback')}" if fallback_dates else note
