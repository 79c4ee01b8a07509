"""Stories: groups of articles that report the same event, and the boilerplate that is no story's.

Which story an article belongs to is decided when it is indexed (retrieval/story_linking.py) and
stored by either store; this module reads it through the one `Corpus.story_members` interface and
orders the stories by corroboration. A sentence that recurs near-identically in articles of
different stories ("Der Volltext dieses auf Agenturmeldungen basierenden Artikels steht aus
rechtlichen Gründen nicht mehr zur Verfügung.") is boilerplate: it never counts as corroboration.
Nothing here clusters: a question reads stored labels, whatever the collection's size.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field

from retrieval.store_protocol import Corpus
from retrieval.story_linking import StoryMember
from retrieval.time_window import TimeWindow

logger = logging.getLogger(__name__)

TITLE_CHARS = 90


def short_title(title: str) -> str:
    """A title to head a group: files without a title line give their whole first paragraph."""
    if len(title) <= TITLE_CHARS:
        return title
    cut = title.rfind(" ", 0, TITLE_CHARS)
    return title[: cut if cut > 0 else TITLE_CHARS].rstrip(" ,;:–-") + " …"


@dataclass(frozen=True)
class Story:
    """Articles reporting the same event; `articles` newest first (undated last)."""

    articles: tuple[str, ...]
    outlets: tuple[str, ...]
    newest: str | None
    id: int = 0  # the stored story id (stable across questions and index updates)
    last_added: float = 0.0  # when its newest article entered the collection (seconds since the epoch)


@dataclass(frozen=True)
class StoryMap:
    """The stories of the collection (or of the articles a question retrieved, with all their
    members), and the near-duplicate groups that are boilerplate; `several`: whether the whole
    collection holds more than one story (a collection of one story needs no story headings)."""

    stories: tuple[Story, ...]  # most outlets first, then most articles, then newest
    story_of: dict[str, int]  # doc_id -> index into `stories`
    boilerplate_groups: frozenset[int]
    several: bool = False
    members: dict[str, StoryMember] = field(default_factory=dict)  # doc_id -> its stored membership (dates)


def article_sentences(data: Corpus, doc_id: str) -> list[int]:
    """The sentence ids of one article; none when it is not in the collection (any store)."""
    try:
        return list(data.article_sentence_ids(doc_id))
    except KeyError:
        return []


def stories_from(members: list[StoryMember], boilerplate: frozenset[int], several: bool) -> StoryMap:
    """Order stored memberships into a `StoryMap`: corroboration first (outlets, then articles
    carrying the story), recency among equals."""
    by_story: dict[int, list[StoryMember]] = {}
    for member in members:
        by_story.setdefault(member.story, []).append(member)
    stories = [_story(story, group) for story, group in by_story.items()]
    stories.sort(key=lambda s: (-len(s.outlets), -len(s.articles), newest_first(s.newest), s.articles[0]))
    story_of = {doc_id: i for i, story in enumerate(stories) for doc_id in story.articles}
    return StoryMap(
        stories=tuple(stories), story_of=story_of, boilerplate_groups=boilerplate, several=several,
        members={m.doc_id: m for m in members},
    )  # fmt: skip


def published_in(stories: StoryMap, window: TimeWindow) -> StoryMap:
    """The stories with only their articles of `window` (by each article's best day known, as time
    windows judge it); a story with none there is left out. A windowed answer or briefing reads no
    article outside its window, not even for a story's corroboration."""
    kept = [m for m in stories.members.values() if window.admits(m.date or m.published)]
    return stories_from(kept, stories.boilerplate_groups, several=len({m.story for m in kept}) > 1)


def _story(story: int, members: list[StoryMember]) -> Story:
    ordered = sorted(members, key=lambda m: (newest_first(m.published), m.doc_id))
    return Story(
        articles=tuple(m.doc_id for m in ordered),
        outlets=tuple(sorted({m.outlet for m in members if m.outlet})),
        newest=ordered[0].published,
        id=story,
        last_added=max(m.added for m in members),
    )


def newest_first(date: str | None) -> tuple[int, str]:
    """Sort key putting the newest ISO date first and undated last."""
    if not date:
        return (1, "")
    return (0, "".join(chr(0x10FFFF - ord(ch)) for ch in date))


_cache: dict[int, tuple[weakref.ref[Corpus], StoryMap]] = {}
_lock = threading.Lock()


def story_map(data: Corpus, around: Iterable[str] | None = None) -> StoryMap:
    """The stories of the articles `around` (every article of each of their stories), or of the
    whole collection when None.

    The whole map of a loaded embedded index is built once from the stored labels and kept as long
    as the index lives (briefings); a question asks only for the stories `around` its articles, which
    either store gives without reading the whole collection.
    """
    if data.in_memory and around is None:  # the whole map: built once per loaded index
        with _lock:
            cached = _cache.get(id(data))
        if cached is not None and cached[0]() is data:
            return cached[1]
        built = _build(data, None)
        with _lock:
            for key in [k for k, (ref, _) in _cache.items() if ref() is None]:
                del _cache[key]  # indexes that were replaced (an upload) and freed
            _cache[id(data)] = (weakref.ref(data), built)
        return built
    return _build(data, None if around is None else sorted(set(around)))


def _build(data: Corpus, around: list[str] | None) -> StoryMap:
    members = data.story_members(around)
    docs = [m.doc_id for m in members]
    built = stories_from(
        members, data.cross_story_groups(None if around is None else docs), data.several_stories()
    )
    logger.debug(
        "%d articles in %d stories; %d boilerplate groups",
        len(docs),
        len(built.stories),
        len(built.boilerplate_groups),
    )
    return built
