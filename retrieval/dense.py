"""FAISS vector indexes over chunk embeddings, chosen by corpus size.

Exact inner product (IndexFlatIP) is perfect and needs no training; past about 100k chunks one
query scans too much memory (159 ms p50 and 1.5 GB at 1M on the 2-core machine), so larger corpora
get IVF with 8-bit codes: 18 ms p50, 375 MB and recall@10 0.99 at 1M, built in about a minute.
HNSW answers faster still but took 7 minutes to build at 1M, and the index is rebuilt on every
`newsbot index` run. The measurements are in BENCHMARKS.md (`newsbot bench --suite scale`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

INDEX_TYPES = ("flat", "hnsw", "ivf_sq8")
MIN_POINTS_PER_LIST = 39  # FAISS's own floor for training k-means
ADD_BLOCK_ROWS = 65_536


def choose_index_type(requested: str, n_vectors: int, exact_max: int) -> str:
    if requested != "auto":
        return requested
    return "flat" if n_vectors <= exact_max else "ivf_sq8"


def nlist_for(n: int) -> int:
    """Inverted lists for `n` vectors: a power of two near sqrt(n) (256 at 100k, 1024 at 1M)."""
    return int(2 ** round(np.log2(max(16.0, np.sqrt(max(n, 1))))))


def nprobe_for(nlist: int) -> int:
    """Lists visited per query: a quarter of them reached recall@10 >= 0.96 at 100k and 0.99 at 1M."""
    return max(1, nlist // 4)


def build_faiss_index(vectors: np.ndarray, index_type: str) -> Any:
    """A FAISS index over normalised `vectors` whose inner product is cosine similarity."""
    import faiss

    n, dim = vectors.shape
    index: Any
    if index_type == "flat":
        index = faiss.IndexFlatIP(dim)
    elif index_type == "hnsw":
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = 128
    elif index_type == "ivf_sq8":
        nlist = max(1, min(nlist_for(n), n // MIN_POINTS_PER_LIST))
        rng = np.random.default_rng(0)
        sample = vectors if n <= nlist * 64 else vectors[np.sort(rng.choice(n, nlist * 64, replace=False))]
        # Spherical k-means on a sample: centroids stay unit length, as the vectors are; ten
        # iterations on 64 points per list, as `newsbot bench --suite scale` measures them (~40 s at 1M).
        kmeans = faiss.Kmeans(dim, nlist, niter=10, spherical=True, seed=0)
        kmeans.train(np.ascontiguousarray(sample, dtype=np.float32))
        quantizer = faiss.IndexFlatIP(dim)
        assert kmeans.centroids is not None
        quantizer.add(kmeans.centroids)
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
        sample = np.ascontiguousarray(sample, dtype=np.float32)
        index.train(sample)  # the quantizer is trained: this trains only the 8-bit codes
        index.nprobe = nprobe_for(nlist)
    else:
        raise ValueError(f"unknown FAISS index type {index_type!r}; choose one of {INDEX_TYPES}")
    for start in range(0, n, ADD_BLOCK_ROWS):  # `vectors` may be memory-mapped: one block in memory at a time
        index.add(np.ascontiguousarray(vectors[start : start + ADD_BLOCK_ROWS], dtype=np.float32))
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
