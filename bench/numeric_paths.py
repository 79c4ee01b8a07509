"""Which numeric path embeds fastest on this CPU: torch fp32, torch bf16 autocast, torch int8 dynamic
quantisation, ONNX Runtime fp32. Each runs the same chunk texts in the indexer's way (length-sorted
batches, one single-threaded worker per core), and is compared with fp32 by cosine.

The issue measured bf16 about twice as fast as fp32 on a Xeon with AMX and int8 no faster; this
repeats the comparison on whatever CPU runs it, since the choice (`models.precision`) must follow
what the CPU does best, not an assumption.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)


def _torch_path(model: Any, precision: str, workers: int) -> Callable[[list[str], int], np.ndarray]:
    from models.cpu_workers import encode_with_workers

    def embed(texts: list[str], batch_size: int) -> np.ndarray:
        return encode_with_workers(model, texts, batch_size, workers, precision)  # type: ignore[arg-type]

    return embed


def _onnx_path(model_dir: Path, work_dir: Path, workers: int) -> Callable[[list[str], int], np.ndarray]:
    """The product's ONNX Runtime engine (`models.onnx_engine`: the encoder exported once beside the
    converted model), mean-pooled; `work_dir` is unused since the export is shared with indexing."""
    from models.onnx_engine import OnnxEmbedder

    embedder = OnnxEmbedder(model_dir, model_id=model_dir.name, threads=workers)
    return embedder.encode


def compare_numeric_paths(
    model_dir: Path, texts: Sequence[str], work_dir: Path, batch_size: int = 8, tokens: Any = None
) -> dict[str, Any]:
    """Texts/s, tokens/s and cosine to fp32 of each path on `texts` (chunk texts, "passage: " added)."""
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu")
    workers = torch.get_num_threads()
    ordered = sorted((f"passage: {t}" for t in texts), key=len)
    n_tokens = sum(len(ids) for ids in model.tokenizer(ordered)["input_ids"])
    paths: dict[str, Callable[[], Callable[[list[str], int], np.ndarray]]] = {
        "torch fp32": lambda: _torch_path(model, "fp32", workers),
        "torch bf16 autocast": lambda: _torch_path(model, "bf16", workers),
        "torch int8 dynamic": lambda: _torch_path(
            torch.ao.quantization.quantize_dynamic(
                SentenceTransformer(str(model_dir), device="cpu"), {torch.nn.Linear}, dtype=torch.qint8
            ),
            "fp32",
            workers,
        ),
        "onnxruntime fp32": lambda: _onnx_path(model_dir, work_dir, workers),
    }
    reference: np.ndarray | None = None
    rows: dict[str, Any] = {}
    for name, make in paths.items():
        try:
            embed = make()
            embed(ordered[:4], batch_size)  # warm-up
            t0 = time.perf_counter()
            vectors = embed(ordered, batch_size)
            seconds = time.perf_counter() - t0
        except (
            RuntimeError,
            ImportError,
            ValueError,
            OSError,
            TypeError,
        ) as e:  # a path this platform lacks is a result
            logger.warning("numeric path %s not measured: %s", name, e)
            rows[name] = {"error": str(e)[:300]}
            continue
        reference = vectors if reference is None else reference
        cosine = np.sum(vectors * reference, axis=1)
        rows[name] = {
            "texts_per_s": round(len(ordered) / seconds, 2),
            "tokens_per_s": round(n_tokens / seconds, 1),
            "cosine_to_fp32_min": round(float(cosine.min()), 6),
            "cosine_to_fp32_mean": round(float(cosine.mean()), 6),
        }
    return {
        "texts": len(ordered),
        "tokens": n_tokens,
        "batch_size": batch_size,
        "workers": workers,
        "paths": rows,
    }


def bf16_drift(fp32_embedder: Any, bf16_embedder: Any, texts: Sequence[str]) -> dict[str, float]:
    """How far bf16 vectors move: with the batch they are padded in (batch 1 vs 8 vs 64, same texts)
    and from float32's. The test suite's bf16 tolerances (`tests/numeric_paths.py`) come from this."""
    texts = list(texts)
    by_batch = [bf16_embedder.embed_corpus(texts, batch_size=size) for size in (1, 8, 64)]
    fp32 = fp32_embedder.embed_corpus(texts, batch_size=8)
    batching = max(float(np.abs(a - b).max()) for a in by_batch for b in by_batch)
    cosine = np.sum(by_batch[1] * fp32, axis=1)
    return {
        "texts": float(len(texts)),
        "bf16_batching_max_abs": batching,
        "bf16_to_fp32_max_abs": float(np.abs(by_batch[1] - fp32).max()),
        "bf16_to_fp32_cosine_min": float(cosine.min()),
        "bf16_to_fp32_cosine_mean": float(cosine.mean()),
    }
