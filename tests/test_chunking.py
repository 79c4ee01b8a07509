"""Chunks are windows of whole sentences whose offsets slice the cleaned text exactly; near-duplicates are grouped."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.chunk import article_sentences, chunk_sentences
from retrieval.dedup import near_duplicate_groups
from retrieval.ingest import read_article
from retrieval.types import Article
from tests.conftest import SEEDS

SEED_ARTICLES = [read_article(p) for p in sorted(SEEDS.glob("*.txt"))]


def article_from(text: str) -> Article:
    return Article(doc_id="t", title="t", text=text, content_hash="x", source_path="t.txt")


@settings(max_examples=60, deadline=None)
@given(
    index=st.integers(0, len(SEED_ARTICLES) - 1),
    size=st.integers(1, 8),
    overlap=st.integers(0, 7),
    max_chars=st.integers(200, 2000),
)
def test_every_chunk_equals_its_slice_of_the_cleaned_text(index: int, size: int, overlap: int, max_chars: int) -> None:
    article = SEED_ARTICLES[index]
    overlap = min(overlap, size - 1)
    sentences = article_sentences(article)
    chunks = chunk_sentences(article, sentences, size, overlap, max_chars)
    covered = set()
    for chunk in chunks:
        assert chunk.text == article.text[chunk.start : chunk.end]
        assert chunk.start == sentences[chunk.first_sentence].start
        assert chunk.end == sentences[chunk.last_sentence].end
        assert chunk.last_sentence - chunk.first_sentence + 1 <= size
        covered.update(range(chunk.first_sentence, chunk.last_sentence + 1))
    assert covered == set(range(len(sentences))), "every sentence lands in some chunk"


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["Die NATO warnt.", "Seoul reagiert am 21. Oktober 2024.", "„Das ist ernst.“", "Kurz"]), max_size=30))
def test_chunks_of_generated_articles_are_exact_slices(parts: list[str]) -> None:
    article = article_from(" ".join(parts))
    for chunk in chunk_sentences(article, article_sentences(article), 3, 1, 300):
        assert chunk.text == article.text[chunk.start : chunk.end]


def test_neighbouring_chunks_share_the_configured_overlap() -> None:
    article = SEED_ARTICLES[0]
    chunks = chunk_sentences(article, article_sentences(article), 4, 1, 5000)
    for left, right in itertools.pairwise(chunks):
        assert right.first_sentence == left.last_sentence


def test_wire_sentence_in_two_articles_forms_one_group_and_both_copies_stay() -> None:
    sentences = [s for a in SEED_ARTICLES for s in article_sentences(a)]
    groups = near_duplicate_groups(sentences)
    wire = "Der südkoreanische Geheimdienst hatte am Freitag mitgeteilt, dass 1.500 nordkoreanische Soldaten"
    copies = [(s, g) for s, g in zip(sentences, groups) if s.text.startswith(wire)]
    assert {s.doc_id[:3] for s, _ in copies} == {"000", "003"}
    assert len({g for _, g in copies}) == 1 and copies[0][1] is not None


def test_sentences_unique_to_one_article_have_no_group() -> None:
    sentences = [s for a in SEED_ARTICLES for s in article_sentences(a)]
    groups = dict(zip((s.text for s in sentences), near_duplicate_groups(sentences)))
    assert groups["Laut Schätzungen aus Seoul könnte Pjöngjang insgesamt rund 12.000 Soldaten schicken."] is None
