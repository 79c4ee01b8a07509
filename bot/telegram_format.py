"""Answers, sources and briefings as Telegram HTML, split into messages Telegram accepts.

Telegram understands a small HTML subset (b, i, a, blockquote, ...). Every piece of article or user
text goes through `html.escape`, so "<5 & >3" arrives as text, not as markup. Telegram limits a
message to 4096 UTF-16 code units of *parsed* text; the HTML source is never shorter than that
text, so parts are measured by their source, which keeps every part safely under the limit.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Mapping
from dataclasses import dataclass

from answers.briefing import Briefing, briefing_window_note
from answers.dated import date_text
from answers.labels import labels
from answers.stories import short_title
from answers.types import Answer, Citation, Figure, FigureRow, StoryRows, markers, source_days, walk_answer

MESSAGE_LIMIT = 4096
# A chat answer shows at most this many quotes (one per figure first); the rest, with every
# source in full, are behind the Sources button. Issue 16: the flagship answer fits one message.
QUOTES_SHOWN = 5


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # as retrieval/clean.py removes them


def escape(text: str) -> str:
    """Text for Telegram HTML: only <, > and & need escaping outside attributes; control characters
    (which cleaning already removes from articles) never reach a chat."""
    return html.escape(_CONTROL.sub("", text), quote=False)


def _link(title: str, url: str | None) -> str:
    title = short_title(title)  # articles without a title line are titled by their whole first paragraph
    if url and url.startswith(("http://", "https://")):
        return f'<a href="{html.escape(url, quote=True)}">{escape(title)}</a>'
    return escape(title)


def source_line(citation: Citation, language: str) -> str:
    """"[n] Title — Outlet, date", the title linking to the article when its URL is known; an article
    without a date of its own shows the day it was fetched or indexed, as such."""
    meta = ", ".join(escape(part) for part in (citation.outlet, date_text(citation, language)) if part)
    return f"[{citation.n}] {_link(citation.title, citation.url)}" + (f" — {meta}" if meta else "")


def quote_block(citation: Citation) -> str:
    return f"<blockquote><b>[{citation.n}]</b> {escape(citation.quote)}</blockquote>"


def _sources_section(citations: list[Citation], language: str) -> str:
    return "\n".join([f"<b>{labels(language)['sources']}</b>"] + [source_line(c, language) for c in citations])


def _articles_section(citations: list[Citation], language: str) -> str:
    """Each article once, after the numbers of all its citations: "[1][3][7] Title — Outlet, date"."""
    by_article: dict[str, list[Citation]] = {}
    for citation in citations:
        by_article.setdefault(citation.doc_id, []).append(citation)
    lines = [f"<b>{labels(language)['sources']}</b>"]
    for cited in by_article.values():
        first = cited[0]
        meta = ", ".join(escape(part) for part in (first.outlet, date_text(first, language)) if part)
        numbers = markers(tuple(c.n for c in cited))
        lines.append(f"{numbers} {_link(first.title, first.url)}" + (f" — {meta}" if meta else ""))
    return "\n".join(lines)


def quotes_to_show(answer: Answer, limit: int = QUOTES_SHOWN) -> list[Citation]:
    """Up to `limit` citations: the first one of each figure in the figures' order, then the rest in order."""
    by_number = {c.n: c for c in answer.citations}
    chosen: list[int] = []
    for figure in answer.figures:
        first = next((n for n in figure.citations if n in by_number and n not in chosen), None)
        if first is not None and len(chosen) < limit:
            chosen.append(first)
    for citation in answer.citations:
        if len(chosen) >= limit:
            break
        if citation.n not in chosen:
            chosen.append(citation.n)
    return [by_number[n] for n in sorted(chosen)]


