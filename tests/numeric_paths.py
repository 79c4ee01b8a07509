"""Tolerances for tests of the bf16 embedding path, from measurements (not the fp32 ones).

Measured with `bench.numeric_paths.bf16_drift` on the 132 sentences of seeds/ (session 8, 2-core
Intel Xeon with amx_bf16; oneDNN limited by ONEDNN_MAX_CPU_ISA to emulate CPUs without the units):

| path (oneDNN ISA)          | batching max abs | bf16 vs fp32 max abs | cosine to fp32, min |
|----------------------------|------------------|----------------------|---------------------|
| AMX (native)               | 7.8e-4           | 8.7e-4               | 0.999986            |
| AVX512_CORE (no bf16 units)| 7.2e-4           | 8.9e-4               | 0.999987            |
| AVX2 (as on Zen 3)         | 6.8e-4           | 1.02e-3              | 0.999986            |
Issue 24 reported 6.7e-4 (batching) and a cosine of 0.99998987 on a Zen 4 (avx512_bf16).

Each bound is about four times the largest measurement (the cosine's gap to 1 about seven times),
so another CPU's rounding passes while a real change of model or pooling (cosine 0.98 for int8,
below 0.95 for another model) still fails.
"""

BF16_BATCHING_ATOL = 3e-3
"""A bf16 vector's largest change when the same text is embedded in another batch (measured ≤ 7.8e-4)."""
BF16_TO_FP32_ATOL = 4e-3
"""bf16 against float32, largest change of one coordinate (measured ≤ 1.02e-3)."""
BF16_COSINE_MIN = 0.9999
"""bf16 against float32, smallest cosine of one text's vectors (measured ≥ 0.999986)."""
FP32_BATCHING_ATOL = 1e-5
"""float32: a batch's padding changes only the last bits (the tests of exact equality pin fp32)."""


def batching_atol(precision: str) -> float:
    """The tolerance for one text embedded in two batchings on the path `precision` names."""
    return BF16_BATCHING_ATOL if precision == "bf16" else FP32_BATCHING_ATOL
