"""`newsbot briefing` in the terminal: what is new since when (`--since`), the publication window it
covers (`--published-since`/`--published-until`), and the briefing as plain text.

The text follows the same fields as the Telegram rendering (bot/telegram_format.py) with the same
labels (answers/labels.py): what is new since when, the stories with their new articles and what
each adds, key figures with who reported them, and every quote with its source and date.
"""

from __future__ import annotations

import datetime as dt
import re

from answers.briefing import Briefing, briefing_window_note
from answers.dated import date_text
from answers.labels import labels
from answers.stories import short_title
from answers.types import Figure, FigureRow, markers, source_days

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}


class SinceError(ValueError):
    """A --since value that is neither a duration nor a date."""


def parse_since(text: str, now: float, timezone: dt.tzinfo) -> float:
    """`--since` as seconds since the epoch: a duration back from `now` ("24h", "3d", "90m", "1w") or
    an ISO date or date-time in `timezone` ("2026-12-06", "2026-12-06T07:30")."""
    match = _DURATION.match(text)
    if match:
        return now - float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise SinceError(f"{text!r} is neither a duration (24h, 3d, 90m) nor a date (2026-12-06, 2026-12-06T07:30)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone)
    return moment.timestamp()


def render_briefing_text(briefing: Briefing, language: str, timezone: dt.tzinfo) -> str:
    """The briefing as plain text, quotes listed once under Sources at the end."""
    words = labels(language)
    title = words["briefing_topic"].format(topic=briefing.topic) if briefing.topic else words["briefing_all"]
    lines = [f"{title} ({words['drawn_from'].format(n=briefing.articles)})"]
    if briefing.window is not None:
        lines.append(briefing_window_note(briefing, language))
    if briefing.since is not None:
        when = dt.datetime.fromtimestamp(briefing.since, timezone).strftime("%Y-%m-%d %H:%M")
        if briefing.nothing_new:
            return "\n".join([*lines, "", words["nothing_new_since"].format(when=when)])
        lines.append(words["new_since"].format(when=when, n=briefing.new_articles))

    by_number = {c.n: c for c in briefing.citations}

    def figure(f: Figure, indent: str) -> str:
        row = FigureRow(f, source_days(f, by_number, language))
        if row.several:  # merged from several sources: each with its outlet and day, newest first
            return f"{indent}{f.value} {f.what} — {row.sources_text(words['unattributed'], words['newest_figure'])}"
        return f"{indent}{f.value} {f.what} — {f.attributed_to or words['unattributed']} {markers(f.citations)}"

    if briefing.stories:
        lines += ["", words["top_stories"]]
        for story in briefing.stories:
            size = len(story.articles)
            meta = [words["one_article"] if size == 1 else words["story_size"].format(articles=size)]
            if len(story.outlets) > 1:
                meta.append(words["outlets"].format(n=len(story.outlets)))
            if story.newest:
                meta.append(story.newest)
            lines.append(f"• {story.title} — {', '.join(meta)} [{story.lead}]")
            lines += [figure(f, "   ") for f in story.figures]
            for added in story.new:
                about = [p for p in (date_text(added, language), added.outlet) if p]
                if added.new_outlet:
                    about.append(words["new_outlet"])
                about_text = f" — {', '.join(about)}" if about else ""
                lines.append(f"   {words['new_in_story']}: {added.title}{about_text} [{added.citation}]")
                lines += [figure(f, f"      {words['adds']}: ") for f in added.new_figures]
    if briefing.figures:
        lines += ["", words["key_figures"], *(figure(f, "• ") for f in briefing.figures)]
    if briefing.claims:
        lines += ["", words["claims"]]
        lines += [f"• {words['reported_by'].format(n=len(c.articles))} [{c.citation}]" for c in briefing.claims]
    if briefing.newest:
        lines += ["", words["newest"]]
        for article in briefing.newest:
            dated = ", ".join(p for p in (date_text(article, language) or words["undated"], article.outlet) if p)
            lines.append(f"• {short_title(article.title)} — {dated} [{article.citation}]")
    if briefing.citations:
        lines += ["", words["sources"]]
        for c in briefing.citations:
            source = ", ".join(p for p in (c.outlet, date_text(c, language)) if p)
            lines.append(f"[{c.n}] {short_title(c.title)}{f' ({source})' if source else ''}\n    “{c.quote}”")
    return "\n".join(lines)
