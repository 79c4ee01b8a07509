"""FAISS vector indexes over chunk embeddings, chosen by corpus size.

Exact inner product (IndexFlatIP) is fast enough and perfect up to a few hundred thousand chunks;
past that an approximate index keeps memory and latency within bounds (see BENCHMARKS.md for the
measurements behind the defaults).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

INDEX_TYPES = ("flat", "hnsw", "ivf_sq8")


def choose_index_type(requested: str, n_vectors: int, exact_max: int) -> str:
    if requested != "auto":
        return requested
    return "flat" if n_vectors <= exact_max else "ivf_sq8"


def build_faiss_index(vectors: np.ndarray, index_type: str) -> Any:
    """A FAISS index over normalised `vectors` whose inner product is cosine similarity."""
    import faiss

    n, dim = vectors.shape
    if index_type == "flat":
        index = faiss.IndexFlatIP(dim)
    elif index_type == "hnsw":
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = 128
    elif index_type == "ivf_sq8":
        nlist = max(1, min(4096, int(4 * np.sqrt(max(n, 1)))))
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
        train = vectors if n <= nlist * 64 else vectors[np.random.default_rng(0).choice(n, nlist * 64, replace=False)]
        index.train(train)
        index.nprobe = max(1, min(nlist, 32))
    else:
        raise ValueError(f"unknown FAISS index type {index_type!r}; choose one of {INDEX_TYPES}")
    if n:
        index.add(vectors)
    return index


def save_faiss_index(index: Any, path: Path) -> None:
    import faiss

    faiss.write_index(index, str(path))


def load_faiss_index(path: Path) -> Any:
    import faiss

    return faiss.read_index(str(path))


def search_faiss(index: Any, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k (scores, ids) for one query vector; ids of -1 (fewer results than k) are removed."""
    k = min(k, index.ntotal)
    if k <= 0:
        return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
    scores, ids = index.search(query.reshape(1, -1).astype(np.float32), k)
    keep = ids[0] >= 0
    return scores[0][keep], ids[0][keep]
