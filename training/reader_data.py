"""Training and held-out questions for the answer reader, from SQuAD 2.0 / 1.1 dev and XQuAD.

Splits (fixed; nothing here is chosen by looking at results):
- XQuAD's 48 titles sorted by name: even positions are the fit half, odd the test half
  (`bench.answer_collections.split_titles`, as every fit in newsbot). XQuAD's paragraphs are taken
  from SQuAD 1.1 dev, so a SQuAD title in XQuAD's test half is never trained on either.
- SQuAD titles in XQuAD's test half are the reader's **held-out titles** (18 of SQuAD 2.0's 35,
  6,570 questions, 3,298 unanswerable). The benchmark measures the reader there.
- SQuAD titles in XQuAD's fit half are trained on, except every sixth SQuAD 2.0 title of them (by
  name), the **calibration titles**, kept out of training to fit the answerable cut on.
- XQuAD's fit half (German paragraphs, German and English questions) is trained on.

Each question becomes one sentence list: its paragraph's sentences (split as newsbot splits
articles, `retrieval.sentences.split_sentences`) plus a few sentences of other paragraphs of the
same article that share the most words with the question (the near misses retrieval brings).
A sentence is a positive when it holds part of a gold answer; a SQuAD 2.0 unanswerable question
("written to look answerable") has no positive.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from bench.squad_heldout import xquad_title_halves
from models.reader import ReaderInput
from retrieval.lexical import tokenize
from retrieval.sentences import split_sentences

OTHER_PARAGRAPH_NEGATIVES = 2
"""Sentences from the same article's other paragraphs per question: retrieval's near misses."""
MAX_PARAGRAPH_SENTENCES = 10
"""A paragraph's sentences beyond this (the gold kept) are dropped: bounds a question's cost."""
CALIBRATION_EVERY = 6


@dataclass(frozen=True)
class Paragraph:
    title: str
    text: str
    spans: tuple[tuple[int, int], ...]

    def sentence(self, i: int) -> str:
        return self.text[slice(*self.spans[i])]


@dataclass(frozen=True)
class ReaderQuestion:
    """One question with its candidate sentences; `gold` indexes the ones that answer it.

    `answer_spans[k]` holds the gold answers' character spans inside candidate k's sentence (empty
    for every candidate that does not answer): the reader's token-level target.
    """

    qid: str
    source: str  # squad2, squad1, xquad-de, xquad-en
    question: str
    items: tuple[ReaderInput, ...]
    gold: frozenset[int]
    answer_spans: tuple[tuple[tuple[int, int], ...], ...] = ()

    @property
    def answerable(self) -> bool:
        return bool(self.gold)


@dataclass(frozen=True)
class ReaderSplits:
    train: list[ReaderQuestion]
    calibration: list[ReaderQuestion]
    heldout_squad: list[ReaderQuestion]
    heldout_xquad: list[ReaderQuestion]


def _load(path: Path) -> list[dict]:
    return list(json.loads(path.read_text(encoding="utf-8"))["data"])


def _paragraph(title: str, context: str) -> Paragraph:
    return Paragraph(title.replace("_", " "), context, tuple(split_sentences(context)))


def _gold_spans(paragraph: Paragraph, answers: list[dict]) -> dict[int, tuple[tuple[int, int], ...]]:
    """Sentence index -> the gold answers' character spans inside that sentence (clipped to it)."""
    gold: dict[int, set[tuple[int, int]]] = {}
    for answer in answers:
        start = int(answer.get("answer_start", -1))
        text = str(answer["text"])
        if start < 0 or paragraph.text[start : start + len(text)] != text:
            start = paragraph.text.find(text)
        if start < 0:
            continue
        end = start + len(text)
        for i, (s, e) in enumerate(paragraph.spans):
            if s < end and start < e:
                gold.setdefault(i, set()).add((max(start, s) - s, min(end, e) - s))
    return {i: tuple(sorted(spans)) for i, spans in gold.items()}


