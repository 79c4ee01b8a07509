"""Sources named as a reader would name them, read off real seed sentences; the quote stays verbatim."""

from __future__ import annotations

import pytest

from answers.figures import attribution_of, find_figures
from answers.sources import source_name


@pytest.mark.parametrize(
    ("sentence", "value", "source"),
    [
        (
            "Nach Angaben des südkoreanischen Geheimdienstes halten sich bereits 3.000 nordkoreanische Soldaten in Russland auf.",
            "3.000",
            "südkoreanischer Geheimdienst",
        ),
        (
            (
                "Der südkoreanische Geheimdienst hatte am Freitag mitgeteilt, dass 1.500 nordkoreanische Soldaten "
                "nach Russland verlegt worden seien."
            ),
            "1.500",
            "südkoreanischer Geheimdienst",
        ),
        (
            (
                "Die südkoreanische Nachrichtenagentur Yonhap berichtete zudem, dass Pjöngjang insgesamt „vier "
                "Brigaden mit 12.000 Soldaten, unter ihnen auch Spezialkräfte“, an die Front in der Ukraine schicken wolle."
            ),
            "12.000",
            "südkoreanische Nachrichtenagentur Yonhap",
        ),
        (
            (
                "Nun hat Nordkorea nach übereinstimmenden Erkenntnissen der US-Regierung und Südkoreas zudem "
                "mehrere tausend Soldaten nach Russland entsandt."
            ),
            "mehrere tausend",
            "US-Regierung und Südkorea",
        ),
    ],
)
def test_figure_sources_are_named_in_the_nominative(sentence: str, value: str, source: str) -> None:
    (figure,) = [f for f in find_figures(sentence) if f.value == value]
    assert attribution_of(sentence, figure.start) == source


def test_a_pronoun_source_is_resolved_to_the_person_named_before_in_clean_words() -> None:
    previous = "Ähnlich hatte sich der ukrainische Präsident Wolodymyr Selenskyj geäußert."
    sentence = (
        '"Wir wissen von den Geheimdiensten, dass 10.000 Soldaten aus Nordkorea dafür trainiert werden, gegen uns zu '
        'kämpfen", sagte er nach einem Treffen mit den EU-Staats- und Regierungschefs in Brüssel.'
    )
    (figure,) = find_figures(sentence)
    assert attribution_of(sentence, figure.start, previous) == "ukrainischer Präsident Wolodymyr Selenskyj"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("südkoreanischen Geheimdienstes", "südkoreanischer Geheimdienst"),
        ("Seouls", "Seoul"),
        ("staatlichen Nachrichtenagentur Anadolu", "staatliche Nachrichtenagentur Anadolu"),
        ("türkischen Militär", "türkisches Militär"),
        ("ukrainischen Präsidenten Selenskyj", "ukrainischer Präsident Selenskyj"),
        ("vonseiten der slowenischen Polizei", "slowenische Polizei"),
        ("externen Quellen", "externe Quellen"),
        ("Wir", None),
    ],
)
def test_inflected_slices_become_the_names_a_reader_uses(raw: str, clean: str | None) -> None:
    assert source_name(raw) == clean


def test_a_source_never_starts_inside_a_word() -> None:
    sentence = "Bei den Angriffen im Südosten wurden dem türkischen Militär zufolge 31 Soldaten getötet."
    (figure,) = find_figures(sentence)
    assert attribution_of(sentence, figure.start) == "türkisches Militär"
