"""Which articles a question is answered from in time, and how the answer says so.

A window given by the asker (`--since`, `--until`) wins; otherwise a day the question names ("on 24
October", "gestern") restricts the search to articles published that day, so "what was reported
on 24 October?" is answered from 24 October's articles or declined, never from December's. The
answer says which window was searched, and, when nothing was published in it, that this is why it
is declined.
"""

from __future__ import annotations

import datetime as dt

from answers.labels import label
from retrieval.time_window import TimeWindow, window_named_in

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


def window_note(window: TimeWindow, language: str, found_any: bool) -> str:
    """The line an answer carries about its window: what was searched, or that nothing was published then."""
    key = "window_only" if found_any else "window_empty"
    return label("de" if language == "de" else "en", key).format(when=window_phrase(window, language))
