"""Fit the claim-support rule of `answers/claim_support.py` on XQuAD, with a held-out half of the titles.

A model reply sentence is supported when its cited quote carries what it asserts: its content words
(the predicate included: "Die Ukraine hat kapituliert" over a quote that names the Ukraine but says
nothing of a surrender is not), not merely a name it shares. The pairs, from XQuAD's parallel German
and English paragraphs (the German sentences are the quotes, as the indexed news is German):

supported
  - restatement: the longest clause of a German sentence (what a model copying its quote writes),
    against that sentence;
  - translation: the English sentence of the same paragraph and position (paragraphs whose German and
    English texts split into as many sentences), against the German sentence: a cross-language
    paraphrase;
  - question: an XQuAD question (German or English) with its answer appended, against the sentence
    holding the answer: a human paraphrase of part of it;
not supported
  - same story: each of those claims against the paragraph's other sentences (same names, another
    claim: the hard case);
  - swapped word: the claim with one content word its quote carries replaced by a content word of a
    sentence of another title (same language), against its own quote: all names still there, one
    asserted word not ("kapituliert").

Features per pair (`answers.claim_support.features`): e5 cosine (both embedded as passages, as the
LLM answerer compares reply sentences with quotes), content-word coverage, content words missing
and whether claim and quote share a language. A
logistic regression is fitted on the fit half of the titles (`bench.squad_heldout.xquad_title_halves`);
the cut of each language pair maximises F0.75 of "supported" on the fit half (precision weighs more:
a dropped true sentence leaves its quote and the extractive answer; a kept false one is shown as
checked prose). Everything is measured on the held-out half; the report is written to `--out`
(committed: training/claim_support_fit.json) and the constants to put into `SUPPORT_MODEL` printed.

    flock /tmp/newsbot-heavy.lock .venv/bin/python training/fit_claim_support.py --xquad ../shared/bench/xquad --beta 0.75
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from answers.claim_support import SupportModel, content_words, coverage, features
from bench.squad_heldout import xquad_title_halves
from config.settings import load_settings
from models.embedders import load_embedder
from retrieval.sentences import split_sentences

SEED = 28
MIN_CLAUSE_WORDS = 3  # a restatement shorter than this asserts too little to test support on
_CLAUSE_BREAK = re.compile(r"[,;:()–]\s*|\s-\s")


@dataclass(frozen=True)
class Pair:
    """One (claim, quote) pair with its label and where it came from."""

    claim: str
    quote: str
    supported: bool
    same_language: bool
    title: str
    kind: str  # restatement, translation, question; their negatives: same-story, swapped-word


@dataclass(frozen=True)
class Paragraph:
    title: str
    de: list[str]  # sentences
    en: list[str]  # sentences; aligned with `de` when both have as many
    questions: list[tuple[str, str, str, str]]  # (language, question, its answer, the German answer)


def sentences_of(text: str) -> list[str]:
    text = " ".join(text.split())
    return [text[s:e].strip() for s, e in split_sentences(text)]


def read_paragraphs(xquad: Path) -> list[Paragraph]:
    """XQuAD's paragraphs, German and English side by side, with their questions in both languages
    (each with the German answer, which locates the sentence holding it)."""
    de = json.loads((xquad / "xquad.de.json").read_text(encoding="utf-8"))["data"]
    en = json.loads((xquad / "xquad.en.json").read_text(encoding="utf-8"))["data"]
    paragraphs = []
    for entry_de, entry_en in zip(de, en, strict=True):
        for p_de, p_en in zip(entry_de["paragraphs"], entry_en["paragraphs"], strict=True):
            english = {str(qa["id"]): qa for qa in p_en["qas"]}
            questions = []
            for qa in p_de["qas"]:
                if not qa.get("answers") or str(qa["id"]) not in english:
                    continue
                answer_de = str(qa["answers"][0]["text"])
                other = english[str(qa["id"])]
                questions.append(("de", str(qa["question"]), answer_de, answer_de))
                if other.get("answers"):
                    questions.append(("en", str(other["question"]), str(other["answers"][0]["text"]), answer_de))
            paragraphs.append(
                Paragraph(str(entry_de["title"]), sentences_of(p_de["context"]), sentences_of(p_en["context"]), questions)
            )
    return paragraphs


def longest_clause(sentence: str) -> str | None:
    clauses = [c.strip() for c in _CLAUSE_BREAK.split(sentence) if c.strip()]
    best = max(clauses, key=lambda c: len(content_words(c)), default="")
    return best if len(content_words(best)) >= MIN_CLAUSE_WORDS else None


def supported_claims(p: Paragraph) -> list[tuple[str, int, bool, str]]:
    """(claim, index of the supporting German sentence, same language, kind) for one paragraph."""
    claims = []
    for i, sentence in enumerate(p.de):
        clause = longest_clause(sentence)
        if clause is not None and clause != sentence:
            claims.append((clause, i, True, "restatement"))
    if len(p.de) == len(p.en):
        claims += [(en, i, False, "translation") for i, en in enumerate(p.en) if len(content_words(en)) >= MIN_CLAUSE_WORDS]
    for language, question, answer, answer_de in p.questions:
        holding = [i for i, s in enumerate(p.de) if answer_de in s]
        if len(holding) == 1:
            claims.append((f"{question.rstrip('?').rstrip()} {answer}.", holding[0], language == "de", "question"))
    return claims


def swapped(claim: str, quote: str, donors: Sequence[str], rng: random.Random) -> str | None:
    """`claim` with one content word the quote carries (any content word, when it carries none) replaced
    by a content word of a donor sentence that the quote does not carry."""
    words = list(dict.fromkeys(content_words(claim)))
    carried = [w for w in words if coverage(w, quote)[0] == 1.0] or words
    fresh = [w for d in donors for w in content_words(d) if len(w) >= 4 and coverage(w, quote)[0] == 0.0 and w not in words]
    if not carried or not fresh:
        return None
    old, new = rng.choice(carried), rng.choice(fresh)
    match = re.search(rf"\b{re.escape(old)}\b", claim, re.IGNORECASE)
    if match is None:
        return None
    written = new.capitalize() if match.group(0)[0].isupper() else new
    return claim[: match.start()] + written + claim[match.end() :]


def build_pairs(paragraphs: Sequence[Paragraph], rng: random.Random) -> list[Pair]:
    pairs = []
    for p in paragraphs:
        others = [q for q in paragraphs if q.title != p.title]
        for claim, i, same, kind in supported_claims(p):
            quote = p.de[i]
            pairs.append(Pair(claim, quote, True, same, p.title, kind))
            pairs += [Pair(claim, other, False, same, p.title, "same-story") for j, other in enumerate(p.de) if j != i]
            donor = rng.choice(others)
            changed = swapped(claim, quote, donor.de if same else donor.en, rng)
            if changed is not None:
                pairs.append(Pair(changed, quote, False, same, p.title, "swapped-word"))
    return pairs


def precision_recall(p: np.ndarray, y: np.ndarray, cut: np.ndarray) -> dict[str, float]:
    kept = p >= cut
    tp = float((kept & (y == 1)).sum())
    return {
        "precision": round(tp / max(kept.sum(), 1), 3),
        "recall": round(tp / max((y == 1).sum(), 1), 3),
        "pairs": len(y),
    }


def best_cut(p: np.ndarray, y: np.ndarray, beta: float = 0.5) -> float:
    """The probability cut maximising F-beta of "supported"."""
    best, best_f = 0.5, -1.0
    for cut in np.unique(np.round(p, 4)):
        kept = p >= cut
        tp = float((kept & (y == 1)).sum())
        if tp == 0:
            continue
        precision, recall = tp / kept.sum(), tp / (y == 1).sum()
        f = (1 + beta**2) * precision * recall / (beta**2 * precision + recall)
        if f > best_f:
            best, best_f = float(cut), f
    return best


def passage_vectors(texts: list[str], cache: Path | None) -> dict[str, np.ndarray]:
    """e5 passage vectors of `texts`, read from `cache` when it holds exactly these texts."""
    if cache is not None and cache.exists():
        stored = np.load(cache, allow_pickle=False)
        if list(stored["texts"]) == texts:
            return dict(zip(texts, stored["vectors"]))
    embedder = load_embedder(load_settings(env_file=None))
    vectors = embedder.embed_passages(texts)
    if cache is not None:
        np.savez(cache, texts=np.array(texts), vectors=vectors)
    return dict(zip(texts, vectors))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--xquad", type=Path, default=Path("../shared/bench/xquad"))
    parser.add_argument("--out", type=Path, default=Path("training/claim_support_fit.json"))
    parser.add_argument("--beta", type=float, default=0.75, help="the cut maximises F-beta of 'supported' on the fit half")
    parser.add_argument("--cache", type=Path, help="an .npz of the pairs' vectors, written on the first run, read after")
    args = parser.parse_args()
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    fit_titles, _ = xquad_title_halves(args.xquad)
    pairs = build_pairs(read_paragraphs(args.xquad), random.Random(SEED))
    vectors = passage_vectors(sorted({t for pair in pairs for t in (pair.claim, pair.quote)}), args.cache)
    x = np.array(
        [
            SupportModel.row(*features(r.claim, r.quote, float(vectors[r.claim] @ vectors[r.quote]), r.same_language))
            for r in pairs
        ]
    )
    y = np.array([int(r.supported) for r in pairs])
    same = np.array([r.same_language for r in pairs])
    fit = np.array([r.title in fit_titles for r in pairs])
    kinds = np.array([r.kind for r in pairs])

    model = LogisticRegression(C=1.0, max_iter=2000).fit(x[fit], y[fit])
    p = model.predict_proba(x)[:, 1]
    cuts = {s: round(best_cut(p[fit & (same == s)], y[fit & (same == s)], args.beta), 4) for s in (True, False)}
    fitted = SupportModel.from_coefficients(float(model.intercept_[0]), model.coef_[0], cuts[True], cuts[False])
    cut = np.where(same, cuts[True], cuts[False])

    report: dict[str, object] = {
        "made_by": f"training/fit_claim_support.py --beta {args.beta:g}", "seed": SEED, "model": asdict(fitted)
    }
    for half, mask in (("fit", fit), ("held_out", ~fit)):
        part: dict[str, object] = {"auc": round(float(roc_auc_score(y[mask], p[mask])), 3)}
        for label, lang in (("all", np.ones_like(same)), ("same_language", same), ("cross_language", ~same)):
            m = mask & lang
            part[label] = precision_recall(p[m], y[m], cut[m])
        # How each kind of pair fares: the share of supported ones kept, of unsupported ones dropped.
        part["by_kind"] = {
            f"{kind}/{'same' if s else 'cross'}": round(
                float(((p >= cut) == (y == 1))[mask & (kinds == kind) & (same == s)].mean()), 3
            )
            for kind in sorted(set(kinds))
            for s in (True, False)
            if (mask & (kinds == kind) & (same == s)).any()
        }
        report[half] = part
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2, ensure_ascii=False))
    print("SUPPORT_MODEL =", fitted)


if __name__ == "__main__":
    main()
