"""Fit how the reader scorer combines the reader with the fitted sentence model, and its cut.

    python -m training.fit_reader_blend --squad ../shared/datasets/squad --xquad ../shared/bench/xquad \
        --work-dir bench-results/cache [--out answers/scoring/reader_blend.json]

Why a blend: the reader (a cross-encoder) reads question and sentence together; the fitted sentence
model sees the collection (word statistics, the margin over other passages). Each misses what the
other sees (session 8: the reader alone chose the answer sentence worse than the fitted model it
re-ranks), so a sentence's score is sigmoid(a · reader logit + b · fitted logit + c).

Data: the calibration titles of `training.reader_data.calibration_titles`, SQuAD 2.0 titles that
neither model trained on (the reader trains on the other fit-half titles, the fitted scorer on XQuAD
alone). Their paragraphs are indexed through the real indexer, one article each, and every
question is searched as `answers.answer.answer` searches it; the reader scorer's window of
candidates (`ReaderScorer.read`) gives one row per candidate: its two logits, and whether it holds a
gold answer (every candidate of an unanswerable question is a 0).

Fitted: (a, b, c) by logistic regression (scikit-learn, its default L2 strength) on every candidate;
the cut on the best candidate's blended probability maximises the smaller of the two target margins
of issue 25 on SQuAD 2.0, min(answered rate - 0.90, declined rate - 0.80) (`bench.answers.SQUAD_TARGETS`;
the rule `training/fit_answer_scorer.py` uses for its own targets), with the fitted scorer's own
decline applied first as at question time. Both are written with the rates they reach on the
calibration titles, 2-fold cross-validated rates by title, and the rates of the reader alone and of
the fitted sentence model alone under the same rule.

The rows (both logits per candidate) are kept in `--work-dir`, named by the reader's and the fitted
scorer's weights, so a refit of the blend alone does not read the questions again.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import pickle
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from answers.answer_scorer import PARAMETERS, sigmoid
from answers.extractive import is_quantity_question
from answers.scoring.fitted import FittedScorer
from answers.scoring.reader import BLEND_PATH, ReaderBlend, ReaderScorer, logit_of
from bench.answers import SQUAD_TARGETS
from bench.squad_heldout import load_squad_titles
from bench.squad_retrieval import answer_contains_gold, bench_settings, build_corpus_index
from config.settings import load_settings
from models.e5_convert import ensure_default_model
from models.embedders import load_embedder
from models.reader import READER_DIR, load_reader
from retrieval.language import detect_language
from retrieval.stores.embedded.search import EmbeddedRetriever
from retrieval.stores.embedded.store import load_index
from training.reader_data import calibration_titles

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class QuestionRows:
    """One calibration question's candidates: reader and fitted logits, gold labels, the fitted decline."""

    title: str
    answerable: bool
    reader: np.ndarray
    fitted: np.ndarray
    gold: np.ndarray
    fitted_answers: bool


def rows_path(work_dir: Path, weights_dir: Path = READER_DIR) -> Path:
    """Where the collected rows are kept: named by the weights that produced them."""
    digest = hashlib.sha256()
    for path in (weights_dir / "reader.safetensors", weights_dir / "reader.json", PARAMETERS):
        digest.update(path.read_bytes())
    return work_dir / f"reader-blend-rows-{digest.hexdigest()[:16]}.pkl"


def collect(squad_dir: Path, xquad_dir: Path, work_dir: Path, weights_dir: Path = READER_DIR) -> list[QuestionRows]:
    cached = rows_path(work_dir, weights_dir)
    if cached.is_file():
        logger.info("reusing the rows in %s", cached)
        return pickle.loads(cached.read_bytes())
    rows = read_calibration(squad_dir, xquad_dir, work_dir, weights_dir)
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(pickle.dumps(rows))
    return rows


def read_calibration(
    squad_dir: Path, xquad_dir: Path, work_dir: Path, weights_dir: Path = READER_DIR
) -> list[QuestionRows]:
    """Every calibration question searched and read by the reader scorer: one `QuestionRows` each."""
    settings = load_settings()
    embedder = load_embedder(settings)
    calibration = load_squad_titles(squad_dir, calibration_titles(squad_dir, xquad_dir))
    copy = bench_settings(settings, work_dir / f"reader-blend-calibration-{len(calibration.articles)}")
    logger.info("indexing %d calibration paragraphs", len(calibration.articles))
    build_corpus_index(calibration.articles, copy, embedder)
    retriever = EmbeddedRetriever(load_index(copy.index_dir), embedder, copy)
    cache = settings.model_cache_dir
    scorer = ReaderScorer(FittedScorer(embedder.embed_queries), load_reader(ensure_default_model(cache), cache, weights_dir))
    rows: list[QuestionRows] = []
    for n, q in enumerate(calibration.questions):
        k = settings.retrieval.top_k * (2 if is_quantity_question(q.question) else 1)
        result = retriever.search(q.question, k=k, language=detect_language(q.question))
        reading = scorer.read(q.question, result, retriever.data)
        texts = [retriever.data.sentences[s.sentence_id].text for s in reading.window]
        rows.append(
            QuestionRows(
                title=re.sub(r"-\d+$", "", q.doc_id),  # squad-AA-PPP -> squad-AA: one title per article index
                answerable=bool(q.answers),
                reader=np.asarray(reading.reader_logits, dtype=np.float64),
                fitted=logit_of(np.array([s.score for s in reading.window])),
                gold=np.array([bool(q.answers) and answer_contains_gold([t], q.answers) for t in texts]),
                fitted_answers=reading.base.answers,
            )
        )
        if (n + 1) % 100 == 0:
            logger.info("%d / %d questions read", n + 1, len(calibration.questions))
    return rows


