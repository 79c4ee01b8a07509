"""What an answer is: a status, a one-line lead, a figures table, numbered verbatim citations.

These are the only objects the front ends (CLI, Telegram) see. They render the fields; none of
them parses text. `Answer.to_json()` is the shape of `newsbot ask --json`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from answers.labels import label

AnswerStatus = Literal["answered", "declined"]


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
    story: str | None = None  # the story (its newest article's title) when the collection holds several


@dataclass(frozen=True)
class DroppedSentence:
    """A sentence a model wrote that failed a check, and why (`ask --json` lists them).

    The sentence is as the model wrote it after Markdown was written out as plain text
    ("[text](url)" → "text (url)"), with its original citation numbers."""

    sentence: str
    reason: str


def markers(numbers: tuple[int, ...] | list[int]) -> str:
    """Citation markers as written after a line: "[1][3]"."""
    return "".join(f"[{n}]" for n in numbers)


@dataclass
class Answer:
    """The result of answering one question (the same object for every front end).

    `status` "declined" means the articles do not answer the question; its citations, if any,
    are the nearest passages, shown as such. `lead` is the one-line headline (a label from
    `answers.labels`). `text` is prose worded by a model (the LLM answerer), already checked
    sentence by sentence; the extractive answerer leaves it None and its answer is the figures
    and the quotes themselves.
    """

    question: str
    language: Literal["en", "de"]
    status: AnswerStatus
    lead: str
    figures: list[Figure] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)
    answerer: Literal["extractive", "llm"] = "extractive"
    text: str | None = None
    dropped_sentences: int = 0
    note: str | None = None  # e.g. why the model's answer was not used
    timings: dict[str, float] = field(default_factory=dict)
    read_as: str | None = None  # a follow-up: the question it was read as (previous question + this one)
    dropped: list[DroppedSentence] = field(default_factory=list)  # the model's sentences that failed a check

    @property
    def declined(self) -> bool:
        return self.status == "declined"

    @property
    def abstained(self) -> bool:
        """The name `ask --json` has always used for a declined answer."""
        return self.status == "declined"

    @property
    def answer(self) -> str:
        """The answer as plain text (the `answer` key of `--json`), rendered from the fields."""
        return plain_text(self)

    def to_json(self) -> dict[str, Any]:
        """The public JSON shape (`ask --json`); internal fields such as timings are left out."""
        return {
            "question": self.question,
            "language": self.language,
            "status": self.status,
            "abstained": self.abstained,
            "lead": self.lead,
            "answer": self.answer,
            "text": self.text,
            "figures": [
                {
                    "value": f.value,
                    "what": f.what,
                    "attributed_to": f.attributed_to,
                    "citations": list(f.citations),
                    "story": f.story,
                }
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
            "dropped": [{"sentence": d.sentence, "reason": d.reason} for d in self.dropped],
        }


def figure_line(figure: Figure, language: str) -> str:
    """One figure as a plain-text line: "- 12.000 Soldaten: Schätzungen aus Seoul [1][3]"."""
    who = figure.attributed_to or label(language, "unattributed")
    return f"- {figure.value} {figure.what}: {who} {markers(figure.citations)}"


def quote_line(citation: Citation) -> str:
    return f"- {citation.quote} [{citation.n}]"


def plain_text(answer: Answer) -> str:
    """Lead, then the model's prose, or the figures, or the quotes (the nearest ones when declined)."""
    if answer.text is not None:
        return answer.text
    lines = [answer.lead]
    if answer.declined:
        if answer.citations:
            lines.append(label(answer.language, "nearest"))
            lines += [quote_line(c) for c in answer.citations]
    elif answer.figures:
        story: str | None = None
        for figure in answer.figures:
            if figure.story and figure.story != story:
                story = figure.story
                lines.append(f"{story}:")
            lines.append(figure_line(figure, answer.language))
    else:
        lines += [quote_line(c) for c in answer.citations]
    return "\n".join(lines)
