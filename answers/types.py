"""What an answer is: a status, a one-line lead, a figures table, numbered verbatim citations.

These are the only objects the front ends (CLI, Telegram) see. They render the fields; none of
them parses text. `Answer.to_json()` is the shape of `newsbot ask --json`.

`walk_answer` is the one walk over an answer that every front end shares (the terminal, Telegram
and the plain text here used to repeat it and drifted apart); each front end only says, in an
`AnswerDrawing`, how a piece is drawn. The walk also dates the figures: each figure row carries
the publication days of the citations it is quoted from (per citation, so a value merged from two
outlets names both days), and the row whose newest day is the latest of its story is marked.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

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


class PlainText:
    """The `AnswerDrawing` of `Answer.answer`: lead, then the model's prose, or the figures, or the quotes
    (the nearest ones when declined). Figures carry no dates here: every number in this text must be
    one its quotes carry (tests/test_answers.py), and the citations carry the dates."""

    def __init__(self, language: str) -> None:
        self.language = language
        self.lines: list[str] = []
        self.prose = False

    def read_as(self, question: str) -> None:
        return None

    def declined(self, lead: str, nearest: bool) -> None:
        self.lines.append(lead)

    def model_text(self, text: str) -> None:
        self.lines, self.prose = [text], True  # the prose is the whole text: its figures and quotes are cited in it

    def lead(self, lead: str) -> None:
        self.lines.append(lead)

    def figures(self, stories: list[StoryRows]) -> None:
        if self.prose:
            return
        for group in stories:
            if group.story:
                self.lines.append(f"{group.story}:")
            self.lines += [figure_line(row.figure, self.language) for row in group.rows]

    def note(self, note: str) -> None:
        return None

    def quotes(self, citations: list[Citation], declined: bool, figures_shown: bool) -> None:
        if self.prose or not citations or figures_shown:
            return
        if declined:
            self.lines.append(label(self.language, "nearest"))
        self.lines += [quote_line(c) for c in citations]


def plain_text(answer: Answer) -> str:
    """Lead, then the model's prose, or the figures, or the quotes (the nearest ones when declined)."""
    drawing = PlainText(answer.language)
    walk_answer(answer, drawing)
    return "\n".join(drawing.lines)


@dataclass(frozen=True)
class FigureRow:
    """A figure with the days its citations were published and whether it is its story's newest."""

    figure: Figure
    dated: tuple[tuple[int, str], ...]  # (citation number, publication day), for the citations that have a day
    newest: bool = False

    @property
    def days(self) -> tuple[str, ...]:
        """The distinct days, newest first."""
        return tuple(sorted({day for _, day in self.dated}, reverse=True))

    def dates_text(self, newest_word: str) -> str:
        """"2024-10-21" when its citations share a day, else "[1] 2024-10-21, [3] 2024-11-05" (each
        source's day); "(newest)" after the story's newest figure. Empty when no citation is dated."""
        text = self.days[0] if len(self.days) == 1 else ", ".join(f"[{n}] {day}" for n, day in self.dated)
        return f"{text} ({newest_word})" if self.newest and text else text


@dataclass(frozen=True)
class StoryRows:
    """The figure rows of one story (story None: the collection holds one story, or it is unknown)."""

    story: str | None
    rows: tuple[FigureRow, ...]


class AnswerDrawing(Protocol):
    """How one front end draws the pieces of an answer, in the order `walk_answer` calls them."""

    def read_as(self, question: str) -> None: ...

    def declined(self, lead: str, nearest: bool) -> None: ...

    def model_text(self, text: str) -> None: ...

    def lead(self, lead: str) -> None: ...

    def figures(self, stories: list[StoryRows]) -> None: ...

    def note(self, note: str) -> None: ...

    def quotes(self, citations: list[Citation], declined: bool, figures_shown: bool) -> None: ...


def figure_rows(answer: Answer) -> list[StoryRows]:
    """The answer's figures grouped by story in their order, each row dated by its citations."""
    published = {c.n: c.published[:10] for c in answer.citations if c.published}
    stories: dict[str | None, list[FigureRow]] = {}
    for figure in answer.figures:
        dated = tuple((n, published[n]) for n in figure.citations if n in published)
        stories.setdefault(figure.story, []).append(FigureRow(figure, dated))
    grouped = []
    for story, rows in stories.items():
        newest = [max(row.days) if row.days else "" for row in rows]
        latest = max(newest, default="")
        # Marked only where it tells something: several rows, dated differently, one of them latest.
        if latest and len(set(newest)) > 1 and newest.count(latest) == 1:
            rows = [FigureRow(r.figure, r.dated, newest=(day == latest)) for r, day in zip(rows, newest)]
        grouped.append(StoryRows(story, tuple(rows)))
    return grouped


def walk_answer(answer: Answer, drawing: AnswerDrawing) -> None:
    """Draw `answer` piece by piece: how it was read, its decision and lead or prose, its figures,
    its note, then its quotes (the nearest passages when declined)."""
    if answer.read_as:
        drawing.read_as(answer.read_as)
    figures_shown = False
    if answer.declined:
        drawing.declined(answer.lead, bool(answer.citations))
    else:
        if answer.text is not None:
            drawing.model_text(answer.text)  # checked prose; the figures table stays beside it
        else:
            drawing.lead(answer.lead)
        if answer.figures:
            drawing.figures(figure_rows(answer))
            figures_shown = True
    if answer.note:
        drawing.note(answer.note)
    drawing.quotes(answer.citations, answer.declined, figures_shown)
