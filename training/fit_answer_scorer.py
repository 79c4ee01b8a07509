#!/usr/bin/env python
"""Fit the answer scorer (answers/answer_scorer.json) on the fit half of XQuAD; see answers/answer_scorer.py.

For every fit-half question (German and English; XQuAD alone and with the 10kGNAD articles) the
question is searched as `answers.answer.answer` would search it, twice: with its paragraph in the
collection (present) and with its whole Wikipedia article masked (left out). The collections are
XQuAD alone (240 paragraphs), XQuAD + 10kGNAD (749) and twelve small ones of two fit titles each
(~10 paragraphs, `bench.answer_collections.small_collection_titles`): collection-level evidence (IDF,
unseen question words, BM25 scale, margins) shifts with size, and a newsroom may index one story
(fitting without them declined most English questions over five articles). Then:
1. the sentence model (logistic regression or gradient-boosted trees, scikit-learn's
   HistGradientBoostingClassifier, whichever of them and of TREE_GRID's sizes has the best 2-fold
   cross-validated top-sentence accuracy by title inside the fit half) learns
   P(sentence holds the gold answer) from every candidate sentence of the present searches;
2. the answerability model (gradient-boosted trees) learns present (1) vs left out (0), vs
   unanswerable variants (a name or number swapped for another title's, random letters), and vs
   on-story searches (only the question's paragraph masked, when the rest of its article is
   searchable and holds no gold answer: a story present that does not report what is asked), from
   the best candidates' evidence and the collection's size, on out-of-fold sentence logits;
3. the decline thresholds (one for questions in the top article's language, one for the others)
   are the P(answerable) that maximise the smaller of the two target margins on the fit half's
   out-of-fold scores, min(answered_present - 0.95, declined_left_out - 0.90), in the worst of the
   three kinds of collection (each has to meet the targets on its own; the targets' cases only:
   variants and on-story searches train the model but do not enter this rule).
With --query-adapter FULL FOLD0 FOLD1 (training/train_query_adapter.py: FULL is the committed
answers/query_adapter.npz, FOLDk learnt from the titles outside fold k), every search's candidates
get the adapted question's cosine (ADAPTER_FEATURES; out of fold by title, from FOLDk) and steps
1-3 are refitted with them; the scorer without them is kept as `baseline` (the answers
benchmark's `fitted-features` variant).
Only the fit half is read; the test half stays for `newsbot bench --suite answers`.

    flock /tmp/newsbot-heavy.lock python training/fit_answer_scorer.py \\
        --xquad ../shared/bench/xquad --gnad ../shared/corpora/10kgnad --seeds seeds \\
        --work-dir bench-results/cache --out answers/answer_scorer.json \\
        --query-adapter answers/query_adapter.npz bench-results/query-adapter/query_adapter-fold0.npz \\
        bench-results/query-adapter/query_adapter-fold1.npz
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from answers.answer_scorer import (
    ANSWERABILITY_FEATURES,
    SENTENCE_FEATURES,
    Candidates,
    FeatureExtractor,
    answerability_row,
    model_from_json,
    profile_question,
)
from answers.extractive import is_quantity_question
from bench.answer_collections import build_collections
from bench.answers import docs_by_title, questions_of, roc_auc, split_titles, story_without_answer
from bench.squad_retrieval import answer_contains_gold
from config.settings import load_settings
from models.embedders import load_embedder
from retrieval.language import detect_language

logger = logging.getLogger("fit_answer_scorer")
C = 1.0  # scikit-learn's default L2 strength; features are standardised first
# Tree-ensemble settings tried for the sentence model; the one with the best top-sentence accuracy
# in 2-fold cross-validation by title inside the fit half is refitted on the whole fit half.
TREE_GRID = (
    {"max_iter": 100, "max_depth": 2},
    {"max_iter": 100, "max_depth": 3},
    {"max_iter": 150, "max_depth": 4},
)
LEARNING_RATE = 0.1  # scikit-learn's default
ANSWERABILITY_TREES = {
    "max_iter": 100,
    "max_depth": 3,
}  # the smallest of TREE_GRID: ~5k searches to learn from


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


def fit_trees(x: np.ndarray, y: np.ndarray, names: tuple[str, ...], grid: dict) -> tuple[dict, Any]:
    """A HistGradientBoostingClassifier exported as plain arrays (answer_scorer.TreeEnsemble applies it)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(
        learning_rate=LEARNING_RATE, random_state=0, early_stopping=False, **grid
    )
    model.fit(x, y)
    trees = []
    for (predictor,) in model._predictors:  # one predictor per boosting round for a binary target
        nodes = predictor.nodes
        trees.append(
            {
                "feature": nodes["feature_idx"].astype(int).tolist(),
                "threshold": [float(t) if np.isfinite(t) else 1e30 for t in nodes["num_threshold"]],
                "left": nodes["left"].astype(int).tolist(),
                "right": nodes["right"].astype(int).tolist(),
                "value": [round(float(v), 7) for v in nodes["value"]],
                "leaf": nodes["is_leaf"].astype(int).tolist(),
            }
        )
    exported = {
        "kind": "trees",
        "features": list(names),
        "baseline": float(np.ravel(model._baseline_prediction)[0]),
        "depth": int(grid["max_depth"]),
        "trees": trees,
        "settings": {**grid, "learning_rate": LEARNING_RATE},
    }
    check = model_from_json(exported).logits(x[:2000])
    if not np.allclose(check, model.decision_function(x[:2000]), atol=1e-4):
        raise RuntimeError("exported trees disagree with scikit-learn's predictions")
    return exported, model


