"""A quantity answer over many stories: its figures grouped by story, the story asked about first.

The retrieved figure sentences may come from several stories ("27 Soldaten" of an attack next to
the "12.000 Soldaten" of the story asked about). Each figure row is put under the story of its
article (answers/stories.py); groups are ordered by corroboration (how many of the story's
articles report a figure of the counted thing, then their sentence scores), and the first
group is completed from every sentence of its own articles, so a figure the retrieval cut off
("1.500", "10.000") is not lost while no figure of another story can enter it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from answers.figure_table import FigureMention
from answers.stories import StoryMap, article_sentences, short_title
from retrieval.store_protocol import Corpus

FigureRow = FigureMention
MAX_STORY_GROUPS = 3
# Articles of one story that must report the counted thing for the story to enter without a
# near-best sentence: two is the least that is corroboration.
MIN_CORROBORATION = 2


@dataclass(frozen=True)
class StoryRows:
    """The figure rows of one story; `title` is its newest article's title."""

    story: int
    title: str
    rows: list[FigureRow]


def story_sentences(data: Corpus, stories: StoryMap, story: int) -> list[int]:
    """Every sentence of the story's articles, boilerplate left out."""
    return [
        sid
        for doc_id in stories.stories[story].articles
        for sid in article_sentences(data, doc_id)
        if data.sentences[sid].dup_group not in stories.boilerplate_groups
    ]


def group_by_story(
    near_best: list[FigureRow],
    everywhere: list[FigureRow],
    score_of: dict[int, float],
    data: Corpus,
    stories: StoryMap,
    rows_in: Callable[[list[int]], list[FigureRow]],
) -> list[StoryRows]:
    """Rows grouped by story, the best-corroborated story first, at most `MAX_STORY_GROUPS`.

    `near_best` are the figure rows of the sentences nearly as likely as the best figure sentence,
    `everywhere` those of every retrieved sentence (both: counted thing about the question). Every
    story with a retrieved row is read in full with `rows_in(sentence_ids)` (the answerer's own rules
    for what counts as a figure of the asked-for thing): its corroboration is how many distinct
    articles of the story report such a figure (wire copies included), wherever the retrieval cut
    off. A story enters with a near-best row, or when `MIN_CORROBORATION` of its articles report the
    counted thing; stories are ranked by corroboration, then by the sum of their articles' best
    sentence scores, so one sentence that reads like an answer does not outrank the event several
    newsrooms report. The first group is completed from every sentence of its articles.
    """
    entered = {stories.story_of[data.sentences[row.sentence_id].doc_id] for row in near_best if _counts(row, data, stories)}
    by_story: dict[int, list[FigureRow]] = {}
    for row in everywhere:
        if _counts(row, data, stories):
            by_story.setdefault(stories.story_of[data.sentences[row.sentence_id].doc_id], []).append(row)
    in_full = {story: rows_in(story_sentences(data, stories, story)) for story in by_story}
    evidence = {story: _evidence(rows + in_full[story], score_of, data, stories, story) for story, rows in by_story.items()}
    candidates = [s for s in by_story if s in entered or evidence[s][0] >= MIN_CORROBORATION]
    ordered = sorted(candidates, key=lambda s: (-evidence[s][0], -evidence[s][1], s))
    groups: list[StoryRows] = []
    for rank, story in enumerate(ordered[:MAX_STORY_GROUPS]):
        story_rows = by_story[story]
        if rank == 0:
            known = {(r.normalized, r.sentence_id) for r in story_rows}
            story_rows = story_rows + [r for r in in_full[story] if (r.normalized, r.sentence_id) not in known]
        title = short_title(data.articles[stories.stories[story].articles[0]].title)
        groups.append(StoryRows(story=story, title=title, rows=story_rows))
    return groups


def _counts(row: FigureRow, data: Corpus, stories: StoryMap) -> bool:
    """Boilerplate (a sentence recurring across stories) never counts as a story's figure."""
    return data.sentences[row.sentence_id].dup_group not in stories.boilerplate_groups


def _evidence(
    rows: list[FigureRow], score_of: dict[int, float], data: Corpus, stories: StoryMap, story: int
) -> tuple[int, float]:
    """(distinct articles of the story reporting the figures, sum over those articles of their best sentence score)."""
    best_of: dict[str, float] = {}
    for row in rows:
        sentence = data.sentences[row.sentence_id]
        score = score_of.get(row.sentence_id, 0.0)
        docs = {sentence.doc_id}
        if sentence.dup_group is not None:
            docs.update(d for d in data.group_docs[sentence.dup_group] if stories.story_of.get(d) == story)
        for doc in docs:
            best_of[doc] = max(best_of.get(doc, float("-inf")), score)
    return len(best_of), float(sum(best_of.values()))
