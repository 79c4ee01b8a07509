"""The answer reader on each engine it could run on at question time: ONNX Runtime (what `ask` uses)
and torch, float32 and, where the CPU has bf16 units, bf16 autocast.

Why: issue 25 asks the reader to run "on ONNX Runtime or torch as measured fastest". One question costs
the reader a dozen (question, sentence + context) pairs (`READER_WINDOW`); this times exactly that
batch, warm (median of `rounds` calls after one untimed call), and the one-time cost of making each
engine ready (ONNX Runtime: session, word rows, tokenizer; torch: importing torch and transformers in
a new process, building the network, loading the weights and the tokenizer). Logits are compared with ONNX Runtime's so a faster engine that reads
differently is seen as such.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from answers.scoring.reader import READER_WINDOW
from models.precision import choose_precision
from models.reader import READER_DIR, ReaderInput, load_reader, reader_text_pair

FLAGSHIP = "How many soldiers were reported and by whom?"


def seed_pairs(seeds_dir: Path, question: str = FLAGSHIP, count: int = READER_WINDOW) -> list[ReaderInput]:
    """`count` pairs as the reader scorer builds them: seed sentences with their neighbours and a title."""
    from retrieval.sentences import split_sentences

    items: list[ReaderInput] = []
    for path in sorted(seeds_dir.glob("*.txt")):
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        title, body = lines[0], " ".join(lines[1:])
        sentences = [body[start:end] for start, end in split_sentences(body) if end - start > 40]
        for i, sentence in enumerate(sentences[:3]):
            previous = sentences[i - 1] if i else ""
            following = sentences[i + 1] if i + 1 < len(sentences) else ""
            items.append(ReaderInput(question, sentence, previous, following, title))
    return items[:count]


def _import_seconds(statement: str) -> float:
    """Wall time of `statement` in a fresh interpreter, less the interpreter's own start."""

    def run(code: str) -> float:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        return time.perf_counter() - started

    return max(0.0, run(statement) - run("pass"))


def _median_call(call: Any, rounds: int) -> float:
    call()  # untimed: first-call allocations
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run_reader_engines(base_model_dir: Path, cache_dir: Path, seeds_dir: Path, rounds: int = 7) -> dict[str, Any]:
    """Per-engine ready time, warm time for one question's pairs, and logits against ONNX Runtime's."""
    items = seed_pairs(seeds_dir)
    started = time.perf_counter()
    reader = load_reader(base_model_dir, cache_dir)
    onnx_logits = reader.logits(items)  # waits for the tokenizer: part of being ready
    engines: list[dict[str, Any]] = [
        {
            "engine": "onnxruntime fp32",
            "ready_s": round(time.perf_counter() - started, 3),
            "warm_ms": round(_median_call(lambda: reader.logits(items), rounds) * 1000, 1),
            "max_abs_logit_difference": 0.0,
        }
    ]
    imported = _import_seconds("import torch, transformers")  # in a new process: this one may hold torch already
    started = time.perf_counter()
    import torch
    from transformers import AutoTokenizer

    from models.reader import load_trained_network

    network = load_trained_network(base_model_dir, READER_DIR)
    network.eval()
    tokenizer = AutoTokenizer.from_pretrained(str(base_model_dir))
    ready = time.perf_counter() - started
    pairs = [reader_text_pair(i) for i in items]

    def torch_logits(bf16: bool) -> np.ndarray:
        encoded = tokenizer([p[0] for p in pairs], [p[1] for p in pairs], padding=True, truncation="only_second",
                            max_length=reader.config.max_length, return_tensors="pt")  # fmt: skip
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return network(encoded["input_ids"], encoded["attention_mask"]).float().numpy()

    precisions = ["fp32"] + (["bf16"] if choose_precision("auto").precision == "bf16" else [])
    for precision in precisions:
        bf16 = precision == "bf16"
        engines.append(
            {
                "engine": f"torch {precision}",
                "ready_s": round(ready + imported, 3),
                "torch_import_s": round(imported, 3),
                "warm_ms": round(_median_call(lambda bf16=bf16: torch_logits(bf16), rounds) * 1000, 1),
                "max_abs_logit_difference": float(f"{np.abs(torch_logits(bf16) - onnx_logits).max():.2e}"),
            }
        )
    return {"pairs": len(items), "threads": torch.get_num_threads(), "rounds": rounds, "engines": engines}
