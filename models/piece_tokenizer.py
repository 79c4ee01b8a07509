"""The default model's tokenizer on SentencePiece's compact engine, giving the ids its pipeline gives.

Why (issue 24): Hugging Face `tokenizers` holds XLM-R's 250,002-piece Unigram vocabulary in a trie
of hash maps: ~280 MB resident in every indexing process, a quarter of the bf16 path's 1.2 GB
bound. SentencePiece (the library XLM-R's vocabulary was made with) holds the same pieces and
scores in a double-array trie: ~40 MB. The converter (`models.e5_convert`) writes the pieces into a
SentencePiece model file in tokenizer.json's id order, and this module reproduces the rest of the
pipeline that sentence-transformers runs (transformers' `XLMRobertaTokenizer`) around it:

* special tokens (`<s>`, `</s>`, `<pad>`, `<unk>`, `<mask>`) written in the text are matched first
  and each stretch between them is tokenized on its own;
* each stretch is normalized by XLM-R's precompiled NFKC map (`tokenizers.normalizers.Precompiled`,
  built alone, without the vocabulary) and split at whitespace (`WhitespaceSplit`);
* SentencePiece gives every word its leading "▁" (Metaspace, prefix always) and runs the same
  Viterbi search over the same pieces and scores;
* the result is wrapped as `<s> … </s>`, truncated like the fast tokenizer (the first
  max_length - 2 ids), and padded with `<pad>`.

tests/test_lean_encoder.py checks that the ids equal the pipeline's on 10kGNAD articles and on
awkward inputs. Character offsets (late chunking) still come from the pipeline's tokenizer, loaded
on demand.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from models.errors import EmbeddingModelError

PIECES_FILE = "sentencepiece.model"
"""The vocabulary as a SentencePiece model, written by the converter beside tokenizer.json."""
NORMALIZER_FILE = "normalizer.json"
"""tokenizer.json's normalizer section alone (its precompiled NFKC map is 317 KB)."""

_WHITESPACE = re.compile(r"[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+")
"""What `WhitespaceSplit` splits at: Unicode White_Space (Rust's `char::is_whitespace`), which differs
from Python's `str.split()` (that also splits at U+001C-U+001F)."""

PAD_MULTIPLE = 16
"""Batches are padded to a multiple of this many tokens. Why: oneDNN compiles and caches one kernel
per matrix shape; with every padded length its own shape, its cache held ~175 MB more on 10kGNAD
(index peak 1.47 vs 1.30 GB, issue 24), and the run was faster padded (57 vs 60 s). Padding is
masked out of attention and pooling, so vectors change only by float rounding."""

_BOS, _PAD, _EOS, _UNK, _MASK = "<s>", "<pad>", "</s>", "<unk>", "<mask>"


def write_piece_files(tokenizer: dict[str, Any], out_dir: Path) -> None:
    """Write `PIECES_FILE` and `NORMALIZER_FILE` for tokenizer.json's parsed content `tokenizer`."""
    model_pb2: Any = _import("sentencepiece.sentencepiece_model_pb2")  # protobuf-generated classes

    vocab = tokenizer["model"]["vocab"]
    ids = {piece: i for i, (piece, _score) in enumerate(vocab)}
    proto = model_pb2.ModelProto()
    spec = proto.trainer_spec
    spec.model_type = model_pb2.TrainerSpec.UNIGRAM
    spec.vocab_size = len(vocab)
    spec.byte_fallback = False
    spec.unk_id, spec.bos_id, spec.eos_id, spec.pad_id = ids[_UNK], ids[_BOS], ids[_EOS], ids[_PAD]
    spec.unk_piece, spec.bos_piece, spec.eos_piece, spec.pad_piece = _UNK, _BOS, _EOS, _PAD
    # Normalizing is done by tokenizer.json's own normalizer (`NORMALIZER_FILE`); SentencePiece only
    # turns spaces into "▁", adds the leading one and segments.
    proto.normalizer_spec.name = "identity"
    proto.normalizer_spec.add_dummy_prefix = True
    proto.normalizer_spec.remove_extra_whitespaces = False
    proto.normalizer_spec.escape_whitespaces = True
    kinds = {_BOS: "CONTROL", _PAD: "CONTROL", _EOS: "CONTROL", _MASK: "CONTROL", _UNK: "UNKNOWN"}
    for piece, score in vocab:
        entry = proto.pieces.add()
        entry.piece, entry.score = piece, score
        entry.type = getattr(model_pb2.ModelProto.SentencePiece, kinds.get(piece, "NORMAL"))
    (out_dir / PIECES_FILE).write_bytes(proto.SerializeToString())
    (out_dir / NORMALIZER_FILE).write_text(json.dumps(tokenizer["normalizer"]), encoding="utf-8")


