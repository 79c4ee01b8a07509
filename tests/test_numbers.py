"""One number normaliser: every spelling of a number in digit groups reads as the same number everywhere."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from answers.figures import find_figures, normalize_value
from answers.grounding import numbers_in, unsupported_numbers
from retrieval.dedup import sentence_tokens
from retrieval.lexical import tokenize
from retrieval.numbers import GROUP_SEPARATORS, join_digit_groups


def grouped(n: int, separator: str) -> str:
    """`n` written with `separator` between groups of three digits ("12.000")."""
    return f"{n:,}".replace(",", separator)


numbers = st.integers(min_value=1000, max_value=10**12)
spellings = st.sampled_from([*GROUP_SEPARATORS, ""])


@given(numbers, spellings, spellings)
def test_every_digit_group_spelling_of_a_number_normalises_the_same(n: int, first: str, second: str) -> None:
    sentence = "Laut Geheimdienst könnten es bis zu {} Soldaten werden."
    a, b = sentence.format(grouped(n, first)), sentence.format(grouped(n, second))

    assert join_digit_groups(grouped(n, first)) == str(n)
    assert join_digit_groups(a) == join_digit_groups(b)
    assert str(n) in numbers_in(a) and numbers_in(a) == numbers_in(b)
    assert not unsupported_numbers(a, [b])
    assert sentence_tokens(a) == sentence_tokens(b)
    assert [f.normalized for f in find_figures(a)] == [f.normalized for f in find_figures(b)] == [str(n)]
    assert normalize_value(grouped(n, first)) == normalize_value(grouped(n, second)) == str(n)


@given(numbers, spellings, spellings)
def test_bm25_reads_every_spelling_as_one_token(n: int, first: str, second: str) -> None:
    [a], [b] = tokenize([f"Es waren {grouped(n, first)} Soldaten."]), tokenize([f"Es waren {grouped(n, second)} Soldaten."])
    assert a == b and str(n) in a


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,5 Millionen", "1,5 Millionen"),  # a decimal comma is not a digit group
        ("am 24.10.2024", "am 24.10.2024"),  # nor is a date
        ("im Jahr 2024 150 Soldaten", "im Jahr 2024 150 Soldaten"),  # a year next to a count stays two numbers
        ("0,125 Prozent", "0,125 Prozent"),  # groups never start with 0
        ("1.500.000 Euro und 12 000 Soldaten", "1500000 Euro und 12000 Soldaten"),
    ],
)
def test_what_is_not_a_digit_group_stays_as_written(text: str, expected: str) -> None:
    assert join_digit_groups(text) == expected


def test_12_000_with_a_space_is_one_number_in_every_module() -> None:
    text = "Bis Dezember sollen es 12 000 Soldaten sein."
    assert numbers_in(text) == {"12000"}
    assert "12000" in sentence_tokens(text) and "12" not in sentence_tokens(text)
    assert "12000" in tokenize([text])[0] and "12" not in tokenize([text])[0]
    assert [f.value for f in find_figures(text)] == ["12 000"]


@pytest.mark.slow
def test_an_index_whose_bm25_tokens_predate_the_normaliser_is_refused_then_rebuilt(
    writable_seed_index, e5_embedder
) -> None:
    import json
    import sqlite3

    from retrieval.errors import IndexCorruptError
    from retrieval.store_protocol import SCHEMA_VERSION
    from retrieval.stores.embedded.indexer import build_index
    from retrieval.stores.embedded.store import current_generation, load_index
    from tests.conftest import SEEDS, make_settings

    settings = make_settings(writable_seed_index)
    meta = current_generation(settings.index_dir) / "meta.sqlite"
    with sqlite3.connect(meta) as connection:  # an index written before "12 000" became one token
        connection.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (json.dumps(1),))

    with pytest.raises(IndexCorruptError, match="newsbot index"):
        load_index(settings.index_dir)
    build_index([SEEDS], settings, embedder=e5_embedder)
    assert load_index(settings.index_dir).info.schema_version == SCHEMA_VERSION


def test_the_postgres_full_text_input_joins_digit_groups_like_bm25() -> None:
    from retrieval.stores.postgres.store import full_text_input

    assert full_text_input("Bis Dezember 12 000 Soldaten, davon 1.500 in Kursk") == "Bis Dezember 12000 Soldaten, davon 1500 in Kursk"
