"""German-aware sentence splitting that returns character spans, never rewritten text.

Spans index the input exactly, so a sentence can always be traced back verbatim. The splitter does
not break inside numbers ("1.500"), dates ("21. Oktober 2024", "3. Jänner"), ordinals after an
article ("im 20. Jahrhundert", "in der 27. Minute"), abbreviations ("z. B.", "Dr.") or
quotations („…“, "…"), and always breaks at line ends: cleaned articles keep one paragraph per line.
"""

from __future__ import annotations

import re

ABBREVIATIONS = frozenset(
    ["z.b", "u.a", "d.h", "bzw", "ca", "dr", "prof", "nr", "mio", "mrd", "vgl", "sog", "inkl", "st", "hr", "fr", "jh", "v.a", "o.ä", "i.d.r", "usw", "etc", "evtl", "ggf", "zzt", "bspw", "u.ä", "z.t", "s.o", "s.u", "abs", "art", "bzw.", "mr", "mrs", "ms", "jr", "sen", "gen", "lt", "ggü", "dt", "engl", "frz", "i.a", "a.d", "u.s", "e.v", "ver", "jan", "feb", "febr", "apr", "aug", "sept", "sep", "okt", "nov", "dez", "tel", "max", "min", "mind.", "mind", "rd"]
)

SENTENCE_OPENERS = frozenset(
    ["er", "sie", "es", "der", "die", "das", "den", "dem", "des", "ein", "eine", "einer", "wir", "ich", "man", "in", "im", "am", "auch", "doch", "aber", "und", "dies", "diese", "dieser", "dabei", "damit", "danach", "dann", "so", "zudem", "außerdem", "nun", "bis", "nach", "laut", "seit", "wie", "was", "wer", "the", "a", "an", "he", "she", "it", "they", "we", "this", "that", "in", "on", "at", "but", "and", "however"]
)

MONTHS = (
    "januar|jänner|februar|feber|märz|april|mai|juni|juli|august|september|oktober|november|dezember|"
    "jan|jän|feb|mär|apr|jun|jul|aug|sep|sept|okt|nov|dez|january|february|march|may|june|july|october|december"
)

_BOUNDARY = re.compile(r"[.!?…]+[\"“”’‘»«)]*(?=\s+)")
_NEXT_START = re.compile(r"\s+([„\"“‚'«»(\[]*)(\S)")
_ORDINAL_BEFORE = re.compile(r"(?:^|[\s(])(\d{1,2})\.$")
_MONTH_AFTER = re.compile(rf"\s+(?:{MONTHS})\b", re.IGNORECASE)
# An ordinal after an article or preposition that goes with it ("im 20. Jahrhundert", "in der 27.
# Minute", "zum 3. Mal"): a German sentence does not end in "im 20.", so the capitalised noun after
# it continues the sentence.
_ARTICLE_ORDINAL_BEFORE = re.compile(
    r"\b(?:im|am|zum|vom|beim|zur|der|die|das|dem|den|des|ihr|ihre|ihrem|ihrer|ihren|sein|seine|seinem|"
    r"seiner|seinen|unser|unsere|unserem|unserer|jedes|jeden|jedem|jeder)\s+\d{1,2}\.$",
    re.IGNORECASE,
)
_WORD_BEFORE = re.compile(r"([\wÄÖÜäöüß.]+)\.$")

# Quotations longer than this are assumed to be unbalanced quote marks, not one quotation.
MAX_QUOTE_CHARS = 600


def _quote_spans(paragraph: str) -> list[tuple[int, int]]:
    """Spans of quotations inside one paragraph, German („…“) and straight ("…") quotes."""
    spans: list[tuple[int, int]] = []
    for opening, closing in (("„", "“"), ('"', '"'), ("«", "»"), ("»", "«")):
        pos = 0
        while True:
            start = paragraph.find(opening, pos)
            if start < 0:
                break
            end = paragraph.find(closing, start + 1)
            if end < 0:
                break
            if end - start <= MAX_QUOTE_CHARS:
                spans.append((start, end))
            pos = end + 1
    return spans


