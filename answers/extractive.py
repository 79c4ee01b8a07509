"""The default answerer: picks verbatim sentences, builds a figures table, or abstains.

It is deterministic and cannot invent a fact: every word it shows from the articles is a slice of
an article's cleaned text. Every sentence of the retrieved passages gets P(it holds the answer)
and the question P(the collection answers it) from the models fitted on data in
`answers.answer_scorer`; below the fitted threshold newsbot declines. Copies of one wire-agency
sentence in several articles become one quote with several sources.

The earlier hand-weighted scorer ("legacy": cosine plus word-overlap and passage bonuses, one
absolute threshold) is kept only as the baseline the answers benchmark measures beside it.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from itertools import takewhile
from typing import Literal

import numpy as np

from answers.answer_scorer import (
    FeatureExtractor,
    ScorerParameters,
    answerability_row,
    default_parameters,
    sigmoid,
)
from answers.figure_table import (
    FigureMention,
    by_value,
    figure_mentions,
    head_noun,
    merge_mentions,
    previous_sentence,
    reporting_docs,
)
from answers.figures import find_figures
from answers.labels import label, language_key
from answers.stories import story_map
from answers.story_figures import StoryRows, group_by_story
from answers.types import Answer, Citation, Figure
from answers.vector_cache import VectorCache
from config.settings import Settings
from models.embedders import Embedder
from retrieval.lexical import tokenize
from retrieval.search import SearchResult
from retrieval.store import IndexData
from retrieval.store_protocol import chunk_sentence_ids

logger = logging.getLogger(__name__)

QUANTITY_QUESTION = re.compile(
    r"\b(?:how\s+many|how\s+much|how\s+large|number\s+of|wie\s*viele?|wieviele?|wie\s+groß|anzahl|zahl\s+der)\b",
    re.IGNORECASE,
)
_TERMINAL = re.compile(r"[.!?…\"“”»«)]$")

# Legacy (baseline) scoring weights, hand-set on the dev questions (shared/eval) and
# tests/questions_own.jsonl; used only by `scorer="legacy"`, the answers benchmark's baseline.
LEXICAL_WEIGHT = 0.06
PASSAGE_WEIGHT = 0.03
HEADING_PENALTY = 0.04
CONTEXT_DISCOUNT = 0.015
SAME_ARTICLE_PENALTY = 0.012
QUOTE_MARGIN = 0.035  # quotes must score within this of the best sentence
FIGURE_MARGIN = 0.06  # figure sentences may trail the best figure sentence by this much
WHAT_MARGIN = 0.03  # a figure's counted thing must be about as relevant as the best one
# Fitted scorer: the first MIN_QUOTES sentences are shown (the window answer@3 is measured on);
# a further quote, up to max_quotes, must be more likely than not to hold the answer by the fitted
# sentence model (its own decision boundary, not a tuned value). Figure sentences are kept while
# at least half as likely as the best figure sentence: a product choice (a figures table lists
# every source's figure), not fitted; XQuAD has one answer per question to fit it on.
MIN_QUOTES = 3
QUOTE_PROBABILITY = 0.5
FIGURE_RELATIVE = 0.5
PHRASE_VECTORS_CACHED = 4096  # counted-thing vectors kept per answerer (1.5 KB each: ~6 MB at most)
WHAT_MIN = 0.80  # ...and relevant in absolute terms ("tanks" vs "Soldaten" scores 0.76, "soldiers" 0.83)


@dataclass(frozen=True)
class ScoredSentence:
    sentence_id: int
    score: float  # fitted: P(holds the answer); legacy: cosine plus bonuses
    dense: float


@dataclass(frozen=True)
class Assessment:
    """The scored sentences (best first) and the answer-or-decline decision with its score."""

    scored: list[ScoredSentence]
    answerable: float  # fitted: P(the collection answers); legacy: the best sentence's score
    answers: bool


def is_quantity_question(question: str) -> bool:
    return bool(QUANTITY_QUESTION.search(question))


class ExtractiveAnswerer:
    """Answers from the retrieved passages with verbatim quotes; see module docstring."""

    name = "extractive"

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        scorer: Literal["fitted", "legacy"] | None = None,
        parameters: ScorerParameters | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.scorer = scorer or settings.models.answer_scorer
        self.parameters = parameters or (default_parameters() if self.scorer == "fitted" else None)
        self.features = FeatureExtractor(embedder.embed_queries, self.parameters)
        self._phrase_vectors = VectorCache(embedder.embed_passages, PHRASE_VECTORS_CACHED)

    def assess(self, question: str, result: SearchResult, data: IndexData) -> Assessment:
        """Score the retrieved sentences and decide whether the collection answers the question."""
        if self.scorer == "legacy":
            scored = self._score_sentences(question, result, data)
            best = scored[0].score if scored else float("-inf")
            return Assessment(scored, best, bool(scored) and best >= self.settings.models.abstain_threshold)
        assert self.parameters is not None
        candidates = self.features.candidates(question, result, data)
        logits = (
            self.parameters.sentence.logits(candidates.features)
            if len(candidates.sentence_ids)
            else np.zeros(0)
        )
        answerable = float(
            sigmoid(self.parameters.answerability.logits(answerability_row(candidates, logits)[None, :]))[0]
        )
        probabilities = sigmoid(logits)
        dense_column = 0  # SENTENCE_FEATURES[0] is the sentence's cosine to the question
        scored = [
            ScoredSentence(int(sid), float(p), float(candidates.features[row, dense_column]))
            for row, (sid, p) in enumerate(zip(candidates.sentence_ids.tolist(), probabilities.tolist()))
        ]
        scored.sort(key=lambda s: (-s.score, s.sentence_id))
        threshold = self.parameters.threshold(candidates)
        return Assessment(scored, answerable, bool(scored) and answerable >= threshold)

    def compose(self, question: str, language: str, result: SearchResult, data: IndexData) -> Answer:
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

    # -- scoring -----------------------------------------------------------------------------

    def _score_sentences(self, question: str, result: SearchResult, data: IndexData) -> list[ScoredSentence]:
        """Every sentence of the retrieved chunks, best first."""
        passage_score: dict[int, float] = {}
        for hit in result.hits:
            for sid in chunk_sentence_ids(data, hit.chunk):
                passage_score[sid] = max(passage_score.get(sid, 0.0), hit.fused)
        if not passage_score:
            return []
        ids = np.fromiter(passage_score, dtype=np.int64)
        vectors = data.sentence_vectors[ids]
        dense = vectors @ result.query_vector
        # A sentence read with the one before it ("…, sagte er." after the sentence naming him):
        # the pair's mean vector scores the context, discounted so a sentence on its own still wins.
        previous_ids = np.array([sid - 1 if previous_sentence(data, sid) else sid for sid in ids.tolist()])
        pair = vectors + data.sentence_vectors[previous_ids]
        pair /= np.linalg.norm(pair, axis=1, keepdims=True) + 1e-9
        in_context = pair @ result.query_vector - CONTEXT_DISCOUNT
        question_tokens = set(tokenize([question])[0])
        sentence_tokens = tokenize([data.sentences[int(i)].text for i in ids])
        previous_tokens = tokenize([data.sentences[int(i)].text for i in previous_ids])
        scored = []
        for row, sid in enumerate(ids.tolist()):
            sentence = data.sentences[sid]
            own = question_tokens & set(sentence_tokens[row])
            context = (question_tokens & set(previous_tokens[row])) - own
            overlap = (len(own) + 0.5 * len(context)) / len(question_tokens) if question_tokens else 0.0
            best_dense = max(float(dense[row]), float(in_context[row]))
            score = best_dense + LEXICAL_WEIGHT * overlap + PASSAGE_WEIGHT * passage_score[sid]
            if not _TERMINAL.search(sentence.text):
                score -= HEADING_PENALTY  # headings and captions inform less than sentences
            scored.append(ScoredSentence(sid, score, best_dense))
        scored.sort(key=lambda s: (-s.score, s.sentence_id))
        return scored

    def _select_quotes(
        self, scored: list[ScoredSentence], data: IndexData, chosen: list[int], limit: int
    ) -> list[int]:
        """Greedy selection of likely answers (legacy: near the best score), preferring articles not yet quoted."""
        best = scored[0].score
        if self.scorer == "legacy":
            pool = [s for s in scored if s.score >= best - QUOTE_MARGIN]
        else:
            pool = scored[:MIN_QUOTES] + [s for s in scored[MIN_QUOTES:] if s.score >= QUOTE_PROBABILITY]
        chosen = list(chosen)
        groups = {data.sentences[sid].dup_group for sid in chosen} - {None}
        while pool and len(chosen) < limit:
            used_docs = {data.sentences[sid].doc_id for sid in chosen}
            penalty = SAME_ARTICLE_PENALTY if self.scorer == "legacy" else 0.0
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

    def reporting_articles(self, result: SearchResult, scored: list[ScoredSentence], data: IndexData) -> int:
        """How many distinct retrieved articles hold a figure of what a quantity question counts
        (wire copies of a figure sentence in other articles included)."""
        _, everywhere = self._figure_rows(result, scored, data)
        return len(reporting_docs(data, (row.sentence_id for row in everywhere)))

    def _quantity_groups(
        self, result: SearchResult, scored: list[ScoredSentence], data: IndexData
    ) -> list[StoryRows]:
        """The figure rows of a quantity answer, grouped by story (one untitled group without stories)."""
        near_best, everywhere = self._figure_rows(result, scored, data)
        if not near_best:
            return []
        # Stories were linked at index time; a database corpus fetches only those of the articles retrieved.
        retrieved = {hit.chunk.doc_id for hit in result.hits} | {data.sentences[r.sentence_id].doc_id for r in everywhere}
        stories = story_map(data, around=retrieved)
        floor = self._relevance_floor(result, everywhere)
        groups = group_by_story(
            near_best,
            everywhere,
            {s.sentence_id: s.score for s in scored},
            data,
            stories,
            lambda sids: self._about_the_question(result, figure_mentions(data, sids), floor),
        )
        if stories.total <= 1:
            return [StoryRows(story=g.story, title="", rows=g.rows) for g in groups]
        return groups

    def _figure_rows(
        self, result: SearchResult, scored: list[ScoredSentence], data: IndexData
    ) -> tuple[list[FigureMention], list[FigureMention]]:
        """Figures whose counted thing is about what was asked: (those of the best figure sentences,
        those of every retrieved sentence), both best sentence first."""
        with_figures = [s for s in scored if find_figures(data.sentences[s.sentence_id].text)]
        if not with_figures:
            return [], []
        best = with_figures[0].score
        floor = best - FIGURE_MARGIN if self.scorer == "legacy" else FIGURE_RELATIVE * best
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
        self, rows: list[FigureMention], number_of: dict[int, int], data: IndexData, story: str | None = None
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
                ),
            )
            for group in merge_mentions(data, rows, key=by_value)
        ]
        figures.sort(key=lambda pair: (-pair[0], min(pair[1].citations)))
        return [figure for _, figure in figures]

    # -- citations ---------------------------------------------------------------------------

    def _collapse(self, chosen: list[int], data: IndexData) -> tuple[list[Citation], dict[int, int]]:
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

    def _citation(self, n: int, sid: int, data: IndexData, others: tuple[str, ...] = ()) -> Citation:
        return citation_for_sentence(n, sid, data, others)


def citation_for_sentence(n: int, sid: int, data: IndexData, others: tuple[str, ...] = ()) -> Citation:
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
    )