def top_sentence_accuracy(scores: np.ndarray, y: np.ndarray, group: np.ndarray) -> float:
    hits = []
    for g in np.unique(group):
        rows = np.flatnonzero(group == g)
        hits.append(bool(y[rows[int(np.argmax(scores[rows]))]]))
    return float(np.mean(hits)) if hits else 0.0


def fit_sentence_model(
    spec: dict | None, x: np.ndarray, y: np.ndarray, names: tuple[str, ...] = SENTENCE_FEATURES
) -> dict:
    """spec None: logistic regression; else a TREE_GRID entry."""
    if spec is None:
        return fit_logistic(x, y, names)
    return fit_trees(x, y, names, spec)[0]


def spec_name(spec: dict | None) -> str:
    return "logistic" if spec is None else f"trees max_iter={spec['max_iter']},max_depth={spec['max_depth']}"


def choose_sentence_model(
    x: np.ndarray,
    y: np.ndarray,
    group: np.ndarray,
    fold: np.ndarray,
    names: tuple[str, ...] = SENTENCE_FEATURES,
) -> tuple[dict | None, dict]:
    """Logistic regression or a TREE_GRID entry: the best mean top-sentence accuracy over the two title folds."""
    results = {}
    specs: list[dict | None] = [None, *TREE_GRID]
    for spec in specs:
        accuracy = []
        for held in (0, 1):
            train = fold != held
            model = model_from_json(fit_sentence_model(spec, x[train], y[train], names))
            accuracy.append(top_sentence_accuracy(model.logits(x[~train]), y[~train], group[~train]))
        results[spec_name(spec)] = round(float(np.mean(accuracy)), 4)
        logger.info(
            "sentence model %s: cross-validated top-sentence accuracy %.4f",
            spec_name(spec),
            np.mean(accuracy),
        )
    best = max(specs, key=lambda spec: results[spec_name(spec)])
    return best, results


