"""Fit the follow-up detector of answers/followup.py (WEIGHTS, BIAS) and print held-out scores.

Stand-alone examples: the XQuAD questions (German and English) as written. Follow-ups: elliptical
questions constructed from the same questions the ways people shorten a second question in a
chat: a leading "und"/"and"/"what about" with one phrase of the question ("und Kursk?"), or the
question with its content words dropped but one, sometimes a pronoun in their place ("How many
are in Kursk?", "Wer hat das gemeldet?"). Articles are split 80/20 so no article's questions are
in both parts. Usage:

    python training/fit_followup.py ../shared/bench/xquad
"""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from answers.followup import FEATURES, _function_words, features

LEADS = {
    "de": ["Und", "und", "Und was ist mit", "Was ist mit", "Und wie steht es mit", "Auch"],
    "en": ["And", "and", "What about", "How about", "And what about", "Also"],
}
PRONOUNS = {
    "de": ["das", "dies", "sie", "er", "es", "dort", "dabei"],
    "en": ["that", "this", "they", "it", "he", "there", "them"],
}
WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def load(folder: Path) -> list[tuple[str, str, str]]:
    """(article title, language, question) for every XQuAD question."""
    rows = []
    for lang in ("de", "en"):
        data = json.loads((folder / f"xquad.{lang}.json").read_text(encoding="utf-8"))["data"]
        for index, article in enumerate(data):
            for paragraph in article["paragraphs"]:
                for qa in paragraph["qas"]:
                    rows.append((f"article-{index}", lang, qa["question"].strip()))
    return rows


def elliptical(question: str, lang: str, rng: random.Random) -> str:
    """One constructed follow-up of `question` (see module docstring)."""
    tokens = WORD.findall(question)
    function_words = _function_words()
    content = [i for i, t in enumerate(tokens) if t.isalnum() and t.lower() not in function_words]
    if not content:
        return f"{rng.choice(LEADS[lang])} {rng.choice(PRONOUNS[lang])}?"
    if rng.random() < 0.5:
        start = rng.choice(content)
        span = [tokens[start]]
        if start + 1 < len(tokens) and start + 1 in content and rng.random() < 0.5:
            span.append(tokens[start + 1])
        return f"{rng.choice(LEADS[lang])} {' '.join(span)}?"
    keep = set(rng.sample(content, k=min(len(content), rng.choice([0, 1, 1]))))
    out: list[str] = []
    replaced = False
    for i, token in enumerate(tokens):
        if i in content and i not in keep:
            if not replaced and rng.random() < 0.6:
                out.append(rng.choice(PRONOUNS[lang]))
            replaced = True
            continue
        out.append(token)
    text = " ".join(out).replace(" ?", "?").replace(" ,", ",")
    cues = features(text)
    if not (cues[FEATURES.index("anaphors")] or cues[FEATURES.index("elided_noun")]):
        # Without a pronoun or an elided noun the shortened question is no follow-up by any cue
        # a reader has; mark it as one the way people do, with a leading "und"/"and".
        return f"{LEADS[lang][rng.randrange(2)]} {text[0].lower()}{text[1:]}"
    if rng.random() < 0.3:
        text = f"{rng.choice(LEADS[lang][:2])} {text[0].lower()}{text[1:]}"
    return text


def main(folder: Path) -> None:
    rng = random.Random(16)
    rows = load(folder)
    articles = sorted({a for a, _, _ in rows})
    rng.shuffle(articles)
    held_out = set(articles[: len(articles) // 5])
    parts: dict[str, tuple[list[list[float]], list[int]]] = {"train": ([], []), "test": ([], [])}
    for article, lang, question in rows:
        x, y = parts["test" if article in held_out else "train"]
        x.append(features(question))
        y.append(0)
        x.append(features(elliptical(question, lang, rng)))
        y.append(1)
    model = LogisticRegression(C=1.0, max_iter=1000)
    model.fit(np.array(parts["train"][0]), np.array(parts["train"][1]))
    x_test, y_test = np.array(parts["test"][0]), np.array(parts["test"][1])
    predicted = model.predict(x_test)
    print(
        f"train {len(parts['train'][1])} / held-out {len(y_test)} examples ({len(held_out)} of {len(articles)} articles)"
    )
    print(f"held-out accuracy {accuracy_score(y_test, predicted):.3f}  F1 {f1_score(y_test, predicted):.3f}")
    print("FEATURES =", FEATURES)
    print("WEIGHTS = (" + ", ".join(f"{w:.3f}" for w in model.coef_[0]) + ")")
    print(f"BIAS = {model.intercept_[0]:.3f}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/bench/xquad"))
