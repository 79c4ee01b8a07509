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