def fit_with_adapter(
    groups: list, sources: list, folds: np.ndarray, fold: np.ndarray, x: np.ndarray, y: np.ndarray,
    group: np.ndarray, variant_rows: list[int], paths: list[Path], on_story_rows: list[int],
    collection_of: np.ndarray,
) -> dict:  # fmt: skip
    """The scorer refitted with the query adapter's columns (out of fold by title; see the docstring)."""
    from answers.answer_scorer import (
        ADAPTER_ANSWERABILITY_FEATURES,
        ADAPTER_FEATURES,
        load_query_adapter,
        with_adapter_columns,
    )

    weights = {held: load_query_adapter(paths[1 + held]) for held in (0, 1)}
    extended = [
        (with_adapter_columns(c, data, vector, weights[int(held)]), labels, present)
        for (c, labels, present), (_, data, vector), held in zip(groups, sources, folds)
    ]
    names = SENTENCE_FEATURES + ADAPTER_FEATURES
    x2 = np.concatenate([c.features for c, labels, present in extended if present and len(labels)])
    spec, grid = choose_sentence_model(x2, y, group, fold, names)
    out = fit_stage(extended, folds, fold, spec, grid, x2, y, names,
                    ANSWERABILITY_FEATURES + ADAPTER_ANSWERABILITY_FEATURES, variant_rows, on_story_rows,
                    collection_of)  # fmt: skip
    report = {
        "file": paths[0].name,
        "out_of_fold": "each title's adapted cosine comes from the fold adapter not trained on it: "
        + ", ".join(f"{p.name}" for p in paths[1:]),
        "fit_half_top_sentence_accuracy_cosine_alone": round(top_sentence_accuracy(x[:, 0], y, group), 4),
        "fit_half_top_sentence_accuracy_adapted_cosine_alone_out_of_fold": round(
            top_sentence_accuracy(x2[:, len(SENTENCE_FEATURES)], y, group), 4
        ),
    }
    logger.info("query adapter: %s", report)
    out["query_adapter"] = report
    return out


def fit_stage(
    groups: list, folds: np.ndarray, fold: np.ndarray, spec: dict | None, grid_results: dict, x: np.ndarray,
    y: np.ndarray, feature_names: tuple[str, ...], answerability_names: tuple[str, ...], variant_rows: list[int],
    on_story_rows: list[int], collection_of: np.ndarray,
) -> dict:  # fmt: skip
    """The sentence model (spec, fitted on all rows), the answerability model and the thresholds.

    collection_of names each search's kind of collection ("xquad", "xquad+gnad", "small"): the targets
    hold for each collection, so the thresholds serve the hardest one rather than the pooled rates.
    """
    sentence_model = fit_sentence_model(spec, x, y, feature_names)
    # Stacking: the answerability model learns from sentence logits the sentence model produced
    # without having seen that title (out of fold), as its logits on new questions will be.
    fold_models = {}
    for held in (0, 1):
        fold_models[held] = model_from_json(
            fit_sentence_model(spec, x[fold != held], y[fold != held], feature_names)
        )
    rows, targets, top_right = [], [], []
    for (candidates, labels, present), held in zip(groups, folds):
        logits = fold_models[int(held)].logits(candidates.features) if len(labels) else np.zeros(0)
        rows.append(answerability_row(candidates, logits))
        targets.append(present)
        if present:
            top_right.append(bool(len(labels)) and bool(labels[int(np.argmax(logits))]))
    ax, ay = np.stack(rows), np.array(targets)
    # Out-of-fold answerability scores (2 folds by title) for the model choice and the threshold.
    candidates_models = {
        "logistic": lambda xa, ya: fit_logistic(xa, ya, answerability_names),
        "trees": lambda xa, ya: fit_trees(xa, ya, answerability_names, ANSWERABILITY_TREES)[0],
    }
    oof: dict[str, np.ndarray] = {}
    for kind, fit_model in candidates_models.items():
        scores = np.zeros(len(ay))
        for held in (0, 1):
            model = model_from_json(fit_model(ax[folds != held], ay[folds != held]))
            scores[folds == held] = 1.0 / (1.0 + np.exp(-model.logits(ax[folds == held])))
        oof[kind] = scores
    # The targets' negatives: whole article left out (variants and on-story searches train the model
    # but are not what the targets count).
    left_out = (ay == 0) & ~np.isin(np.arange(len(ay)), variant_rows + on_story_rows)
    aucs = {
        kind: round(float(roc_auc(sc[ay == 1].tolist(), sc[left_out].tolist()) or 0.0), 4)
        for kind, sc in oof.items()
    }
    variant_aucs = {
        kind: round(float(roc_auc(sc[ay == 1].tolist(), sc[variant_rows].tolist()) or 0.0), 4)
        for kind, sc in oof.items()
    }
    # Trees, not the logistic model: their AUC is as good (both reported), and a tree extrapolates as
    # a constant beyond the fit data's range, which matters for questions unlike XQuAD's (gibberish,
    # one-name questions) where a linear model's extrapolation answered gibberish with certainty.
    kind = "trees"
    logger.info(
        "answerability out-of-fold ROC AUC: %s (against variants %s); using %s", aucs, variant_aucs, kind
    )
    answerability_model = candidates_models[kind](ax, ay)
    scores = oof[kind]
    other = ax[:, answerability_names.index("other_language")] > 0.5
    kinds = sorted(set(collection_of.tolist()))
    thresholds = {
        case: choose_threshold(
            [(scores[(ay == 1) & mask & (collection_of == k)], scores[left_out & mask & (collection_of == k)])
             for k in kinds],
            0.95, 0.90,
        )
        for case, mask in (("same_language", ~other), ("other_language", other))
    }  # fmt: skip
    threshold_of = np.where(other, thresholds["other_language"], thresholds["same_language"])
    by_collection = {}  # the fit half's rates at the chosen cut, per kind of collection and case
    for k in kinds:
        for case, m in (
            ("same_language", (collection_of == k) & ~other),
            ("other_language", (collection_of == k) & other),
        ):
            if m.any():
                answered, declined = target_rates(
                    scores[(ay == 1) & m], scores[left_out & m], thresholds[case]
                )
                by_collection[f"{k} {case}"] = {
                    "answered_present": round(answered, 4),
                    "declined_left_out": round(declined, 4),
                }
    logger.info(
        "%s: fit-half top sentence holds the answer (out of fold) %.4f", spec_name(spec), np.mean(top_right)
    )
    return {
        "sentence_model": sentence_model,
        "answerability_model": answerability_model,
        "thresholds": thresholds,
        "provenance": {
            "searches": len(ay),
            "fit_half_top_sentence_holds_answer_out_of_fold": round(float(np.mean(top_right)), 4),
            "fit_half_answerability_auc_out_of_fold": aucs,
            "fit_half_answerability_auc_against_variants_out_of_fold": variant_aucs,
            "unanswerable_variants": len(variant_rows),
            "on_story_searches": len(on_story_rows),
            "fit_half_declined_on_story": round(
                float((scores[on_story_rows] < threshold_of[on_story_rows]).mean()), 4
            )
            if on_story_rows
            else None,
            "fit_half_variants_declined": round(
                float((scores[variant_rows] < threshold_of[variant_rows]).mean()), 4
            ),
            "fit_half_answered_present": round(float((scores[ay == 1] >= threshold_of[ay == 1]).mean()), 4),
            "fit_half_declined_left_out": round(float((scores[left_out] < threshold_of[left_out]).mean()), 4),
            "fit_half_by_collection": by_collection,
            "threshold_rule": "per case (question in the top article's language or not): maximise the worst "
            "collection's min(answered_present - 0.95, declined_left_out - 0.90) over the fit half's out-of-fold "
            "answerability scores (2 folds by title; collections: " + ", ".join(kinds) + ")",
            "sentence_model": f"{spec_name(spec)}: the best of logistic regression and TREE_GRID by 2-fold "
            f"cross-validation by title inside the fit half (top-sentence accuracy {grid_results})",
            "sentence_features": list(feature_names),
            "answerability_model": f"trees {ANSWERABILITY_TREES} on out-of-fold sentence logits (logistic "
            f"regression, L2 C={C}, measured beside them: see the AUCs)",
        },
    }


