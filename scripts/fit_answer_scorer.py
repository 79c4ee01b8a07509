#!/usr/bin/env python
"""Fit the answer scorer (answers/answer_scorer.json) on the fit half of XQuAD; see answers/answer_scorer.py.

For every fit-half question (German and English; XQuAD alone and with the 10kGNAD articles) the
question is searched as `answers.answer.answer` would search it, twice: with its paragraph in the
collection (present) and with its whole Wikipedia article masked (left out). Then:
1. the sentence model (logistic regression) learns P(sentence holds the gold answer) from every
   candidate sentence of the present searches;
2. the answerability model (logistic regression) learns present (1) vs left out (0) from the
   best candidates' evidence;
3. the decline threshold is the P(answerable) that maximises the smaller of the two target margins
   on the fit half, min(answered_present - 0.95, declined_left_out - 0.90).
Only the fit half is read; the test half stays for `newsbot bench --suite answers`.

    flock /tmp/newsbot-heavy.lock python scripts/fit_answer_scorer.py \\
        --xquad ../shared/bench/xquad --gnad ../shared/corpora/10kgnad --seeds seeds \\
        --work-dir bench-results/cache --out answers/answer_scorer.json
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from answers.answer_scorer import (
    ANSWERABILITY_FEATURES,
    SENTENCE_FEATURES,
    Candidates,
    FeatureExtractor,
    LogisticModel,
    answerability_row,
)
from answers.extractive import is_quantity_question
from bench.answer_collections import build_collections
from bench.answers import docs_by_title, questions_of, roc_auc, split_titles
from bench.squad_retrieval import answer_contains_gold
from config.settings import load_settings
from models.embedders import load_embedder
from retrieval.language import detect_language

logger = logging.getLogger("fit_answer_scorer")
C = 1.0  # scikit-learn's default L2 strength; features are standardised first


def fit_logistic(x: np.ndarray, y: np.ndarray, names: tuple[str, ...]) -> dict:
    from sklearn.linear_model import LogisticRegression

    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    model = LogisticRegression(C=C, max_iter=2000)
    model.fit((x - mean) / scale, y)
    return {
        "features": list(names),
        "mean": mean.tolist(),
        "scale": scale.tolist(),
        "coef": model.coef_[0].tolist(),
        "intercept": float(model.intercept_[0]),
    }


def choose_threshold(
    present: np.ndarray, absent: np.ndarray, answer_target: float, decline_target: float
) -> float:
    """The cut maximising min(answered - answer_target, declined - decline_target) on the fit half."""
    cuts = np.unique(np.concatenate([present, absent]))
    best, best_margin = 0.5, -np.inf
    for cut in cuts:
        margin = min(
            float((present >= cut).mean()) - answer_target, float((absent < cut).mean()) - decline_target
        )
        if margin > best_margin:
            best, best_margin = float(cut), margin
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--xquad", type=Path, required=True)
    parser.add_argument(
        "--gnad", type=Path, default=None, help="10kGNAD folder (distractors); omit to fit without"
    )
    parser.add_argument("--seeds", type=Path, default=Path("seeds"))
    parser.add_argument("--work-dir", type=Path, default=Path("bench-results/cache"))
    parser.add_argument("--out", type=Path, default=Path("answers/answer_scorer.json"))
    parser.add_argument("--max-questions", type=int, default=None, help="per language (quick runs)")
    parser.add_argument("--max-paragraphs", type=int, default=None, help="XQuAD paragraphs (quick runs)")
    parser.add_argument("--max-distractors", type=int, default=None, help="10kGNAD articles (quick runs)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    started = time.perf_counter()

    settings = load_settings()
    embedder = load_embedder(settings)
    collections = build_collections(
        settings,
        args.work_dir.resolve(),
        embedder,
        args.xquad,
        args.seeds,
        args.gnad,
        args.max_paragraphs,
        args.max_distractors,
        progress=logger.info,
    )
    fit, _ = split_titles(collections.xquad)
    by_title = docs_by_title(collections.xquad)
    extractor = FeatureExtractor(collections.embedder.embed_queries)
    sentence_x, sentence_y = [], []
    groups: list[tuple[Candidates, np.ndarray, int]] = []  # (features, labels, present) per search
    names = [n for n in ("xquad", "xquad+gnad") if n in collections.retrievers]
    for name in names:
        retriever = collections.retrievers[name]
        top_k = collections.settings[name].retrieval.top_k
        for language in collections.xquad.questions:
            questions = questions_of(collections.xquad, fit, language)[: args.max_questions]
            logger.info("%s %s: %d fit questions", name, language, len(questions))
            vectors = collections.cache.get("query", [q.question for q in questions])
            for question, vector in zip(questions, vectors):
                k = top_k * (2 if is_quantity_question(question.question) else 1)
                lang = detect_language(question.question)
                masked = by_title[collections.xquad.articles[question.doc_id].title]
                for present, exclude in ((1, frozenset()), (0, masked)):
                    result = retriever.search(question.question, k=k, language=lang, query_vector=vector,
                                              exclude_docs=exclude)  # fmt: skip
                    candidates = extractor.candidates(question.question, result, retriever.data)
                    labels = np.array(
                        [answer_contains_gold([retriever.data.sentences[int(s)].text], question.answers)
                         for s in candidates.sentence_ids], dtype=np.int64,
                    )  # fmt: skip
                    groups.append((candidates, labels, present))
                    if present and len(labels):
                        sentence_x.append(candidates.features)
                        sentence_y.append(labels)
        collections.cache.save()

    x = np.concatenate(sentence_x)
    y = np.concatenate(sentence_y)
    sentence_model = fit_logistic(x, y, SENTENCE_FEATURES)
    sentence = LogisticModel.from_json(sentence_model)
    rows, targets, top_right = [], [], []
    for candidates, labels, present in groups:
        logits = sentence.logits(candidates.features) if len(labels) else np.zeros(0)
        rows.append(answerability_row(candidates, logits))
        targets.append(present)
        if present:
            top_right.append(bool(len(labels)) and bool(labels[int(np.argmax(logits))]))
    ax, ay = np.stack(rows), np.array(targets)
    answerability_model = fit_logistic(ax, ay, ANSWERABILITY_FEATURES)
    scores = 1.0 / (1.0 + np.exp(-LogisticModel.from_json(answerability_model).logits(ax)))
    threshold = choose_threshold(scores[ay == 1], scores[ay == 0], 0.95, 0.90)
    fit_auc = roc_auc(scores[ay == 1].tolist(), scores[ay == 0].tolist())
    seconds = time.perf_counter() - started
    out = {
        "sentence_model": sentence_model,
        "answerability_model": answerability_model,
        "threshold": threshold,
        "provenance": {
            "script": "scripts/fit_answer_scorer.py",
            "command": " ".join(["python", "scripts/fit_answer_scorer.py", *(argv or sys.argv[1:])]),
            "data": "XQuAD fit half (titles sorted by name, even positions), de+en questions, "
            + " and ".join(names)
            + "; present and whole-article-left-out searches",
            "embedding_model": embedder.model_id,
            "sentence_rows": len(y),
            "sentence_positives": int(y.sum()),
            "searches": len(ay),
            "fit_half_top_sentence_holds_answer": round(float(np.mean(top_right)), 4),
            "fit_half_answerability_auc": round(float(fit_auc or 0.0), 4),
            "fit_half_answered_present": round(float((scores[ay == 1] >= threshold).mean()), 4),
            "fit_half_declined_left_out": round(float((scores[ay == 0] < threshold).mean()), 4),
            "threshold_rule": "maximise min(answered_present - 0.95, declined_left_out - 0.90) on the fit half",
            "regularisation": f"L2, C={C} (scikit-learn default) on standardised features",
            "seconds": round(seconds, 1),
        },
    }
    args.out.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    logger.info("wrote %s in %.0f s: %s", args.out, seconds, json.dumps(out["provenance"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
