"""Cleaning raw page dumps: boilerplate goes, every article sentence stays; metadata is the article's own."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.clean import clean_lines
from retrieval.ingest import read_article
from tests.conftest import SEEDS


def seed(prefix: str):
    return read_article(next(SEEDS.glob(f"{prefix}_*.txt")))


@pytest.mark.parametrize(
    ("prefix", "line"),
    [
        ("001", "1. Zum Inhalt springen"),  # skip link
        ("001", "2. Zur Hauptnavigation springen"),  # navigation
        ("001", "PolitikUkraine"),  # breadcrumb
        ("001", "Bild: François WALSCHAERTS/AFP"),  # photo credit
        ("001", "NATO-Generalsekretär Mark Rutte spricht vor einem Mikrofon"),  # photo caption
        ("001", "Drei russische Soldaten in einem bewaldeten Gebiet in der Region Kursk"),  # caption
        ("001", "haz/sti (afp, dpa, rtr)"),  # agency sign-off
        ("001", "Selenskyj sucht Unterstützung für \"Siegesplan\" in Europa"),  # other headline after sign-off
        ("000", "- Themen:"),  # tag list
        ("000", "- #Wahlen"),  # hashtag
        ("002", "Melden sie sich an"),  # login prompt
        ("002", "Registrieren Sie sich kostenlos"),  # login prompt
        ("002", "Sie müssen angemeldet sein um kommentieren zu können."),
        ("002", "- Exporte legen 2024 auf Rekordwert von 3,4 Billionen Euro zu - 13. Januar 2025."),  # headline list
        ("003", "Wissenswertes zum Thema"),  # related-content teaser
    ],
)
def test_boilerplate_line_is_removed(prefix: str, line: str) -> None:
    article = seed(prefix)
    assert line not in article.text.split("\n")


@pytest.mark.parametrize(
    ("prefix", "sentence"),
    [
        ("000", "Der südkoreanische Geheimdienst hatte am Freitag mitgeteilt, dass 1.500 nordkoreanische Soldaten nach Russland verlegt worden seien."),
        ("001", "Das NATO-Partnerland Südkorea hatte am Freitag mitgeteilt, das verfeindete Nordkorea habe 1500 Soldaten nach Russland verlegt."),
        ("001", "Außerdem verstoße das Vorgehen Nordkoreas gegen \"mehrere Resolutionen des UN-Sicherheitsrats und gegen die UN-Charta\"."),
        ("002", "Laut Schätzungen aus Seoul könnte Pjöngjang insgesamt rund 12.000 Soldaten schicken."),
        ("002", "Zudem vereinbarten Polen und Südkorea, dass Warschau die Technologie zur Herstellung von Kampfpanzern vom südkoreanischen Typ K2 einsetzen darf, die laut Experten eines Tages auch in der Ukraine produziert werden könnten."),
        ("003", "Insgesamt könnten bis zu 12.000 nordkoreanische Soldaten entsendet werden."),
        ("004", "Bis Dezember sollen es demnach 10.000 sein."),
    ],
)
def test_article_sentences_are_kept_verbatim(prefix: str, sentence: str) -> None:
    assert sentence in seed(prefix).text


def test_every_kept_line_comes_from_the_raw_page() -> None:
    for path in sorted(SEEDS.glob("*.txt")):
        raw = path.read_text(encoding="utf-8")
        for line in read_article(path).text.split("\n"):
            assert line in raw, f"{path.name}: {line!r} is not in the original page"


def test_caption_is_dropped_with_its_credit_but_article_text_is_not() -> None:
    cleaned = clean_lines(
        [
            "Die Regierung hat den Botschafter einbestellt.",
            "Kim Hong Kyun bei seinem Besuch bei der DW im Mai 2023",
            "Südkoreas Vize-Außenminister war früher Botschafter (hier bei der DW im Mai 2023)Bild: DW",
            "Die Bereitstellung nordkoreanischer Waffen sei eine Bedrohung.",
        ]
    )
    assert cleaned.kept == ["Die Regierung hat den Botschafter einbestellt.", "Die Bereitstellung nordkoreanischer Waffen sei eine Bedrohung."]


@pytest.mark.parametrize(
    ("prefix", "title", "published", "url", "outlet"),
    [
        ("000", "Südkorea bestellt russischen Botschafter wegen mutmaßlicher Truppenverlegung ein", None, None, None),
        ("001", "Ukraine-Krieg: NATO warnt Nordkorea vor Truppen für Russland", "2024-10-21", "https://p.dw.com/p/4m1qd", "DW"),
        # The related-headline list at the end carries "13. Januar 2025": not this article's date.
        ("002", "Ukraine-Krieg / Nordkoreanische Soldaten in russischer Region Kursk eingetroffen – kein Dementi von Putin", None, None, None),
        ("003", "USA warnt vor „gefährlicher“ Entwicklung: Nordkoreanische Soldaten für Russland im Ukraine-Krieg", "2024-10-22", None, "Kettner Edelmetalle"),
        ("004", "Russisch-nordkoreanische Kooperation Südkorea erwägt Waffenlieferungen an die Ukraine", "2024-10-24", None, None),
    ],
)
def test_seed_metadata(prefix: str, title: str, published: str | None, url: str | None, outlet: str | None) -> None:
    article = seed(prefix)
    assert article.doc_id.startswith(prefix + "_")
    assert article.title == title
    assert article.published == published
    assert article.url == url
    assert article.outlet == outlet
    assert article.language == "de"
    assert len(article.content_hash) == 64


def test_content_hash_follows_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("Titel der Meldung hier\nDer Text der Meldung ist lang genug, um als Artikel zu gelten, und er endet hier.\n")
    first = read_article(path).content_hash
    path.write_text(path.read_text() + "Ein weiterer Satz wurde ergänzt.\n")
    assert read_article(path).content_hash != first


# --- issue 28, item 8: invisible characters and the minimum length -----------------------------

ARTICLE_HEAD = "Nordkorea schickt Soldaten\n"
ARTICLE_BODY = (
    "Laut Schätzungen aus Seoul könnte Nordkorea bis zu 12.000 Soldaten nach Russland entsenden. "
    "Der südkoreanische Geheimdienst hatte am Freitag mitgeteilt, dass 1.500 nordkoreanische Soldaten verlegt worden seien."
)


def parse(text: str):
    from retrieval.ingest import parse_article

    return parse_article(text.encode("utf-8"), doc_id="probe", source_path="probe.txt", suffix=".txt")


@pytest.mark.parametrize("control", ["\u202e", "\u202d", "\u202a", "\u2066", "\u2067", "\u2069", "\u200e", "\u200f", "\u061c"])
def test_bidi_controls_never_survive_into_a_quote(control: str) -> None:
    from retrieval.sentences import split_sentences

    article = parse(ARTICLE_HEAD + ARTICLE_BODY.replace("Seoul", f"{control}Seoul{control}"))
    assert control not in article.text
    quotes = [article.text[s:e] for s, e in split_sentences(article.text)]
    assert quotes[1] == ARTICLE_BODY.split(" Der ")[0]  # the quote reads as it displays, verbatim from the text
    assert all(control not in q for q in quotes)


@pytest.mark.parametrize("invisible", ["\u200b", "\u2060", "\ufeff", "\u00ad"])
def test_a_zero_width_space_inside_a_figure_does_not_hide_it(invisible: str) -> None:
    from answers.figures import find_figures
    from retrieval.sentences import split_sentences

    article = parse(ARTICLE_HEAD + ARTICLE_BODY.replace("1.500", f"1.{invisible}500"))
    sentence = [article.text[s:e] for s, e in split_sentences(article.text)][2]
    assert "1.500" in sentence
    assert "1.500" in [f.value for f in find_figures(sentence)]


def test_an_article_under_the_minimum_length_is_skipped_naming_the_limit() -> None:
    from retrieval.errors import IngestError
    from retrieval.ingest import MIN_ARTICLE_CHARS

    with pytest.raises(IngestError, match=rf"\(\d+ characters; an article needs at least {MIN_ARTICLE_CHARS} characters"):
        parse("Kurzmeldung\n" + "Nordkorea schickt Soldaten. Seoul bestätigt es. Moskau schweigt.".ljust(42, "!")[:42])