GIBBERISH_PER_TITLE = 5


def unanswerable_variants(questions: list, xquad: Any) -> list[tuple[str, str]]:
    """(question text, title) pairs no collection here answers.

    Every second question gets its first salient term (a name, a number, else its rarest word)
    replaced by the first salient term of the question at the same position under the next title
    ("How many soldiers did North Korea send to Mali?"); each title also gets a few strings of
    random letters ("asdfgh qwertz"). Seeded, so every run builds the same variants.
    """
    import random

    flat = lambda stems: np.ones(len(stems))
    by_title: dict[str, list] = {}
    for question in questions:
        by_title.setdefault(xquad.articles[question.doc_id].title, []).append(question)
    titles = sorted(by_title)
    out: list[tuple[str, str]] = []
    for t, title in enumerate(titles):
        other = by_title[titles[(t + 1) % len(titles)]]
        for i, question in enumerate(by_title[title][::2]):
            mine = profile_question(question.question, flat).terms
            theirs = profile_question(other[i % len(other)].question, flat).terms
            if mine and theirs and mine[0] in question.question and mine[0] != theirs[0]:
                out.append((question.question.replace(mine[0], theirs[0], 1), title))
        rng = random.Random(title)
        for _ in range(GIBBERISH_PER_TITLE):
            words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(4, 8)))
                     for _ in range(rng.randint(1, 4))]  # fmt: skip
            out.append((" ".join(words) + rng.choice(["", "?"]), title))
    return out


