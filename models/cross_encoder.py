"""The answer reranker: multilingual-e5-small read as a cross-encoder over (question, sentence) pairs.

Why: the bi-encoder embeds the question and each sentence apart, so a paraphrase of the question
that holds the answer often ranks second behind a sentence that merely repeats its words. A
cross-encoder reads both together. It is the default e5 model with small LoRA adapters and a
one-unit head, trained by `scripts/train_answer_reranker.py` on the XQuAD fit half; only the
adapters and head are committed (`answers/answer_reranker.safetensors`, ~3 MB).

At query time torch is never imported (importing it alone costs ~7 s against a 3 s cold start):
the adapters are merged into the base weights once, exported to ONNX beside the converted model
in the model cache (written atomically, like `models.onnx_engine`), its weights quantised to
int8 (`quantize_int8` says why), and run on ONNX Runtime.
The export takes token embeddings as input, and the 250k-row embedding table is kept as a
memory-mapped `.npy` file, so loading the session reads the ~22 MB int8 transformer only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from models.errors import EmbeddingModelError

logger = logging.getLogger(__name__)

# The modules of every BERT layer that carry a LoRA adapter: all linear maps of attention and
# feed-forward (the LoRA paper found adapting all of them best for a fixed parameter budget).
LORA_TARGETS = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)
MAX_TOKENS = 96  # pair length (the brief's 96-128); the question and the candidate fit, context is cut
CONTEXT_SEPARATOR = " </s> "  # the tokenizer's own separator token between candidate and its context
ONNX_FILE = "reranker.onnx"
EMBEDDINGS_FILE = "word_embeddings.npy"
FORMAT = "newsbot-answer-reranker/1"


class CrossEncoderError(EmbeddingModelError):
    """The reranker's adapter file is missing or corrupt, or its model cannot be built."""


def pair_text(question: str, sentence: str, previous: str | None) -> tuple[str, str]:
    """The two texts the model reads: the question, and the candidate followed by the sentence before it.

    The candidate comes first so that truncation cuts its context, not the candidate.
    """
    second = f"passage: {sentence}"
    if previous:
        second += CONTEXT_SEPARATOR + previous
    return f"query: {question}", second


def load_tokenizer(model_dir: Path):  # -> tokenizers.Tokenizer
    """The base model's tokenizer, truncating the pair's second text to MAX_TOKENS."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(MAX_TOKENS, strategy="only_second")
    tokenizer.enable_padding(pad_id=1, pad_token="<pad>")
    return tokenizer


def read_adapter(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The adapter's tensors and metadata; CrossEncoderError if the file is missing or not one."""
    from safetensors import SafetensorError, safe_open

    if not Path(path).is_file():
        raise CrossEncoderError(
            f"answer reranker adapter {path} not found; re-run scripts/train_answer_reranker.py"
        )
    try:
        with safe_open(str(path), framework="np") as f:
            metadata = dict(f.metadata() or {})
            tensors = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118 (safe_open is not a dict)
    except (SafetensorError, OSError, ValueError) as e:
        raise CrossEncoderError(f"answer reranker adapter {path} is unreadable ({e}); re-run "
                                "scripts/train_answer_reranker.py") from e  # fmt: skip
    if metadata.get("format") != FORMAT:
        raise CrossEncoderError(f"{path} is not a newsbot answer reranker ({FORMAT}) file")
    layers = adapted_layers(metadata)
    expected = {f"layer.{i}.{t}.{ab}" for i in layers for t in LORA_TARGETS for ab in "AB"}
    expected |= {"head.weight", "head.bias"}
    if not layers or set(tensors) != expected:
        raise CrossEncoderError(f"{path} does not hold the reranker's adapters and head")
    return tensors, metadata


def adapted_layers(metadata: dict[str, str]) -> list[int]:
    """The indices of the layers that carry adapters (the metadata's comma-separated list)."""
    try:
        return [int(i) for i in metadata.get("adapted_layers", "").split(",") if i.strip()]
    except ValueError:
        return []


def adapter_fingerprint(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def export_reranker(model_dir: Path, adapter: Path, out_dir: Path) -> Path:
    """`out_dir` with the merged model as ONNX (token embeddings in, logit out) and the embedding table.

    Exported once per adapter file; a half-written export is never visible (temp dir + os.replace).
    """
    if (out_dir / ONNX_FILE).is_file() and (out_dir / EMBEDDINGS_FILE).is_file():
        return out_dir
    tensors, metadata = read_adapter(adapter)
    try:
        import torch
    except ImportError as e:
        raise CrossEncoderError(f"exporting the answer reranker to ONNX needs torch: {e}") from e
    model = build_merged_model(model_dir, tensors, metadata)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=out_dir.parent))
    except OSError as e:
        raise CrossEncoderError(
            f"cannot write the answer reranker's export under {out_dir.parent}: {e}"
        ) from e
    try:
        embeds = torch.zeros((2, 16, model.hidden), dtype=torch.float32)
        mask = torch.ones((2, 16), dtype=torch.long)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings on shape-dependent branches (axes are dynamic)
            torch.onnx.export(
                model, (embeds, mask), str(tmp / "float32.onnx"), input_names=["inputs_embeds", "attention_mask"],
                output_names=["logits"], dynamic_axes={"inputs_embeds": {0: "batch", 1: "tokens"},
                "attention_mask": {0: "batch", 1: "tokens"}, "logits": {0: "batch"}}, opset_version=17,
                dynamo=False,
            )  # fmt: skip
        quantize_int8(tmp / "float32.onnx", tmp / ONNX_FILE)
        (tmp / "float32.onnx").unlink()
        np.save(tmp / EMBEDDINGS_FILE, model.word_embeddings())
        (tmp / "provenance.json").write_text(json.dumps(metadata, indent=1), encoding="utf-8")
        if out_dir.exists():
            shutil.rmtree(out_dir, ignore_errors=True)
        os.replace(tmp, out_dir)
    except OSError as e:
        raise CrossEncoderError(f"cannot write the answer reranker's export to {out_dir}: {e}") from e
    except Exception as e:  # the exporter raises assorted errors (missing onnx, tracing failures)
        raise CrossEncoderError(f"cannot export the answer reranker to ONNX: {e}") from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("exported the answer reranker (%s) to %s", adapter, out_dir)
    return out_dir


def quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8 quantisation of the weights (activations stay float).

    Why: on the 2-core development machine 6 pairs of 70 tokens took 0.73 s in float32 and 0.27 s
    with int8 weights (measured while another job used the cores), and a warm `ask` has 250 ms at
    p50. The answer scorer is fitted on the int8 model's logits, so it reads the same numbers.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)


def build_merged_model(model_dir: Path, tensors: dict[str, np.ndarray], metadata: dict[str, str]):
    """A torch module: base e5 with the LoRA deltas merged into its weights, plus the head."""
    import torch
    from transformers import AutoModel

    scale = float(metadata["alpha"]) / float(metadata["rank"])

    class Merged(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()
            self.hidden = int(self.encoder.config.hidden_size)
            with torch.no_grad():
                for i in adapted_layers(metadata):
                    layer = self.encoder.encoder.layer[i]
                    for target in LORA_TARGETS:
                        linear = layer.get_submodule(target)
                        a = torch.from_numpy(tensors[f"layer.{i}.{target}.A"]).float()
                        b = torch.from_numpy(tensors[f"layer.{i}.{target}.B"]).float()
                        linear.weight += scale * (b @ a)
            self.head = torch.nn.Linear(self.hidden, 1)
            with torch.no_grad():
                self.head.weight.copy_(torch.from_numpy(tensors["head.weight"]).float())
                self.head.bias.copy_(torch.from_numpy(tensors["head.bias"]).float())

        def word_embeddings(self) -> np.ndarray:
            return self.encoder.embeddings.word_embeddings.weight.detach().numpy().astype(np.float32)

        def forward(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            states = self.encoder(
                inputs_embeds=inputs_embeds, attention_mask=attention_mask
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(states.dtype)
            pooled = (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
            return self.head(pooled).squeeze(-1)

    return Merged().eval()


class CrossEncoder:
    """Scores (question, candidate sentence) pairs on ONNX Runtime: a logit, higher = holds the answer."""

    def __init__(self, model_dir: Path, adapter: Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        model_dir = Path(model_dir)
        adapter = Path(adapter)
        _, metadata = read_adapter(adapter)  # a clear error before anything is exported
        export = model_dir.parent / f"{model_dir.name}-reranker-int8-{adapter_fingerprint(adapter)}"
        export_reranker(model_dir, adapter, export)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or len(os.sched_getaffinity(0))
        try:
            self._session = ort.InferenceSession(
                str(export / ONNX_FILE), options, providers=["CPUExecutionProvider"]
            )
            self._embeddings = np.load(export / EMBEDDINGS_FILE, mmap_mode="r")
        except Exception as e:  # onnxruntime raises its own error types for a damaged file
            raise CrossEncoderError(f"cannot load the answer reranker's export {export}: {e}; delete it "
                                    "to export again") from e  # fmt: skip
        self._tokenizer = load_tokenizer(model_dir)
        self._lock = threading.Lock()
        self.metadata = metadata

    def score(self, question: str, candidates: Sequence[tuple[str, str | None]]) -> np.ndarray:
        """Logits for (sentence, previous sentence or None) candidates of one question.

        Tokenised in one batch, but run one pair per session call: int8 weights come with dynamic
        activation quantisation, whose scale is taken over the whole input, so in a padded batch a
        pair's logit moved by up to 0.2 with its neighbours; alone it is the same whatever else
        is asked, and 6 pairs took no longer (220 vs 245 ms, measured on the loaded 2-core machine).
        """
        if not candidates:
            return np.zeros(0, dtype=np.float32)
        pairs = [pair_text(question, sentence, previous) for sentence, previous in candidates]
        with self._lock:
            encoded = self._tokenizer.encode_batch(pairs)
        out = np.zeros(len(encoded), dtype=np.float32)
        for row, pair in enumerate(encoded):
            length = int(sum(pair.attention_mask))
            ids = np.asarray(pair.ids[:length], dtype=np.int64)
            embeds = np.asarray(self._embeddings[ids], dtype=np.float32)[None, :, :]
            mask = np.ones((1, length), dtype=np.int64)
            (logits,) = self._session.run(None, {"inputs_embeds": embeds, "attention_mask": mask})
            out[row] = float(logits[0])
        return out


_loaded: dict[tuple[Path, Path], CrossEncoder] = {}
_load_lock = threading.Lock()


def load_cross_encoder(model_dir: Path, adapter: Path) -> CrossEncoder:
    """The reranker for this model folder and adapter file, loaded once per process (thread-safe)."""
    key = (Path(model_dir), Path(adapter))
    with _load_lock:
        if key not in _loaded:
            _loaded[key] = CrossEncoder(*key)
        return _loaded[key]
