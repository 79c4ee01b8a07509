"""Figures and who reported them, read off real seed sentences."""

from __future__ import annotations

import pytest

from answers.figures import attribution_of, find_figures, normalize_value


@pytest.mark.parametrize(
    ("sentence", "previous", "value", "what", "who"),
    [
        (
            "Der südkoreanische Geheimdienst hatte am Freitag mitgeteilt, dass 1.500 nordkoreanische Soldaten nach Russland verlegt worden seien.",
            None, "1.500", "nordkoreanische Soldaten", "südkoreanischer Geheimdienst",
        ),
        (
            "Die südkoreanische Nachrichtenagentur Yonhap berichtete zudem, dass Pjöngjang insgesamt „vier Brigaden mit 12.000 Soldaten, unter ihnen auch Spezialkräfte“, an die Front in der Ukraine schicken wolle.",
            None, "12.000", "Soldaten", "südkoreanische Nachrichtenagentur Yonhap",
        ),
        (
            "Die südkoreanische Nachrichtenagentur Yonhap hatte zuvor unter Berufung auf den Geheimdienst berichtet, Pjöngjang wolle insgesamt \"vier Brigaden mit 12.000 Soldaten, unter ihnen auch Spezialkräfte\" an die Front schicken.",
            None, "12.000", "Soldaten", "südkoreanische Nachrichtenagentur Yonhap (unter Berufung auf Geheimdienst)",
        ),
        (
            "\"Wir wissen von den Geheimdiensten, dass 10.000 Soldaten aus Nordkorea dafür trainiert werden, gegen uns zu kämpfen\", sagte er nach einem Treffen mit den EU-Staats- und Regierungschefs in Brüssel.",
            "Ähnlich hatte sich der ukrainische Präsident Wolodymyr Selenskyj geäußert.",
            "10.000", "Soldaten", "ukrainischer Präsident Wolodymyr Selenskyj",
        ),
        (
            "Laut Schätzungen aus Seoul könnte Pjöngjang insgesamt rund 12.000 Soldaten schicken.",
            None, "12.000", "Soldaten", "Schätzungen aus Seoul",
        ),
        (
            "Nach Angaben des südkoreanischen Geheimdienstes halten sich bereits 3.000 nordkoreanische Soldaten in Russland auf.",
            None, "3.000", "nordkoreanische Soldaten", "südkoreanischer Geheimdienst",
        ),
        (
            "Den Angaben zufolge werden mindestens 3000 nordkoreanische Soldaten derzeit in Russland trainiert.",
            "Nun hat Nordkorea nach übereinstimmenden Erkenntnissen der US-Regierung und Südkoreas zudem mehrere tausend Soldaten nach Russland entsandt, die nach Angaben Seouls in der Ukraine eingesetzt werden sollen.",
            "3000", "nordkoreanische Soldaten", "Seoul",
        ),
        (
            "Die Regierung in Seoul werde nicht untätig herumsitzen, während Tausende nordkoreanische Soldaten für den Kampfeinsatz in Russland ausgebildet würden, sagte der südkoreanische Präsident Yoon Suk Yeol.",
            None, "Tausende", "nordkoreanische Soldaten", "südkoreanischer Präsident Yoon Suk Yeol",
        ),
        (
            "Nun hat Nordkorea nach übereinstimmenden Erkenntnissen der US-Regierung und Südkoreas zudem mehrere tausend Soldaten nach Russland entsandt, die nach Angaben Seouls in der Ukraine eingesetzt werden sollen.",
            None, "mehrere tausend", "Soldaten", "US-Regierung und Südkorea",
        ),
    ],
)  # fmt: skip
def test_figure_with_what_it_counts_and_who_reported_it(
    sentence: str, previous: str | None, value: str, what: str, who: str
) -> None:
    figure = next(f for f in find_figures(sentence) if f.value == value)
    assert figure.what == what
    assert attribution_of(sentence, figure.start, previous) == who
    assert sentence[figure.start : figure.end] == value


def test_sentence_without_a_named_source_is_not_given_one() -> None:
    sentence = "Insgesamt könnten bis zu 12.000 nordkoreanische Soldaten entsendet werden."
    figure = find_figures(sentence)[0]
    assert attribution_of(sentence, figure.start) is None


@pytest.mark.parametrize(
    "sentence",
    [
        "Die Archivaufnahme vom September 2024 zeigt russische Soldaten in der Region Kursk.",
        "Ukraine-Krieg: NATO warnt Nordkorea am 21. Oktober 2024 vor Truppen für Russland.",
        "Stand: 24.10.2024 12:42 Uhr",
        "Warschau darf die Technologie vom südkoreanischen Typ K2 einsetzen.",
    ],
)
def test_dates_times_years_and_model_names_are_not_figures(sentence: str) -> None:
    assert find_figures(sentence) == []


def test_same_figure_written_two_ways_compares_equal() -> None:
    assert normalize_value("1.500") == normalize_value("1500") == "1500"
    assert normalize_value("12.000") != normalize_value("10.000")
