"""German-aware sentence splitting with exact character spans."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.sentences import split_sentences
from tests.conftest import SEEDS


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


@pytest.mark.parametrize(
    "sentence",
    [
        "Der südkoreanische Geheimdienst hatte am Freitag mitgeteilt, dass 1.500 nordkoreanische Soldaten nach Russland verlegt worden seien.",
        "Ukraine-Krieg: NATO warnt Nordkorea vor Truppen am 21. Oktober 2024 in Brüssel.",
        "Die Regierung prüft z. B. diplomatische und wirtschaftliche Schritte.",
        "Das Treffen mit Dr. Kim und Prof. Lee fand u. a. in Seoul statt.",
        "Im 20. Jahrhundert führte die Entwicklung der Quantenmechanik zu einem modernen Verständnis.",
        "Das 1:0 fiel in der 27. Minute, zum 3. Mal in dieser Saison.",
        "Die Regierung tritt am 3. Jänner 2016 zusammen.",
        "„Russland hat nie daran gezweifelt, dass es der Demokratischen Volksrepublik Korea mit der Zusammenarbeit mit Russland ernst ist“, sagte er auf Nachfrage von Journalisten.",
        '"Nordkoreas Truppenstationierung in Russland stellt einen direkten Verstoß gegen die UN-Charta und die Resolutionen des UN-Sicherheitsrates dar. Sie ist eine Provokation, die die globale Sicherheit bedroht", machte er deutlich.',
    ],
)
def test_no_split_inside_numbers_dates_abbreviations_and_quotations(sentence: str) -> None:
    assert sentences(sentence) == [sentence]


def test_splits_between_sentences_and_after_closing_quotes() -> None:
    text = (
        "„Wir arbeiten mit unseren nordkoreanischen Freunden zusammen“, fügte der Kreml-Chef hinzu. "
        "„Was wir tun, ist unsere Sache.“ In Moskau billigte das Unterhaus ein Abkommen. "
        "Das \"würde eine erhebliche Eskalation bedeuten\", schrieb Rutte im Onlinedienst X. Er habe darüber gesprochen."
    )
    assert sentences(text) == [
        "„Wir arbeiten mit unseren nordkoreanischen Freunden zusammen“, fügte der Kreml-Chef hinzu.",
        "„Was wir tun, ist unsere Sache.“",
        "In Moskau billigte das Unterhaus ein Abkommen.",
        "Das \"würde eine erhebliche Eskalation bedeuten\", schrieb Rutte im Onlinedienst X.",
        "Er habe darüber gesprochen.",
    ]


def test_a_number_ending_a_sentence_still_splits() -> None:
    assert sentences("Im Mai wurde er 20. Im Jahr darauf trat er zurück.") == [
        "Im Mai wurde er 20.",
        "Im Jahr darauf trat er zurück.",
    ]


def test_line_breaks_always_end_a_sentence() -> None:
    assert sentences("NATO warnt vor Eskalation\nNATO-Generalsekretär Mark Rutte warnte.") == [
        "NATO warnt vor Eskalation",
        "NATO-Generalsekretär Mark Rutte warnte.",
    ]


def assert_spans_partition(text: str) -> None:
    spans = split_sentences(text)
    position = 0
    for start, end in spans:
        assert start >= position and end > start
        assert text[position:start].strip() == "", "text between sentences must be whitespace only"
        assert text[start:end] == text[start:end].strip()
        position = end
    assert text[position:].strip() == ""


def test_seed_articles_split_without_losing_a_character() -> None:
    for path in SEEDS.glob("*.txt"):
        assert_spans_partition(path.read_text(encoding="utf-8"))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("abcXYZ äöü.,!?„“\"»«:;12309\n-")), max_size=300))
def test_splitting_then_joining_loses_no_character(text: str) -> None:
    assert_spans_partition(text)


def one_line_of_german_prose(n_chars: int) -> str:
    """Real German news prose (the seed articles, repeated) on a single line of `n_chars` characters."""
    prose = " ".join(p.read_text(encoding="utf-8").replace("\n", " ") for p in sorted(SEEDS.glob("*.txt")))
    return (prose * (n_chars // len(prose) + 1))[:n_chars]


def seconds_per_char(text: str) -> float:
    import time

    best = float("inf")
    for _ in range(3):  # the fastest of three: the least disturbed by other work on the machine
        started = time.perf_counter()
        split_sentences(text)
        best = min(best, time.perf_counter() - started)
    return best / len(text)


def test_splitting_a_long_line_takes_linear_time() -> None:
    """Issue 28, item 1: every full stop used to re-search the line up to it, so 200 KB on one line
    took 30 s. Linear cost means the same time per character at 25 KB and 200 KB; quadratic cost
    would make the longer line 8 times as slow per character, so a factor 3 separates the two
    with room for a noisy machine."""
    short, long = one_line_of_german_prose(25_000), one_line_of_german_prose(200_000)
    assert "\n" not in long
    assert seconds_per_char(long) < 3 * seconds_per_char(short)
    assert len(split_sentences(long)) > 1000  # it did split: real sentences, not one span
