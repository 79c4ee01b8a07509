"""How answers, hits and reports look in a terminal (rich); no logic, only formatting."""

from __future__ import annotations

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from answers.dated import date_text
from answers.labels import labels
from answers.stories import short_title
from answers.types import Answer, Citation, StoryRows, walk_answer
from retrieval.types import Hit


def source_line(citation: Citation, language: str) -> str:
    """"Title (Outlet, date) URL"; an article without a date of its own shows the day it was fetched or indexed, as such."""
    parts = [short_title(citation.title)]  # as Telegram shows it: a file without a title line is titled by its whole first paragraph
    meta = ", ".join(p for p in (citation.outlet, date_text(citation, language)) if p)
    if meta:
        parts.append(f"({meta})")
    if citation.url:
        parts.append(citation.url)
    return " ".join(parts)


class TerminalDrawing:
    """`walk_answer`'s pieces as rich renderables: bold lead, one table per story, one panel per quote."""

    def __init__(self, console: Console, language: str, full_sources: bool) -> None:
        self.console = console
        self.language = language
        self.words = labels(language)
        self.full_sources = full_sources

    def read_as(self, question: str) -> None:
        self.console.print(Text(f"{self.words['read_as']}: {question}", style="dim italic"))

    def declined(self, lead: str, nearest: bool) -> None:
        self.console.print(Text(lead, style="bold yellow"))
        if nearest:
            self.console.print(Text(self.words["nearest"], style="dim"))

    def model_text(self, text: str) -> None:
        self.console.print(Text(text, style="bold"))  # Text: the model's brackets are never markup
        self.console.print(Text(self.words["model_worded"], style="dim"))

    def lead(self, lead: str) -> None:
        self.console.print(Text(lead, style="bold"))

    def figures(self, stories: list[StoryRows]) -> None:
        """One table per story (titled by it) when the collection holds several, else one untitled table."""
        words = self.words
        headers = (words["figure"], words["counts"], words["attributed_to"], words["sources"], words["figure_dates"])
        for group in stories:
            table = Table(*headers, title=group.story, title_justify="left", show_lines=False)
            for row in group.rows:
                figure = row.figure
                if row.several:  # one line per source in each cell, newest first: who, outlet, citations, day
                    days = [s.day_text or "—" for s in row.sources]
                    if row.newest:
                        days[0] = f"{days[0]} ({words['newest_figure']})"
                    table.add_row(
                        Text(figure.value, style="bold"),
                        figure.what,
                        "\n".join(s.who(words["unattributed"], with_day=False) or "—" for s in row.sources),
                        "\n".join(" ".join(f"[{n}]" for n in s.citations) for s in row.sources),
                        Text("\n".join(days), style="bold" if row.newest else ""),
                    )
                    continue
                table.add_row(
                    Text(figure.value, style="bold"),
                    figure.what,
                    figure.attributed_to or "—",
                    " ".join(f"[{n}]" for n in figure.citations),
                    Text(row.dates_text(words["newest_figure"]), style="bold" if row.newest else ""),
                )
            self.console.print(table)

    def note(self, note: str) -> None:
        self.console.print(Text(note, style="italic yellow"))

    def quotes(self, citations: list[Citation], declined: bool, figures_shown: bool) -> None:
        for citation in citations:
            quote = Text(f"„{citation.quote}“", style="italic")
            body: list = [quote, Text(source_line(citation, self.language), style="dim")]
            if citation.also_reported_by:
                body.append(Text(f"{self.words['also']}: {', '.join(citation.also_reported_by)}", style="dim cyan"))
            if self.full_sources:
                body.append(Text(f"{citation.doc_id} [{citation.start}:{citation.end}]", style="dim"))
            self.console.print(Panel(Group(*body), title=f"[{citation.n}]", title_align="left", border_style="cyan", expand=True))


def render_answer(console: Console, answer: Answer, full_sources: bool = False) -> None:
    """Lead, then the figures table, the model's prose or nothing more, then one panel per quote."""
    walk_answer(answer, TerminalDrawing(console, answer.language, full_sources))


def render_sources(console: Console, answer: Answer) -> None:
    words = labels(answer.language)
    console.print(Text(words["sources"], style="bold"))
    for citation in answer.citations:
        console.print(f"[{citation.n}] {escape(source_line(citation, answer.language))}")
        console.print(f"    {citation.doc_id} {words['characters']} {citation.start}–{citation.end}", style="dim")
        if citation.also_reported_by:
            console.print(f"    {words['also']}: {', '.join(citation.also_reported_by)}", style="dim")


def render_hits(console: Console, hits: list[Hit]) -> None:
    for rank, hit in enumerate(hits, start=1):
        scores = " ".join(
            f"{name}={value:.3f}"
            for name, value in (("fused", hit.fused), ("dense", hit.dense), ("lexical", hit.lexical))
            if value is not None
        )
        title = f"{rank}. {short_title(hit.article.title)} — {hit.article.doc_id} [{hit.chunk.start}:{hit.chunk.end}]"
        console.print(Panel(Text(hit.chunk.text), title=escape(title), subtitle=scores, title_align="left"))
