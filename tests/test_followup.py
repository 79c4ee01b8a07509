"""Follow-up questions: read with the previous question of the conversation when they lean on it."""

from __future__ import annotations

import pytest

from answers.answer import answer
from answers.followup import Conversation, follow_up_probability, read_in_context

FIRST = "Wie viele Soldaten hat Nordkorea geschickt?"


@pytest.mark.parametrize(
    "follow_up", ["Und wer hat das gemeldet?", "How many are in Kursk?", "und Selenskyj?"]
)
def test_elliptical_question_is_read_with_the_previous_one(follow_up: str) -> None:
    read = read_in_context(FIRST, follow_up)
    assert read.follow_up
    assert read.text == f"{FIRST} {follow_up}"
    assert read.anchor == FIRST


@pytest.mark.parametrize(
    "question",
    [
        "Was sagte Putin zu den Satellitenbildern?",
        "What did NATO Secretary General Mark Rutte warn about?",
        "Wer ist Leonid Sluzki?",
        "Who is Zelensky?",
    ],
)
def test_question_that_stands_on_its_own_is_read_on_its_own_and_becomes_the_anchor(question: str) -> None:
    read = read_in_context(FIRST, question)
    assert not read.follow_up
    assert read.text == question and read.anchor == question


def test_first_question_of_a_conversation_is_read_as_asked_however_short() -> None:
    assert follow_up_probability("und Selenskyj?") > 0.5
    read = read_in_context(None, "und Selenskyj?")
    assert not read.follow_up and read.text == "und Selenskyj?"


def test_conversation_keeps_the_stand_alone_question_across_follow_ups_until_reset() -> None:
    conversation = Conversation()
    for question in (FIRST, "Und wer hat das gemeldet?", "und Selenskyj?"):
        conversation.remember(conversation.read(question))
    assert conversation.anchor == FIRST  # follow-ups hang on the first question, not on each other
    assert conversation.read("How many are in Kursk?").text == f"{FIRST} How many are in Kursk?"
    conversation.reset()
    assert not conversation.read("How many are in Kursk?").follow_up


@pytest.mark.slow
def test_follow_up_answer_says_how_it_was_read_and_answers_the_combined_question(
    seed_settings, seed_retriever
) -> None:
    alone = answer("Und wer hat das gemeldet?", seed_settings, seed_retriever)
    followed = answer("Und wer hat das gemeldet?", seed_settings, seed_retriever, previous=FIRST)

    assert alone.read_as is None
    assert followed.question == "Und wer hat das gemeldet?"
    assert followed.read_as == f"{FIRST} Und wer hat das gemeldet?"
    assert followed.to_json()["read_as"] == followed.read_as
    assert followed.language == "de"
    # Read with its previous question, it is a question about soldiers and who reported them.
    assert {f.value for f in followed.figures} & {"1.500", "12.000", "10.000", "3.000"}
    assert any(f.attributed_to for f in followed.figures)
