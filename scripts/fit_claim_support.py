"""Fit the claim-support rule of `answers/claim_support.py` on XQuAD, with a held-out half.

Claims: XQuAD's German and English questions (human-written, paraphrasing a sentence of a German
paragraph). Supporting quote: the paragraph sentence that holds the question's answer. Unsupported
quotes: the paragraph's other sentences (same story, same names, another claim: the hard case).
Features per (claim, quote): e5 cosine (both embedded as passages, as the LLM answerer embeds reply
sentences and the index holds quote vectors), content-word coverage, and whether claim and quote
share a language. A logistic regression is fitted on the fit half of the titles
(`split_titles`); a cut per language pair keeps `--keep` of its supported pairs of the fit half. Everything is then
measured on the held-out half and printed, with the constants to put into `SUPPORT_MODEL`.

    .venv/bin/python scripts/fit_claim_support.py --xquad ../shared/bench/xquad
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from answers.claim_support import MAX_MISSING, SupportModel, coverage
from bench.answer_collections import split_titles
from bench.squad_data import load_xquad
from config.settings import load_settings
from models.embedders import load_embedder
from retrieval.sentences import split_sentences


def pairs_of(xquad):  # type: ignore[no-untyped-def]
    """(claim, quote, label, same language, title) for every question and sentence of its paragraph."""
    rows = []
    for language, questions in xquad.questions.items():
        for q in questions:
            article = xquad.articles[q.doc_id]
            text = article.text
            sentences = [text[s:e] for s, e in split_sentences(text)]
            holding = [i for i, s in enumerate(sentences) if q.answers and q.answers[0] in s]
            if len(holding) != 1 or len(sentences) < 2:
                continue  # the answer's sentence is not unambiguous: no label to trust
            for i, sentence in enumerate(sentences):
                rows.append((q.question, sentence, int(i == holding[0]), language == "de", article.title))
    return rows


def feature_matrix(rows, cosines):  # type: ignore[no-untyped-def]
    x = []
    for (claim, quote, _, same, _), cos in zip(rows, cosines):
        cover, missing = coverage(claim, quote)
        x.append([cos, cover, min(missing, MAX_MISSING), float(same), cover * float(same)])
    return np.array(x)


def report(name: str, p: np.ndarray, y: np.ndarray, same: np.ndarray, cuts: dict[bool, float]) -> dict[str, object]:
    from sklearn.metrics import roc_auc_score

    out: dict[str, object] = {"pairs": len(y), "auc": round(float(roc_auc_score(y, p)), 3)}
    cut = np.where(same, cuts[True], cuts[False])
    for label, mask in (("all", np.ones_like(same, bool)), ("same_language", same), ("cross_language", ~same)):
        kept = float((p[mask & (y == 1)] >= cut[mask & (y == 1)]).mean())
        refused = float((p[mask & (y == 0)] < cut[mask & (y == 0)]).mean())
        out[label] = {"supported_kept": round(kept, 3), "unsupported_dropped": round(refused, 3)}
    print(name, json.dumps(out))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--xquad", type=Path, default=Path("../shared/bench/xquad"))
    parser.add_argument("--keep", type=float, default=0.95, help="share of supported fit pairs the cut keeps")
    args = parser.parse_args()
    from sklearn.linear_model import LogisticRegression

    xquad = load_xquad(args.xquad, "de", ("de", "en"))
    fit_titles, _ = split_titles(xquad)
    rows = pairs_of(xquad)
    embedder = load_embedder(load_settings(env_file=None))
    claims = sorted({r[0] for r in rows})
    quotes = sorted({r[1] for r in rows})
    claim_vectors = dict(zip(claims, embedder.embed_passages(claims)))
    quote_vectors = dict(zip(quotes, embedder.embed_passages(quotes)))
    cosines = [float(claim_vectors[r[0]] @ quote_vectors[r[1]]) for r in rows]
    x = feature_matrix(rows, cosines)
    y = np.array([r[2] for r in rows])
    same = np.array([r[3] for r in rows], bool)
    fit = np.array([r[4] in fit_titles for r in rows])

    model = LogisticRegression(C=1.0, max_iter=1000).fit(x[fit], y[fit])
    p = model.predict_proba(x)[:, 1]
    # One cut per language pair, each keeping `keep` of its own supported fit pairs: a cross-language
    # paraphrase shares no words with its quote, so one cut would keep too few same-language ones.
    cuts = {s: round(float(np.quantile(p[fit & (y == 1) & (same == s)], 1.0 - args.keep)), 4) for s in (True, False)}
    coef = [round(float(c), 4) for c in model.coef_[0]]
    fitted = SupportModel(
        bias=round(float(model.intercept_[0]), 4),
        w_cosine=coef[0],
        w_coverage=coef[1],
        w_missing=coef[2],
        w_same_language=coef[3],
        w_coverage_same_language=coef[4],
        cut_same_language=cuts[True],
        cut_cross_language=cuts[False],
    )
    report("fit half", p[fit], y[fit], same[fit], cuts)
    report("held-out half", p[~fit], y[~fit], same[~fit], cuts)
    print("SUPPORT_MODEL =", fitted)


if __name__ == "__main__":
    main()