def fit_weights(rows: Sequence[QuestionRows]) -> tuple[float, float, float]:
    from sklearn.linear_model import LogisticRegression

    x = np.concatenate([np.stack([r.reader, r.fitted], axis=1) for r in rows if len(r.reader)])
    y = np.concatenate([r.gold for r in rows if len(r.reader)]).astype(int)
    model = LogisticRegression(C=1.0, max_iter=1000).fit(x, y)
    return float(model.coef_[0, 0]), float(model.coef_[0, 1]), float(model.intercept_[0])


def _blend(weights: tuple[float, float, float]) -> ReaderBlend:
    return ReaderBlend(*weights, threshold=0.5, provenance={})


def best_probability(rows: Sequence[QuestionRows], weights: tuple[float, float, float]) -> np.ndarray:
    blend = _blend(weights)
    return np.array([float(sigmoid(blend.logits(r.reader, r.fitted)).max()) if len(r.reader) else 0.0 for r in rows])


def rates(rows: Sequence[QuestionRows], weights: tuple[float, float, float], cut: float) -> dict[str, float]:
    """Answered / declined / best-candidate-holds-answer over `rows` at `cut` (with the fitted decline)."""
    blend = _blend(weights)
    best = best_probability(rows, weights)
    answered = np.array([r.fitted_answers for r in rows]) & (best >= cut)
    answerable = np.array([r.answerable for r in rows])
    top = np.array([r.answerable and len(r.reader) > 0 and bool(r.gold[int(np.argmax(blend.logits(r.reader, r.fitted)))]) for r in rows])
    return {
        "answerable": int(answerable.sum()),
        "unanswerable": int((~answerable).sum()),
        "answered_answerable": round(float(answered[answerable].mean()), 4),
        "declined_unanswerable": round(float((~answered[~answerable]).mean()), 4),
        "best_sentence_holds_answer": round(float(top[answerable].mean()), 4),
        "answer_at_1": round(float((top & answered)[answerable].mean()), 4),
    }


def fit_cut(rows: Sequence[QuestionRows], weights: tuple[float, float, float]) -> float:
    """The cut maximising min(answered - target, declined - target) (module docstring)."""
    best = best_probability(rows, weights)
    fitted_answers = np.array([r.fitted_answers for r in rows])
    answerable = np.array([r.answerable for r in rows])
    answered_target, declined_target = SQUAD_TARGETS["answered_answerable"], SQUAD_TARGETS["declined_unanswerable"]
    scored = []
    for cut in np.unique(best):
        answered = fitted_answers & (best >= cut)
        margin = min(answered[answerable].mean() - answered_target, (~answered[~answerable]).mean() - declined_target)
        scored.append((margin, -cut, float(cut)))
    return max(scored)[2]


def fit(rows: list[QuestionRows]) -> dict:
    weights = fit_weights(rows)
    cut = fit_cut(rows, weights)
    titles = sorted({r.title for r in rows})
    folds = []
    for fold in (0, 1):
        held = {t for i, t in enumerate(titles) if i % 2 == fold}
        train = [r for r in rows if r.title not in held]
        test = [r for r in rows if r.title in held]
        w = fit_weights(train)
        folds.append(rates(test, w, fit_cut(train, w)))
    reader_only, fitted_only = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0)
    return {
        "reader": weights[0],
        "fitted": weights[1],
        "bias": weights[2],
        "threshold": cut,
        "provenance": {
            "script": "python -m training.fit_reader_blend",
            "data": "SQuAD 2.0 dev, the reader's calibration titles (training.reader_data.calibration_titles), "
            "never trained on by the reader or the fitted scorer",
            "weights": "logistic regression (scikit-learn, C=1.0) on every candidate of the reader scorer's window",
            "threshold": "max of min(answered - 0.90, declined - 0.80) on the calibration titles, fitted decline first",
            "questions": len(rows),
            "calibration": rates(rows, weights, cut),
            "cross_validated_by_title": folds,
            "reader_alone": rates(rows, reader_only, fit_cut(rows, reader_only)),
            "fitted_sentence_model_alone": rates(rows, fitted_only, fit_cut(rows, fitted_only)),
        },
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--squad", type=Path, default=Path("../shared/datasets/squad"))
    parser.add_argument("--xquad", type=Path, default=Path("../shared/bench/xquad"))
    parser.add_argument("--work-dir", type=Path, default=Path("bench-results/cache"), help="index of the calibration paragraphs")
    parser.add_argument("--out", type=Path, default=BLEND_PATH)
    parser.add_argument("--weights", type=Path, default=READER_DIR, help="the reader to blend (default: the shipped one)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    blend = fit(collect(args.squad, args.xquad, args.work_dir, args.weights))
    ReaderBlend(blend["reader"], blend["fitted"], blend["bias"], blend["threshold"], blend["provenance"])  # validates the shape
    args.out.write_text(json.dumps(blend, indent=1) + "\n", encoding="utf-8")
    logger.info("blend: %s", json.dumps({k: v for k, v in blend.items() if k != "provenance"}))
    logger.info("calibration: %s; cross-validated: %s", blend["provenance"]["calibration"], blend["provenance"]["cross_validated_by_title"])


if __name__ == "__main__":
    main()
