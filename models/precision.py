"""Which number format the torch engine embeds in: bfloat16 where the CPU has bf16 matrix units, float32 elsewhere.

Why: on a CPU with AMX or AVX512-BF16 (recent Intel Xeons), `torch.autocast("cpu", bfloat16)` runs
e5-small about twice as fast as float32 with vectors that agree to a cosine of ~0.99998 (issue 11).
On a CPU without those units (AMD Zen 3, most laptops) torch emulates bf16 and it is slower than
float32 (BENCHMARKS.md), so the choice follows what the CPU has, and a setting overrides it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

logger = logging.getLogger(__name__)

Precision = Literal["fp32", "bf16"]
BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})
"""/proc/cpuinfo flags of the units that multiply bf16 matrices natively."""


@dataclass(frozen=True)
class PrecisionChoice:
    """The chosen format and why (logged, and recorded in the index's build info)."""

    precision: Precision
    reason: str


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The CPU's feature flags (Linux); empty where /proc/cpuinfo is not readable."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def choose_precision(
    setting: str, flags: frozenset[str] | None = None, device: str = "cpu"
) -> PrecisionChoice:
    """`setting` is auto, fp32 or bf16; auto picks bf16 on a GPU or a CPU with bf16 units (`BF16_FLAGS`)."""
    if setting in ("fp32", "bf16"):
        return PrecisionChoice(setting, f"set by NEWSBOT_EMBEDDING_PRECISION={setting}")  # type: ignore[arg-type]
    if setting != "auto":
        raise ValueError(f"unknown embedding precision {setting!r}; use auto, fp32 or bf16")
    if device != "cpu":
        return PrecisionChoice("bf16", f"auto: {device} runs bf16 natively")
    flags = cpu_flags() if flags is None else flags
    units = sorted(BF16_FLAGS & flags)
    if units:
        return PrecisionChoice("bf16", f"auto: the CPU has bf16 matrix units ({', '.join(units)})")
    return PrecisionChoice(
        "fp32", "auto: the CPU has no bf16 matrix units (amx_bf16/avx512_bf16), where bf16 runs slower"
    )
