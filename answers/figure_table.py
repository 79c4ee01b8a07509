"""Figures across many sentences: found, completed from the sentence before, attributed, merged by value.

The answerer (figures for a "how many" question) and the briefing (key figures of the corpus)
both read figures this way; only which sentences they read, which rows they keep and how they rank
them differ, and that stays with them. Rows are typed: a `FigureMention` is one figure in one
sentence, a `FigureGroup` all mentions of one value (and, for the briefing, one counted thing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from answers.figures import attribution_of, find_figures
from answers.types import FigureSource
from retrieval.store_protocol import Corpus
from retrieval.types import Sentence


@dataclass(frozen=True)
class FigureMention:
    """One figure in one sentence: what it counts (from that sentence or the one before) and who said it."""

    value: str  # as written, e.g. "12.000"
    normalized: str  # comparable form, e.g. "12000"
    what: str  # the counted thing, e.g. "nordkoreanische Soldaten"
    attributed_to: str | None
    sentence_id: int


@dataclass(frozen=True)
class FigureGroup:
    """All mentions that report one figure, with every source and article that carries it.

    Merging never loses who said what: `attributions` keeps each sentence's own source, so a row
    that stands for Yonhap's 12.000 of October and the US's 12.000 of November names both (with
    their outlets and days, answers/types.py), even when one sentence names nobody.
    """

    value: str  # as most mentions write it (with a digit-group dot on ties, then the first seen)
    what: str  # the counted thing written most often (the longer on ties, the first seen after that)
    attributed_to: tuple[str, ...]  # distinct sources in order of mention
    sentence_ids: tuple[int, ...]  # distinct sentences in order of mention
    docs: frozenset[str]  # articles carrying it, near-identical copies in other articles included
    attributions: tuple[tuple[int, str | None], ...] = ()  # (sentence id, its source or None), as `sentence_ids`


def head_noun(phrase: str) -> str:
    """What a counted thing is judged by: "nordkoreanische Soldaten" counts "Soldaten"."""
    return phrase.split()[-1]


def previous_sentence(data: Corpus, sid: int) -> Sentence | None:
    """The sentence before `sid` in the same article (None at an article's start)."""
    if sid == 0:
        return None
    previous = data.sentences[sid - 1]
    return previous if previous.doc_id == data.sentences[sid].doc_id else None


def figure_mentions(data: Corpus, sentence_ids: Iterable[int], require_attribution: bool = False) -> list[FigureMention]:
    """Every figure in the sentences, in order; figures whose counted thing is unknown are left out.

    A figure without a counted thing takes the first one the previous sentence names ("Bis
    Dezember sollen es 10.000 sein." after "... 3000 Soldaten ..."); attribution looks back one
    sentence for "sagte er" and "demnach". With `require_attribution`, unattributed figures are
    left out too.
    """
    mentions: list[FigureMention] = []
    for sid in sentence_ids:
        sentence = data.sentences[sid]
        figures = find_figures(sentence.text)
        if not figures:
            continue
        previous = previous_sentence(data, sid)
        for figure in figures:
            what = figure.what
            if what is None and previous is not None:
                what = next((f.what for f in find_figures(previous.text) if f.what), None)
            if what is None:
                continue
            who = attribution_of(sentence.text, figure.start, previous.text if previous else None)
            if who is None and require_attribution:
                continue
            mentions.append(FigureMention(figure.value, figure.normalized, what, who, sid))
    return mentions


def by_value(mention: FigureMention) -> tuple[str, ...]:
    return (mention.normalized,)


def by_value_and_counted_thing(mention: FigureMention) -> tuple[str, ...]:
    return (mention.normalized, head_noun(mention.what).lower())


def reporting_docs(data: Corpus, sentence_ids: Iterable[int]) -> set[str]:
    """The articles that report these sentences, wire copies of them in other articles included."""
    docs: set[str] = set()
    for sid in sentence_ids:
        sentence = data.sentences[sid]
        docs.add(sentence.doc_id)
        if sentence.dup_group is not None:
            docs.update(data.group_docs[sentence.dup_group])
    return docs


def merge_mentions(
    data: Corpus,
    mentions: Sequence[FigureMention],
    key: Callable[[FigureMention], tuple[str, ...]] = by_value,
) -> list[FigureGroup]:
    """One group per key (by default the normalised value), in order of first mention."""
    collected: dict[tuple[str, ...], list[FigureMention]] = {}
    for mention in mentions:
        collected.setdefault(key(mention), []).append(mention)
    groups = []
    for members in collected.values():
        whats = [m.what for m in members]
        values = [m.value for m in members]
        docs = reporting_docs(data, (m.sentence_id for m in members))
        groups.append(
            FigureGroup(
                # as most mentions write it; "1.500" over "1500" when as many do
                value=max(dict.fromkeys(values), key=lambda v: (values.count(v), "." in v, -values.index(v))),
                what=max(dict.fromkeys(whats), key=lambda w: (whats.count(w), len(w), -whats.index(w))),
                attributed_to=tuple(dict.fromkeys(m.attributed_to for m in members if m.attributed_to)),
                sentence_ids=tuple(dict.fromkeys(m.sentence_id for m in members)),
                docs=frozenset(docs),
                attributions=_attribution_per_sentence(members),
            )
        )
    return groups


def _attribution_per_sentence(members: Sequence[FigureMention]) -> tuple[tuple[int, str | None], ...]:
    """Each sentence's source for the figure (the first named, when it mentions the value twice)."""
    named: dict[int, str | None] = {}
    for m in members:
        if named.get(m.sentence_id) is None:
            named[m.sentence_id] = m.attributed_to
    return tuple(named.items())


def figure_sources(group: FigureGroup, number_of: Mapping[int, int]) -> tuple[FigureSource, ...]:
    """Who each citation of a group's row names, by citation number (sentences merged into one
    citation as near-duplicates keep the first source named)."""
    sources: dict[int, str | None] = {}
    for sid, who in group.attributions:
        if sid in number_of and sources.get(number_of[sid]) is None:
            sources[number_of[sid]] = who
    return tuple(FigureSource(n, who) for n, who in sorted(sources.items()))
