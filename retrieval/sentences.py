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


def _is_false_boundary(paragraph: str, dot_end: int, mark: str) -> bool:
    """True when the period at `paragraph[:dot_end]` ends an abbreviation, initial or ordinal."""
    if not mark.startswith("."):
        return False
    head = paragraph[:dot_end]
    after = paragraph[dot_end:]
    if _ORDINAL_BEFORE.search(head) and (_MONTH_AFTER.match(after) or re.match(r"\s+[a-zäöü]", after)):
        return True
    if _ARTICLE_ORDINAL_BEFORE.search(head):
        return True
    word = _WORD_BEFORE.search(head)
    if word:
        token = word.group(1).lower()
        if token in ABBREVIATIONS or token.rstrip(".") in ABBREVIATIONS:
            return True
        # single initials ("Kim J. Un", "z. B."), unless a typical sentence opener follows ("Dienst X. Er ...")
        if len(token) == 1 and token.isalpha():
            following = re.match(r"\s+(\w+)", after)
            return not (following and following.group(1).lower() in SENTENCE_OPENERS)
        # "u.a." style chains
        if re.fullmatch(r"(?:[a-zäöü]\.)+[a-zäöü]", token):
            return True
    return False


def _split_paragraph(paragraph: str, offset: int) -> list[tuple[int, int]]:
    quotes = _quote_spans(paragraph)
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _BOUNDARY.finditer(paragraph):
        mark_end = match.end()
        punct_end = match.start() + len(match.group(0).rstrip("\"“”’‘»«)"))
        if any(q_start < match.start() < q_end and mark_end <= q_end for q_start, q_end in quotes):
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
