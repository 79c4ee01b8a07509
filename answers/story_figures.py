"""A quantity answer over many stories: its figures grouped by story, the story asked about first.

The retrieved figure sentences may come from several stories ("27 Soldaten" of an attack next to
the "12.000 Soldaten" of the story asked about). Each figure row is put under the story of its
article (answers/stories.py); groups are ordered by their best sentence score, and the first
group is completed from every sentence of its own articles, so a figure the retrieval cut off
("1.500", "10.000") is not lost while no figure of another story can enter it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from answers.figure_table import FigureMention
from answers.stories import StoryMap, short_title
from retrieval.store import IndexData

FigureRow = FigureMention
MAX_STORY_GROUPS = 3


@dataclass(frozen=True)
class StoryRows:
    """The figure rows of one story; `title` is its newest article's title."""

    story: int
    title: str
    rows: list[FigureRow]


def story_sentences(data: IndexData, stories: StoryMap, story: int) -> list[int]:
    """Every sentence of the story's articles, boilerplate left out."""
    sids: list[int] = []
    for doc_id in stories.stories[story].articles:
        sid = data.sentence_base[doc_id]
        while sid < len(data.sentences) and data.sentences[sid].doc_id == doc_id:
            if data.sentences[sid].dup_group not in stories.boilerplate_groups:
                sids.append(sid)
            sid += 1
    return sids


def group_by_story(
    rows: list[FigureRow],
    score_of: dict[int, float],
    data: IndexData,
    stories: StoryMap,
    rows_in: Callable[[list[int]], list[FigureRow]],
) -> list[StoryRows]:
    """Rows grouped by story, the story carrying the most retrieved figure evidence first (the sum of
    its figure sentences' scores), at most `MAX_STORY_GROUPS`.

    `rows_in(sentence_ids)` extracts the figure rows of those sentences with the answerer's own
    rules (what counts as a figure of the asked-for thing); it completes the first group.
    """
    by_story: dict[int, list[FigureRow]] = {}
    for row in rows:
        sentence = data.sentences[row.sentence_id]
        if sentence.dup_group in stories.boilerplate_groups:
            continue
        by_story.setdefault(stories.story_of[sentence.doc_id], []).append(row)
    ordered = sorted(by_story, key=lambda s: -sum(score_of.get(sid, 0.0) for sid in {r.sentence_id for r in by_story[s]}))
    groups: list[StoryRows] = []
    for rank, story in enumerate(ordered[:MAX_STORY_GROUPS]):
        story_rows = by_story[story]
        if rank == 0:
            known = {(r.normalized, r.sentence_id) for r in story_rows}
            story_rows = story_rows + [r for r in rows_in(story_sentences(data, stories, story)) if (r.normalized, r.sentence_id) not in known]
        title = short_title(data.articles[stories.stories[story].articles[0]].title)
        groups.append(StoryRows(story=story, title=title, rows=story_rows))
    return groups
