"""SQuAD 2.0's held-out titles as a collection: English questions on English paragraphs, answerable
and unanswerable (written by crowd workers who saw the paragraph, to look answerable).

Held-out titles are the SQuAD titles in XQuAD's test half (XQuAD's paragraphs are SQuAD 1.1 dev's):
neither the fitted scorer (XQuAD fit half) nor the reader (`training.reader_data`) ever trained on
them. Each paragraph is one article, indexed through the real indexer; a fixed sample of questions
(seeded, half answerable, half not) is asked through `answers.answer.answer`.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

from bench.squad_data import BenchDataError
from retrieval.types import Article


@dataclass(frozen=True)
class SquadQuestion:
    qid: str
    question: str
    answers: tuple[str, ...]  # empty: unanswerable
    doc_id: str


@dataclass(frozen=True)
class SquadHeldout:
    articles: dict[str, Article]
    questions: list[SquadQuestion]


def xquad_title_halves(xquad_dir: Path) -> tuple[frozenset[str], frozenset[str]]:
    """(fit, test) halves of XQuAD's raw titles (sorted by name; even positions fit, odd test), the split
    of `bench.answer_collections.split_titles` read from the file, for data keyed by SQuAD's titles."""
    data = json.loads((xquad_dir / "xquad.de.json").read_text(encoding="utf-8"))["data"]
    titles = sorted({str(e["title"]) for e in data})
    return frozenset(titles[0::2]), frozenset(titles[1::2])


def load_squad_heldout(squad_dir: Path, xquad_dir: Path, per_kind: int = 300, seed: int = 7) -> SquadHeldout:
    """The held-out titles' paragraphs and `per_kind` answerable plus `per_kind` unanswerable questions."""
    _, titles = xquad_title_halves(xquad_dir)
    return load_squad_titles(squad_dir, titles, per_kind, seed)


def load_squad_titles(squad_dir: Path, titles: frozenset[str], per_kind: int | None = None, seed: int = 7) -> SquadHeldout:
    """SQuAD 2.0's paragraphs of `titles`, one article each, and a seeded sample of `per_kind`
    answerable plus `per_kind` unanswerable questions on them (all of them when `per_kind` is None)."""
    path = squad_dir / "dev-v2.0.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))["data"]
    except (OSError, ValueError, KeyError) as e:
        raise BenchDataError(f"{path} is not a readable SQuAD 2.0 file ({e}); pass --squad PATH") from e
    articles: dict[str, Article] = {}
    answerable: list[SquadQuestion] = []
    unanswerable: list[SquadQuestion] = []
    for ai, entry in enumerate(data):
        if entry["title"] not in titles:
            continue
        for pi, paragraph in enumerate(entry["paragraphs"]):
            doc_id = f"squad-{ai:02d}-{pi:03d}"
            text = " ".join(str(paragraph["context"]).split())
            articles[doc_id] = Article(
                doc_id=doc_id, title=str(entry["title"]).replace("_", " "), text=text,
                content_hash=hashlib.sha256(text.encode()).hexdigest(), source_path=f"{path}#{doc_id}", language="en",
            )  # fmt: skip
            for qa in paragraph["qas"]:
                answers = tuple(" ".join(str(a["text"]).split()) for a in qa.get("answers", []))
                question = SquadQuestion(str(qa["id"]), " ".join(str(qa["question"]).split()), answers, doc_id)
                (unanswerable if qa.get("is_impossible") else answerable).append(question)
    if per_kind is None:
        return SquadHeldout(articles, answerable + unanswerable)
    rng = random.Random(seed)
    sample = rng.sample(answerable, min(per_kind, len(answerable))) + rng.sample(unanswerable, min(per_kind, len(unanswerable)))
    return SquadHeldout(articles, sample)
