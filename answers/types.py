"""What an answer is: a status, a one-line lead, a figures table, numbered verbatim citations.

These are the only objects the front ends (CLI, Telegram) see. They render the fields; none of
them parses text. `Answer.to_json()` is the shape of `newsbot ask --json`.

`walk_answer` is the one walk over an answer that every front end shares (the terminal, Telegram
and the plain text here used to repeat it and drifted apart); each front end only says, in an
`AnswerDrawing`, how a piece is drawn. The walk also dates the figures: each figure row carries
the sources it stands for, each with who the sentence names, the outlet and its day (a value
reported by Yonhap in October and by the US in November is one row naming both, newest first),
and the row whose newest day is the latest of its story is marked. A day that is only when the
article was fetched or indexed is shown as such (answers/dated.py), never as a publication day.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from answers.dated import best_day, date_text
from answers.labels import label
from retrieval.types import DateSource

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
    date_source: DateSource | None = None  # as `Article.date_source`: what `published`/`fallback_date` are
    fallback_date: str | None = None  # no publication day: the day the article was fetched or indexed


@dataclass(frozen=True)
class FigureSource:
    """Who the sentence of one citation attributes a figure to (None: the sentence names nobody)."""

    citation: int
    attributed_to: str | None


@dataclass(frozen=True)
class Figure:
    """A reported quantity, who it is attributed to, and the citations that carry it."""

    value: str
    what: str
    attributed_to: str | None
    citations: tuple[int, ...]
    story: str | None = None  # the story (its newest article's title) when the collection holds several
    sources: tuple[FigureSource, ...] = ()  # per citation who it names; empty: only `attributed_to` is known


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
                    "value": row.figure.value,
                    "what": row.figure.what,
                    "attributed_to": row.figure.attributed_to,
                    "citations": list(row.figure.citations),
                    "story": row.figure.story,
                    "newest": row.newest,
                    "sources": [
                        {
                            "citations": list(source.citations),
                            "attributed_to": source.attributed_to,
                            "outlet": source.outlet,
                            "date": source.day,
                            "date_source": source.date_source,
                        }
                        for source in row.sources
                    ],
                }
                for group in figure_rows(self)
                for row in group.rows
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
class SourceDay:
    """One source a figure row stands for: who its sentences name, the outlet that carried them and their day."""

    citations: tuple[int, ...]
    attributed_to: str | None  # as the sentence names it; None: it names nobody
    outlet: str | None
    day: str | None  # the best day known (YYYY-MM-DD), for ordering
    date_source: DateSource | None  # "published", or "fetched"/"indexed" when the article gave no date
    day_text: str | None  # as shown: "2024-10-21", or "abgerufen am 2026-12-06"
    attribution_known: bool = True  # False: the figure did not say which citation names whom

    def who(self, unattributed: str, with_day: bool = True) -> str:
        """"US-Verteidigungsministerium (Reuters, 2024-11-05)", "Yonhap (2024-10-21)", "keine Quelle … (DW)"
        (without the day where a column of its own shows it)."""
        day = self.day_text if with_day else None
        if not self.attribution_known:
            return ", ".join(p for p in (self.outlet, day) if p)
        named = self.attributed_to or unattributed
        about = [p for p in (self.outlet, day) if p and not (p == self.outlet and p in named)]
        return f"{named} ({', '.join(about)})" if about else named


@dataclass(frozen=True)
class FigureRow:
    """A figure with the sources and days it stands for (newest first) and whether it is its story's newest."""

    figure: Figure
    sources: tuple[SourceDay, ...]
    newest: bool = False

    @property
    def days(self) -> tuple[str, ...]:
        """The distinct days, newest first."""
        return tuple(sorted({s.day for s in self.sources if s.day}, reverse=True))

    @property
    def several(self) -> bool:
        """Whether the row merges mentions of different sources, outlets or days; it then names each."""
        return len(self.sources) > 1

    def dates_text(self, newest_word: str) -> str:
        """The day of a row of one source ("2024-10-21", "fetched 2026-12-06"), "(newest)" after the
        story's newest figure. Empty when undated, and for a row of several sources: `sources_text`
        names each one's day there."""
        text = "" if self.several or not self.sources else (self.sources[0].day_text or "")
        return f"{text} ({newest_word})" if self.newest and text else text

    def sources_text(self, unattributed: str, newest_word: str) -> str:
        """A row of several sources, each with its outlet, day and citations, newest first:
        "US-Verteidigungsministerium (Reuters, 2024-11-05, newest) [3]; Yonhap (2024-10-21) [1]"."""
        parts = []
        for position, source in enumerate(self.sources):
            who = source.who(unattributed)
            if position == 0 and self.newest:
                who = f"{who[:-1]}, {newest_word})" if who.endswith(")") else f"{who} ({newest_word})"
            parts.append(f"{who} {markers(source.citations)}")
        return "; ".join(parts)


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
    """The answer's figures grouped by story in their order, each row with the sources and days it stands for."""
    by_number = {c.n: c for c in answer.citations}
    stories: dict[str | None, list[FigureRow]] = {}
    for figure in answer.figures:
        stories.setdefault(figure.story, []).append(FigureRow(figure, source_days(figure, by_number, answer.language)))
    grouped = []
    for story, rows in stories.items():
        newest = [max(row.days) if row.days else "" for row in rows]
        latest = max(newest, default="")
        # Marked only where it tells something: several rows, dated differently, one of them latest.
        if latest and len(set(newest)) > 1 and newest.count(latest) == 1:
            rows = [FigureRow(r.figure, r.sources, newest=(day == latest)) for r, day in zip(rows, newest)]
        grouped.append(StoryRows(story, tuple(rows)))
    return grouped


def source_days(figure: Figure, citations: Mapping[int, Citation], language: str) -> tuple[SourceDay, ...]:
    """The figure's citations grouped by (who they name, outlet, day), the newest day first (undated last)."""
    named = {s.citation: s.attributed_to for s in figure.sources}
    groups: dict[tuple[str | None, str | None, str | None], list[int]] = {}
    for n in figure.citations:
        citation = citations.get(n)
        # Without per-citation sources, a figure of one citation is its `attributed_to`.
        who = named.get(n) if figure.sources else (figure.attributed_to if len(figure.citations) == 1 else None)
        outlet = citation.outlet if citation else None
        shown = date_text(citation, language) if citation else None
        groups.setdefault((who, outlet, shown), []).append(n)
    sources = []
    for (who, outlet, shown), numbers in groups.items():
        citation = citations.get(numbers[0])
        day = best_day(citation) if citation else None
        source = "published" if citation and citation.published else (citation.date_source if citation else None)
        known = bool(figure.sources) or len(figure.citations) == 1
        sources.append(SourceDay(tuple(numbers), who, outlet, day, source, shown, attribution_known=known))
    sources.sort(key=lambda s: s.day or "", reverse=True)  # stable: sources of one day keep citation order
    return tuple(sources)


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