def figure_row(row: FigureRow, words: dict[str, str]) -> str:
    """"• <b>12.000</b> Soldaten — Yonhap [1] · 2024-10-21": value, what, who, citations, day. A row
    merged from several sources names each with its outlet and day, newest first: "… — USA (Reuters,
    2024-11-05, neueste) [3]; Yonhap (2024-10-21) [1]"."""
    f = row.figure
    if row.several:
        return f"• <b>{escape(f.value)}</b> {escape(f.what)} — {escape(row.sources_text(words['unattributed'], words['newest_figure']))}"
    line = f"• <b>{escape(f.value)}</b> {escape(f.what)} — {escape(f.attributed_to or words['unattributed'])} {markers(f.citations)}"
    dates = row.dates_text(words["newest_figure"])
    return line + (f" · {'<b>' + escape(dates) + '</b>' if row.newest else escape(dates)}" if dates else "")


class TelegramDrawing:
    """`walk_answer`'s pieces as Telegram HTML blocks; the quotes limited to `QUOTES_SHOWN`, the rest behind Sources."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.words = labels(answer.language)
        self.blocks: list[str] = []
        self._lead_open = False  # a figures list joins the lead's block

    def _add(self, block: str, lead: bool = False) -> None:
        self.blocks.append(block)
        self._lead_open = lead

    def read_as(self, question: str) -> None:
        self._add(f"<i>{self.words['read_as']}: {escape(question)}</i>")

    def declined(self, lead: str, nearest: bool) -> None:
        self._add(f"<b>{escape(lead)}</b>" + (f"\n<i>{escape(self.words['nearest'])}</i>" if nearest else ""))

    def model_text(self, text: str) -> None:
        # Escaped, so "[text](url)" or "<a href>" in model text stays text (the checks also drop any
        # sentence linking where no quote does); the table keeps every figure beside the prose.
        self._add(escape(text) + f"\n<i>{escape(self.words['model_worded'])}</i>")

    def lead(self, lead: str) -> None:
        self._add(f"<b>{escape(lead)}</b>", lead=True)

    def figures(self, stories: list[StoryRows]) -> None:
        """One line per figure; when the collection holds several stories, each story's title heads its figures."""
        rows: list[str] = []
        for group in stories:
            if group.story:
                rows.append(f"<i>{escape(group.story)}</i>")
            rows += [figure_row(row, self.words) for row in group.rows]
        if self._lead_open:
            self.blocks[-1] += "\n" + "\n".join(rows)
        else:
            self._add("\n".join(rows))
        self._lead_open = False

    def note(self, note: str) -> None:
        self._add(f"<i>{escape(note)}</i>")

    def quotes(self, citations: list[Citation], declined: bool, figures_shown: bool) -> None:
        if not citations:
            return
        shown = quotes_to_show(self.answer)
        self._add("\n".join(quote_block(c) for c in shown))
        hidden = len(citations) - len(shown)
        if hidden:
            words = self.words
            self._add(f"<i>{words['one_more_quote'] if hidden == 1 else words['more_quotes'].format(n=hidden)}</i>")
        self._add(_articles_section(citations, self.answer.language))


def render_answer(answer: Answer) -> str:
    """The answer as one chat message: lead, figures (dated) or the model's prose, at most `QUOTES_SHOWN` quotes,
    then each article once.

    The quotes left out are counted in a line pointing to the Sources button, which shows every
    quote with its source in full (`render_full_sources`); the terminal and `--json` show all.
    """
    drawing = TelegramDrawing(answer)
    walk_answer(answer, drawing)
    return "\n\n".join(drawing.blocks)


def render_full_sources(citations: list[Citation], language: str) -> str:
    """Every quote of an answer with its source in full: link, outlet, date, article id and the quoted characters."""
    words = labels(language)
    blocks = [f"<b>{words['full_sources']}</b>"]
    for c in citations:
        meta = " · ".join(
            [escape(p) for p in (c.outlet, date_text(c, language)) if p]
            + [f"<code>{escape(c.doc_id)}</code>", f"{words['characters']} {c.start}–{c.end}"]
        )
        lines = [quote_block(c), f"<b>[{c.n}]</b> {_link(c.title, c.url)}", meta]
        if c.url:
            lines.append(escape(c.url))
        if c.also_reported_by:
            lines.append(f"<i>{words['also']}: {escape(', '.join(c.also_reported_by))}</i>")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def moment(seconds: float, timezone: dt.tzinfo | None = None) -> str:
    """A point in time as a briefing names it ("2026-12-06 07:30")."""
    return dt.datetime.fromtimestamp(seconds, timezone or dt.UTC).strftime("%Y-%m-%d %H:%M")