def _question(
    qid: str, source: str, question: str, paragraph: Paragraph, spans: dict[int, tuple[tuple[int, int], ...]],
    others: list[Paragraph], rng: random.Random,
) -> ReaderQuestion:  # fmt: skip
    gold = frozenset(spans)
    indices = list(range(len(paragraph.spans)))
    if len(indices) > MAX_PARAGRAPH_SENTENCES:
        rest = [i for i in indices if i not in gold]
        indices = sorted(set(gold) | set(rng.sample(rest, MAX_PARAGRAPH_SENTENCES - len(gold))))

    def item(p: Paragraph, i: int) -> ReaderInput:
        return ReaderInput(
            question=question,
            sentence=p.sentence(i),
            previous=p.sentence(i - 1) if i > 0 else "",
            following=p.sentence(i + 1) if i + 1 < len(p.spans) else "",
            title=p.title,
        )

    items = [item(paragraph, i) for i in indices]
    new_gold = frozenset(k for k, i in enumerate(indices) if i in gold)
    words = set(tokenize([question])[0])
    near: list[tuple[int, int, Paragraph, int]] = []
    for n, other in enumerate(others):
        for i in range(len(other.spans)):
            overlap = len(words & set(tokenize([other.sentence(i)])[0]))
            near.append((-overlap, n, other, i))
    near.sort(key=lambda t: (t[0], t[1], t[3]))
    items.extend(item(p, i) for _, _, p, i in near[:OTHER_PARAGRAPH_NEGATIVES])
    answer_spans = tuple(spans.get(i, ()) for i in indices) + ((),) * (len(items) - len(indices))
    return ReaderQuestion(qid, source, question, tuple(items), new_gold, answer_spans)


def _squad_questions(
    data: list[dict], source: str, titles: frozenset[str], skip_ids: set[str], rng: random.Random
) -> Iterator[ReaderQuestion]:
    for entry in data:
        if entry["title"] not in titles:
            continue
        paragraphs = [_paragraph(entry["title"], p["context"]) for p in entry["paragraphs"]]
        for pi, raw in enumerate(entry["paragraphs"]):
            paragraph = paragraphs[pi]
            others = [p for j, p in enumerate(paragraphs) if j != pi]
            others = rng.sample(others, min(4, len(others)))  # bounds the overlap search per question
            for qa in raw["qas"]:
                qid = str(qa["id"])
                if qid in skip_ids:
                    continue
                skip_ids.add(qid)
                gold = {} if qa.get("is_impossible") else _gold_spans(paragraph, qa["answers"])
                if not qa.get("is_impossible") and not gold:
                    continue  # the answer text is not in the paragraph as split: no label to learn
                yield _question(qid, source, " ".join(qa["question"].split()), paragraph, gold, others, rng)


def _xquad_questions(xquad_dir: Path, titles: frozenset[str], rng: random.Random) -> Iterator[ReaderQuestion]:
    """German paragraphs; questions in German and in English (aligned by id), gold from the German answers."""
    german = _load(xquad_dir / "xquad.de.json")
    english = {
        str(qa["id"]): str(qa["question"])
        for e in _load(xquad_dir / "xquad.en.json") for p in e["paragraphs"] for qa in p["qas"]
    }  # fmt: skip
    for entry in german:
        if entry["title"] not in titles:
            continue
        paragraphs = [_paragraph(entry["title"], " ".join(p["context"].split())) for p in entry["paragraphs"]]
        for pi, raw in enumerate(entry["paragraphs"]):
            paragraph = paragraphs[pi]
            others = [p for j, p in enumerate(paragraphs) if j != pi]
            for qa in raw["qas"]:
                answers = [{"text": " ".join(a["text"].split())} for a in qa["answers"]]
                gold = _gold_spans(paragraph, answers)
                if not gold:
                    continue
                qid = str(qa["id"])
                for language, text in (("de", qa["question"]), ("en", english.get(qid))):
                    if text:
                        yield _question(f"{qid}-{language}", f"xquad-{language}", " ".join(text.split()), paragraph, gold, others, rng)


def calibration_titles(squad_dir: Path, xquad_dir: Path) -> frozenset[str]:
    """Every sixth SQuAD 2.0 title (by name) of those in XQuAD's fit half: never trained on by the
    reader, nor by the fitted scorer (which fits on XQuAD alone); the reader's cut and its blend
    with the fitted scorer (`training.fit_reader_blend`) are fitted here."""
    fit, _ = xquad_title_halves(xquad_dir)
    v2_fit = sorted(str(e["title"]) for e in _load(squad_dir / "dev-v2.0.json") if e["title"] in fit)
    return frozenset(v2_fit[0::CALIBRATION_EVERY])


