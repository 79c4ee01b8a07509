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


def _onnx_path(
    model_dir: Path, model: Any, work_dir: Path, workers: int
) -> Callable[[list[str], int], np.ndarray]:
    """The encoder exported to ONNX (torch's TorchScript exporter) and run by ONNX Runtime, mean-pooled."""
    import onnxruntime as ort
    import torch
    from transformers import AutoModel

    class Encoder(torch.nn.Module):
        """The transformer alone, with the two inputs the exporter traces by position."""

        def __init__(self) -> None:
            super().__init__()
            self.model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    path = work_dir / "e5-small.onnx"
    if not path.is_file():
        work_dir.mkdir(parents=True, exist_ok=True)
        ids = torch.ones((2, 16), dtype=torch.long)
        torch.onnx.export(
            Encoder(), (ids, torch.ones_like(ids)), str(path), input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden_state"], dynamic_axes={n: {0: "batch", 1: "tokens"} for n in ("input_ids", "attention_mask", "last_hidden_state")},
            opset_version=17, dynamo=False,
        )  # fmt: skip
    options = ort.SessionOptions()
    options.intra_op_num_threads = workers
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    tokenizer = model.tokenizer

    def embed(texts: list[str], batch_size: int) -> np.ndarray:
        parts = []
        for i in range(0, len(texts), batch_size):
            encoded = tokenizer(
                texts[i : i + batch_size], padding=True, truncation=True, max_length=512, return_tensors="np"
            )
            mask = encoded["attention_mask"].astype(np.int64)
            (states,) = session.run(
                None, {"input_ids": encoded["input_ids"].astype(np.int64), "attention_mask": mask}
            )
            pooled = (states * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
            parts.append(pooled / np.linalg.norm(pooled, axis=1, keepdims=True))
        return np.concatenate(parts).astype(np.float32)

    return embed


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
        "onnxruntime fp32": lambda: _onnx_path(model_dir, model, work_dir, workers),
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