def briefing_figure(figure: Figure, citations: Mapping[int, Citation], language: str) -> str:
    """"<b>12.000</b> Soldaten — Yonhap [1]"; a figure the briefing merged from several sources
    names each with its outlet and day, newest first, as an answer's figure rows do."""
    words = labels(language)
    row = FigureRow(figure, source_days(figure, citations, language))
    who = row.sources_text(words["unattributed"], words["newest_figure"]) if row.several else None
    if who is None:
        who = f"{figure.attributed_to or words['unattributed']} {markers(figure.citations)}"
    return f"<b>{escape(figure.value)}</b> {escape(figure.what)} — {escape(who)}"


def render_briefing(briefing: Briefing, language: str, timezone: dt.tzinfo | None = None) -> str:
    """The briefing as one HTML text; quotes appear once, under the first part that cites them.
    Times (what is new since when) are shown in `timezone` (UTC when None)."""
    words = labels(language)
    by_number = {c.n: c for c in briefing.citations}
    shown: set[int] = set()

    def quotes(numbers: tuple[int, ...]) -> list[str]:
        fresh = [n for n in numbers if n not in shown]
        shown.update(fresh)
        return [quote_block(by_number[n]) for n in fresh]

    title = words["briefing_topic"].format(topic=escape(briefing.topic)) if briefing.topic else words["briefing_all"]
    blocks = [f"<b>{title}</b> ({words['drawn_from'].format(n=briefing.articles)})"]
    if briefing.window is not None:
        blocks[0] += f"\n<i>{escape(briefing_window_note(briefing, language))}</i>"
    if briefing.since is not None:
        when = escape(moment(briefing.since, timezone))
        if briefing.nothing_new:
            return blocks[0] + "\n\n" + words["nothing_new_since"].format(when=when)
        blocks.append(words["new_since"].format(when=when, n=briefing.new_articles))
    if briefing.stories:
        lines = [f"<b>{words['top_stories']}</b>"]
        for story in briefing.stories:
            size = len(story.articles)
            meta = [words["one_article"] if size == 1 else words["story_size"].format(articles=size)]
            if len(story.outlets) > 1:
                meta.append(words["outlets"].format(n=len(story.outlets)))
            if story.newest:
                meta.append(escape(story.newest))
            lines.append(f"• <b>{escape(story.title)}</b> — {', '.join(meta)} [{story.lead}]")
            lines += quotes((story.lead,))
            for figure in story.figures:
                lines.append(f"   {briefing_figure(figure, by_number, language)}")
                lines += quotes(figure.citations[:1])
            for added in story.new:
                about = [escape(p) for p in (date_text(added, language), added.outlet) if p]
                if added.new_outlet:
                    about.append(words["new_outlet"])
                about_text = f" — {', '.join(about)}" if about else ""
                lines.append(f"   {words['new_in_story']}: {_link(added.title, added.url)}{about_text} [{added.citation}]")
                for figure in added.new_figures:
                    lines.append(f"      {words['adds']}: {briefing_figure(figure, by_number, language)}")
        blocks.append("\n".join(lines))
    if briefing.figures:
        lines = [f"<b>{words['key_figures']}</b>"]
        for figure in briefing.figures:
            lines.append(f"• {briefing_figure(figure, by_number, language)}")
            lines += quotes(figure.citations)
        blocks.append("\n".join(lines))
    if briefing.claims:
        lines = [f"<b>{words['claims']}</b>"]
        for claim in briefing.claims:
            lines.append(f"• {words['reported_by'].format(n=len(claim.articles))} [{claim.citation}]")
            lines += quotes((claim.citation,))
        blocks.append("\n".join(lines))
    if briefing.newest:
        lines = [f"<b>{words['newest']}</b>"]
        for article in briefing.newest:
            meta = ", ".join(escape(p) for p in (date_text(article, language) or words["undated"], article.outlet) if p)
            lines.append(f"• {_link(article.title, article.url)} — {meta} [{article.citation}]")
            lines += quotes((article.citation,))
        blocks.append("\n".join(lines))
    blocks.append(_sources_section(briefing.citations, language))
    return "\n\n".join(blocks)


