"""The default answerer: picks verbatim sentences, builds a figures table, or abstains.

It is deterministic and cannot invent a fact: every word it shows from the articles is a slice of
an article's cleaned text. A sentence scorer (`answers.scoring`: the reader, the fitted models or the
legacy baseline, chosen once at construction) scores the retrieved sentences and decides whether the
collection answers; this module only puts the answer together. Copies of one wire-agency sentence in
several articles become one quote with several sources.
"""

from __future__ import annotations

import logging
import re
import time
from itertools import takewhile

import numpy as np

from answers.answer_scorer import ScorerParameters
from answers.figure_table import (
    FigureMention,
    by_value,
    figure_mentions,
    figure_sources,
    head_noun,
    merge_mentions,
    reporting_docs,
)
from answers.figures import find_figures
from answers.labels import label, language_key
from answers.scoring import SentenceScorer
from answers.scoring.choice import ScorerName, make_scorer
from answers.scoring.types import Assessment, ScoredSentence
from answers.stories import published_in, story_map
from answers.story_figures import StoryRows, group_by_story
from answers.types import Answer, Citation, Figure
from answers.vector_cache import VectorCache
from config.settings import Settings
from models.embedders import Embedder
from retrieval.store_protocol import Corpus, SearchResult

logger = logging.getLogger(__name__)

QUANTITY_QUESTION = re.compile(
    r"\b(?:how\s+many|how\s+much|how\s+large|number\s+of|wie\s*viele?|wieviele?|wie\s+groß|anzahl|zahl\s+der)\b",
    re.IGNORECASE,
)
PHRASE_VECTORS_CACHED = 4096  # counted-thing vectors kept per answerer (1.5 KB each: ~6 MB at most)
WHAT_MARGIN = 0.03  # a figure's counted thing must be about as relevant as the best one
WHAT_MIN = 0.80  # ...and relevant in absolute terms ("tanks" vs "Soldaten" scores 0.76, "soldiers" 0.83)

__all__ = ["Assessment", "ExtractiveAnswerer", "ScoredSentence", "citation_for_sentence", "is_quantity_question"]


def is_quantity_question(question: str) -> bool:
    return bool(QUANTITY_QUESTION.search(question))


