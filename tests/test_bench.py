"""`newsbot bench`: every suite runs on tiny inputs and writes well-formed results.

Benchmarks are not tests: nothing here asserts a timing or a quality figure, only that each suite
measures what it says, in the documented shape, and that the files it writes can be read back.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from bench.ingest import run_ingest
from bench.latency import run_latency, summarise
from bench.report import render_markdown, target_rows, write_results
from bench.scale import choose_default, run_scale
from bench.squad_data import BenchDataError, load_xquad
from bench.squad_retrieval import (
    answer_contains_gold,
    paragraph_ranking,
    rank_metrics,
    run_retrieval,
)
from bot.cli import app
from models.precision import choose_precision
from retrieval.fusion import with_best_sentence
from tests.conftest import SEEDS, SHARED, TEST_PRECISION, make_settings

# Paragraphs are sentences of the seed articles; questions are aligned by id across languages.
PARAGRAPHS = [
    (
        (
            "Die südkoreanische Regierung hat den russischen Botschafter einbestellt, um ihre Besorgnis über die "
            "mutmaßliche Verlegung nordkoreanischer Soldaten nach Russland zum Ausdruck zu bringen. Diese Soldaten "
            "sollen Berichten zufolge in der Ukraine eingesetzt werden, was eine erhebliche Eskalation des Konflikts "
            "bedeuten könnte."
        ),
        "q1", "Wen hat die südkoreanische Regierung einbestellt?", "Whom did the South Korean government summon?",
        "den russischen Botschafter",
    ),
    (
        (
            "NATO-Generalsekretär Mark Rutte warnte vor einer „erheblichen Eskalation“, sollte sich die Entsendung "
            "nordkoreanischer Soldaten bestätigen. Er betonte, dass die NATO die Situation genau beobachte und in engem "
            "Kontakt mit der südkoreanischen Regierung stehe."
        ),
        "q2", "Wovor warnte Mark Rutte?", "What did Mark Rutte warn about?", "erheblichen Eskalation",
    ),
    (
        (
            "Nach Angaben des südkoreanischen Geheimdienstes halten sich bereits 3.000 nordkoreanische Soldaten in "
            "Russland auf. Bis Dezember sollen es demnach 10.000 sein."
        ),
        "q3", "Wie viele nordkoreanische Soldaten sollen bis Dezember in Russland sein?",
        "How many North Korean soldiers are expected in Russia by December?", "10.000",
    ),
    (
        (
            "Nordkorea und Russland bauen ihre militärische Zusammenarbeit aus. Dies löst in Südkorea Sorgen aus, weil "
            "man eine militärische Stärkung Pjöngjangs fürchtet. Als Reaktion denkt Südkorea auch über Hilfe für die "
            "Ukraine nach."
        ),
        "q4", "Worüber denkt Südkorea als Reaktion nach?", "What is South Korea considering in response?",
        "Hilfe für die Ukraine",
    ),
]  # fmt: skip


def write_tiny_xquad(folder: Path) -> Path:
    """xquad.de.json and xquad.en.json in SQuAD v1.1 format, one article per two paragraphs."""
    folder.mkdir(parents=True, exist_ok=True)
    for language, column in (("de", 2), ("en", 3)):
        articles = []
        for start in (0, 2):
            paragraphs = []
            for row in PARAGRAPHS[start : start + 2]:
                context, answer = row[0], row[4]
                paragraphs.append(
                    {
                        "context": context,
                        "qas": [
                            {
                                "id": row[1],
                                "question": row[column],
                                "answers": [{"text": answer, "answer_start": context.index(answer)}],
                            }
                        ],
                    }
                )
            articles.append({"title": f"Seeds_{start}", "paragraphs": paragraphs})
        (folder / f"xquad.{language}.json").write_text(
            json.dumps({"version": "1.1", "data": articles}), encoding="utf-8"
        )
    return folder


# -- pure logic ------------------------------------------------------------------------------


def test_paragraph_ranking_keeps_each_paragraph_at_its_best_chunk() -> None:
    assert paragraph_ranking(["a", "b", "a", "c", "b", "d"], depth=3) == ["a", "b", "c"]


def test_rank_metrics_count_recall_and_reciprocal_rank() -> None:
    metrics = rank_metrics(
        [["a", "b"], ["b", "a"], ["c"], ["x", "y", "z", "w", "v", "b"]], ["a", "a", "a", "b"]
    )
    assert metrics == {"r1": 0.25, "r5": 0.5, "mrr10": round((1 + 0.5 + 0 + 1 / 6) / 4, 4), "questions": 4}


def test_gold_answer_matches_inside_a_quote_ignoring_case_and_spacing() -> None:
    quote = "Bis Dezember sollen es demnach  10.000 sein."
    assert answer_contains_gold([quote], ["demnach 10.000"])
    assert not answer_contains_gold([quote], ["12.000"])


def test_best_sentence_blend_is_a_weighted_mean_and_off_at_zero() -> None:
    chunk = np.array([0.8, 0.6], dtype=np.float32)
    sentence = np.array([0.9, 0.9], dtype=np.float32)
    assert np.allclose(with_best_sentence(chunk, sentence, 1.0), [0.85, 0.75])
    assert with_best_sentence(chunk, sentence, 0.0) is chunk


def test_best_sentence_scores_are_the_best_sentence_of_each_chunk(seed_retriever) -> None:
    data = seed_retriever.data
    query = data.sentence_vectors[5]
    ids = np.array([0, 3, len(data.chunks) - 1])
    expected = []
    for i in ids:
        chunk = data.chunks[int(i)]
        base = data.sentence_base[chunk.doc_id]
        rows = range(base + chunk.first_sentence, base + chunk.last_sentence + 1)
        expected.append(max(float(data.sentence_vectors[r] @ query) for r in rows))
    assert np.allclose(seed_retriever.best_sentence_scores(ids, query), expected, atol=1e-6)


def test_latency_summary_is_in_milliseconds() -> None:
    assert summarise([0.010, 0.020, 0.030]) == {"p50": 20.0, "p95": 29.0, "max": 30.0, "mean": 20.0}


def test_default_index_meets_every_target_and_then_builds_quickest() -> None:
    def result(name: str, gib: float, recall: float, p50: float, build: float) -> dict:
        run = {"param": 8, "recall10": recall, "p50_ms": p50, "p95_ms": p50}
        return {"index": name, "index_bytes": int(gib * (1 << 30)), "build_s": build, "runs": [run]}

    results = [
        result("too_big", 1.5, 0.99, 1.0, 1.0),
        result("too_poor", 0.1, 0.90, 1.0, 1.0),
        result("too_slow", 0.1, 0.99, 80.0, 1.0),
        result("slow_to_build", 0.5, 0.99, 1.0, 400.0),
        result("chosen", 0.4, 0.97, 10.0, 60.0),
    ]
    assert choose_default(results)["index"] == "chosen"  # type: ignore[index]


def test_xquad_loader_aligns_questions_by_id_and_keeps_corpus_answers(tmp_path: Path) -> None:
    xquad = load_xquad(write_tiny_xquad(tmp_path / "xq"))
    assert len(xquad.articles) == 4
    de, en = xquad.questions["de"], xquad.questions["en"]
    assert [q.qid for q in de] == [q.qid for q in en] == ["q1", "q2", "q3", "q4"]
    assert en[2].answers == ("10.000",) and en[2].doc_id == de[2].doc_id
    assert all(q.answers[0] in xquad.articles[q.doc_id].text for q in en)


def test_missing_xquad_folder_says_how_to_fix_it(tmp_path: Path) -> None:
    with pytest.raises(BenchDataError, match="--xquad"):
        load_xquad(tmp_path / "nowhere")


# -- each suite on tiny inputs ---------------------------------------------------------------


@pytest.mark.slow
def test_retrieval_suite_reports_every_retriever_for_both_languages(tmp_path: Path, e5_embedder) -> None:
    settings = make_settings(tmp_path / "data")
    result = run_retrieval(settings, write_tiny_xquad(tmp_path / "xq"), tmp_path / "work", e5_embedder)
    assert result["corpus"]["paragraphs"] == 4
    for language in ("de", "en"):
        for mode in ("lexical", "dense", "hybrid", "rrf", "hybrid_chunk_only"):
            figures = result[language][mode]
            assert set(figures) == {"r1", "r5", "mrr10", "questions"} and figures["questions"] == 4
            assert all(0.0 <= figures[key] <= 1.0 for key in ("r1", "r5", "mrr10"))
        answers = result[language]["answers"]
        assert 0.0 <= answers["top1_quote"] <= answers["top3_quotes"] <= 1.0
    # A second run reuses the index and the cached embeddings.
    assert (tmp_path / "work" / f"embeddings-{e5_embedder.model_id}-{e5_embedder.backend}.npz").is_file()
    again = run_retrieval(settings, write_tiny_xquad(tmp_path / "xq"), tmp_path / "work", e5_embedder)
    assert again["de"]["hybrid"] == result["de"]["hybrid"]


@pytest.mark.slow
def test_latency_suite_times_every_stage_and_a_cold_start(
    tmp_path: Path, seed_index_dir: Path, e5_embedder
) -> None:
    work = tmp_path / "work"
    shutil.copytree(seed_index_dir, work / "seeds")  # the suite finds the seed index up to date
    questions = tmp_path / "questions.jsonl"
    questions.write_text(
        "\n".join(json.dumps({"id": f"q{i}", "question": q}) for i, q in enumerate(
            ["Wer ist Mark Rutte?", "How many soldiers were reported and by whom?"]
        )),
        encoding="utf-8",
    )  # fmt: skip
    settings = make_settings(tmp_path / "data")
    result = run_latency(
        settings, work, e5_embedder, SEEDS, questions, xquad_dir=None, rounds=1, cold_runs=1, probe=False,
        cold_backends=("sentence-transformers",), cold_scorers=("reader",),
    )  # fmt: skip
    stages = result["seed"]["stages_ms"]
    assert set(stages) == {
        "query_embedding",
        "lexical",
        "dense",
        "fusion",
        "sentence_selection",
        "formatting",
        "other",
        "total",
    }
    assert result["seed"]["answers"] == 2
    assert stages["total"]["p50"] >= stages["query_embedding"]["p50"] >= 0
    cold, with_reader = result["cold_start"]
    assert cold["backend"] == "sentence-transformers" and cold["wall_median_s"] > 0
    assert cold["scorer"] == settings.models.answer_scorer != "reader"
    assert with_reader["scorer"] == "reader" and with_reader["wall_median_s"] > 0, with_reader  # issue 25's bound
    (reader_row,) = [row for row in target_rows({"latency": result}) if "reader scorer" in row[0]]
    assert reader_row[2].endswith("/ –") and reader_row[3] is None  # no probe ran: memory unmeasured, not "met"
    engines = {e["engine"]: e for e in result["reader_engines"]["engines"]}
    assert {"onnxruntime fp32", "torch fp32"} <= set(engines) and all(e["warm_ms"] > 0 for e in engines.values())
    assert engines["torch fp32"]["max_abs_logit_difference"] < 1e-2  # the same network on both engines
    loaded = result["query_embedding_under_load"]
    assert {(r["busy_processes"], r["threads"]) for r in loaded} == {
        (busy, threads) for busy in (0, 1, 2) for threads in {1, len(os.sched_getaffinity(0))}
    }
    assert all(r["max"] >= r["p95"] >= r["p50"] > 0 for r in loaded)


@pytest.mark.slow
def test_ingest_suite_measures_a_build_and_an_unchanged_reindex(tmp_path: Path, e5_embedder) -> None:
    corpus = tmp_path / "articles"
    corpus.mkdir()
    shutil.copy(next(SEEDS.glob("000_*.txt")), corpus)
    settings = make_settings(tmp_path / "data")
    result = run_ingest(
        settings,
        tmp_path / "work",
        corpus,
        xquad_dir=None,
        backends=("sentence-transformers",),
        profile_texts=4,
        numeric_paths=False,
    )
    embedded, late, pooled = result["builds"]  # every way of making vectors: before, late, pooled (the default)
    assert (embedded["chunk_vectors"], pooled["chunk_vectors"]) == ("embedded", "pooled")
    assert (embedded["sentence_vectors"], late["sentence_vectors"]) == ("embedded", "late")
    assert late["chunks"] == embedded["chunks"] and late["texts_embedded"] == late["chunks"]  # one pass per chunk
    assert late["tokens"] < embedded["tokens"]
    for build in (embedded, late, pooled):
        assert build["articles"] == 1 and build["chunks"] > 0 and build["tokens"] > build["chunks"]
        assert build["chunks_per_s"] > 0 and build["reindex_embedded"] == 0
    assert pooled["chunks"] == embedded["chunks"] and pooled["texts_embedded"] < embedded["texts_embedded"]
    assert pooled["tokens"] < embedded["tokens"]  # pooled embeds the sentences only
    (profile,) = result["profiles"]
    assert {"batch_size", "sentence_batch_size", "threads"} <= set(profile)
    assert any("workers" in name for name in profile["threads"]) == (torch_threads() > 1)


@pytest.mark.slow
def test_index_command_runs_report_wall_clock_and_peak_memory(tmp_path: Path) -> None:
    from bench.ingest import run_index_commands

    corpus = tmp_path / "articles"
    corpus.mkdir()
    shutil.copy(next(SEEDS.glob("004_*.txt")), corpus)
    settings = make_settings(tmp_path / "data")
    (row,) = run_index_commands(
        corpus, settings, tmp_path / "work", repeats=2, variants={"late": {"NEWSBOT_SENTENCE_VECTORS": "late"}}
    )
    assert row["variant"] == "late" and row["sentence_vectors"] == "late" and len(row["runs"]) == 2
    assert row["chunks"] > 0 and row["chunks_per_s_min"] <= row["chunks_per_s_median"] <= row["chunks_per_s_max"]
    assert 100 * 2**20 < row["peak_rss_bytes_max"] < 8 * 2**30  # a child's own peak, the model included


@pytest.mark.slow
def test_index_command_variants_report_tokens_per_s_and_int8s_cosine_to_the_default(tmp_path: Path) -> None:
    from bench.ingest import DEFAULT_VARIANT, TokenCounter, run_index_commands, subset_corpus

    corpus = subset_corpus(SEEDS, 2, tmp_path / "work")
    assert len(list(corpus.iterdir())) == 2
    settings = make_settings(tmp_path / "data")
    int8 = "int8: ONNX Runtime dynamic quantisation, pooled chunk vectors"
    default, quantised = run_index_commands(
        corpus, settings, tmp_path / "work", repeats=1,
        variants={DEFAULT_VARIANT: {}, int8: {"NEWSBOT_INDEX_ENGINE": "onnxruntime-int8"}}, tokens=TokenCounter(settings),
    )  # fmt: skip
    # The default follows the CPU (bf16 where it has the units) or the suite's forced path.
    assert (default["precision"], quantised["precision"]) == (choose_precision(TEST_PRECISION).precision, "int8")
    assert default["tokens"] == quantised["tokens"] > default["chunks"] and default["tokens_per_s_median"] > 0
    assert "sentence_cosine_to_default" not in default
    assert 0.9 < quantised["sentence_cosine_to_default"]["min"] <= quantised["sentence_cosine_to_default"]["mean"] < 1.0


@pytest.mark.slow
def test_the_ingest_suite_reports_the_bf16_and_fp32_paths_beside_the_default_on_every_cpu(tmp_path: Path) -> None:
    """Issue 24: one run shows each number format's chunks/s and peak memory; bf16 is forced, so it is
    measured (emulated, slowly) on a CPU without bf16 units too."""
    from bench.ingest import BF16_VARIANT, DEFAULT_VARIANT, FP32_VARIANT, run_index_commands

    corpus = tmp_path / "articles"
    corpus.mkdir()
    shutil.copy(next(SEEDS.glob("004_*.txt")), corpus)
    rows = run_index_commands(
        corpus, make_settings(tmp_path / "data"), tmp_path / "work", repeats=1, variants={DEFAULT_VARIANT: {}}, numeric_paths=True
    )
    by_variant = {row["variant"]: row for row in rows}
    assert list(by_variant) == [DEFAULT_VARIANT, BF16_VARIANT, FP32_VARIANT]
    assert (by_variant[BF16_VARIANT]["precision"], by_variant[FP32_VARIANT]["precision"]) == ("bf16", "fp32")
    for row in rows:
        assert row["chunks"] > 0 and row["chunks_per_s_median"] > 0 and row["peak_rss_bytes_max"] > 100 * 2**20


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def test_scale_suite_measures_every_index_type_on_1k_vectors() -> None:
    result = run_scale(sizes=(1000,), n_queries=20)
    size = result["sizes"]["1000"]
    assert {r["index"] for r in size["indexes"]} == {
        "flat",
        "hnsw_flat",
        "hnsw_sq8",
        "ivf_flat",
        "ivf_sq8",
        "ivf_pq_refine",
    }
    flat = next(r for r in size["indexes"] if r["index"] == "flat")
    assert flat["runs"][0]["recall10"] == 1.0  # exact search is its own ground truth
    for index in size["indexes"]:
        assert index["index_bytes"] > 0
        assert all(
            0.0 <= run["recall10"] <= 1.0 and run["p95_ms"] >= run["p50_ms"] >= 0 for run in index["runs"]
        )


# -- results files and the CLI -----------------------------------------------------------------


def test_results_are_written_as_json_markdown_and_a_plot(tmp_path: Path) -> None:
    results = {
        "machine": {"cpu": "test cpu", "cores": 2},
        "quick": True,
        "scale": run_scale(sizes=(1000, 2000), n_queries=10, index_types=("flat", "ivf_sq8")),
        "gpu": {"measured": False, "reason": "no GPU in the test"},
        "seconds_total": 1.0,
    }
    paths = write_results(results, tmp_path / "out")
    assert json.loads(paths["json"].read_text(encoding="utf-8"))["scale"]["sizes"]["2000"]["n"] == 2000
    markdown = paths["markdown"].read_text(encoding="utf-8")
    assert "## Targets" in markdown and "### 2,000 vectors" in markdown and "Not measured: no GPU" in markdown
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert target_rows(results)[-1][0] == "Benchmark run time (s)"
    assert render_markdown({"machine": {}}).startswith("# newsbot benchmark results")


@pytest.mark.slow
def test_bench_cli_prints_one_json_object_with_the_documented_shape(tmp_path: Path, e5_embedder) -> None:
    xquad = write_tiny_xquad(tmp_path / "xq")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["bench", "--suite", "retrieval", "--quick", "--json", "--xquad", str(xquad), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    for language in ("de", "en"):
        for mode in ("lexical", "dense", "hybrid"):
            assert isinstance(payload["retrieval"][language][mode]["r1"], float)
    assert payload["machine"]["cores"] >= 1
    assert json.loads((out / "results.json").read_text(encoding="utf-8")) == payload
    assert (out / "results.md").read_text(encoding="utf-8").startswith("# newsbot benchmark results")


@pytest.mark.parametrize("args", [["--suite", "speed"], ["--device", "tpu"]])
def test_bench_cli_rejects_unknown_suites_and_devices(args: list[str]) -> None:
    result = CliRunner().invoke(app, ["bench", *args])
    assert result.exit_code == 2


@pytest.mark.skipif(
    not (SHARED / "bench" / "xquad" / "xquad.de.json").is_file(), reason="shared XQuAD data not present"
)
def test_the_real_xquad_files_load_as_240_paragraphs_and_1190_aligned_questions() -> None:
    xquad = load_xquad(SHARED / "bench" / "xquad")
    assert len(xquad.articles) == 240
    assert len(xquad.questions["de"]) == len(xquad.questions["en"]) == 1190


def test_long_lines_suite_reports_time_per_mb_for_single_line_articles(tmp_path: Path) -> None:
    """Issue 28, item 1: `newsbot bench` shows time per MB of single-line articles, size by size."""
    from bench.long_lines import run_long_lines
    from bench.report import render_markdown

    settings = make_settings(tmp_path / "data")
    suite = run_long_lines(settings, tmp_path, None, SEEDS, sizes=(50_000, 200_000), repeats=1)

    assert [r["bytes"] // 1000 for r in suite["sizes"]] == [50, 200]
    for row in suite["sizes"]:
        assert row["longest_line_chars"] > 0.9 * row["bytes"] / 1.05  # one line holds (nearly) all of it
        assert row["sentences"] > 100 and row["chunks"] > 10 and row["split_s_per_mb"] > 0
    assert suite["split_flatness"] >= 1.0
    markdown = render_markdown({"machine": {}, "lines": suite})
    assert "## Long lines (one article on a single line)" in markdown and "Split s/MB" in markdown
