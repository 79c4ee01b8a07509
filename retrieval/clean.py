"""Strip the boilerplate of raw news page dumps and keep every sentence of the article itself.

Page dumps carry navigation, photo captions and credits, tag lists, login prompts, agency
sign-offs and lists of other headlines. They are removed line by line (pages put each on a line of
its own), so what survives is the article's own lines, unchanged: a quote taken from the cleaned
text is also a verbatim quote of the original page. Control characters (NUL, escape sequences,
C1 codes) and invisible format characters (bidirectional overrides such as U+202E, zero-width
spaces, byte-order marks) are removed first: no reader could see them, a quote must never carry
one, and one inside "1.500" would hide the figure from every reader of numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NAVIGATION = re.compile(
    r"^(?:\d+\.\s*)?(?:zum inhalt|zur hauptnavigation|zu weiteren angeboten|zur suche|zum hauptmenü|zur navigation|"
    r"zum seitenanfang|skip to (?:main )?content|navigation überspringen)\b.*$",
    re.IGNORECASE,
)
_PHOTO_CREDIT = re.compile(r"(?:^|\S)(?:Bild|Foto|Fotos|Bildquelle|Photo|Image):\s*\S", re.UNICODE)
_TAGS = re.compile(r"^[-•*]?\s*(?:Themen|Schlagwörter|Schlagworte|Tags|Mehr zum Thema|Stichworte)\s*:?\s*.*$", re.IGNORECASE)
_HASHTAG_LINE = re.compile(r"^[-•*]?\s*(?:#[\wÄÖÜäöüß-]+[\s,]*)+$")
_LOGIN = re.compile(
    r"(?:melden sie sich an|registrieren sie sich|sie müssen angemeldet sein|jetzt anmelden|zum login|"
    r"kommentare anzeigen|kommentar schreiben|jetzt abonnieren|newsletter abonnieren|log in to comment)",
    re.IGNORECASE,
)
_RELATED_HEADING = re.compile(
    r"^(?:wissenswertes zum thema|mehr zum thema|lesen sie auch|weitere artikel|das könnte sie auch interessieren|"
    r"ähnliche artikel|related articles|read more|auch interessant|meistgelesen)\s*:?$",
    re.IGNORECASE,
)
# "- Exporte legen 2024 auf Rekordwert von 3,4 Billionen Euro zu - 13. Januar 2025."
_HEADLINE_LIST_ITEM = re.compile(r"^[-•*]\s+.+\s[-–]\s+\d{1,2}\.\s*\w+\s+\d{4}\.?$")
# "haz/sti (afp, dpa, rtr)": editors' initials and agencies close a wire story.
_AGENCY_SIGNOFF = re.compile(r"^[a-zäöü]{2,5}(?:/[a-zäöü]{2,5})*\s*\((?:[a-zA-Z]{2,5}(?:,\s*)?)+\)\s*$")
# "PolitikUkraine": section breadcrumbs glued together by the page dump.
_BREADCRUMB = re.compile(r"^[A-ZÄÖÜ][a-zäöüß]+(?:[A-ZÄÖÜ][a-zäöüß]+)+$")
_SENTENCE_END = re.compile(r"[.!?…:\"“”»«)]\s*$")


# Every Unicode control character (category Cc) except the line structure: tab and newline stay.
# Then the invisible format characters (category Cf) that change how text displays or splits it
# without showing: the bidirectional marks, embeddings, overrides and isolates (U+061C, U+200E/F,
# U+202A-202E, U+2066-2069), which make a quote display otherwise than it reads; zero-width space,
# word joiner and invisible operators (U+200B, U+2060-2064) and the byte-order mark (U+FEFF), which
# split "1.500" for every reader of numbers; and the soft hyphen (U+00AD). Zero-width (non-)joiners
# (U+200C/D) stay: scripts such as Persian and emoji sequences need them to mean what they say.
_CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u061c\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)


def strip_control_characters(text: str) -> str:
    """`text` without control and invisible format characters; carriage returns become newlines first
    (line structure stays)."""
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


@dataclass(frozen=True)
class CleanedLines:
    """The article's own lines, plus the boilerplate that was dropped (for tests and logs)."""

    kept: list[str]
    dropped: list[str]


def is_boilerplate(line: str) -> bool:
    """True for a single line that is page furniture rather than article text."""
    stripped = line.strip()
    return bool(
        _NAVIGATION.match(stripped)
        or _PHOTO_CREDIT.search(stripped)
        or _TAGS.match(stripped)
        or _HASHTAG_LINE.match(stripped)
        or _LOGIN.search(stripped)
        or _RELATED_HEADING.match(stripped)
        or _HEADLINE_LIST_ITEM.match(stripped)
        or _BREADCRUMB.match(stripped)
    )


def _looks_like_caption(line: str) -> bool:
    """Photo alt texts are short lines without closing punctuation, directly above the credit."""
    return len(line) <= 160 and not _SENTENCE_END.search(line)


def clean_lines(lines: list[str]) -> CleanedLines:
    """Drop boilerplate lines; everything after an agency sign-off is page furniture too."""
    kept: list[str] = []
    dropped: list[str] = []
    lines = [strip_control_characters(line) for line in lines]
    for index, raw in enumerate(lines):
        line = raw.strip()
        if not line:
            continue
        if _AGENCY_SIGNOFF.match(line):
            dropped.extend(x.strip() for x in lines[index:] if x.strip())
            break
        if is_boilerplate(line):
            # A credit line ("…Bild: AP") follows its caption line; drop that caption too.
            if _PHOTO_CREDIT.search(line) and kept and _looks_like_caption(kept[-1]):
                dropped.append(kept.pop())
            dropped.append(line)
            continue
        if kept and kept[-1] == line:  # page dumps repeat the headline
            dropped.append(line)
            continue
        kept.append(line)
    # Trailing short lines without punctuation after the last sentence are link teasers.
    while kept and not _SENTENCE_END.search(kept[-1]) and len(kept) > 1 and _SENTENCE_END.search(kept[-2]):
        dropped.append(kept.pop())
    return CleanedLines(kept=kept, dropped=dropped)