def _import(module: str) -> Any:
    """`module`, or an error that says how to get it (a checkout updated without re-running the setup)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise EmbeddingModelError(
            f"the default model's tokenizer needs the sentencepiece and protobuf packages ({e}); "
            "run `bash scripts/setup.sh` to install what pyproject.toml lists"
        ) from e


def _precompiled_map(spec: dict[str, Any]) -> Any:
    """The `Precompiled` step of tokenizer.json's normalizer, the only one the pipeline keeps."""
    from tokenizers import normalizers

    parts = spec.get("normalizers", [spec]) if spec.get("type") == "Sequence" else [spec]
    for part in parts:
        if part.get("type") == "Precompiled":
            return normalizers.Precompiled(base64.b64decode(part["precompiled_charsmap"]))
    raise ValueError("tokenizer.json's normalizer has no precompiled map; it is not XLM-R's")


class PieceTokenizer:
    """Texts to padded `input_ids`/`attention_mask` tensors, as the model's tokenizer.json makes them."""

    def __init__(self, model_dir: Path, max_length: int) -> None:
        sentencepiece = _import("sentencepiece")
        self._pieces = sentencepiece.SentencePieceProcessor(model_file=str(model_dir / PIECES_FILE))
        self._normalizer = _precompiled_map(json.loads((model_dir / NORMALIZER_FILE).read_text(encoding="utf-8")))
        self.max_length = max_length
        self.bos_id, self.eos_id, self.pad_id = self._pieces.bos_id(), self._pieces.eos_id(), self._pieces.pad_id()
        specials = {_BOS, _PAD, _EOS, _UNK, _MASK}
        self._special_ids = {s: self._pieces.piece_to_id(s) for s in specials}
        self._specials = re.compile("(" + "|".join(re.escape(s) for s in sorted(specials, key=len, reverse=True)) + ")")

    def ids(self, text: str) -> list[int]:
        """The text's token ids without `<s>`/`</s>`."""
        out: list[int] = []
        for i, part in enumerate(self._specials.split(text)):
            if i % 2:  # a special token written in the text
                out.append(self._special_ids[part])
                continue
            words = _WHITESPACE.split(self._normalizer.normalize_str(part))
            joined = " ".join(w for w in words if w)
            if joined:
                out += self._pieces.encode(joined)  # "▁" before each word, as Metaspace after WhitespaceSplit
        return out

    def __call__(self, texts: Sequence[str]) -> dict[str, Any]:
        """Padded tensors for one batch: `<s>` ids `</s>`, cut to `max_length`, padded to `PAD_MULTIPLE`."""
        import torch

        rows = [[self.bos_id, *self.ids(t)[: self.max_length - 2], self.eos_id] for t in texts]
        width = max(len(r) for r in rows)
        width = min(width + -width % PAD_MULTIPLE, max(width, self.max_length))
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            input_ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            attention_mask[i, : len(row)] = 1
        return {"input_ids": input_ids, "attention_mask": attention_mask}

    def pair_arrays(self, pairs: Sequence[tuple[str, str]], max_length: int) -> tuple[Any, Any]:
        """`input_ids`/`attention_mask` (numpy int64) for (first, second) pairs as the pipeline encodes a
        pair for a cross-encoder: `<s> first </s></s> second </s>`, the second cut first ("only_second")
        so the whole fits `max_length`, padded with `<pad>` to the longest row. Where the first alone
        leaves no room (a question near the length limit), the first is cut too, keeping one id of the second."""
        import numpy as np

        rows = []
        for first, second in pairs:
            a, b = self.ids(first), self.ids(second)
            room = max_length - 4 - len(a)
            if room < 1:
                a, room = a[: max(1, max_length - 5)], 1
            rows.append([self.bos_id, *a, self.eos_id, self.eos_id, *b[:room], self.eos_id])
        width = max(len(r) for r in rows)
        input_ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
        attention_mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            input_ids[i, : len(row)] = row
            attention_mask[i, : len(row)] = 1
        return input_ids, attention_mask
