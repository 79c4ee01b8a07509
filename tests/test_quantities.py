"""Quantities in digits and in English or German words compare as values; vague amounts only with vague ones."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from answers.grounding import unsupported_numbers
from answers.quantities import quantities_in, unsupported_quantities

SEED_QUOTE_1500 = (
    "Der südkoreanische Geheimdienst hatte am Freitag mitgeteilt, dass 1.500 nordkoreanische Soldaten nach "
    "Russland verlegt worden seien."
)
SEED_QUOTE_SEVERAL = (
    "Nun hat Nordkorea nach übereinstimmenden Erkenntnissen der US-Regierung und Südkoreas zudem mehrere tausend "
    "Soldaten nach Russland entsandt, die nach Angaben Seouls in der Ukraine eingesetzt werden sollen."
)


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("sixty North Korean soldiers", {"60"}),
        ("sechzig nordkoreanische Soldaten", {"60"}),
        ("eighteen", {"18"}),
        ("achtzehn Panzer", {"18"}),
        ("twenty-one soldiers", {"21"}),
        ("einundzwanzig Soldaten", {"21"}),
        ("three hundred and twenty", {"320"}),
        ("dreihundertzwanzig", {"320"}),
        ("twelve thousand troops", {"12000"}),
        ("zwölftausend Soldaten", {"12000"}),
        ("zwölf Tausend Soldaten", {"12000"}),
        ("zweitausend Soldaten", {"2000"}),
        ("fifteen hundred soldiers", {"1500"}),
        ("eintausendfünfhundert Soldaten", {"1500"}),
        ("zwei Millionen Menschen", {"2000000"}),
        ("1,5 Millionen Menschen", {"1500000"}),
        ("1.5 million people", {"1500000"}),
        ("12.000 Soldaten", {"12000"}),
        ("12 000 Soldaten", {"12000"}),
        ("1500 Soldaten", {"1500"}),
        ("5,3 Prozent", {"5.3"}),
        ("mehrere tausend Soldaten", {"~1000"}),
        ("several thousand soldiers", {"~1000"}),
        ("thousands of soldiers", {"~1000"}),
        ("Tausende Soldaten", {"~1000"}),
        ("tens of thousands of people", {"~10000"}),
        ("Zehntausende Menschen", {"~10000"}),
        ("Millionen Menschen", {"~1000000"}),
        # Not figures: the article "one"/"ein", ordinals.
        ("one of the soldiers", set()),
        ("ein Soldat und eine Soldatin", set()),
        ("on the second day", set()),
        ("am dritten Tag", set()),
    ],
)
def test_quantities_in_digits_and_words_read_as_values(text, keys):
    assert {q.key for q in quantities_in(text)} == keys


@pytest.mark.parametrize(
    ("line", "quote", "missing"),
    [
        ("South Korea reported sixty soldiers.", SEED_QUOTE_1500, ["sixty"]),
        ("Südkorea meldete sechzig Soldaten.", SEED_QUOTE_1500, ["sechzig"]),
        ("South Korea reported fifteen hundred soldiers.", SEED_QUOTE_1500, []),
        ("South Korea reported 1,500 soldiers.", SEED_QUOTE_1500, []),
        ("Several thousand soldiers were sent.", SEED_QUOTE_SEVERAL, []),
        ("Thousands of soldiers were sent.", SEED_QUOTE_SEVERAL, []),
        # A vague amount is no exact figure and an exact figure no vague amount.
        ("Thousands of soldiers were moved.", SEED_QUOTE_1500, ["Thousands"]),
        ("Two thousand soldiers were sent.", SEED_QUOTE_SEVERAL, ["Two thousand"]),
    ],
)
def test_a_line_is_supported_only_by_the_values_its_quotes_state(line, quote, missing):
    assert [q.text for q in unsupported_quantities(line, [quote])] == missing


def test_grounding_checks_number_words_and_ignores_citation_markers():
    assert unsupported_numbers("Es waren sechzig Soldaten [2].", [SEED_QUOTE_1500]) == {"sechzig"}
    assert unsupported_numbers("Es waren 1.500 Soldaten [2].", [SEED_QUOTE_1500]) == set()


@given(st.integers(min_value=1, max_value=10**9))
def test_a_number_reads_the_same_with_any_thousands_separator(n: int) -> None:
    grouped = f"{n:,}"
    spellings = {
        grouped,
        grouped.replace(",", "."),
        grouped.replace(",", " "),
        grouped.replace(",", "\u202f"),
        str(n),
    }
    assert {frozenset(q.key for q in quantities_in(f"Es waren {s} Soldaten.")) for s in spellings} == {
        frozenset({str(n)})
    }
