"""A briefing: the digest of the corpus (or of one topic) that `/briefing` and daily subscriptions post.

It has three parts, each made only of verbatim sentences with citations: the key figures and who
reported them, the claims the most articles carry (near-identical sentences, the `dup_group`s the
indexer found), and the newest articles with their lead sentence. Over a collection of several
stories (answers/stories.py) a briefing without a topic gives the top stories instead of the first
two parts, each with its own key figures; a sentence repeated across unrelated stories is
boilerplate and never counts as a figure or a corroborated claim. No front end is imported here;
the bot only formats a `Briefing`.

A briefing `since` a moment (a chat's previous briefing, or 24 hours back) says what is new: the
stories that received articles after it lead, each new article with what it adds (figures the
story's earlier articles did not report, an outlet that had not carried it yet), and a briefing with
no new article says so (`nothing_new`). "New" is when an article entered the collection, as both
stores record it with the article's story.

A briefing over a publication `window` (`--published-since`/`--published-until` in the CLI,
`/briefing --since … --until …` in a chat) draws only on articles published in it, judged as time
windows judge them (retrieval/time_window.py: the publication day, else the day an article was
fetched or indexed, shown as such). Both can apply: what was added since the last briefing among
the articles published this week.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from answers.answer import validate_question
from answers.dated import dated_by_fallback, window_note
from answers.extractive import citation_for_sentence
from answers.figure_table import (
    FigureMention,
    by_value_and_counted_thing,
    figure_mentions,
    figure_sources,
    merge_mentions,
)
from answers.stories import Story, StoryMap, newest_first, published_in, short_title, story_map
from answers.types import Citation, Figure
from config.settings import Settings
from retrieval.store_protocol import Corpus, Retriever, chunk_sentence_ids
from retrieval.time_window import TimeWindow
from retrieval.types import DateSource

logger = logging.getLogger(__name__)

MAX_FIGURES = 5
MAX_CLAIMS = 4
MAX_NEWEST = 3
MAX_STORIES = 5
FIGURES_PER_STORY = 3
CITATIONS_PER_FIGURE = 2
# A chunk belongs to a topic when it shares a word with it (BM25 > 0) or its cosine to the topic
# reaches this, per way of making chunk vectors. Calibrated for multilingual-e5-small on the seeds:
# with embedded chunk vectors off-topic words ("Fußball", "Klimawandel") peak at 0.79 and on-topic
# ones in another language ("soldiers") reach 0.83. Pooled chunk vectors (a mean of sentence vectors
# leans towards what all the articles share) score every query higher: off-topic words reach 0.84,
# on-topic ones 0.85-0.91.
TOPIC_MIN_DENSE = {"embedded": 0.81, "pooled": 0.85}
_SENTENCE_END = re.compile(r"[.!?…\"“”»«)]$")


@dataclass(frozen=True)
class CorroboratedClaim:
    """A sentence carried near-identically by several articles (`articles` lists all of them)."""

    citation: int
    articles: tuple[str, ...]


@dataclass(frozen=True)
class RecentArticle:
    """One of the newest articles, cited by its lead sentence."""

    doc_id: str
    title: str
    outlet: str | None
    published: str | None
    url: str | None
    citation: int
    date_source: DateSource | None = None  # as `Article`: an undated article shows its fetched/indexed day as such
    fallback_date: str | None = None


@dataclass(frozen=True)
class NewArticle:
    """An article that entered a story since the last briefing, and what it adds to the story."""

    doc_id: str
    title: str
    outlet: str | None
    published: str | None
    url: str | None
    citation: int  # its lead sentence
    new_figures: tuple[Figure, ...]  # figures none of the story's earlier articles reported
    new_outlet: bool  # the story had no article from this outlet before
    date_source: DateSource | None = None
    fallback_date: str | None = None


@dataclass(frozen=True)
class StoryDigest:
    """One story of the collection: its articles (newest first), outlets, lead sentence and key figures."""

    title: str  # the title of its newest article
    articles: tuple[str, ...]
    outlets: tuple[str, ...]
    newest: str | None
    lead: int  # citation of the newest article's lead sentence
    figures: tuple[Figure, ...]
    new: tuple[NewArticle, ...] = ()  # in a briefing `since` a moment: its articles added after it


@dataclass
class Briefing:
    """The digest; `figures`, `claims` and `newest` refer to `citations` by number (from 1)."""

    topic: str | None
    articles: int  # articles the briefing draws on
    figures: list[Figure] = field(default_factory=list)
    claims: list[CorroboratedClaim] = field(default_factory=list)
    newest: list[RecentArticle] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)
    stories: list[StoryDigest] = field(default_factory=list)  # whole-collection briefings of several stories
    since: float | None = None  # what is new since this moment (seconds since the epoch); None: everything
    new_articles: int = 0  # articles added since `since`
    window: TimeWindow | None = None  # only articles published in it (None: of any day)

    @property
    def empty(self) -> bool:
        return not self.citations

    @property
    def nothing_new(self) -> bool:
        """A briefing of what is new, when nothing is (and there is something on its topic)."""
        return self.since is not None and self.articles > 0 and self.new_articles == 0


def briefing_window_note(briefing: Briefing, language: str) -> str:
    """What a briefing over a publication window says about it: which articles it drew on, or that
    none was published then; and when an article it cites is dated only by when it was fetched or
    indexed, that such days counted."""
    assert briefing.window is not None
    fallback = any(dated_by_fallback(c) for c in briefing.citations)
    # "Nothing was published then" only where it is true: a topic may find nothing in a busy window.
    found_any = briefing.articles > 0 or briefing.topic is not None
    return window_note(briefing.window, language, found_any=found_any, fallback_dates=fallback)


class _Citations:
    """Numbers sentences as they are first cited, so one sentence is one citation."""

    def __init__(self, data: Corpus) -> None:
        self.data = data
        self.by_sentence: dict[int, int] = {}
        self.items: list[Citation] = []

    def number(self, sid: int) -> int:
        if sid not in self.by_sentence:
            sentence = self.data.sentences[sid]
            group = sentence.dup_group
            others = tuple(d for d in self.data.group_docs.get(group, ()) if d != sentence.doc_id) if group is not None else ()
            self.items.append(citation_for_sentence(len(self.items) + 1, sid, self.data, others))
            self.by_sentence[sid] = len(self.items)
        return self.by_sentence[sid]


def build_briefing(
    settings: Settings,
    retriever: Retriever,
    topic: str | None = None,
    since: float | None = None,
    window: TimeWindow | None = None,
) -> Briefing:
    """The briefing for the whole index, or for `topic` (validated like a question); with `since`
    (seconds since the epoch), of what was added after it; with `window`, of the articles published
    in it (see the module docstring).

    An empty briefing (no citations) means the index holds nothing on the topic, or nothing new, or
    nothing published in the window.
    """
    data = retriever.data
    window = window if window is not None and not window.open else None
    relevance: dict[int, float] = {}
    if topic is not None and topic.strip():
        topic = validate_question(topic, settings.models.max_question_chars)
        sentence_ids, relevance = _topic_sentences(retriever, topic, settings.retrieval.top_k * 3, window)
        doc_ids = sorted({data.sentences[sid].doc_id for sid in sentence_ids})
        stories = story_map(data, around=doc_ids)
    else:
        topic = None
        stories = story_map(data)
        doc_ids = sorted(stories.story_of)
        sentence_ids = []
    if window is not None:
        stories = published_in(stories, window)
        doc_ids = [d for d in doc_ids if d in stories.story_of]
    briefing = Briefing(topic=topic, articles=len(doc_ids), since=since, window=window)
    if not doc_ids:
        return briefing
    citations = _Citations(data)
    if since is not None:
        fresh = [d for d in doc_ids if stories.members[d].added > since]
        briefing.new_articles = len(fresh)
        # When every article is new (a first briefing of a new collection) the whole digest is what is new.
        if fresh and len(fresh) < len(doc_ids):
            briefing.stories = _stories_with_news(data, stories, set(fresh), citations)
            briefing.newest = _newest_articles(data, stories, fresh, citations)
            briefing.citations = citations.items
            logger.info("briefing since %.0f: %d new articles in %d stories", since, len(fresh), len(briefing.stories))
            return briefing
        if not fresh:
            return briefing
    if topic is None and stories.several:
        briefing.stories = _top_stories(data, stories, citations)
    else:
        if topic is None:  # one story: its figures and claims come from every sentence
            sentence_ids = [sid for d in doc_ids for sid in data.article_sentence_ids(d)]
        sentence_ids = [sid for sid in sentence_ids if data.sentences[sid].dup_group not in stories.boilerplate_groups]
        briefing.figures = _key_figures(data, sentence_ids, relevance, citations)
        briefing.claims = _corroborated_claims(data, sentence_ids, relevance, citations)
    briefing.newest = _newest_articles(data, stories, doc_ids, citations)
    briefing.citations = citations.items
    logger.info(
        "briefing topic=%s: %d articles, %d stories, %d figures, %d claims, %d newest",
        "yes" if topic else "no", len(doc_ids), len(briefing.stories), len(briefing.figures), len(briefing.claims),
        len(briefing.newest),
    )  # fmt: skip
    return briefing


def _top_stories(data: Corpus, stories: StoryMap, citations: _Citations) -> list[StoryDigest]:
    """The stories carried by the most outlets and articles (then the newest), each with its lead and key figures.

    Stories of one article only fill the list when fewer than two stories have several.
    """
    several = [s for s in stories.stories if len(s.articles) > 1]
    chosen: list[Story] = several[:MAX_STORIES] if len(several) >= 2 else list(stories.stories[:MAX_STORIES])
    digests = []
    for story in chosen:
        sids = [
            sid
            for doc_id in story.articles
            for sid in data.article_sentence_ids(doc_id)
            if data.sentences[sid].dup_group not in stories.boilerplate_groups
        ]
        lead = _lead_sentence(data, story.articles[0])
        if lead is None:
            continue
        lead_number = citations.number(lead)
        figures = _key_figures(data, sids, {}, citations, limit=FIGURES_PER_STORY)
        digests.append(
            StoryDigest(
                title=short_title(data.articles[story.articles[0]].title),
                articles=story.articles,
                outlets=story.outlets,
                newest=story.newest,
                lead=lead_number,
                figures=tuple(figures),
            )
        )
    return digests


def _stories_with_news(data: Corpus, stories: StoryMap, fresh: set[str], citations: _Citations) -> list[StoryDigest]:
    """The stories that received `fresh` articles, most corroborated first, each led by its newest
    new article and saying what every new article adds."""
    digests = []
    for story in [s for s in stories.stories if fresh & set(s.articles)][:MAX_STORIES]:
        new = [d for d in story.articles if d in fresh]  # newest first, as the story orders them
        earlier = [d for d in story.articles if d not in fresh]
        lead = _lead_sentence(data, new[0])
        if lead is None:
            continue
        lead_number = citations.number(lead)
        sids = _story_sentences(data, stories, story.articles)
        known = {by_value_and_counted_thing(m) for m in figure_mentions(data, _story_sentences(data, stories, tuple(earlier)))}
        known_outlets = {data.articles[d].outlet for d in earlier}
        added = []
        for doc_id in new:
            mentions = [
                m
                for m in figure_mentions(data, _story_sentences(data, stories, (doc_id,)), require_attribution=True)
                if by_value_and_counted_thing(m) not in known
            ]
            article = data.articles[doc_id]
            article_lead = _lead_sentence(data, doc_id)
            if article_lead is None:
                continue
            added.append(
                NewArticle(
                    doc_id=doc_id,
                    title=short_title(article.title),
                    outlet=article.outlet,
                    published=article.published,
                    url=article.url,
                    citation=citations.number(article_lead),
                    new_figures=tuple(_figures_of(data, mentions, {}, citations, FIGURES_PER_STORY)),
                    new_outlet=bool(article.outlet) and article.outlet not in known_outlets,
                    date_source=article.date_source,
                    fallback_date=article.fallback_date,
                )
            )
        digests.append(
            StoryDigest(
                title=short_title(data.articles[new[0]].title),
                articles=story.articles,
                outlets=story.outlets,
                newest=story.newest,
                lead=lead_number,
                figures=tuple(_key_figures(data, sids, {}, citations, limit=FIGURES_PER_STORY)),
                new=tuple(added),
            )
        )
    return digests


def _story_sentences(data: Corpus, stories: StoryMap, doc_ids: tuple[str, ...] | list[str]) -> list[int]:
    """The sentences of these articles, boilerplate left out."""
    return [
        sid
        for doc_id in doc_ids
        for sid in data.article_sentence_ids(doc_id)
        if data.sentences[sid].dup_group not in stories.boilerplate_groups
    ]


def _topic_sentences(
    retriever: Retriever, topic: str, k: int, window: TimeWindow | None = None
) -> tuple[list[int], dict[int, float]]:
    """Sentences of the chunks that are about `topic` (of articles published in `window`), with each sentence's cosine to it."""
    data = retriever.data
    min_dense = TOPIC_MIN_DENSE.get(data.info.chunk_vectors, TOPIC_MIN_DENSE["embedded"])
    result = retriever.search(topic, k=k, window=window) if window is not None else retriever.search(topic, k=k)
    ids: set[int] = set()
    for hit in result.hits:
        if not ((hit.lexical or 0.0) > 0.0 or (hit.dense or 0.0) >= min_dense):
            continue
        ids.update(chunk_sentence_ids(data, hit.chunk))
    ordered = sorted(ids)
    scores = data.sentence_vectors[ordered] @ result.query_vector if ordered else []
    return ordered, {sid: float(score) for sid, score in zip(ordered, scores)}


