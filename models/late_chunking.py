"""Sentence vectors from a chunk's token states ("late chunking"): one encoder pass serves the chunk and its sentences.

Why: the extractive answerer needs a vector per sentence, and embedding every sentence on its own
made the model read each token about twice (~227 tokens per chunk on 10kGNAD instead of ~113).
e5 pools a text's token states by their mean, so the mean of the states of a sentence's tokens,
computed in the chunk's pass, is a sentence vector that also carries the chunk's context.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def token_owners(offsets: np.ndarray, spans: Sequence[tuple[int, int]], text_offset: int = 0) -> np.ndarray:
    """Index of the sentence span each token belongs to, -1 for none (special, padding, between sentences).

    `offsets` (tokens, 2) are each token's character span in the encoded text as the fast tokenizer
    reports it ((0, 0) for special and padding tokens); `spans` are sentence (start, end) character
    offsets in the text without its prompt, which starts at `text_offset` in the encoded text
    ("passage: " is 9 characters). A token belongs to the sentence holding its last character, so a
    piece that starts at the space between two sentences ("▁Der") joins the sentence it begins.
    """
    owner = np.full(len(offsets), -1, dtype=np.int64)
    if not len(spans):
        return owner
    starts = np.array([s for s, _ in spans], dtype=np.int64) + text_offset
    ends = np.array([e for _, e in spans], dtype=np.int64) + text_offset
    last_char = offsets[:, 1].astype(np.int64) - 1
    candidate = np.searchsorted(starts, last_char, side="right") - 1
    real = (offsets[:, 1] > offsets[:, 0]) & (candidate >= 0)
    real[real] &= last_char[real] < ends[candidate[real]]
    owner[real] = candidate[real]
    return owner


def sentence_token_means(
    states: np.ndarray, offsets: np.ndarray, spans: Sequence[tuple[int, int]], text_offset: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Mean token state per sentence span of one text, L2-normalised, and which spans got a token.

    `states` is (tokens, dim); see `token_owners` for the rest. Spans past a truncated text get no
    token (False) and a zero row. The embedders do the same sum on the model's device in batches.
    """
    owner = token_owners(offsets, spans, text_offset)
    out = np.zeros((len(spans), states.shape[1]), dtype=np.float32)
    kept = owner >= 0
    np.add.at(out, owner[kept], states[kept].astype(np.float32))
    counts = np.bincount(owner[kept], minlength=len(spans))
    found = counts > 0
    out[found] /= counts[found, None]
    out[found] /= np.linalg.norm(out[found], axis=1, keepdims=True)
    return out, found
