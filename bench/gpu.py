"""Embedding throughput on a GPU with the multilingual-e5-small architecture.

The GPU machine cannot reach a model hub and the converted weights (470 MB) do not travel with the
code, so the encoder is built from e5-small's config with random weights: the same shapes, hence
the same arithmetic and the same speed; the vectors themselves mean nothing and are not used.
Inputs are random token ids of fixed lengths, so no tokenizer is needed either.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

logger = logging.getLogger(__name__)

E5_SMALL_CONFIG: dict[str, Any] = {
    "vocab_size": 250037,
    "hidden_size": 384,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 1536,
    "hidden_act": "gelu",
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
    "layer_norm_eps": 1e-12,
    "pad_token_id": 1,
}
"""The Hugging Face BertModel config of multilingual-e5-small (as `models.e5_convert` writes it)."""


def gpu_unavailable_reason(device: str) -> str | None:
    """Why `device` cannot be measured, or None when it can."""
    if not device.startswith("cuda"):
        return f"device {device!r} is not a GPU"
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if not torch.cuda.is_available():
        return "torch sees no CUDA device on this machine"
    return None


def run_gpu(
    device: str = "cuda",
    batch_sizes: Sequence[int] = (32, 128, 512),
    seq_lens: Sequence[int] = (48, 128, 256),
    repeats: int = 5,
    half: bool = True,
) -> dict[str, Any]:
    """Texts/s and tokens/s of the e5-small encoder (random weights) per batch size and length."""
    reason = gpu_unavailable_reason(device)
    if reason is not None:
        return {"measured": False, "reason": reason}
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    model = BertModel(BertConfig(**E5_SMALL_CONFIG), add_pooling_layer=False).eval().to(device)
    if half:
        model = model.half()
    rows = []
    with torch.inference_mode():
        for seq_len in seq_lens:
            for batch in batch_sizes:
                ids = torch.randint(3, E5_SMALL_CONFIG["vocab_size"], (batch, seq_len), device=device)
                mask = torch.ones_like(ids)
                model(input_ids=ids, attention_mask=mask)  # warm-up (kernels, allocator)
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                for _ in range(repeats):
                    hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
                    pooled = torch.nn.functional.normalize(hidden.mean(dim=1), dim=-1)
                pooled.cpu()
                torch.cuda.synchronize()
                seconds = (time.perf_counter() - t0) / repeats
                rows.append({
                    "batch": batch, "seq_len": seq_len,
                    "texts_per_s": round(batch / seconds, 1), "tokens_per_s": round(batch * seq_len / seconds, 1),
                })  # fmt: skip
    return {
        "measured": True,
        "device": torch.cuda.get_device_name(device),
        "dtype": "float16" if half else "float32",
        "weights": "random (e5-small architecture from its config)",
        "encoder": rows,
    }
