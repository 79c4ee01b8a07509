"""Chunk vectors pooled from the vectors of the chunk's sentences instead of a second model pass.

Why: the extractive answerer needs a vector for every sentence, and a chunk is a window of whole
sentences, so embedding chunks as well made the model read every token about twice (~227 tokens per
chunk instead of ~113 on the seeds). e5 pools its token states by their mean, so a length-weighted
mean of the sentence vectors approximates the chunk's own vector; the sentence vectors the answerer
scores (and its abstention threshold was calibrated on) stay exactly what they were.
BENCHMARKS.md compares retrieval quality and indexing speed of both ways in one run.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from retrieval.types import Chunk, Sentence, first_sentence_rows


def pooled_chunk_vectors(
    chunks: Sequence[Chunk], sentences: Sequence[Sentence], sentence_vectors: np.ndarray
) -> np.ndarray:
    """One L2-normalised vector per chunk: its sentences' vectors weighted by their length.

    `sentences` holds each article's sentences contiguously and in order (as the indexer lays them
    out), and row j of `sentence_vectors` belongs to `sentences[j]`.
    """
    dimension = sentence_vectors.shape[1] if sentence_vectors.ndim == 2 else 0
    if not chunks:
        return np.zeros((0, dimension), dtype=np.float32)
    first_row = first_sentence_rows(sentences)
    # Characters stand in for tokens: the embedder's tokenizer is not part of the Embedder protocol,
    # and both grow together closely enough for a weight.
    lengths = np.array([max(1, len(s.text)) for s in sentences], dtype=np.float32)
    pooled = np.zeros((len(chunks), dimension), dtype=np.float32)
    for i, chunk in enumerate(chunks):
        start = first_row[chunk.doc_id] + chunk.first_sentence
        rows = slice(start, start + chunk.last_sentence - chunk.first_sentence + 1)
        pooled[i] = lengths[rows] @ sentence_vectors[rows]
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
