"""How answers, hits and reports look in a terminal (rich); no logic, only formatting."""

from __future__ import annotations

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from answers.labels import labels
from answers.types import Answer, Citation, Figure
from retrieval.types import Hit


def source_line(citation: Citation) -> str:
    parts = [citation.title]
    meta = ", ".join(p for p in (citation.outlet, citation.published) if p)
    if meta:
        parts.append(f"({meta})")
    if citation.url:
        parts.append(citation.url)
    return " ".join(parts)


def _figures_tables(answer: Answer) -> list[Table]:
    """One table per story (titled by it) when the collection holds several, else one untitled table."""
    stories: dict[str | None, list[Figure]] = {}
    for figure in answer.figures:
        stories.setdefault(figure.story, []).append(figure)
    return [_figures_table(answer, story, figures) for story, figures in stories.items()]


def _figures_table(answer: Answer, title: str | None, figures: list[Figure] | None = None) -> Table:
    words = labels(answer.language)
    headers = (words["figure"], words["counts"], words["attributed_to"], words["sources"])
    table = Table(*headers, title=title, title_justify="left", show_lines=False)
    for figure in answer.figures if figures is None else figures:
        table.add_row(
            Text(figure.value, style="bold"),
            figure.what,
            figure.attributed_to or "—",
            " ".join(f"[{n}]" for n in figure.citations),
        )
    return table


def render_answer(console: Console, answer: Answer, full_sources: bool = False) -> None:
    """Lead, then the figures table, the model's prose or nothing more, then one panel per quote."""
    words = labels(answer.language)
    if answer.read_as:
        console.print(Text(f"{words['read_as']}: {answer.read_as}", style="dim italic"))
    if answer.declined:
        console.print(Text(answer.lead, style="bold yellow"))
        if answer.citations:
            console.print(Text(words["nearest"], style="dim"))
    elif answer.text is not None:
        console.print(Text(answer.text, style="bold"))  # Text: the model's brackets are never markup
        console.print(Text(words["model_worded"], style="dim"))
        if answer.figures:  # the complete figures table stays beside the prose
            for table in _figures_tables(answer):
                console.print(table)
    elif answer.figures:
        console.print(Text(answer.lead, style="bold"))
        for table in _figures_tables(answer):
            console.print(table)
    else:
        console.print(Text(answer.lead, style="bold"))
    if answer.note:
        console.print(Text(answer.note, style="italic yellow"))

    for citation in answer.citations:
        quote = Text(f"„{citation.quote}“", style="italic")
        body: list = [quote, Text(source_line(citation), style="dim")]
        if citation.also_reported_by:
            body.append(Text(f"{words['also']}: {', '.join(citation.also_reported_by)}", style="dim cyan"))
        if full_sources:
            body.append(Text(f"{citation.doc_id} [{citation.start}:{citation.end}]", style="dim"))
        console.print(Panel(Group(*body), title=f"[{citation.n}]", title_align="left", border_style="cyan", expand=True))


def render_sources(console: Console, answer: Answer) -> None:
    words = labels(answer.language)
    console.print(Text(words["sources"], style="bold"))
    for citation in answer.citations:
        console.print(f"[{citation.n}] {escape(source_line(citation))}")
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
        title = f"{rank}. {hit.article.title} — {hit.article.doc_id} [{hit.chunk.start}:{hit.chunk.end}]"
        console.print(Panel(Text(hit.chunk.text), title=escape(title), subtitle=scores, title_align="left"))