# -- splitting ---------------------------------------------------------------------------------

_TOKEN = re.compile(r"<[^>]*>|&#?\w{1,10};|\n\n+|\n|[^\S\n]+|[^<&\s]{1,20}|[<&]")
_EMPTY_ELEMENT = re.compile(r"<([a-zA-Z][\w-]*)(?:\s[^>]*)?></\1>")
_TAG = re.compile(r"<(/?)([a-zA-Z][\w-]*)")
# How good a place to cut is: after a blank line, after a line, after a space, anywhere.
_PARAGRAPH, _LINE, _SPACE, _ANYWHERE = 3, 2, 1, 0


@dataclass(frozen=True)
class _Token:
    text: str
    size: int  # UTF-16 code units, as Telegram counts
    kind: str  # "open", "close", "space", "text"
    tag: str = ""


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _tokens(markup: str) -> list[_Token]:
    tokens = []
    for match in _TOKEN.finditer(markup):
        piece = match.group(0)
        tag = _TAG.match(piece)
        if tag:
            kind, name = ("close" if tag.group(1) else "open"), tag.group(2).lower()
        elif piece.isspace():
            kind, name = "space", ""
        else:
            kind, name = "text", ""
        tokens.append(_Token(piece, utf16_length(piece), kind, name))
    return tokens


def _closers(stack: list[_Token]) -> str:
    return "".join(f"</{t.tag}>" for t in reversed(stack))


def split_message(markup: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split Telegram HTML into parts of at most `limit` UTF-16 units, each valid on its own.

    Cuts go after a blank line where possible, then after a line, then after a space, and only
    between tags and entities, never inside one. Tags open at a cut are closed at the end of the
    part and opened again at the start of the next. Whitespace at a cut is dropped (Telegram
    trims it anyway); no other character is lost.
    """
    tokens = _tokens(markup)
    if not any(t.kind == "text" for t in tokens):
        return []  # Telegram refuses messages without visible text
    if utf16_length(markup) <= limit:
        return [markup]
    while _EMPTY_ELEMENT.search(markup):  # invisible, but they would take room in a part
        markup = _EMPTY_ELEMENT.sub("", markup)
    tokens = _tokens(markup)
    parts: list[str] = []
    carried: list[_Token] = []  # tags open where the previous part ended
    i = 0
    while i < len(tokens):
        while i < len(tokens) and tokens[i].kind == "space":
            i += 1
        if i == len(tokens):
            break
        stack = list(carried)
        size = sum(t.size for t in carried)
        has_text = False
        best: tuple[int, int, list[_Token]] | None = None  # (quality, end, stack at end)
        end = i
        while end < len(tokens):
            token = tokens[end]
            if token.kind == "open":
                stack.append(token)
            elif token.kind == "close" and stack and stack[-1].tag == token.tag:
                stack.pop()
            size += token.size
            if size + utf16_length(_closers(stack)) > limit:
                break
            end += 1
            has_text = has_text or token.kind == "text"
            if has_text:
                quality = _cut_quality(token, stack)
                if best is None or quality >= best[0]:
                    best = (quality, end, list(stack))
        else:
            if not has_text:
                break  # only markup is left, nothing Telegram would show
            best = (_PARAGRAPH + 1, end, list(stack))  # the rest fits
        if best is None:
            raise ValueError(f"cannot split: markup at token {i} does not fit in {limit} characters")
        _, end, stack_at_end = best
        body = tokens[i:end]
        while body and body[-1].kind == "space":
            body.pop()
        parts.append("".join(t.text for t in carried) + "".join(t.text for t in body) + _closers(stack_at_end))
        carried = stack_at_end
        i = end
    return parts


def _cut_quality(token: _Token, stack: list[_Token]) -> int:
    if token.kind == "space":
        if "\n\n" in token.text and not stack:
            return _PARAGRAPH
        if "\n" in token.text:
            return _LINE if not stack else _SPACE
        return _SPACE
    if token.kind == "close" and token.tag == "blockquote" and not stack:
        return _LINE
    return _ANYWHERE
