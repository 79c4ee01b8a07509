"""File formats and bad files: each is read or refused with a one-line reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.errors import IngestError, UnsupportedFileError
from retrieval.ingest import iter_article_files, read_article

BODY = (
    "Nach Angaben des südkoreanischen Geheimdienstes halten sich bereits 3.000 nordkoreanische Soldaten in Russland auf. "
    "Bis Dezember sollen es demnach 10.000 sein."
)


def test_html_is_reduced_to_its_main_text(tmp_path: Path) -> None:
    html = f"""<html><head><title>Südkorea erwägt Waffenlieferungen</title>
    <meta property="og:url" content="https://www.tagesschau.de/ausland/suedkorea-100.html">
    <meta property="og:site_name" content="tagesschau.de"></head>
    <body><nav><a href="/">Startseite</a> <a href="/ausland">Ausland</a></nav>
    <article><h1>Südkorea erwägt Waffenlieferungen</h1><p>{BODY}</p>
    <p>Die Truppen befänden sich in Militäreinrichtungen in Russland, wo sie mutmaßlich vorbereitet werden.</p></article>
    <footer>Impressum Datenschutz</footer></body></html>"""
    path = tmp_path / "tagesschau.html"
    path.write_text(html, encoding="utf-8")
    article = read_article(path)
    assert "3.000 nordkoreanische Soldaten" in article.text
    assert "Impressum" not in article.text and "Startseite" not in article.text
    assert article.title == "Südkorea erwägt Waffenlieferungen"
    assert article.doc_id == "tagesschau"


def test_markdown_loses_its_markup_but_not_its_words(tmp_path: Path) -> None:
    path = tmp_path / "meldung.md"
    path.write_text(f"# Truppen in Russland\n\n**{BODY}** Quelle: [DW](https://p.dw.com/p/4m1qd)\n", encoding="utf-8")
    article = read_article(path)
    assert article.title == "Truppen in Russland"
    assert BODY in article.text and "**" not in article.text
    assert article.url == "https://p.dw.com/p/4m1qd" and article.outlet == "DW"


@pytest.mark.parametrize(
    ("name", "content", "error", "reason"),
    [
        ("photo.jpg", b"\xff\xd8\xff\xe0JFIF", UnsupportedFileError, "unsupported file type .jpg"),
        ("empty.txt", b"   \n", IngestError, "empty"),
        ("binary.txt", b"\x00\x01\x02PK\x03\x04" * 50, IngestError, "binary"),
        ("short.txt", b"Nur ein Titel", IngestError, "no article text"),
        ("page.html", b"<html><body><script>var x = 1;</script></body></html>", IngestError, "no article text"),
    ],
)
def test_bad_files_are_refused_with_a_reason_naming_the_file(
    tmp_path: Path, name: str, content: bytes, error: type[Exception], reason: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(error) as caught:
        read_article(path)
    message = str(caught.value)
    assert name in message and reason in message and "\n" not in message


def test_windows_1252_text_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "alt.txt"
    path.write_bytes(("Meldung aus Seoul über Truppen\n" + BODY).encode("cp1252"))
    assert "südkoreanischen" in read_article(path).text


def test_folders_are_walked_recursively_without_hidden_files(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / ".git").mkdir()
    for path in (tmp_path / "a" / "x.txt", tmp_path / "a" / "b" / "y.md", tmp_path / ".git" / "z.txt"):
        path.write_text(BODY)
    found = [p.relative_to(tmp_path).as_posix() for p in iter_article_files([tmp_path])]
    assert found == ["a/b/y.md", "a/x.txt"]