def _key_figures(
    data: Corpus, sentence_ids: list[int], relevance: dict[int, float], citations: _Citations, limit: int = MAX_FIGURES
) -> list[Figure]:
    """Attributed figures, the most widely carried first, then the most recent (by the newest article
    reporting them); one row per value and counted thing."""
    # a key figure says what it counts and who reported it
    return _figures_of(data, figure_mentions(data, sentence_ids, require_attribution=True), relevance, citations, limit)


def _figures_of(
    data: Corpus, mentions: list[FigureMention], relevance: dict[int, float], citations: _Citations, limit: int
) -> list[Figure]:
    groups = merge_mentions(data, mentions, key=by_value_and_counted_thing)
    ranked = sorted(
        groups,
        key=lambda g: (
            -len(g.docs), min(newest_first(data.articles[d].published) for d in g.docs), -len(g.sentence_ids),
            -max(relevance.get(s, 0.0) for s in g.sentence_ids), g.sentence_ids[0],
        ),
    )  # fmt: skip
    figures = []
    for group in ranked[:limit]:
        cited = _spread_over_articles(data, list(group.sentence_ids), CITATIONS_PER_FIGURE)
        number_of = {sid: citations.number(sid) for sid in cited}
        figures.append(
            Figure(
                value=group.value,
                what=group.what,
                attributed_to="; ".join(group.attributed_to),
                citations=tuple(number_of[sid] for sid in cited),
                sources=figure_sources(group, number_of),
            )
        )
    return figures


