"""Quantities in a text, in digits or in English or German words, as values that compare across both.

"1.500", "1500", "fifteen hundred" and "eintausendfünfhundert" are the same quantity; so are
"12.000", "twelve thousand" and "zwölftausend". Spelled numbers are read by `text2num` (units,
teens, tens, hundreds, "Tausend", "Millionen" and German compounds such as "zweitausend");
digits followed by a scale word ("1,5 Millionen", "12 thousand") are multiplied out here.
Vague amounts ("Tausende", "thousands", "mehrere tausend", "several thousand") are kept apart
from exact ones as "~1000": a vague amount is only supported by a vague amount of the same size,
never by an exact figure, and the other way round.

Ordinals ("second", "dritten") are not quantities, and neither is a lone "one"/"ein" (the
article in "one of the soldiers" is no figure).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from retrieval.numbers import DIGIT_GROUPS, join_digit_groups

# Digit groups ("12.000", "12 000") are one token and read by the one normaliser, retrieval/numbers.py.
_TOKEN = re.compile(rf"{DIGIT_GROUPS}(?:[.,]\d+)?|\d+(?:[.,]\d+)?|[^\W\d_]+|[^\w\s]")

SCALES: dict[str, int] = {
    "hundred": 100, "hundert": 100,
    "thousand": 1_000, "tausend": 1_000,
    "million": 1_000_000, "millionen": 1_000_000, "mio": 1_000_000,
    "billion": 1_000_000_000, "milliarde": 1_000_000_000, "milliarden": 1_000_000_000, "mrd": 1_000_000_000,
}  # fmt: skip
# Plural scale words on their own are vague amounts ("thousands of", "Tausende").
_VAGUE_PLURALS: dict[str, int] = {
    "dozens": 12, "dutzende": 12, "hundreds": 100, "hunderte": 100, "thousands": 1_000, "tausende": 1_000,
    "zehntausende": 10_000, "hunderttausende": 100_000, "millions": 1_000_000, "millionen": 1_000_000,
    "billions": 1_000_000_000, "milliarden": 1_000_000_000,
}  # fmt: skip
_VAGUE_SINGULARS: dict[str, int] = {"dozen": 12, "dutzend": 12}
# A quantifier before a singular scale word makes the amount vague: "mehrere tausend", "a few hundred".
_QUANTIFIERS = frozenset(
    "several some few many mehrere einige wenige viele paar etliche".split()  # noqa: SIM905
)
_TENS_OF = {"tens": 10, "hundreds": 100}  # "tens of thousands", "hundreds of thousands"
# Both languages are read in every text: quotes are German, answers English or German, and
# their number words do not collide ("elf" is eleven only in German).
_LANGUAGES = ("de", "en")


@dataclass(frozen=True)
class Quantity:
    """A value as written: `key` compares ("1500", "1.5", "~1000"), `text` is what the text says."""

    key: str
    text: str

    @property
    def vague(self) -> bool:
        return self.key.startswith("~")


def _key(value: Decimal) -> str:
    normal = value.normalize()
    return format(normal, "f") if normal == normal.to_integral_value() else str(normal)


def digit_value(text: str) -> Decimal | None:
    """ "1.500" and "1,500" → 1500 (a separator before exactly three digits groups thousands);
    "1,5" and "1.5" → 1.5."""
    plain = join_digit_groups(text).replace(",", ".")
    try:
        return Decimal(plain)
    except InvalidOperation:
        return None


class _Token:
    """A token for `text2num.find_numbers`; digits and words already read are not number parts."""

    def __init__(self, text: str, taken: bool) -> None:
        self._text = text
        self._taken = taken

    def text(self) -> str:
        return "|" if self._taken else self._text

    def nt_separated(self, previous: _Token) -> bool:
        return self._taken or previous._taken

    def not_a_number_part(self) -> bool:
        return self._taken


@lru_cache(maxsize=4096)
def _is_number_word(word: str) -> bool:
    from text_to_num import text2num

    for language in _LANGUAGES:
        try:
            text2num(word.lower(), language)
            return True
        except ValueError:
            continue
    return False


@lru_cache(maxsize=8192)
def quantities_in(text: str) -> frozenset[Quantity]:
    """Every quantity `text` states (strip citation markers such as [3] first: they are digits too)."""
    from text_to_num import find_numbers

    tokens = [m.group(0) for m in _TOKEN.finditer(text)]
    lower = [t.lower() for t in tokens]
    taken = [False] * len(tokens)
    found: set[Quantity] = set()

    def take(start: int, end: int, key: str) -> None:
        for i in range(start, end):
            taken[i] = True
        found.add(Quantity(key, " ".join(tokens[start:end])))

    for i, token in enumerate(tokens):
        if not token[0].isdigit():
            continue
        value = digit_value(token)
        if value is None:
            continue
        scale = SCALES.get(lower[i + 1].rstrip(".")) if i + 1 < len(tokens) else None
        if scale and scale >= 1000:  # "1,5 Millionen", "12 thousand"
            take(i, i + 2, _key(value * scale))
        else:
            take(i, i + 1, _key(value))

    for i, word in enumerate(lower):
        if taken[i]:
            continue
        after = lower[i + 2] if i + 2 < len(tokens) and lower[i + 1] == "of" else ""
        if word in _TENS_OF and after in ("thousands", "millions"):
            take(i, i + 3, f"~{_TENS_OF[word] * _VAGUE_PLURALS[after]}")
        elif word in _VAGUE_PLURALS and not (i > 0 and (taken[i - 1] or _is_number_word(lower[i - 1]))):
            take(i, i + 1, f"~{_VAGUE_PLURALS[word]}")
        elif word in _VAGUE_SINGULARS:
            take(i, i + 1, f"~{_VAGUE_SINGULARS[word]}")
        elif word in _QUANTIFIERS and i + 1 < len(tokens) and SCALES.get(lower[i + 1]):
            take(i, i + 2, f"~{SCALES[lower[i + 1]]}")

    for language in _LANGUAGES:
        stream = [_Token(t, taken[i]) for i, t in enumerate(tokens)]
        # threshold=1: a lone "one"/"eins" is no figure, "two" and up are.
        for occurrence in find_numbers(stream, language, threshold=1):
            if occurrence.is_ordinal or occurrence.value <= 1:
                continue
            words = " ".join(tokens[occurrence.start : occurrence.end])
            found.add(Quantity(_key(Decimal(repr(occurrence.value))), words))
    return frozenset(found)


def unsupported_quantities(line: str, quotes: Iterable[str]) -> list[Quantity]:
    """Quantities in `line` that none of `quotes` states (in digits or in words), in text order."""
    supported = {q.key for quote in quotes for q in quantities_in(quote)}
    missing = [q for q in quantities_in(line) if q.key not in supported]
    return sorted(missing, key=lambda q: (line.find(q.text), q.text))
