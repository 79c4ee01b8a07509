"""multilingual-e5-small on ONNX Runtime (float32), the bulk engine for indexing on CPUs without bf16 units.

Why: on the 2-core AMD EPYC (Zen 3) that develops newsbot, ONNX Runtime ran the same float32 model
about twice as fast as torch (25.2 vs 12.8 chunk texts/s, cosine 1.0 to torch; bf16 autocast 1.7,
int8 dynamic quantisation 30.5 but cosine 0.969; bench/numeric_paths.py, BENCHMARKS.md). The vectors
are torch's to float rounding, so an index built by either engine is read the same way.

The encoder is exported from the converted sentence-transformers folder once (torch's TorchScript
exporter, ~15 s) into a folder beside it, written atomically.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from models.errors import EmbeddingModelError

logger = logging.getLogger(__name__)

ONNX_FILE = "model.onnx"
INT8_FILE = "model-int8.onnx"
MAPPED_FILE = "model-mapped.onnx"  # the same graph, weights in MAPPED_FILE + ".data"
WEIGHT_ALIGNMENT = 64 * 1024  # ONNX Runtime maps external weights whose offsets sit on this boundary


@contextmanager
def _staging(folder: Path, prefix: str) -> Iterator[Path]:
    """A temporary folder inside `folder` (same file system, so `os.replace` out of it is atomic),
    removed afterwards whatever happens: each file written from it appears whole or not at all."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=folder))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def export_encoder(model_dir: Path, out_dir: Path) -> Path:
    """`out_dir/model.onnx`: the transformer of the sentence-transformers folder `model_dir` (exported once)."""
    target = out_dir / ONNX_FILE
    if target.is_file():
        return target
    try:
        import torch
        from transformers import AutoModel
    except ImportError as e:
        raise EmbeddingModelError(f"exporting the model to ONNX needs torch and transformers: {e}") from e

    class Encoder(torch.nn.Module):
        """The transformer alone, with the two inputs the exporter traces by position."""

        def __init__(self) -> None:
            super().__init__()
            self.model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    out_dir.mkdir(parents=True, exist_ok=True)
    with _staging(out_dir, ".export-") as tmp:
        try:
            ids = torch.ones((2, 16), dtype=torch.long)
            names = ("input_ids", "attention_mask", "last_hidden_state")
            # The tracer warns about every shape-dependent branch of the model (harmless: the axes are
            # declared dynamic and the export is checked against torch in the tests); a user indexing
            # for the first time should see progress, not a page of tracer warnings.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    Encoder(), (ids, torch.ones_like(ids)), str(tmp / ONNX_FILE), input_names=list(names[:2]),
                    output_names=[names[2]], dynamic_axes={n: {0: "batch", 1: "tokens"} for n in names},
                    opset_version=17, dynamo=False,
                )  # fmt: skip
            os.replace(tmp / ONNX_FILE, target)
        except Exception as e:  # the exporter raises assorted errors (missing onnx, tracing failures)
            raise EmbeddingModelError(f"cannot export {model_dir} to ONNX: {e}") from e
    logger.info("exported %s to %s", model_dir, target)
    return target


def quantize_encoder(fp32_path: Path) -> Path:
    """The int8 copy of the exported encoder (ONNX Runtime dynamic quantisation of its MatMul weights;
    activations quantised per batch), written once beside it, atomically."""
    target = fp32_path.parent / INT8_FILE
    if target.is_file():
        return target
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as e:
        raise EmbeddingModelError(f"int8 quantisation needs onnxruntime's quantization tools: {e}") from e
    with _staging(fp32_path.parent, ".quantize-") as tmp:
        try:
            quantize_dynamic(fp32_path, tmp / INT8_FILE, weight_type=QuantType.QInt8)
            os.replace(tmp / INT8_FILE, target)
        except Exception as e:  # the quantiser raises assorted errors (onnx missing, graph it cannot read)
            raise EmbeddingModelError(f"cannot quantise {fp32_path} to int8: {e}") from e
    logger.info("quantised %s to %s", fp32_path, target)
    return target