def load_splits(squad_dir: Path, xquad_dir: Path, seed: int = 13) -> ReaderSplits:
    """The reader's fixed splits (module docstring); `seed` only picks which near misses and sentences."""
    rng = random.Random(seed)
    fit, test = xquad_title_halves(xquad_dir)
    v2, v1 = _load(squad_dir / "dev-v2.0.json"), _load(squad_dir / "dev-v1.1.json")
    held_for_calibration = calibration_titles(squad_dir, xquad_dir)
    train_titles = fit - held_for_calibration
    seen: set[str] = set()
    train = list(_squad_questions(v2, "squad2", train_titles, seen, rng))
    train += list(_squad_questions(v1, "squad1", train_titles, seen, rng))
    train += list(_xquad_questions(xquad_dir, fit, rng))
    calibration = list(_squad_questions(v2, "squad2", held_for_calibration, set(), rng))
    heldout_squad = list(_squad_questions(v2, "squad2", test, set(), rng))
    heldout_xquad = list(_xquad_questions(xquad_dir, test, rng))
    return ReaderSplits(train, calibration, heldout_squad, heldout_xquad)


_TERM = re.compile(r"\d[\d.,]*\d|\d|[A-ZÄÖÜ][\w'’-]*(?:\s+[A-ZÄÖÜ][\w'’-]*)*")
"""A question's swappable terms: numbers and runs of capitalised words (names; in German also nouns)."""


def _terms(question: str) -> list[str]:
    """Numbers and capitalised runs after the question's first word (which is capitalised anyway)."""
    first = re.match(r"\s*\S+", question)
    start = first.end() if first else 0
    return [m.group(0) for m in _TERM.finditer(question, start) if len(m.group(0)) >= (1 if m.group(0)[0].isdigit() else 3)]


def _kind(term: str) -> str:
    return "number" if term[0].isdigit() else "name"


def swapped_negatives(train: Sequence[ReaderQuestion], share: float, seed: int = 17) -> list[ReaderQuestion]:
    """Unanswerable twins of answerable training questions: one of the question's names or numbers that
    its passage holds is replaced by a name or number of the same kind from another title's question
    that none of its candidates (sentences, neighbours, title) mentions, and every candidate becomes a
    negative.

    Why: the questions a story does not answer are mostly of this shape ("How many soldiers did North
    Korea send to Mali?" over articles on Russia; a third country, a moon landing), SQuAD 2.0 has only
    2,221 unanswerable training questions here, and its crowd workers wrote few of them by swapping an
    entity. `share` of the answerable questions (drawn with `seed`) get a twin; a question with no
    swappable term, or no replacement absent from its candidates, gets none. Never applied to held-out
    or calibration questions.
    """
    rng = random.Random(seed)
    language = {q.qid: ("de" if q.source == "xquad-de" else "en") for q in train}
    title = {q.qid: (q.items[0].title if q.items else "") for q in train}
    pool: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for q in train:
        for term in _terms(q.question):
            pool.setdefault((language[q.qid], _kind(term)), []).append((title[q.qid], term))
    out: list[ReaderQuestion] = []
    for q in train:
        if not q.answerable or rng.random() >= share:
            continue
        passage = " ".join(f"{i.title} {i.previous} {i.sentence} {i.following}" for i in q.items).lower()
        grounded = [t for t in _terms(q.question) if t.lower() in passage]
        if not grounded:
            continue
        term = rng.choice(grounded)
        options = pool.get((language[q.qid], _kind(term)), [])
        for _ in range(20):  # a few draws: most terms of other titles are absent from this passage
            other_title, other = rng.choice(options) if options else (title[q.qid], term)
            if other_title != title[q.qid] and other.lower() not in passage:
                break
        else:
            continue
        question = q.question.replace(term, other, 1)
        items = tuple(replace(i, question=question) for i in q.items)
        out.append(ReaderQuestion(f"{q.qid}-swap", f"{q.source}-swap", question, items, frozenset(), ((),) * len(items)))
    return out
