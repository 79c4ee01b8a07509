"""Bulk embedding on a CPU with several single-threaded workers instead of one multi-threaded call.

Why: indexing embeds small length-sorted batches (8 texts of ~30-120 tokens). At that size torch's
intra-op threads wait on each other between the many small matrix products of a 12-layer encoder,
so two threads on two Zen 3 cores reach only ~1.5x one thread. Two workers of one thread each,
each embedding its own batches, keep both cores busy: 19-20 % more tokens per second in the same
run (BENCHMARKS.md), with the same vectors (each batch is computed exactly as before).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

# torch's thread count is process-wide; two overlapping bulk jobs must not restore each other's value.
_threads_lock = threading.Lock()


def encode_with_workers(model: Any, texts: Sequence[str], batch_size: int, workers: int) -> np.ndarray:
    """L2-normalised float32 vectors of `texts` from a sentence-transformers `model` on the CPU.

    Batches are consecutive slices of `texts` (callers sort by length so batches pad little) and are
    spread over `workers` threads that each run torch with one thread.
    """
    import torch

    batches = [list(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)]
    tokenizer_lock = threading.Lock()

    def embed(batch: list[str]) -> np.ndarray:
        with tokenizer_lock:  # a fast tokenizer raises "Already borrowed" when two threads call it at once
            features = model.preprocess(batch)
        with torch.inference_mode():
            vectors = model.forward(features)["sentence_embedding"]
        return torch.nn.functional.normalize(vectors.float(), dim=-1).numpy()

    with _threads_lock:
        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="embed") as pool:
                parts = list(pool.map(embed, batches))
        finally:
            torch.set_num_threads(previous)
    return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)
