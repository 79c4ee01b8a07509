#!/usr/bin/env python
"""Train the query adapter (answers/query_adapter.npz): a linear map of the question's e5 vector.

Why: the sentence that answers a question is often a paraphrase the bi-encoder ranks second. A
cross-encoder trained here on 2 CPU cores did worse than the cosine it was meant to beat
(held-out top-1 0.596 against 0.742; BENCHMARKS.md, issue 12) and was removed. This model
starts AT the bi-encoder and can only move away from it where the fit half says so: the stored
sentence vectors stay as they are (the index is unchanged), and the question's vector q becomes
normalise((I + A) q), A trained from zero. Its cosine to each candidate sentence is a feature of
the answer scorer (answers/answer_scorer.py), fitted by training/fit_answer_scorer.py.

Data: the XQuAD FIT half only (sorted titles, even positions; bench/answers.py split_titles), German
AND English questions against the German paragraphs. For each question, the candidates are the
sentences of the passages retrieved from the XQuAD+10kGNAD collection (what `answers.answer`
scores) plus its own paragraph's sentences; positives hold a gold answer. Loss: softmax
cross-entropy of the positives among the candidates, at temperature TEMPERATURE, plus an L2 pull
of A towards 0. The temperature, the L2 strength and the number of steps are chosen by top-1
accuracy on held-out titles (every HELD_EVERY-th training title, never trained on).

Three adapters are trained: `full` (all fit titles but the held-out slice; committed, used at
query time; it chooses temperature, L2 and steps) and one per title fold with the full adapter's
setting (`fold0` learns from all of fold 1's titles and vice versa), whose cosines are the
out-of-fold feature the answer scorer is fitted on (same setting: same scale of cosine).

    flock /tmp/newsbot-heavy.lock python training/train_query_adapter.py \\
        --xquad ../shared/bench/xquad --gnad ../shared/corpora/10kgnad --seeds seeds \\
        --work-dir bench-results/cache --out-dir bench-results/query-adapter \\
        --commit-to answers/query_adapter.npz
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from answers.extractive import is_quantity_question
from bench.answer_collections import build_collections
from bench.answers import questions_of, split_titles
from bench.squad_retrieval import answer_contains_gold
from config.settings import load_settings
from models.embedders import load_embedder
from retrieval.language import detect_language
from retrieval.store_protocol import chunk_sentence_ids

logger = logging.getLogger("train_query_adapter")

# Grid searched on the held-out titles: e5 was trained at temperature 0.01; 0.02 and 0.05 soften
# it. L2 strengths span two orders of magnitude around the scale where A stays small (|A| << |I|).
TEMPERATURES = (0.01, 0.02, 0.05)
L2 = (1e-3, 1e-2, 1e-1)
LEARNING_RATE = 1e-3  # Adam, full batch
MAX_STEPS = 300  # full-batch steps; the best step on the held-out titles is kept (checked every 10)
HELD_EVERY = 4  # every 4th training title (sorted) is held out for the choices above
SEED = 0


@dataclass
class Question:
    title: str
    vector: np.ndarray  # (384,) the question's e5 vector
    sentences: np.ndarray  # (n, 384) candidate sentence vectors
    labels: np.ndarray  # (n,) 1 = holds a gold answer


def build_questions(args: argparse.Namespace) -> tuple[list[Question], list[str]]:
    settings = load_settings()
    embedder = load_embedder(settings)
    collections = build_collections(
        settings, args.work_dir.resolve(), embedder, args.xquad, args.seeds, args.gnad, progress=logger.info
    )
    name = "xquad+gnad" if "xquad+gnad" in collections.retrievers else "xquad"
    retriever = collections.retrievers[name]
    data = retriever.data
    top_k = collections.settings[name].retrieval.top_k
    fit, _ = split_titles(collections.xquad)  # the test half is never read
    out: list[Question] = []
    for language in collections.xquad.questions:
        questions = questions_of(collections.xquad, fit, language)
        vectors = collections.cache.get("query", [q.question for q in questions])
        for question, vector in zip(questions, vectors):
            k = top_k * (2 if is_quantity_question(question.question) else 1)
            result = retriever.search(
                question.question, k=k, language=detect_language(question.question), query_vector=vector
            )
            ids = [sid for hit in result.hits for sid in chunk_sentence_ids(data, hit.chunk)]
            ids = list(dict.fromkeys([*ids, *data.article_sentence_ids(question.doc_id)]))
            labels = np.array([answer_contains_gold([data.sentences[i].text], question.answers) for i in ids])
            if labels.any() and not labels.all():
                out.append(
                    Question(
                        collections.xquad.articles[question.doc_id].title,
                        np.asarray(vector, np.float32),
                        np.asarray(data.sentence_vectors[np.array(ids)], np.float32),
                        labels.astype(np.float32),
                    )
                )
    return out, sorted(fit)


def top1(questions: list[Question], weight: np.ndarray | None) -> float:
    hits = []
    for q in questions:
        v = q.vector if weight is None else weight @ q.vector
        scores = q.sentences @ (v / np.linalg.norm(v))
        hits.append(bool(q.labels[int(np.argmax(scores))]))
    return float(np.mean(hits)) if hits else 0.0


def train(
    questions: list[Question], held: list[Question], temperature: float, l2: float, stop_at: int | None = None
) -> tuple[np.ndarray, dict]:
    """I + A trained from A = 0; returns the held-out best weight and its history (or, with
    `stop_at`, the weight after that many steps)."""
    import torch

    torch.manual_seed(SEED)
    dim = questions[0].vector.shape[0]
    width = max(len(q.labels) for q in questions)
    # Padded full batch: (questions, width, dim) sentences, with a mask for the padding.
    s = torch.zeros((len(questions), width, dim))
    mask = torch.zeros((len(questions), width), dtype=torch.bool)
    y = torch.zeros((len(questions), width))
    for i, q in enumerate(questions):
        s[i, : len(q.labels)] = torch.from_numpy(q.sentences)
        mask[i, : len(q.labels)] = True
        y[i, : len(q.labels)] = torch.from_numpy(q.labels)
    qv = torch.from_numpy(np.stack([q.vector for q in questions]))
    a = torch.zeros((dim, dim), requires_grad=True)
    optimiser = torch.optim.Adam([a], lr=LEARNING_RATE)
    eye = torch.eye(dim)
    best = (top1(held, None), 0, np.eye(dim, dtype=np.float32))
    history = [(0, round(best[0], 4))]
    for step in range(1, MAX_STEPS + 1):
        adapted = torch.nn.functional.normalize(qv @ (eye + a).T, dim=1)
        logits = torch.einsum("qd,qnd->qn", adapted, s) / temperature
        logits = logits.masked_fill(~mask, -1e9)
        positive = logits.masked_fill(y < 0.5, -1e9)
        loss = (torch.logsumexp(logits, 1) - torch.logsumexp(positive, 1)).mean() + l2 * (a**2).sum()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if stop_at is not None:
            if step == stop_at:
                weight = (eye + a).detach().numpy().astype(np.float32)
                return weight, {"held_out_top1": round(top1(held, weight), 4), "step": step, "history": []}
            continue
        if step % 10 == 0:
            weight = (eye + a).detach().numpy().astype(np.float32)
            accuracy = top1(held, weight)
            history.append((step, round(accuracy, 4)))
            if accuracy > best[0]:
                best = (accuracy, step, weight)
    return best[2], {"held_out_top1": round(best[0], 4), "step": best[1], "history": history}


def fit_adapter(
    train_questions: list[Question],
    titles: list[str],
    name: str,
    fixed: tuple[float, float, int] | None = None,
) -> tuple[np.ndarray, dict]:
    """Grid over TEMPERATURES x L2 with every HELD_EVERY-th of `titles` held out; the best weight.

    `fixed` (temperature, l2, steps) trains that one setting instead: the fold adapters use the
    full adapter's choice, so that their cosines (the scorer's out-of-fold feature) are on the
    same scale as the committed adapter's.
    """
    held_titles = set(titles[HELD_EVERY - 1 :: HELD_EVERY])
    if fixed is not None:
        held_titles = set()  # nothing to choose: every title of the fold is trained on
    train_set = [q for q in train_questions if q.title not in held_titles]
    held = [q for q in train_questions if q.title in held_titles]
    results = {}
    best: tuple[float, np.ndarray | None, str] = (-1.0, None, "")
    grid = [(fixed[0], fixed[1])] if fixed is not None else [(t, l2) for t in TEMPERATURES for l2 in L2]
    for temperature, l2 in grid:
        weight, report = train(train_set, held, temperature, l2, fixed[2] if fixed is not None else None)
        key = f"temperature={temperature},l2={l2}"
        results[key] = report
        logger.info(
            "%s %s: held-out top-1 %.4f at step %d", name, key, report["held_out_top1"], report["step"]
        )
        if report["held_out_top1"] > best[0]:
            best = (report["held_out_top1"], weight, key)
    assert best[1] is not None
    if fixed is not None:
        best = (best[0], best[1], best[2] + f",steps={fixed[2]} (the full adapter's choice)")
    summary = {
        "train_titles": sorted({q.title for q in train_set}),
        "held_out_titles": sorted(held_titles),
        "train_questions": len(train_set),
        "held_out_questions": len(held),
        "held_out_top1_cosine": round(top1(held, None), 4) if held else None,
        "chosen_steps": results[best[2].split(",steps")[0]]["step"],
        "held_out_top1_adapted": round(best[0], 4),
        "chosen": best[2],
        "grid": {k: {"held_out_top1": v["held_out_top1"], "step": v["step"]} for k, v in results.items()},
    }
    logger.info("%s: %s", name, {k: v for k, v in summary.items() if k != "grid"})
    return best[1], summary


def save(path: Path, weight: np.ndarray, provenance: dict) -> None:
    np.savez_compressed(path, weight=weight.astype(np.float32), provenance=np.array(json.dumps(provenance)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--xquad", type=Path, required=True)
    parser.add_argument("--gnad", type=Path, default=None)
    parser.add_argument("--seeds", type=Path, default=Path("seeds"))
    parser.add_argument("--work-dir", type=Path, default=Path("bench-results/cache"))
    parser.add_argument("--out-dir", type=Path, default=Path("bench-results/query-adapter"))
    parser.add_argument("--commit-to", type=Path, default=None, help="copy the full adapter here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    started = time.perf_counter()
    questions, titles = build_questions(args)
    fold_of = {title: i % 2 for i, title in enumerate(titles)}  # as training/fit_answer_scorer.py
    args.out_dir.mkdir(parents=True, exist_ok=True)
    base = {
        "script": "training/train_query_adapter.py",
        "command": " ".join(["python", "training/train_query_adapter.py", *(argv or sys.argv[1:])]),
        "data": "XQuAD fit half (sorted titles, even positions), de+en questions; candidates = sentences of "
        "the passages retrieved from XQuAD+10kGNAD plus the question's paragraph",
    }
    # The full adapter chooses the setting on its held-out titles; the fold adapters reuse it.
    fixed = None
    for name, keep in (
        ("full", lambda t: True),
        ("fold0", lambda t: fold_of[t] == 1),
        ("fold1", lambda t: fold_of[t] == 0),
    ):
        subset = [q for q in questions if keep(q.title)]
        weight, summary = fit_adapter(subset, [t for t in titles if keep(t)], name, fixed)
        save(args.out_dir / f"query_adapter-{name}.npz", weight, {**base, "model": name, **summary})
        if fixed is None:
            temperature, l2 = (float(part.split("=")[1]) for part in summary["chosen"].split(","))
            fixed = (temperature, l2, max(1, summary["chosen_steps"]))
    if args.commit_to is not None:
        args.commit_to.write_bytes((args.out_dir / "query_adapter-full.npz").read_bytes())
    logger.info("done in %.0f s", time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
