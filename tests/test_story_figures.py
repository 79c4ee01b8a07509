"""Which story a quantity answer leads with: the one most articles report, not the one best-worded sentence.

A small collection built in memory (no model needed): one story told by three articles (one of
them a wire copy), each with a modestly scored figure sentence, and one story in a single article
whose figure sentence scores highest. The rules under test are answers/story_figures.py's.
"""

from __future__ import annotations

import numpy as np

from answers.figure_table import FigureMention
from answers.stories import Story, StoryMap
from answers.story_figures import MIN_CORROBORATION, group_by_story
from retrieval.store_protocol import BuildInfo
from retrieval.stores.embedded.store import IndexData
from retrieval.types import Article, Sentence

TEXTS = {
    "a1": ["Der Geheimdienst meldete 1.500 Soldaten.", "Das Wetter war gut."],
    "a2": ["Laut Agentur sind es 12.000 Soldaten.", "Der Geheimdienst meldete 1.500 Soldaten."],
    "a3": ["Bis Dezember sollen es 10.000 Soldaten sein."],
    "b1": ["Bei dem Anschlag starben 27 Soldaten."],
    "c1": ["Im Stadion saßen 3.000 Zuschauer."],
}
WIRE_GROUP = 7  # the sentence a1 and a2 share


def collection() -> tuple[IndexData, StoryMap]:
    articles, sentences = {}, []
    for doc_id, texts in TEXTS.items():
        text = " ".join(texts)
        articles[doc_id] = Article(doc_id=doc_id, title=f"Titel {doc_id}", text=text, content_hash=doc_id, source_path=doc_id)
        offset = 0
        for position, sentence in enumerate(texts):
            group = WIRE_GROUP if sentence == "Der Geheimdienst meldete 1.500 Soldaten." else None
            sentences.append(Sentence(doc_id, position, offset, offset + len(sentence), sentence, group))
            offset += len(sentence) + 1
    info = BuildInfo(model_id="m", backend="b", dimension=4, index_type="flat", chunk_sentences=4, chunk_overlap=1, chunk_max_chars=900)
    empty = np.zeros((len(sentences), 4), dtype=np.float32)
    data = IndexData(info, articles, sentences, [], np.zeros((0, 4), dtype=np.float32), empty)
    stories = (Story(("a1", "a2", "a3"), (), None), Story(("b1",), (), None), Story(("c1",), (), None))
    story_of = {doc: i for i, story in enumerate(stories) for doc in story.articles}
    return data, StoryMap(stories=stories, story_of=story_of, boilerplate_groups=frozenset())


def rows(data: IndexData, *sids: int) -> list[FigureMention]:
    """The figure row of each sentence (each holds one figure of soldiers)."""
    out = []
    for sid in sids:
        value = next(word for word in data.sentences[sid].text.split() if word[0].isdigit())
        out.append(FigureMention(value, value.replace(".", ""), "Soldaten", None, sid))
    return out


def sid_of(data: IndexData, doc_id: str, position: int = 0) -> int:
    return data.sentence_base[doc_id] + position


def test_the_story_several_articles_report_leads_over_one_better_worded_sentence() -> None:
    data, stories = collection()
    attack = sid_of(data, "b1")
    story_sids = [sid_of(data, "a1"), sid_of(data, "a2"), sid_of(data, "a3")]
    scores = {attack: 0.68, story_sids[0]: 0.09, story_sids[1]: 0.05, story_sids[2]: 0.03}
    near_best = rows(data, attack)  # only the attack's sentence is near the best score
    everywhere = rows(data, attack, *story_sids)

    groups = group_by_story(near_best, everywhere, scores, data, stories, lambda sids: [])

    assert [g.story for g in groups] == [0, 1]  # corroborated story first; the attack keeps its own group
    assert {r.sentence_id for r in groups[0].rows} == set(story_sids)
    assert [r.sentence_id for r in groups[1].rows] == [attack]


def test_a_story_without_a_near_best_sentence_needs_two_reporting_articles_to_enter() -> None:
    data, stories = collection()
    attack, crowd = sid_of(data, "b1"), sid_of(data, "c1")
    scores = {attack: 0.68, crowd: 0.30}

    groups = group_by_story(rows(data, attack), rows(data, attack, crowd), scores, data, stories, lambda sids: [])

    assert MIN_CORROBORATION == 2
    assert [g.story for g in groups] == [1]  # one article with a weaker sentence is not corroboration


def test_a_wire_copy_counts_the_articles_that_carry_it_and_the_first_group_is_completed() -> None:
    data, stories = collection()
    wire = sid_of(data, "a1")  # its copy in a2 is not among the retrieved sentences
    attack = sid_of(data, "b1")
    scores = {attack: 0.68, wire: 0.09}
    completed = rows(data, sid_of(data, "a3"))

    groups = group_by_story(
        rows(data, attack), rows(data, attack, wire), scores, data, stories, lambda sids: completed if sid_of(data, "a3") in sids else []
    )

    assert [g.story for g in groups] == [0, 1]  # a1 and a2 both carry the wire sentence: two articles
    assert [r.sentence_id for r in groups[0].rows] == [wire, sid_of(data, "a3")]


def test_corroboration_is_read_from_the_whole_story_where_retrieval_cut_it_off() -> None:
    data, stories = collection()
    attack, retrieved = sid_of(data, "b1"), sid_of(data, "a3")  # the story's other articles were not retrieved
    scores = {attack: 0.68, retrieved: 0.03}
    whole_story = rows(data, sid_of(data, "a1"), sid_of(data, "a2"), retrieved)

    groups = group_by_story(
        rows(data, attack),
        rows(data, attack, retrieved),
        scores,
        data,
        stories,
        lambda sids: [r for r in whole_story if r.sentence_id in sids],
    )

    assert [g.story for g in groups] == [0, 1]
    assert {r.sentence_id for r in groups[0].rows} == {r.sentence_id for r in whole_story}
