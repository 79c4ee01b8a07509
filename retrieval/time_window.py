"""Time windows over publication dates: `--since 24h`, `--since 2024-10-20`, `--until …`, and the day
a question names ("on 24 October", "am 24. Oktober", "gestern").

Articles carry their date as a day (YYYY-MM-DD), so windows are whole days: `--since 24h` admits
articles of yesterday or today. A window judges each article by the best day known (`Article.date`):
its publication day, else the day it was fetched or first indexed. A journalist asking for the last
24 hours expects the undated page that arrived this morning, and the answer shows such a day as
"fetched …"/"indexed …" (answers/dated.py), never as a publication day. An article with no day at
all is outside every window, since nothing says it belongs there. A day named without a year ("on
24 October") admits that day of any year: news collections rarely span years, and a collection of
2024 asked in 2026 about "24 October" means 2024's.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass

from retrieval.errors import IngestError
from retrieval.metadata import GERMAN_MONTHS


class TimeWindowError(IngestError):
    """A `--since`/`--until` value that is neither a date nor a duration; the message shows both forms."""


@dataclass(frozen=True)
class TimeWindow:
    """Days from `since` to `until` (both included; None: open); or, with `month_day`, one day of any year."""

    since: dt.date | None = None
    until: dt.date | None = None
    month_day: tuple[int, int] | None = None  # (month, day) of a day named without its year

    @property
    def open(self) -> bool:
        return self.since is None and self.until is None and self.month_day is None

    def admits(self, day_text: str | None) -> bool:
        """Whether an article of this day (`Article.date`; None: no day known) is inside the window."""
        if self.open:
            return True
        day = _day(day_text)
        if day is None:
            return False
        if self.month_day is not None and (day.month, day.day) != self.month_day:
            return False
        return (self.since is None or day >= self.since) and (self.until is None or day <= self.until)

    def outside(self, articles: Iterable[tuple[str, str | None]]) -> frozenset[str]:
        """The ids of the (doc_id, day) pairs this window leaves out (the day: `Article.date`)."""
        if self.open:
            return frozenset()
        return frozenset(doc_id for doc_id, day in articles if not self.admits(day))


def _day(published: str | None) -> dt.date | None:
    if not published:
        return None
    try:
        return dt.date.fromisoformat(published[:10])
    except ValueError:
        return None


_DURATION = re.compile(r"^(\d+)\s*(h|d|w)$", re.IGNORECASE)


def parse_when(text: str, now: dt.datetime) -> dt.date:
    """A `--since`/`--until` value as a day: an ISO date, or a duration back from `now` (24h, 7d, 2w)."""
    value = text.strip()
    match = _DURATION.match(value)
    if match:
        amount, unit = int(match.group(1)), match.group(2).lower()
        delta = {"h": dt.timedelta(hours=amount), "d": dt.timedelta(days=amount), "w": dt.timedelta(weeks=amount)}[unit]
        return (now - delta).date()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise TimeWindowError(
            f"{text!r} is neither a date nor a duration; use a date such as 2024-10-20 or a duration such as 24h, 7d or 2w"
        ) from None


def window_from_options(since: str | None, until: str | None, now: dt.datetime) -> TimeWindow:
    """The window of `--since`/`--until` (either may be None); `TimeWindowError` when until precedes since."""
    start = parse_when(since, now) if since else None
    end = parse_when(until, now) if until else None
    if start and end and end < start:
        raise TimeWindowError(f"--until {until} is before --since {since}")
    return TimeWindow(start, end)


_MONTHS = {**GERMAN_MONTHS, "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
           "sept": 9, "oct": 10, "okt": 10, "nov": 11, "dec": 12, "dez": 12}  # fmt: skip
# Month names with a capital, as English and German write them: "may" and "mar" are words too
# ("How many soldiers may 2 brigades hold?" names no day).
_MONTH_NAMES = "|".join(name[0].upper() + name[1:] for name in sorted(_MONTHS, key=len, reverse=True))
# "24 October", "24. Oktober", "October 24", "on the 24th of October", optionally with a year.
_DAY_MONTH = re.compile(rf"\b(\d{{1,2}})(?:\.|st|nd|rd|th)?\s+(?:of\s+)?({_MONTH_NAMES})\.?(?:\s+(\d{{4}}))?\b")
_MONTH_DAY = re.compile(rf"\b({_MONTH_NAMES})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(\d{{4}}))?\b")
_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_DOTTED = re.compile(r"\b(\d{1,2})\.(\d{1,2})\.(\d{4})\b")
_RELATIVE = {"today": 0, "heute": 0, "yesterday": 1, "gestern": 1, "vorgestern": 2}
_RELATIVE_WORD = re.compile(r"\b(" + "|".join(_RELATIVE) + r")\b", re.IGNORECASE)


def window_named_in(question: str, now: dt.datetime) -> TimeWindow | None:
    """The day a question names, as a one-day window, or None when it names none.

    "gestern"/"yesterday" and "heute"/"today" count from `now`; "vorgestern" two days back.
    """
    match = _ISO.search(question)
    if match:
        day = _safe_date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        return TimeWindow(day, day) if day else None
    match = _DOTTED.search(question)
    if match:
        day = _safe_date(int(match.group(3)), int(match.group(2)), int(match.group(1)))
        return TimeWindow(day, day) if day else None
    for pattern, day_group, month_group, year_group in ((_DAY_MONTH, 1, 2, 3), (_MONTH_DAY, 2, 1, 3)):
        match = pattern.search(question)
        if match:
            month = _MONTHS.get(match.group(month_group).lower().rstrip("."))
            day_of_month = int(match.group(day_group))
            if month is None or not 1 <= day_of_month <= 31:
                continue
            if match.group(year_group):
                day = _safe_date(int(match.group(year_group)), month, day_of_month)
                return TimeWindow(day, day) if day else None
            if _safe_date(2000, month, day_of_month) is None:  # 2000 is a leap year: 29 February passes
                continue
            return TimeWindow(month_day=(month, day_of_month))
    match = _RELATIVE_WORD.search(question)
    if match:
        day = (now - dt.timedelta(days=_RELATIVE[match.group(1).lower()])).date()
        return TimeWindow(day, day)
    return None


def _safe_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None
