"""Title, publication date, URL and outlet of a raw article, read from its header.

Dates are looked for only in the header (the lines before the body starts): lists of related
headlines at the end of a page carry dates that are not the article's own. A page newsbot fetched
without a date of its own carries a `Fetched: YYYY-MM-DD` line (retrieval/web.py writes it), read
here as the day it was fetched, never as its publication date.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlparse

from retrieval.clean import is_boilerplate

GERMAN_MONTHS = {
    "januar": 1, "jänner": 1, "februar": 2, "märz": 3, "april": 4, "mai": 5, "juni": 6, "juli": 7,
    "august": 8, "september": 9, "oktober": 10, "november": 11, "dezember": 12,
    "january": 1, "february": 2, "march": 3, "may": 5, "june": 6, "july": 7, "october": 10, "december": 12,
}  # fmt: skip

OUTLETS_BY_DOMAIN = {
    "dw.com": "DW",
    "tagesschau.de": "tagesschau.de",
    "spiegel.de": "Der Spiegel",
    "zeit.de": "Zeit Online",
    "faz.net": "FAZ",
    "sueddeutsche.de": "Süddeutsche Zeitung",
    "welt.de": "Welt",
    "n-tv.de": "n-tv",
    "zdf.de": "ZDF",
    "br.de": "BR",
    "ndr.de": "NDR",
    "derstandard.at": "Der Standard",
    "nzz.ch": "NZZ",
    "reuters.com": "Reuters",
    "yna.co.kr": "Yonhap",
    "bbc.co.uk": "BBC",
    "bbc.com": "BBC",
}

_URL = re.compile(r"https?://[^\s<>\"]+")
_DATE_WORDS = re.compile(r"\b(\d{1,2})\.\s*(" + "|".join(GERMAN_MONTHS) + r")\s+(\d{4})\b", re.IGNORECASE)
_DATE_DOTTED = re.compile(r"\b(\d{1,2})\.(\d{1,2})\.(\d{4})\b")
_DATE_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_DATE_MONTH_ONLY = re.compile(r"\bdate\s+(\d{4})-(\d{2})\b", re.IGNORECASE)
_TIME_ONLY = re.compile(r"^\d{1,2}:\d{2}(?:\s*Uhr)?$")
_STAND = re.compile(r"\s*Stand:\s*\d{1,2}\.\d{1,2}\.\d{4}(?:\s+\d{1,2}:\d{2}\s*Uhr)?\s*$")
_DATE_PREFIX = re.compile(r"^\s*date\s+\d{4}-\d{2}(?:-\d{2})?\s+", re.IGNORECASE)
_FETCHED = re.compile(r"^(?:fetched|abgerufen(?:\s+am)?)\s*:?\s*(\d{4}-\d{2}-\d{2})$", re.IGNORECASE)
FETCHED_LINE = "Fetched: {day}"  # the header line of a fetched page that has no date of its own
_HEADER_LINES = 10
_BODY_START_CHARS = 150


@dataclass(frozen=True)
class Header:
    """What the page header says about the article, and which header lines are metadata only."""

    title: str | None
    title_line: int | None  # index of the line holding the title
    published: str | None
    url: str | None
    outlet: str | None
    fetched: str | None  # YYYY-MM-DD of a `Fetched:` line: when newsbot fetched a page that had no date
    metadata_lines: frozenset[int]  # line indexes that hold only metadata (date, URL, outlet)


def parse_date(text: str) -> str | None:
    """The first full date in `text` as YYYY-MM-DD, or None."""
    candidates: list[tuple[int, str]] = []
    for m in _DATE_WORDS.finditer(text):
        candidates.append((m.start(), f"{int(m.group(3)):04d}-{GERMAN_MONTHS[m.group(2).lower()]:02d}-{int(m.group(1)):02d}"))
    for m in _DATE_DOTTED.finditer(text):
        day, month = int(m.group(1)), int(m.group(2))
        if 1 <= month <= 12 and 1 <= day <= 31:
            candidates.append((m.start(), f"{int(m.group(3)):04d}-{month:02d}-{day:02d}"))
    for m in _DATE_ISO.finditer(text):
        candidates.append((m.start(), m.group(0)))
    return min(candidates)[1] if candidates else None


def outlet_from_url(url: str) -> str | None:
    """A readable outlet name from a URL's domain ("https://p.dw.com/p/4m1qd" -> "DW")."""
    host = (urlparse(url).hostname or "").lower()
    if host == "localhost" or _is_ip_address(host):
        return host  # "0.1" out of 127.0.0.1 names nothing
    for domain, name in OUTLETS_BY_DOMAIN.items():
        if host == domain or host.endswith("." + domain):
            return name
    parts = host.removeprefix("www.").split(".")
    return ".".join(parts[-2:]) if len(parts) >= 2 else None


def _is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def title_from_line(line: str) -> str:
    """A header line without the date and "Stand:" stamps that page dumps glue onto it."""
    return _STAND.sub("", _DATE_PREFIX.sub("", line)).strip()


def _is_date_line(line: str) -> bool:
    rest = _DATE_WORDS.sub("", line)
    rest = _DATE_DOTTED.sub("", rest)
    rest = _DATE_ISO.sub("", rest)
    return rest.strip(" ,|-–") == "" or bool(_TIME_ONLY.match(line))


def read_header(lines: list[str]) -> Header:
    """Find title, date, URL and outlet among the first lines, before the article body starts."""
    stripped = [line.strip() for line in lines]
    header: list[int] = []
    for index, line in enumerate(stripped):
        if not line:
            continue
        if len(header) >= _HEADER_LINES or (len(line) > _BODY_START_CHARS and header and not _DATE_PREFIX.match(line)):
            break
        header.append(index)

    published: str | None = None
    month_only: str | None = None
    url: str | None = None
    fetched: str | None = None
    metadata: set[int] = set()
    for index in header:
        line = stripped[index]
        fetched_line = _FETCHED.match(line)
        if fetched_line:
            fetched = fetched or fetched_line.group(1)
            metadata.add(index)
            continue
        if _URL.fullmatch(line):
            url = url or line
            metadata.add(index)
            continue
        if _is_date_line(line):
            published = published or parse_date(line)
            metadata.add(index)
            continue
        stand = _STAND.search(line)
        if stand:
            published = published or parse_date(stand.group(0))
        m = _DATE_MONTH_ONLY.search(line)
        if m:
            month_only = f"{m.group(1)}-{m.group(2)}"
    if url is None:  # the URL line may sit just below the header (DW puts it after the teaser)
        for line in stripped[: max(header, default=0) + 6]:
            if _URL.fullmatch(line):
                url = line
                metadata.add(stripped.index(line))
                break

    outlet = outlet_from_url(url) if url else None
    title: str | None = None
    title_line: int | None = None
    for position, index in enumerate(header):
        line = stripped[index]
        if index in metadata or is_boilerplate(line):
            continue
        next_lines = [stripped[i] for i in header[position + 1 : position + 3]]
        # A short line right above the date line names the site ("Kettner Edelmetalle" / "22.10.2024").
        if outlet is None and len(line) <= 40 and next_lines and _is_date_line(next_lines[0]):
            outlet = line
            metadata.add(index)
            continue
        candidate = title_from_line(line)
        if len(candidate) >= 10:
            title, title_line = candidate, index
            break
    return Header(
        title=title,
        title_line=title_line,
        published=published or month_only,
        url=url,
        outlet=outlet,
        fetched=fetched,
        metadata_lines=frozenset(metadata),
    )
