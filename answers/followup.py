"""Follow-up questions: is a new question read on its own, or together with the previous one?

A chat is a conversation: after "Wie viele Soldaten hat Nordkorea geschickt?", "Und wer hat das
gemeldet?" or "und Selenskyj?" mean little alone. `read_in_context(previous, question)` decides
from signals that do not depend on the topic (a very short question, a leading "und"/"and", a
pronoun or demonstrative with nothing to refer to, no content words of its own) and returns the
question to search with: the previous stand-alone question followed by the follow-up, the usual
history-concatenation reading of conversational search. A `Conversation` keeps that previous
question per chat (Telegram) or per session (`newsbot chat`); `ask` stays stateless.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

_WORD = re.compile(r"\w+", re.UNICODE)

QUESTION_WORDS = frozenset(
    [
        "wer",
        "wen",
        "wem",
        "wessen",
        "was",
        "wann",
        "wo",
        "wohin",
        "woher",
        "wie",
        "wieso",
        "weshalb",
        "warum",
        "welche",
        "welcher",
        "welches",
        "welchen",
        "welchem",
        "wieviel",
        "wieviele",
        "viele",
        "viel",
        "who",
        "whom",
        "whose",
        "what",
        "when",
        "where",
        "why",
        "how",
        "which",
        "many",
        "much",
    ]
)
CONJUNCTIONS = frozenset(["und", "and", "also", "aber", "but", "sowie", "plus", "auch", "too", "oder", "or"])
# Leading phrases that ask about something new in the frame of the previous question.
_ABOUT = re.compile(
    r"^(?:what|how)\s+about\b|^was\s+ist\s+mit\b|^und\s+was\s+ist\s+mit\b|^wie\s+steht\s+es\s+mit\b",
    re.IGNORECASE,
)
ANAPHORS = frozenset(
    [
        "das",
        "dies",
        "diese",
        "dieser",
        "dieses",
        "diesen",
        "diesem",
        "dort",
        "da",
        "dabei",
        "davon",
        "damit",
        "dazu",
        "darüber",
        "daran",
        "dafür",
        "er",
        "sie",
        "es",
        "ihn",
        "ihm",
        "ihr",
        "ihnen",
        "ihre",
        "ihren",
        "ihrer",
        "sein",
        "seine",
        "seiner",
        "seinen",
        "jene",
        "jener",
        "jenes",
        "it",
        "its",
        "they",
        "them",
        "their",
        "that",
        "this",
        "those",
        "these",
        "there",
        "he",
        "she",
        "him",
        "her",
        "his",
    ]
)


@lru_cache(maxsize=1)
def _function_words() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN, STOPWORDS_GERMAN

    return frozenset(STOPWORDS_GERMAN) | frozenset(STOPWORDS_EN) | QUESTION_WORDS | CONJUNCTIONS | ANAPHORS


FEATURES = (
    "log_tokens", "content_words", "leading_conjunction", "anaphors", "starts_with_question_word", "no_question_word",
    "elided_noun", "no_cue",
)  # fmt: skip
# "How many are ...", "wie viele sind ...": a quantity word whose counted noun is left out.
_QUANTIFIERS = frozenset(["many", "much", "viele", "viel", "wieviele", "wieviel"])


def features(question: str) -> list[float]:
    """The follow-up signals of one question, in the order of `FEATURES`."""
    tokens = _WORD.findall(question)
    lower = [t.lower() for t in tokens]
    function_words = _function_words()
    content = [t for t in lower if t not in function_words and (len(t) > 1 or t.isdigit())]
    elided = any(
        t in _QUANTIFIERS and (i + 1 == len(lower) or lower[i + 1] in function_words)
        for i, t in enumerate(lower)
    )
    anaphors = sum(t in ANAPHORS for t in lower)
    leading = bool(lower) and (lower[0] in CONJUNCTIONS or bool(_ABOUT.match(question.strip())))
    return [
        math.log1p(len(tokens)),
        float(min(len(content), 6)),
        float(leading),
        float(anaphors),
        float(bool(lower) and lower[0] in QUESTION_WORDS),
        float(not any(t in QUESTION_WORDS for t in lower)),
        float(elided),
        float(not (leading or anaphors or elided)),  # nothing in it that points back
    ]


# Logistic regression over `FEATURES`, fitted by training/fit_followup.py on XQuAD de+en questions
# (stand-alone) against elliptical follow-ups constructed from them, split by article: held-out
# accuracy 0.996, F1 0.996 on 796 questions of 9 articles (2026-11-29; the script prints the current scores).
WEIGHTS = (-0.265, -2.942, 4.908, 0.543, -0.688, -0.453, -0.138, -4.511)
BIAS = 7.457
# The model's own decision boundary (probability 0.5), not a tuned cut.
FOLLOW_UP_PROBABILITY = 0.5


def follow_up_probability(question: str) -> float:
    """How likely `question` leans on an earlier question (0..1)."""
    z = BIAS + sum(w * x for w, x in zip(WEIGHTS, features(question)))
    return 1.0 / (1.0 + math.exp(-z))


@dataclass(frozen=True)
class ReadQuestion:
    """How a question was read: `text` is what is searched; `anchor` the stand-alone question it hangs on."""

    asked: str
    text: str
    follow_up: bool
    anchor: str


def read_in_context(previous: str | None, question: str) -> ReadQuestion:
    """The question as it should be answered, given the previous stand-alone question of the conversation.

    A follow-up is read as "<previous> <follow-up>"; a question that stands on its own (or the
    first of a conversation) is read as asked and becomes the new anchor.
    """
    if previous and follow_up_probability(question) >= FOLLOW_UP_PROBABILITY:
        return ReadQuestion(
            asked=question, text=f"{previous.rstrip()} {question}", follow_up=True, anchor=previous
        )
    return ReadQuestion(asked=question, text=question, follow_up=False, anchor=question)


@dataclass
class Conversation:
    """The previous stand-alone question of one chat or session (None after `/new` or `:new`)."""

    anchor: str | None = None

    def read(self, question: str) -> ReadQuestion:
        return read_in_context(self.anchor, question)

    def remember(self, read: ReadQuestion) -> None:
        self.anchor = read.anchor

    def reset(self) -> None:
        self.anchor = None