def _spread_over_articles(data: Corpus, sids: list[int], limit: int) -> list[int]:
    """Up to `limit` sentences, from different articles where there are several."""
    chosen: list[int] = []
    seen_docs: set[str] = set()
    for sid in sids:
        if data.sentences[sid].doc_id not in seen_docs:
            chosen.append(sid)
            seen_docs.add(data.sentences[sid].doc_id)
    chosen += [sid for sid in sids if sid not in chosen]
    return chosen[:limit]


def _corroborated_claims(
    data: Corpus, sentence_ids: list[int], relevance: dict[int, float], citations: _Citations
) -> list[CorroboratedClaim]:
    """One sentence per near-duplicate group spanning two or more articles, widest groups first."""
    first_of_group: dict[int, int] = {}
    for sid in sentence_ids:
        sentence = data.sentences[sid]
        group = sentence.dup_group
        if group is None or len(data.group_docs[group]) < 2 or not _SENTENCE_END.search(sentence.text):
            continue
        first_of_group.setdefault(group, sid)
    ranked = sorted(
        first_of_group.items(), key=lambda item: (-len(data.group_docs[item[0]]), -relevance.get(item[1], 0.0), item[1])
    )
    return [
        CorroboratedClaim(citation=citations.number(sid), articles=data.group_docs[group]) for group, sid in ranked[:MAX_CLAIMS]
    ]


