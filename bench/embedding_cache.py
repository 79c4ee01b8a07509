"""An on-disk cache of embeddings for benchmark runs, keyed by model, backend and text.

Embedding XQuAD (about 1,700 passages and 2,380 questions) costs minutes on a 2-core CPU, and the
retrieval and latency suites need the same vectors; the model is deterministic, so a vector computed
once is reused across suites and runs. Suites that measure embedding speed use the bare embedder.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from models.embedders import Embedder

logger = logging.getLogger(__name__)


def _key(kind: str, text: str) -> str:
    return hashlib.sha1(f"{kind}\0{text}".encode("utf-8", "surrogatepass")).hexdigest()


class EmbeddingCache:
    """Vectors by (query|passage|corpus, text) for one embedder, stored as one `.npz` file."""

    def __init__(self, path: Path | None, embedder: Embedder) -> None:
        self.path = path
        self.embedder = embedder
        self._vectors: dict[str, np.ndarray] = {}
        self._dirty = False
        if path is not None and path.is_file():
            try:
                with np.load(path, allow_pickle=False) as stored:
                    keys, vectors = stored["keys"], stored["vectors"]
                if vectors.ndim == 2 and vectors.shape[1] == embedder.dimension:
                    self._vectors = {str(k): v for k, v in zip(keys, vectors)}
            except (OSError, ValueError, KeyError) as e:
                logger.warning("ignoring unreadable embedding cache %s: %s", path, e)

    def get(self, kind: str, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """Vectors for `texts` (kind "query", "passage" or "corpus"), embedding only the ones not cached."""
        keys = [_key(kind, t) for t in texts]
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys) if k not in self._vectors))
        if missing:
            order = sorted(range(len(missing)), key=lambda i: len(missing[i]))  # similar lengths pad less
            ordered = [missing[i] for i in order]
            if kind == "query":
                fresh = self.embedder.embed_queries(ordered)
            elif kind == "corpus":
                fresh = self.embedder.embed_corpus(ordered, batch_size=batch_size)
            else:
                fresh = self.embedder.embed_passages(ordered, batch_size=batch_size)
            for text, vector in zip(ordered, fresh):
                self._vectors[_key(kind, text)] = vector
            self._dirty = True
        if not texts:
            return np.zeros((0, self.embedder.dimension), dtype=np.float32)
        return np.stack([self._vectors[k] for k in keys]).astype(np.float32)

    def get_late(
        self, chunks: Sequence[str], sentence_spans: Sequence[Sequence[tuple[int, int]]], batch_size: int | None = None
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Late-chunked vectors (`LateChunkingEmbedder.embed_chunks_late`), cached per chunk text and span."""
        keys = [_key("late", t) for t in chunks]
        missing = [i for i, k in enumerate(keys) if k not in self._vectors]
        if missing:
            order = sorted(missing, key=lambda i: len(chunks[i]))
            fresh, parts = self.embedder.embed_chunks_late(  # type: ignore[attr-defined]
                [chunks[i] for i in order], [sentence_spans[i] for i in order], batch_size
            )
            for i, vector, part in zip(order, fresh, parts):
                self._vectors[keys[i]] = vector
                for span, sentence_vector in zip(sentence_spans[i], part):
                    self._vectors[_key("late", f"{chunks[i]}\0{span[0]}:{span[1]}")] = sentence_vector
            self._dirty = True
        dim = self.embedder.dimension
        chunk_vectors = np.stack([self._vectors[k] for k in keys]) if keys else np.zeros((0, dim), np.float32)
        sentence_vectors = [
            np.stack([self._vectors[_key("late", f"{t}\0{a}:{b}")] for a, b in spans]) if spans else np.zeros((0, dim), np.float32)
            for t, spans in zip(chunks, sentence_spans)
        ]
        return chunk_vectors.astype(np.float32), sentence_vectors

    def save(self) -> None:
        if self.path is None or not self._dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = np.array(list(self._vectors), dtype="U40")
        vectors = np.stack(list(self._vectors.values())).astype(np.float32)
        tmp = self.path.with_suffix(".tmp.npz")
        np.savez(tmp, keys=keys, vectors=vectors)
        tmp.replace(self.path)
        self._dirty = False


class CachedEmbedder:
    """An `Embedder` that answers from an `EmbeddingCache` (same vectors, no repeated model calls)."""

    def __init__(self, cache: EmbeddingCache) -> None:
        self.cache = cache
        self.model_id = cache.embedder.model_id
        self.backend = cache.embedder.backend
        self.dimension = cache.embedder.dimension

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.cache.get("query", texts)

    def embed_passages(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        return self.cache.get("passage", texts, batch_size)

    def embed_corpus(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        return self.cache.get("corpus", texts, batch_size)

    def embed_chunks_late(
        self, chunks: Sequence[str], sentence_spans: Sequence[Sequence[tuple[int, int]]], batch_size: int | None = None
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        return self.cache.get_late(chunks, sentence_spans, batch_size)

    @property
    def precision(self) -> str:
        return str(getattr(self.cache.embedder, "precision", "fp32"))


def shared_cache(work_dir: Path, embedder: Embedder) -> EmbeddingCache:
    """The embedding cache every suite of one `--out` folder shares, named after the model and backend
    (so the retrieval, answers, latency and pg suites embed each XQuAD text once between them)."""
    return EmbeddingCache(work_dir / f"embeddings-{embedder.model_id}-{embedder.backend}.npz", embedder)
