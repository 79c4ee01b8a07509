"""Bulk embedding on a CPU with several single-threaded workers instead of one multi-threaded call.

Why: indexing embeds small length-sorted batches (8 texts of ~30-120 tokens). At that size torch's
intra-op threads wait on each other between the many small matrix products of a 12-layer encoder,
so two threads on two Zen 3 cores reach only ~1.5x one thread. Two workers of one thread each,
each embedding its own batches, keep both cores busy: 19-20 % more tokens per second in the same
run (BENCHMARKS.md), with the same vectors (each batch is computed exactly as before).

bf16 autocast is thread-local state in torch: entered around the pool it does nothing in the
workers (issue 11 measured no gain and fp32-identical vectors), so each worker enters it itself.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

from models.precision import Precision

Batch = TypeVar("Batch")
Result = TypeVar("Result")

# torch's thread count is process-wide; two overlapping bulk jobs must not restore each other's value.
_threads_lock = threading.Lock()


@contextlib.contextmanager
def numeric_mode(precision: Precision, device: str = "cpu") -> Iterator[None]:
    """Inference mode plus, for bf16, autocast; enter it in the thread that runs the model."""
    import torch

    with torch.inference_mode():
        if precision == "bf16":
            with torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16):
                yield
        else:
            yield


def release_freed_memory() -> None:
    """Give memory that was freed back to the system (glibc `malloc_trim`; a no-op elsewhere).

    Why: glibc keeps freed memory in each thread's arena for reuse; after a bulk embedding call the
    activations of both workers' batches stayed resident, and on 10kGNAD the bf16 index run peaked
    ~200 MB higher without this call (1,136 vs 928 MB, issue 24). It takes a few milliseconds, so it
    runs after bulk calls only, never per question.
    """
    global _malloc_trim
    if _malloc_trim is None:
        try:
            _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):  # not glibc (musl, macOS)
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim: Any = None


def run_in_workers(
    batches: Sequence[Batch],
    work: Callable[[Batch], Result],
    workers: int,
    precision: Precision = "fp32",
    device: str = "cpu",
) -> list[Result]:
    """`work(batch)` for every batch, in order, on `workers` threads that each run torch with one thread."""
    import torch

    def run(batch: Batch) -> Result:
        with numeric_mode(precision, device):
            return work(batch)

    if workers < 2 or len(batches) < 2:
        return [run(b) for b in batches]
    with _threads_lock:
        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="embed") as pool:
                return list(pool.map(run, batches))
        finally:
            torch.set_num_threads(previous)


def encode_with_workers(
    model: Any,
    texts: Sequence[str],
    batch_size: int,
    workers: int,
    precision: Precision = "fp32",
    tokenize: Callable[[list[str]], dict[str, Any]] | None = None,
) -> np.ndarray:
    """L2-normalised float32 vectors of `texts` from a sentence-transformers `model` on the CPU.

    Batches are consecutive slices of `texts` (callers sort by length so batches pad little) and are
    spread over `workers` threads that each run torch with one thread. `tokenize` turns a batch into
    the model's features (default: the pipeline's own `preprocess`).
    """
    import torch

    batches = [list(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)]
    tokenizer_lock = threading.Lock()

    def embed(batch: list[str]) -> np.ndarray:
        with tokenizer_lock:  # a fast tokenizer raises "Already borrowed" when two threads call it at once
            features = (tokenize or model.preprocess)(batch)
        vectors = model.forward(features)["sentence_embedding"]
        return torch.nn.functional.normalize(vectors.float(), dim=-1).numpy()

    parts = run_in_workers(batches, embed, workers, precision)
    return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)
