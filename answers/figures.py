"""Figures in German news sentences: the number, what it counts, and who it is attributed to.

Everything here is read off one sentence (and, for "sagte er" or "demnach", the sentence before
it); nothing is inferred that the text does not say. Values are kept exactly as written
("1.500", "mehrere tausend") and compared in normalised form ("1.500" == "1500").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from answers.sources import source_name
from retrieval.numbers import DIGIT_GROUPS, join_digit_groups

_NUMBER_WORDS = {
    "zwei": 2, "drei": 3, "vier": 4, "fünf": 5, "sechs": 6, "sieben": 7, "acht": 8, "neun": 9, "zehn": 10,
    "elf": 11, "zwölf": 12, "zwanzig": 20, "dreißig": 30, "fünfzig": 50, "hundert": 100, "tausend": 1000,
}  # fmt: skip
_VAGUE = r"(?:mehrere|einige|viele|etliche)\s+(?:hundert|tausend|zehntausend|hunderttausend)|(?:Hunderte|Tausende|Zehntausende|Hunderttausende)"
_DIGITS = rf"{DIGIT_GROUPS}(?:,\d+)?|\d+(?:,\d+)?"
_SCALE = r"(?:\s+(?:Millionen|Million|Milliarden|Milliarde|Mio\.|Mrd\.))?"
_QUALIFIER = r"(?:(?:mindestens|rund|etwa|ungefähr|circa|ca\.|bis\s+zu|mehr\s+als|über|knapp|insgesamt|fast|nahezu)\s+)?"
_WORD_NUMBER = r"(?:" + "|".join(_NUMBER_WORDS) + r")"
FIGURE = re.compile(
    rf"(?<![\w.,-])(?P<qual>{_QUALIFIER})(?P<value>(?:{_DIGITS}){_SCALE}|{_VAGUE}|{_WORD_NUMBER}(?=\s+[A-ZÄÖÜ]))(?![\w-])",
    re.UNICODE,
)
# What a figure counts: up to two lower-case adjectives, then a capitalised noun.
_COUNTED = re.compile(r"\s+((?:[a-zäöüß][\w-]*e[nrs]?\s+){0,2}[A-ZÄÖÜ][\w-]+)")
_MONTHS = "Januar|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember"
_NOT_A_COUNT = re.compile(rf"^(?:{_MONTHS}|Uhr|Prozent\b(?!\w))")
_PERCENT_OR_UNIT_WORDS = {"Uhr"}

_ARTICLE = r"(?:der|die|das|des|dem|den|ein|eine|einer|eines|einem)"
_WHO_WORD = r"[A-ZÄÖÜ][\w.-]*"
# A noun phrase naming a source: optional article, lower-case adjectives, capitalised words with "aus"/"von" links.
_SOURCE = (
    rf"(?<![\w-])(?:{_ARTICLE}\s+)?(?:[a-zäöüß][\w-]*\s+){{0,3}}{_WHO_WORD}"
    rf"(?:\s+(?:{_WHO_WORD}|aus\s+{_WHO_WORD}|von\s+{_WHO_WORD}|und\s+{_WHO_WORD}|{_ARTICLE}\s+(?:[a-zäöüß][\w-]*\s+)?{_WHO_WORD}))*"
)
_SPEECH_VERBS = r"(?:sagte|sagten|kündigte|versicherte|forderte|berichtete|berichteten|teilte|teilten|erklärte|erklärten|meldete|meldeten|schrieb|betonte|warnte|bestätigte|hieß\s+es)"
_PERFECT_VERBS = r"(?:mitgeteilt|berichtet|erklärt|gesagt|gemeldet|bekanntgegeben|bestätigt|geäußert)"
_SUBJECT = r"(?P<who>(?:Der|Die|Das|Ein|Eine)\s+(?:[\w-]+\s+){0,4}?[\w-]+|[A-ZÄÖÜ][\w-]+(?:\s+[A-ZÄÖÜ][\w-]+){0,3})"

ATTRIBUTION_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(rf"\b[Ll]aut\s+(?P<who>{_SOURCE})"),
    re.compile(rf"\b[Nn]ach\s+(?:(?:eigenen|offiziellen|übereinstimmenden)\s+)?(?:Angaben|Erkenntnissen|Informationen|Schätzungen|Berichten)\s+(?P<who>{_SOURCE})"),
    re.compile(rf"\bunter\s+Berufung\s+auf\s+(?P<who>{_SOURCE})"),
    re.compile(rf"(?P<who>{_SOURCE})\s+zufolge\b"),
    re.compile(rf"\b{_SPEECH_VERBS}\s+(?P<who>{_SOURCE})"),
    re.compile(rf"^{_SUBJECT}\s+(?:hatte|hat|habe|haben|hatten)\s+(?:[\w.-]+\s+){{0,6}}?{_PERFECT_VERBS}\b"),
    re.compile(rf"^{_SUBJECT}\s+{_SPEECH_VERBS}\b"),
    re.compile(rf"^{_SUBJECT}\s+(?:hatte|hat)\s+sich\b.*\b{_PERFECT_VERBS}\b"),
    re.compile(rf"\bhatte\s+sich\s+(?P<who>{_SOURCE})\s+geäußert"),
)
_PRONOUN = re.compile(r"^(?:er|sie|es|dieser|diese)$", re.IGNORECASE)
_BACK_REFERENCE = re.compile(r"^(?:den\s+Angaben|demnach|dies(?:en)?\s+Angaben|eigenen\s+Angaben)$", re.IGNORECASE)
_BERUFUNG = re.compile(rf"unter\s+Berufung\s+auf\s+(?P<who>{_SOURCE})")
_TRAILING_NOISE = re.compile(r"\s+(?:am|im|in|bei|nach|während|auf|zudem|zuvor|bereits|dazu|derzeit)\b.*$")
_LEADING_ARTICLE = re.compile(rf"^{_ARTICLE}\s+", re.IGNORECASE)
# A "source" right after a locative preposition is a place ("an der Front", "im Osten", "in der
# Ukraine"), not someone who reported something: a grammatical rule, not a list of the story's places.
_AFTER_PLACE_PREPOSITION = re.compile(r"\b(?:in|im|an|am|nach|aus|bei|vor|über|unter)\s+(?:der|dem|den|die|das)?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class FoundFigure:
    """A figure as written in a sentence; offsets index that sentence."""

    value: str
    normalized: str
    what: str | None
    start: int
    end: int


def normalize_value(value: str) -> str:
    """Comparable form: "1.500" -> "1500", "12 000" -> "12000", "mehrere Tausend" -> "mehrere tausend"."""
    compact = join_digit_groups(value)
    return re.sub(r"\s+", " ", compact).lower()


def find_figures(sentence: str) -> list[FoundFigure]:
    """Figures that count something (not dates, times, years or model names such as "K2")."""
    figures = []
    for match in FIGURE.finditer(sentence):
        value = match.group("value")
        start, end = match.start("value"), match.end("value")
        before = sentence[max(0, start - 12) : start]
        if re.search(rf"\b(?:{_MONTHS})\s*$", before) or re.search(r"\b(?:im\s+Jahr|seit|Stand:)\s*$", before):
            continue
        digits = re.sub(r"\D", "", value)
        after = sentence[end:]
        if re.match(rf"\.\s*(?:{_MONTHS})", after) or re.match(r"[.:]\d", after):
            continue  # "21. Oktober", "24.10.2024"
        if digits and len(digits) == 4 and 1900 <= int(digits) <= 2100 and not re.match(r"\s+[a-zäöü]*\s*[A-ZÄÖÜ]", after):
            continue  # a year ("2024"), unless it counts something ("3000 nordkoreanische Soldaten")
        counted = _COUNTED.match(after)
        what = counted.group(1) if counted else None
        if what and (_NOT_A_COUNT.match(what) or what in _PERCENT_OR_UNIT_WORDS):
            continue
        if value.lower() in _NUMBER_WORDS and not what:
            continue
        figures.append(FoundFigure(value=value, normalized=normalize_value(value), what=what, start=start, end=end))
    return figures


def _tidy_source(who: str) -> str | None:
    who = _TRAILING_NOISE.sub("", who.strip(" ,.;:"))
    who = _LEADING_ARTICLE.sub("", who).strip()
    if not who:
        return None
    return source_name(who)


def attributions(sentence: str) -> list[tuple[int, str]]:
    """Every source cue in `sentence` as (position, who), in order of position."""
    found: dict[int, str] = {}
    for pattern in ATTRIBUTION_PATTERNS:
        for match in pattern.finditer(sentence):
            who = match.group("who")
            if who is None:
                continue
            position = match.start("who")
            if any(abs(position - p) < 3 for p in found):
                continue
            if _AFTER_PLACE_PREPOSITION.search(sentence[:position]) and not who.strip()[:1].islower():
                continue
            found[position] = who.strip()
    return sorted(found.items())


def attribution_of(sentence: str, at: int | None = None, previous: str | None = None) -> str | None:
    """Who the sentence (or the figure at offset `at`) is attributed to, as written in the text.

    Pronouns ("sagte er") and back references ("den Angaben zufolge", "demnach") are resolved
    against the previous sentence when it is given; otherwise they yield None rather than a guess.
    """
    cues = attributions(sentence)
    if re.search(r"\bdemnach\b", sentence) and not cues:
        cues = [(sentence.find("demnach"), "demnach")]
    # "X hatte unter Berufung auf Y berichtet": X is the source, Y what X relied on.
    berufung = _BERUFUNG.search(sentence)
    extra = ""
    if berufung and len(cues) > 1:
        cues = [cue for cue in cues if cue[0] != berufung.start("who")]
        tidy = _tidy_source(berufung.group("who"))
        extra = f" (unter Berufung auf {tidy})" if tidy else ""
    if not cues:
        return None
    if at is None:
        _, who = cues[0]
    else:
        # The cue nearest to the figure; ties go to the cue before it.
        _, who = min(cues, key=lambda cue: (abs(cue[0] - at), cue[0] > at))
    words = who.split()
    if words and _PRONOUN.match(words[0]):
        return _person_in(previous) if previous else None
    if _BACK_REFERENCE.match(who.strip()):
        if not previous:
            return None
        earlier = attributions(previous)
        return _tidy_source(earlier[-1][1]) if earlier else None
    tidy = _tidy_source(who)
    return tidy + extra if tidy else None


_PERSON = re.compile(
    r"\b(?:der|die)\s+((?:[a-zäöüß][\w-]*\s+){0,2}[A-ZÄÖÜ][\w-]+(?:\s+[A-ZÄÖÜ][\w-]+){1,3})"
)


def _person_in(sentence: str) -> str | None:
    """The named person a following "er"/"sie" most likely refers to: the first titled name."""
    match = _PERSON.search(sentence)
    return source_name(match.group(1)) if match else attribution_of(sentence)
