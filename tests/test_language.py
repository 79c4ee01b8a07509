"""Question and article language: the fast detector answers when it is sure, the full one otherwise
(retrieval/language.py; threshold fitted by training/fit_language_confidence.py)."""

from __future__ import annotations

import json

import pytest

from retrieval.language import FAST_CONFIDENCE, _detector, detect_language
from tests.conftest import SHARED

SEED_QUESTIONS = SHARED / "eval" / "seed_questions.jsonl"


@pytest.mark.parametrize(
    ("question", "language"),
    [
        ("How many soldiers were reported and by whom?", "en"),
        ("Wie viele nordkoreanische Soldaten wurden laut südkoreanischem Geheimdienst nach Russland verlegt?", "de"),
        ("Was sagte Kreml-Sprecher Peskow über die Zusammenarbeit mit Nordkorea?", "de"),
        ("Who denied that North Korea sent soldiers?", "en"),
    ],
)
def test_seed_questions_are_told_apart_by_language(question: str, language: str) -> None:
    assert detect_language(question) == language


def test_every_seed_question_gets_the_full_detectors_language() -> None:
    """The fast path may answer only where it agrees with the full detector on these questions."""
    if not SEED_QUESTIONS.is_file():
        pytest.skip(f"{SEED_QUESTIONS} not found")
    questions = [json.loads(line)["question"] for line in SEED_QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    full = _detector(False)
    for question in questions:
        expected = full.detect_language_of(question)
        assert detect_language(question) == ("de" if expected is not None and expected.name == "GERMAN" else "en"), question


def test_a_word_the_fast_detector_is_unsure_of_is_left_to_the_full_one() -> None:
    values = _detector(True).compute_language_confidence_values("Wer ist Kim Hong-kyun?")
    assert values[0].value < FAST_CONFIDENCE  # trigrams alone: 0.93 German
    assert detect_language("Wer ist Kim Hong-kyun?") == ("de" if _detector(False).detect_language_of("Wer ist Kim Hong-kyun?").name == "GERMAN" else "en")


def test_text_without_letters_gets_the_default() -> None:
    assert detect_language("1.500 / 2024", default="de") == "de"