def target_rates(present: np.ndarray, absent: np.ndarray, cut: float) -> tuple[float, float]:
    """(share of `present` answered, share of `absent` declined) at P(answerable) cut; NaN when empty."""
    answered = float((present >= cut).mean()) if len(present) else float("nan")
    declined = float((absent < cut).mean()) if len(absent) else float("nan")
    return answered, declined


def choose_threshold(
    cases: list[tuple[np.ndarray, np.ndarray]], answer_target: float, decline_target: float
) -> float:
    """The cut maximising the worst case's min(answered - answer_target, declined - decline_target).

    cases: (scores of questions with their article present, scores with it left out) per collection.
    Each collection has to meet the targets on its own (issue 12 states them with and without the
    10kGNAD articles), so a cut that pools them would let the easy small collections pay for the
    large one.
    """
    present_all = [present for present, _ in cases if len(present)]
    absent_all = [absent for _, absent in cases if len(absent)]
    cuts = np.unique(np.concatenate(present_all + absent_all))
    best, best_margin = 0.5, -np.inf
    for cut in cuts:
        rates = [
            target_rates(present, absent, cut) for present, absent in cases if len(present) and len(absent)
        ]
        margin = min(min(answered - answer_target, declined - decline_target) for answered, declined in rates)
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
    parser.add_argument(
        "--dump", type=Path, default=None, help="also save the feature rows (.npz) for analysis"
    )
    parser.add_argument("--dump-only", action="store_true", help="stop after --dump (feature experiments)")
    parser.add_argument("--query-adapter", type=Path, nargs=3, default=None, metavar=("FULL", "FOLD0", "FOLD1"),
                        help="training/train_query_adapter.py's adapters: the committed answers/query_adapter.npz, "
                        "then the two title-fold ones")  # fmt: skip
    parser.add_argument(
        "--no-variants", action="store_true", help="fit answerability without unanswerable variants"
    )
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
    sentence_group, sentence_fold = [], []  # per present search: its id, and its title's fold (0/1)
    fold_of = {title: i % 2 for i, title in enumerate(sorted(fit))}
    group_folds: list[int] = []
    group_source: list[tuple[str, Any, np.ndarray]] = []  # (question, index data, its vector) per search
    group_collection: list[str] = []  # per search: the kind of collection ("xquad", "xquad+gnad", "small")
    variant_rows: list[int] = []  # groups that are unanswerable variants (not left-out searches)
    on_story_rows: list[int] = []  # groups searched with only the question's paragraph masked (negatives)
    # Small collections (two fit titles each, ~10 paragraphs) beside the 240- and 749-article ones:
    # collection-level evidence shifts with size, and a newsroom may index a single story.
    small = {n: t for n, t in collections.small_titles.items() if n.startswith("small-fit-")}
    names = [n for n in ("xquad", "xquad+gnad") if n in collections.retrievers] + sorted(small)
    for name in names:
        retriever = collections.retrievers[name]
        top_k = collections.settings[name].retrieval.top_k
        here = frozenset(retriever.data.articles)
        kind = "small" if name in small else name  # the twelve small collections are one kind
        for language in collections.xquad.questions:
            questions = questions_of(collections.xquad, small.get(name, fit), language)[: args.max_questions]
            logger.info("%s %s: %d fit questions", name, language, len(questions))
            vectors = collections.cache.get("query", [q.question for q in questions])
            for question, vector in zip(questions, vectors):
                k = top_k * (2 if is_quantity_question(question.question) else 1)
                lang = detect_language(question.question)
                masked = by_title[collections.xquad.articles[question.doc_id].title]
                searches = [(1, frozenset(), False), (0, masked, False)]  # (present, masked docs, on story)
                # On story: only its paragraph masked, when the rest of its article is searchable and holds
                # no gold answer (the story does not report what is asked; bench/answers.py's on-story case).
                if story_without_answer(collections.xquad, question, masked & here):
                    searches.append((0, frozenset({question.doc_id}), True))
                for present, exclude, on_story in searches:
                    result = retriever.search(question.question, k=k, language=lang, query_vector=vector,
                                              exclude_docs=exclude)  # fmt: skip
                    candidates = extractor.candidates(question.question, result, retriever.data)
                    labels = np.array(
                        [answer_contains_gold([retriever.data.sentences[int(s)].text], question.answers)
                         for s in candidates.sentence_ids], dtype=np.int64,
                    )  # fmt: skip
                    groups.append((candidates, labels, present))
                    if on_story:
                        on_story_rows.append(len(groups) - 1)
                    group_source.append((question.question, retriever.data, vector))
                    group_folds.append(fold_of[collections.xquad.articles[question.doc_id].title])
                    group_collection.append(kind)
                    if present and len(labels):
                        sentence_x.append(candidates.features)
                        sentence_y.append(labels)
                        sentence_group.append(np.full(len(labels), len(groups)))
                        title = collections.xquad.articles[question.doc_id].title
                        sentence_fold.append(np.full(len(labels), fold_of[title]))
            # Unanswerable variants asked of the full collection: the question with its main name or
            # number swapped for another title's, and strings of random letters.
            variants = (
                []
                if args.no_variants or name in small
                else unanswerable_variants(questions, collections.xquad)
            )
            logger.info("%s %s: %d unanswerable variants", name, language, len(variants))
            variant_vectors = collections.cache.get("query", [text for text, _ in variants])
            for (text, title), vector in zip(variants, variant_vectors):
                k = top_k * (2 if is_quantity_question(text) else 1)
                result = retriever.search(text, k=k, language=detect_language(text), query_vector=vector)
                candidates = extractor.candidates(text, result, retriever.data)
                groups.append((candidates, np.zeros(len(candidates.sentence_ids), dtype=np.int64), 0))
                group_source.append((text, retriever.data, vector))
                group_folds.append(fold_of[title])
                group_collection.append(kind)
                variant_rows.append(len(groups) - 1)
        collections.cache.save()

    x = np.concatenate(sentence_x)
    y = np.concatenate(sentence_y)
    if args.dump:
        np.savez(
            args.dump,
            features=np.concatenate([c.features for c, labels, _ in groups if len(labels)]),
            labels=np.concatenate([labels for _, labels, _ in groups if len(labels)]),
            group=np.concatenate(
                [np.full(len(labels), i) for i, (_, labels, _) in enumerate(groups) if len(labels)]
            ),
            present=np.array([p for _, _, p in groups]),
            group_fold=np.array(group_folds),
            question_rows=np.array(
                [[c.question_features.get(k, 0.0) for k in sorted(c.question_features)] for c, _, _ in groups]
            ),
        )
    group, fold = np.concatenate(sentence_group), np.concatenate(sentence_fold)
    folds = np.array(group_folds)
    collection_of = np.array(group_collection)
    best_spec, grid_results = choose_sentence_model(x, y, group, fold)
    features_only = fit_stage(groups, folds, fold, best_spec, grid_results, x, y, SENTENCE_FEATURES,
                              ANSWERABILITY_FEATURES, variant_rows, on_story_rows, collection_of)  # fmt: skip
    out = features_only
    if args.query_adapter:
        out = fit_with_adapter(groups, group_source, folds, fold, x, y, group, variant_rows, args.query_adapter,
                               on_story_rows, collection_of)  # fmt: skip
        out["baseline"] = {
            k: features_only[k] for k in ("sentence_model", "answerability_model", "thresholds", "provenance")
        }
    seconds = time.perf_counter() - started
    out["provenance"] = {
        "script": "training/fit_answer_scorer.py",
        "command": " ".join(["python", "training/fit_answer_scorer.py", *(argv or sys.argv[1:])]),
        "data": "XQuAD fit half (titles sorted by name, even positions), de+en questions, "
        + " and ".join(names)
        + "; present and whole-article-left-out searches",
        "embedding_model": embedder.model_id,
        "sentence_rows": len(y),
        "sentence_positives": int(y.sum()),
        **out["provenance"],
        "seconds": round(seconds, 1),
    }
    args.out.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    logger.info("wrote %s in %.0f s: %s", args.out, seconds, json.dumps(out["provenance"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