def _newest_articles(data: Corpus, stories: StoryMap, doc_ids: list[str], citations: _Citations) -> list[RecentArticle]:
    """Dated articles newest first (undated ones after them), each cited by its first full sentence.
    Dates come with the stored story memberships, so no store reads every article for them."""
    published = {d: stories.members[d].published if d in stories.members else data.articles[d].published for d in doc_ids}
    dated = sorted((d for d in doc_ids if published[d]), key=lambda d: (published[d], d))
    ordered = dated[::-1] + sorted(d for d in doc_ids if not published[d])
    newest = []
    for doc_id in ordered[:MAX_NEWEST]:
        lead = _lead_sentence(data, doc_id)
        if lead is None:
            continue
        article = data.articles[doc_id]
        newest.append(
            RecentArticle(
                doc_id=doc_id,
                title=article.title,
                outlet=article.outlet,
                published=article.published,
                url=article.url,
                citation=citations.number(lead),
                date_source=article.date_source,
                fallback_date=article.fallback_date,
            )
        )
    return newest


def _lead_sentence(data: Corpus, doc_id: str) -> int | None:
    """The article's first sentence that ends like a sentence (titles and headings do not)."""
    base = data.sentence_base.get(doc_id)
    if base is None:
        return None
    fallback = None
    for sid in range(base, len(data.sentences)):
        sentence = data.sentences[sid]
        if sentence.doc_id != doc_id:
            break
        fallback = sid if fallback is None else fallback
        if _SENTENCE_END.search(sentence.text) and len(sentence.text) >= 40:
            return sid
    return fallback