# The look-behind checks below read at most this many characters before a full stop, so each full
# stop costs the same however long its line is (a 5 MB article on one line splits in linear time).
# The longest pattern they need is an article, a space run and "27." (< 20 characters); a longer
# window changes nothing but a word of more than 64 letters, which no abbreviation list holds.
_LOOK_BEHIND_CHARS = 64
_LOWER_AFTER = re.compile(r"\s+[a-zäöü]")
_WORD_AFTER = re.compile(r"\s+(\w+)")
_INITIALS_CHAIN = re.compile(r"(?:[a-zäöü]\.)+[a-zäöü]")


def _is_false_boundary(paragraph: str, dot_end: int, mark: str) -> bool:
    """True when the period ending at `paragraph[dot_end]` ends an abbreviation, initial or ordinal.

    Every pattern is matched in place (`pattern.search(paragraph, pos, endpos)`), never on a copy
    of the text before the stop: copying `paragraph[:dot_end]` for each stop made splitting
    quadratic in the length of a line (issue 28).
    """
    if not mark.startswith("."):
        return False
    window = max(0, dot_end - _LOOK_BEHIND_CHARS)
    if _ORDINAL_BEFORE.search(paragraph, window, dot_end) and (
        _MONTH_AFTER.match(paragraph, dot_end) or _LOWER_AFTER.match(paragraph, dot_end)
    ):
        return True
    if _ARTICLE_ORDINAL_BEFORE.search(paragraph, window, dot_end):
        return True
    word = _WORD_BEFORE.search(paragraph, window, dot_end)
    if word:
        token = word.group(1).lower()
        if token in ABBREVIATIONS or token.rstrip(".") in ABBREVIATIONS:
            return True
        # single initials ("Kim J. Un", "z. B."), unless a typical sentence opener follows ("Dienst X. Er ...")
        if len(token) == 1 and token.isalpha():
            following = _WORD_AFTER.match(paragraph, dot_end)
            return not (following and following.group(1).lower() in SENTENCE_OPENERS)
        # "u.a." style chains
        if _INITIALS_CHAIN.fullmatch(token):
            return True
    return False


def _inside_quotations(quotes: list[tuple[int, int]], boundaries: list[tuple[int, int]]) -> list[bool]:
    """For each `(start, mark_end)` boundary in text order: does a quotation hold it and go on?

    One sweep over quotations sorted by start: the furthest end among quotations opened before a
    boundary only grows, so each boundary is answered in O(1) rather than by scanning every quotation.
    """
    ordered = sorted(quotes)
    answers: list[bool] = []
    furthest_end = -1
    next_quote = 0
    for start, mark_end in boundaries:
        while next_quote < len(ordered) and ordered[next_quote][0] < start:
            furthest_end = max(furthest_end, ordered[next_quote][1])
            next_quote += 1
        answers.append(furthest_end >= mark_end)
    return answers


def _split_paragraph(paragraph: str, offset: int) -> list[tuple[int, int]]:
    matches = list(_BOUNDARY.finditer(paragraph))
    quoted = _inside_quotations(_quote_spans(paragraph), [(m.start(), m.end()) for m in matches])
    spans: list[tuple[int, int]] = []
    start = 0
    for match, inside_quotation in zip(matches, quoted):
        mark_end = match.end()
        punct_end = match.start() + len(match.group(0).rstrip("\"“”’‘»«)"))
        if inside_quotation:
            continue  # inside a quotation and the quotation goes on
        nxt = _NEXT_START.match(paragraph, mark_end)
        if not nxt:
            continue
        first = nxt.group(2)
        if not (first.isupper() or first.isdigit()):
            continue
        if _is_false_boundary(paragraph, punct_end, match.group(0)):
            continue
        spans.append((start, mark_end))
        start = nxt.start(1)
    spans.append((start, len(paragraph)))
    result = []
    for s, e in spans:
        chunk = paragraph[s:e]
        lead = len(chunk) - len(chunk.lstrip())
        trail = len(chunk) - len(chunk.rstrip())
        if chunk.strip():
            result.append((offset + s + lead, offset + e - trail))
    return result


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans `(start, end)` into `text`, in order, without surrounding whitespace."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for line in text.split("\n"):
        if line.strip():
            spans.extend(_split_paragraph(line, pos))
        pos += len(line) + 1
    return spans
