"""What an answer is: numbered citations with verbatim quotes, a figures table, and the answer text.

These are the only objects the front ends (CLI, Telegram) see; `Answer.to_json()` is the shape
of `newsbot ask --json`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class Citation:
    """A verbatim quote: `quote == article.text[start:end]` for article `doc_id`."""

    n: int
    doc_id: str
    title: str
    outlet: str | None
    published: str | None
    url: str | None
    quote: str
    start: int
    end: int
    also_reported_by: tuple[str, ...] = ()  # other doc_ids carrying a near-identical sentence


@dataclass(frozen=True)
class Figure:
    """A reported quantity, who it is attributed to, and the citations that carry it."""

    value: str
    what: str
    attributed_to: str | None
    citations: tuple[int, ...]


@dataclass
class Answer:
    """The result of answering one question (the same object for every front end)."""

    question: str
    language: Literal["en", "de"]
    abstained: bool
    answer: str
    figures: list[Figure] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)
    answerer: Literal["extractive", "llm"] = "extractive"
    dropped_sentences: int = 0
    note: str | None = None  # e.g. why the model's answer was not used
    timings: dict[str, float] = field(default_factory=dict)
    read_as: str | None = None  # a follow-up: the question it was read as (previous question + this one)

    def to_json(self) -> dict[str, Any]:
        """The public JSON shape (`ask --json`); internal fields such as timings are left out."""
        return {
            "question": self.question,
            "language": self.language,
            "abstained": self.abstained,
            "answer": self.answer,
            "figures": [
                {"value": f.value, "what": f.what, "attributed_to": f.attributed_to, "citations": list(f.citations)}
                for f in self.figures
            ],
            "citations": [
                {k: v for k, v in asdict(c).items() if k != "also_reported_by"}
                | {"also_reported_by": list(c.also_reported_by)}
                for c in self.citations
            ],
            "answerer": self.answerer,
            "dropped_sentences": self.dropped_sentences,
            "note": self.note,
            "read_as": self.read_as,
        }