def map_weights(path: Path) -> Path:
    """A copy of the exported graph whose weights lie in a side file, each at a 64 KiB boundary.

    Why: from one `.onnx` file ONNX Runtime parses every weight into memory and briefly holds the file's
    bytes as well (the load peaked at 876 MB resident for a 449 MB model); weights in an aligned side
    file are memory-mapped instead, so only the pages a run touches are resident (most of the
    250,002-row word-embedding table never is): peak 766 MB after embedding 600 news sentences, same
    speed, vectors identical (cosine 1.0; BENCHMARKS.md, issue 11). Written once, atomically.
    """
    target = path.parent / MAPPED_FILE
    if target.is_file() and (path.parent / f"{MAPPED_FILE}.data").is_file():
        return target
    import onnx

    model = onnx.load(str(path))
    with _staging(path.parent, ".map-") as tmp:
        try:
            with open(tmp / f"{MAPPED_FILE}.data", "wb") as data:
                for tensor in model.graph.initializer:
                    if len(tensor.raw_data) < 1024:  # small constants stay in the graph
                        continue
                    data.write(b"\0" * (-data.tell() % WEIGHT_ALIGNMENT))
                    offset, size = data.tell(), len(tensor.raw_data)
                    data.write(tensor.raw_data)
                    tensor.ClearField("raw_data")
                    tensor.data_location = onnx.TensorProto.EXTERNAL
                    del tensor.external_data[:]
                    for key, value in (("location", f"{MAPPED_FILE}.data"), ("offset", str(offset)), ("length", str(size))):
                        entry = tensor.external_data.add()
                        entry.key, entry.value = key, value
            onnx.save_model(model, str(tmp / MAPPED_FILE))
            os.replace(tmp / f"{MAPPED_FILE}.data", path.parent / f"{MAPPED_FILE}.data")
            os.replace(tmp / MAPPED_FILE, target)  # last: its presence says the pair is complete
        except (OSError, ValueError) as e:
            raise EmbeddingModelError(f"cannot write the memory-mapped copy of {path}: {e}") from e
    return target


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


class OnnxEmbedder:
    """The converted default model's encoder on ONNX Runtime; mean pooling and normalisation as e5 does."""

    backend = "onnxruntime"

    def __init__(
        self,
        model_dir: Path,
        model_id: str,
        batch_size: int = 8,
        threads: int | None = None,
        precision: str = "fp32",
    ) -> None:
        """`precision` int8: the dynamically quantised encoder (faster here, but its vectors move: cosine
        ~0.97 to fp32, BENCHMARKS.md; not the default)."""
        import onnxruntime as ort
        from tokenizers import Tokenizer

        if precision not in ("fp32", "int8"):
            raise EmbeddingModelError(f"ONNX Runtime engine runs fp32 or int8, not {precision}")
        self.precision = precision
        path = export_encoder(model_dir, model_dir.parent / f"{model_dir.name}-onnx")
        path = quantize_encoder(path) if precision == "int8" else map_weights(path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or len(os.sched_getaffinity(0))
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(512)
        self._tokenizer.enable_padding(pad_id=1, pad_token="<pad>")
        self._tokenizer_lock = threading.Lock()
        self.model_id = model_id
        self.dimension = int(self._session.get_outputs()[0].shape[-1] or 384)
        self._batch_size = batch_size
        logger.info("indexing engine: ONNX Runtime %s, %d threads", precision, options.intra_op_num_threads)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode([f"query: {t}" for t in texts], self._batch_size)

    def embed_passages(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        return self.encode([f"passage: {t}" for t in texts], batch_size or self._batch_size)

    def embed_corpus(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        return self.embed_passages(texts, batch_size)

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        """Unit mean-pooled vectors of `texts` as given (prefixes included)."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            with self._tokenizer_lock:
                encoded = self._tokenizer.encode_batch(texts[start : start + batch_size])
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            (states,) = self._session.run(None, {"input_ids": ids, "attention_mask": mask})
            pooled = (states * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
            out[start : start + len(encoded)] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
        return out
