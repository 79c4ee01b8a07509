"""The default answerer: picks verbatim sentences, builds a figures table, or abstains.

It is deterministic and cannot invent a fact: every word it shows from the articles is a slice of
an article's cleaned text. Sentences are scored (not only chunks) by their own embedding against
the question, the words they share with it and the rank of the passage they came from; copies of
one wire-agency sentence in several articles become one quote with several sources.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from answers.figures import attribution_of, find_figures
from answers.labels import label, language_key
from answers.types import Answer, Citation, Figure
from config.settings import Settings
from models.embedders import Embedder
from retrieval.lexical import tokenize
from retrieval.search import SearchResult
from retrieval.store import IndexData
from retrieval.types import Sentence

logger = logging.getLogger(__name__)

QUANTITY_QUESTION = re.compile(
    r"\b(?:how\s+many|how\s+much|how\s+large|number\s+of|wie\s*viele?|wieviele?|wie\s+groß|anzahl|zahl\s+der)\b",
    re.IGNORECASE,
)
_TERMINAL = re.compile(r"[.!?…\"“”»«)]$")

# Scoring weights; calibrated on the dev questions (shared/eval) and tests/questions_own.jsonl.
LEXICAL_WEIGHT = 0.06
PASSAGE_WEIGHT = 0.03
HEADING_PENALTY = 0.04
CONTEXT_DISCOUNT = 0.015
SAME_ARTICLE_PENALTY = 0.012
QUOTE_MARGIN = 0.035  # quotes must score within this of the best sentence
FIGURE_MARGIN = 0.06  # figure sentences may trail the best figure sentence by this much
WHAT_MARGIN = 0.03  # a figure's counted thing must be about as relevant as the best one
WHAT_MIN = 0.80  # ...and relevant in absolute terms ("tanks" vs "Soldaten" scores 0.76, "soldiers" 0.83)

@dataclass(frozen=True)
class ScoredSentence:
    sentence_id: int
    score: float
    dense: float


def is_quantity_question(question: str) -> bool:
    return bool(QUANTITY_QUESTION.search(question))


class ExtractiveAnswerer:
    """Answers from the retrieved passages with verbatim quotes; see module docstring."""

    name = "extractive"

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.settings = settings
        self.embedder = embedder
        self._phrase_cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()

    def compose(self, question: str, language: str, result: SearchResult, data: IndexData) -> Answer:
        started = time.perf_counter()
        lang = language_key(language)
        scored = self._score_sentences(question, result, data)
        if not scored or scored[0].score < self.settings.models.abstain_threshold:
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
        figure_rows: list[tuple[str, str, str | None, int]] = []  # (value, what, who, sentence_id)
        chosen: list[int] = []
        if quantity:
            figure_rows = self._figure_rows(result, scored, data)
            for _, _, _, sid in figure_rows:
                if sid not in chosen:
                    chosen.append(sid)
        # A figures answer cites every figure sentence, plus at most two sentences of context.
        limit = len(chosen) + 2 if chosen else self.settings.models.max_quotes
        chosen = self._select_quotes(scored, data, chosen, limit)

        citations, number_of = self._collapse(chosen, data)
        figures = self._figure_table(figure_rows, number_of, data) if figure_rows else []
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
            base = data.sentence_base[hit.chunk.doc_id]
            for position in range(hit.chunk.first_sentence, hit.chunk.last_sentence + 1):
                sid = base + position
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

    def _select_quotes(self, scored: list[ScoredSentence], data: IndexData, chosen: list[int], limit: int) -> list[int]:
        """Greedy selection near the best score, preferring articles not yet quoted."""
        best = scored[0].score
        pool = [s for s in scored if s.score >= best - QUOTE_MARGIN]
        chosen = list(chosen)
        groups = {data.sentences[sid].dup_group for sid in chosen} - {None}
        while pool and len(chosen) < limit:
            used_docs = {data.sentences[sid].doc_id for sid in chosen}
            pick = max(pool, key=lambda s: s.score - SAME_ARTICLE_PENALTY * (data.sentences[s.sentence_id].doc_id in used_docs))
            pool.remove(pick)
            sentence = data.sentences[pick.sentence_id]
            if pick.sentence_id in chosen or (sentence.dup_group is not None and sentence.dup_group in groups):
                continue
            chosen.append(pick.sentence_id)
            if sentence.dup_group is not None:
                groups.add(sentence.dup_group)
        if not chosen:
            chosen.append(scored[0].sentence_id)
        return chosen

    # -- figures -----------------------------------------------------------------------------

    def _figure_rows(
        self, result: SearchResult, scored: list[ScoredSentence], data: IndexData
    ) -> list[tuple[str, str, str | None, int]]:
        with_figures = [s for s in scored if find_figures(data.sentences[s.sentence_id].text)]
        if not with_figures:
            return []
        best = with_figures[0].score
        rows: list[tuple[str, str, str | None, int]] = []
        for item in with_figures:
            if item.score < best - FIGURE_MARGIN:
                break
            sentence = data.sentences[item.sentence_id]
            previous = previous_sentence(data, item.sentence_id)
            for figure in find_figures(sentence.text):
                what = figure.what
                if what is None and previous is not None:
                    earlier = find_figures(previous.text)
                    what = next((f.what for f in earlier if f.what), None)
                if what is None:
                    continue
                who = attribution_of(sentence.text, figure.start, previous.text if previous else None)
                rows.append((figure.value, what, who, item.sentence_id))
        if not rows:
            return []
        # Judge what a figure counts by its head noun: "nordkoreanische Soldaten" counts "Soldaten".
        relevance = self._phrase_relevance(result.query_vector, sorted({head_noun(what) for _, what, _, _ in rows}))
        top = max(relevance.values())
        return [
            row for row in rows if relevance[head_noun(row[1])] >= max(top - WHAT_MARGIN, WHAT_MIN)
        ]

    def _phrase_relevance(self, query_vector: np.ndarray, phrases: list[str]) -> dict[str, float]:
        """Cosine of the question to each counted thing ("nordkoreanische Soldaten"), cached per phrase."""
        with self._cache_lock:
            missing = [p for p in phrases if p not in self._phrase_cache]
        if missing:
            vectors = self.embedder.embed_passages(missing)
            with self._cache_lock:
                for phrase, vector in zip(missing, vectors):
                    self._phrase_cache[phrase] = vector
                while len(self._phrase_cache) > 4096:
                    self._phrase_cache.popitem(last=False)
        with self._cache_lock:
            return {p: float(self._phrase_cache[p] @ query_vector) for p in phrases}

    def _figure_table(
        self, rows: list[tuple[str, str, str | None, int]], number_of: dict[int, int], data: IndexData
    ) -> list[Figure]:
        """One row per distinct value; sources merged; most widely reported first."""
        from answers.figures import normalize_value

        merged: dict[str, dict] = {}
        for value, what, who, sid in rows:
            key = normalize_value(value)
            entry = merged.setdefault(key, {"value": value, "whats": [], "whos": [], "citations": set(), "docs": set()})
            entry["whats"].append(what)
            if who and who not in entry["whos"]:
                entry["whos"].append(who)
            entry["citations"].add(number_of[sid])
            entry["docs"].add(data.sentences[sid].doc_id)
            group = data.sentences[sid].dup_group
            if group is not None:
                entry["docs"].update(data.group_docs[group])
        figures = []
        for entry in merged.values():
            what = max(set(entry["whats"]), key=lambda w: (entry["whats"].count(w), len(w)))
            figures.append(
                (
                    len(entry["docs"]),
                    Figure(
                        value=entry["value"],
                        what=what,
                        attributed_to="; ".join(entry["whos"]) or None,
                        citations=tuple(sorted(entry["citations"])),
                    ),
                )
            )
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


def head_noun(phrase: str) -> str:
    return phrase.split()[-1]


def previous_sentence(data: IndexData, sid: int) -> Sentence | None:
    if sid == 0:
        return None
    previous = data.sentences[sid - 1]
    return previous if previous.doc_id == data.sentences[sid].doc_id else None