class ExtractiveAnswerer:
    """Answers from the retrieved passages with verbatim quotes; see module docstring."""

    name = "extractive"

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        scorer: ScorerName | SentenceScorer | None = None,
        parameters: ScorerParameters | None = None,
    ) -> None:
        """`scorer`: a scorer, or the name of one to build (default: the `answer_scorer` setting);
        `parameters` replace the committed fitted models (the benchmarks' variants)."""
        self.settings = settings
        self.embedder = embedder
        if scorer is None or isinstance(scorer, str):
            scorer = make_scorer(scorer or settings.models.answer_scorer, settings, embedder, parameters)
        self.scorer: SentenceScorer = scorer
        self._phrase_vectors = VectorCache(embedder.embed_passages, PHRASE_VECTORS_CACHED)

    def assess(self, question: str, result: SearchResult, data: Corpus) -> Assessment:
        """Score the retrieved sentences and decide whether the collection answers the question."""
        return self.scorer.assess(question, result, data)

    def compose(self, question: str, language: str, result: SearchResult, data: Corpus) -> Answer:
        started = time.perf_counter()
        lang = language_key(language)
        assessment = self.assess(question, result, data)
        scored = assessment.scored
        if not assessment.answers:
            nearest = scored[:2]
            answer = Answer(
                question=question,
                language=lang,
                status="declined",
                lead=label(lang, "declined"),
                citations=[self._citation(i + 1, s.sentence_id, data) for i, s in enumerate(nearest)],
            )
            answer.timings["sentence_selection"] = time.perf_counter() - started
            return answer

        quantity = is_quantity_question(question)
        figure_rows: list[FigureMention] = []
        chosen: list[int] = []
        groups: list[StoryRows] = []
        if quantity:
            groups = self._quantity_groups(result, scored, data)
            figure_rows = [row for group in groups for row in group.rows]
            for row in figure_rows:
                if row.sentence_id not in chosen:
                    chosen.append(row.sentence_id)
        # A figures answer cites every figure sentence, plus at most two sentences of context.
        limit = len(chosen) + 2 if chosen else self.settings.models.max_quotes
        chosen = self._select_quotes(scored, data, chosen, limit)

        citations, number_of = self._collapse(chosen, data)
        figures = [
            figure
            for group in groups
            for figure in self._figure_table(group.rows, number_of, data, group.title or None)
        ]
        answer = Answer(
            question=question,
            language=lang,
            status="answered",
            lead=label(lang, "lead_figures" if figures else "lead_quotes"),
            figures=figures,
            citations=citations,
        )
        answer.timings["sentence_selection"] = time.perf_counter() - started
        return answer

    def _select_quotes(
        self, scored: list[ScoredSentence], data: Corpus, chosen: list[int], limit: int
    ) -> list[int]:
        """Greedy selection of likely answers (legacy: near the best score), preferring articles not yet quoted."""
        pool = self.scorer.quote_pool(scored)
        chosen = list(chosen)
        groups = {data.sentences[sid].dup_group for sid in chosen} - {None}
        while pool and len(chosen) < limit:
            used_docs = {data.sentences[sid].doc_id for sid in chosen}
            penalty = self.scorer.same_article_penalty
            pick = max(
                pool, key=lambda s: s.score - penalty * (data.sentences[s.sentence_id].doc_id in used_docs)
            )
            pool.remove(pick)
            sentence = data.sentences[pick.sentence_id]
            if pick.sentence_id in chosen or (
                sentence.dup_group is not None and sentence.dup_group in groups
            ):
                continue
            chosen.append(pick.sentence_id)
            if sentence.dup_group is not None:
                groups.add(sentence.dup_group)
        if not chosen:
            chosen.append(scored[0].sentence_id)
        return chosen

    # -- figures -----------------------------------------------------------------------------

    def reporting_articles(self, result: SearchResult, scored: list[ScoredSentence], data: Corpus) -> int:
        """How many distinct retrieved articles hold a figure of what a quantity question counts
        (wire copies of a figure sentence in other articles included)."""
        _, everywhere = self._figure_rows(result, scored, data)
        return len(reporting_docs(data, (row.sentence_id for row in everywhere)))

    def _quantity_groups(
        self, result: SearchResult, scored: list[ScoredSentence], data: Corpus
    ) -> list[StoryRows]:
        """The figure rows of a quantity answer, grouped by story (one untitled group without stories)."""
        near_best, everywhere = self._figure_rows(result, scored, data)
        if not near_best:
            return []
        # Stories were linked at index time; a database corpus fetches only those of the articles retrieved.
        retrieved = {hit.chunk.doc_id for hit in result.hits} | {data.sentences[r.sentence_id].doc_id for r in everywhere}
        stories = story_map(data, around=retrieved)
        if result.window is not None and not result.window.open:
            stories = published_in(stories, result.window)
        floor = self._relevance_floor(result, everywhere)
        groups = group_by_story(
            near_best,
            everywhere,
            {s.sentence_id: s.score for s in scored},
            data,
            stories,
            lambda sids: self._about_the_question(result, figure_mentions(data, sids), floor),
        )
        if not stories.several:
            return [StoryRows(story=g.story, title="", rows=g.rows) for g in groups]
        return groups

    def _figure_rows(
        self, result: SearchResult, scored: list[ScoredSentence], data: Corpus
    ) -> tuple[list[FigureMention], list[FigureMention]]:
        """Figures whose counted thing is about what was asked: (those of the best figure sentences,
        those of every retrieved sentence), both best sentence first."""
        with_figures = [s for s in scored if find_figures(data.sentences[s.sentence_id].text)]
        if not with_figures:
            return [], []
        best = with_figures[0].score
        floor = self.scorer.figure_floor(best)
        near_best = {s.sentence_id for s in takewhile(lambda s: s.score >= floor, with_figures)}  # best first
        rows = figure_mentions(data, [s.sentence_id for s in with_figures])
        if not rows:
            return [], []
        relevant = self._about_the_question(result, rows, self._relevance_floor(result, rows))
        return [row for row in relevant if row.sentence_id in near_best], relevant

    def _relevance_floor(self, result: SearchResult, rows: list[FigureMention]) -> float:
        """How relevant a counted thing must be: about as relevant as the best one, and relevant at all."""
        relevance = self._phrase_relevance(result.query_vector, sorted({head_noun(row.what) for row in rows}))
        return max(max(relevance.values()) - WHAT_MARGIN, WHAT_MIN)

    def _about_the_question(
        self, result: SearchResult, rows: list[FigureMention], floor: float
    ) -> list[FigureMention]:
        """The rows whose counted thing the question asks about, judged by its head noun
        ("nordkoreanische Soldaten" counts "Soldaten")."""
        if not rows:
            return []
        relevance = self._phrase_relevance(result.query_vector, sorted({head_noun(row.what) for row in rows}))
        return [row for row in rows if relevance[head_noun(row.what)] >= floor]

    def _phrase_relevance(self, query_vector: np.ndarray, phrases: list[str]) -> dict[str, float]:
        """Cosine of the question to each counted thing ("nordkoreanische Soldaten"), cached per phrase."""
        vectors = self._phrase_vectors.get(phrases) if phrases else []
        return {phrase: float(vector @ query_vector) for phrase, vector in zip(phrases, vectors)}

    def _figure_table(
        self, rows: list[FigureMention], number_of: dict[int, int], data: Corpus, story: str | None = None
    ) -> list[Figure]:
        """One row per distinct value; sources merged; most widely reported first."""
        figures = [
            (
                len(group.docs),
                Figure(
                    value=group.value,
                    what=group.what,
                    attributed_to="; ".join(group.attributed_to) or None,
                    citations=tuple(sorted({number_of[sid] for sid in group.sentence_ids})),
                    story=story,
                    sources=figure_sources(group, number_of),
                ),
            )
            for group in merge_mentions(data, rows, key=by_value)
        ]
        figures.sort(key=lambda pair: (-pair[0], min(pair[1].citations)))
        return [figure for _, figure in figures]

    # -- citations ---------------------------------------------------------------------------

    def _collapse(self, chosen: list[int], data: Corpus) -> tuple[list[Citation], dict[int, int]]:
        """Citations numbered from 1; near-duplicates share one citation listing all articles."""
        citations: list[Citation] = []
        number_of: dict[int, int] = {}
        by_group: dict[int, int] = {}
        for sid in chosen:
            sentence = data.sentences[sid]
            if sentence.dup_group is not None and sentence.dup_group in by_group:
                number_of[sid] = by_group[sentence.dup_group]
                continue
            n = len(citations) + 1
            others: tuple[str, ...] = ()
            if sentence.dup_group is not None:
                by_group[sentence.dup_group] = n
                others = tuple(d for d in data.group_docs[sentence.dup_group] if d != sentence.doc_id)
            citations.append(self._citation(n, sid, data, others))
            number_of[sid] = n
        return citations, number_of

    def _citation(self, n: int, sid: int, data: Corpus, others: tuple[str, ...] = ()) -> Citation:
        return citation_for_sentence(n, sid, data, others)


def citation_for_sentence(n: int, sid: int, data: Corpus, others: tuple[str, ...] = ()) -> Citation:
    """Citation `n` quoting sentence `sid` verbatim: the quote is the article text at its offsets."""
    sentence = data.sentences[sid]
    article = data.articles[sentence.doc_id]
    return Citation(
        n=n,
        doc_id=article.doc_id,
        title=article.title,
        outlet=article.outlet,
        published=article.published,
        url=article.url,
        quote=article.text[sentence.start : sentence.end],
        start=sentence.start,
        end=sentence.end,
        also_reported_by=others,
        date_source=article.date_source,
        fallback_date=article.fallback_date,
    )
