"""XQuAD (SQuAD v1.1 format) as newsbot articles and aligned German/English questions.

Each paragraph becomes one article, so "retrieved the right article" means "found the paragraph
that answers the question". The files are read in place and never copied into the project.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from retrieval.types import Article


class BenchDataError(ValueError):
    """A benchmark input file is missing or not in the expected format."""


@dataclass(frozen=True)
class XQuADQuestion:
    """One question in one language; `doc_id` is the paragraph (article) that answers it."""

    qid: str
    language: str
    question: str
    answers: tuple[str, ...]  # gold answers in the corpus language: quotes come from its paragraphs
    doc_id: str


@dataclass(frozen=True)
class XQuAD:
    """The paragraphs of one language as articles, and the questions in each language asked of them."""

    articles: dict[str, Article]
    questions: dict[str, list[XQuADQuestion]]  # language -> questions, in the same qid order


def _read_squad(path: Path) -> list[dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return list(data["data"])
    except FileNotFoundError as e:
        raise BenchDataError(
            f"{path} not found; pass --xquad PATH to the folder with xquad.de.json and xquad.en.json"
        ) from e
    except (ValueError, KeyError, TypeError) as e:
        raise BenchDataError(f"{path} is not a SQuAD v1.1 file ({e})") from e


def load_xquad(
    folder: Path,
    corpus_language: str = "de",
    question_languages: tuple[str, ...] = ("de", "en"),
    max_paragraphs: int | None = None,
) -> XQuAD:
    """Paragraphs of `xquad.<corpus_language>.json` as articles; questions aligned by id across languages.

    `max_paragraphs` keeps the first N paragraphs (and their questions), for quick runs and tests.
    """
    corpus = _read_squad(folder / f"xquad.{corpus_language}.json")
    articles: dict[str, Article] = {}
    doc_of_qid: dict[str, str] = {}
    answers_of_qid: dict[str, tuple[str, ...]] = {}
    for ai, entry in enumerate(corpus):
        for pi, paragraph in enumerate(entry["paragraphs"]):
            if max_paragraphs is not None and len(articles) >= max_paragraphs:
                break
            doc_id = f"xquad-{ai:02d}-{pi:02d}"
            text = " ".join(str(paragraph["context"]).split())
            articles[doc_id] = Article(
                doc_id=doc_id,
                title=str(entry.get("title", doc_id)).replace("_", " "),
                text=text,
                content_hash=hashlib.sha256(text.encode()).hexdigest(),
                source_path=f"{folder / f'xquad.{corpus_language}.json'}#{doc_id}",
                language=corpus_language,
            )
            for qa in paragraph["qas"]:
                doc_of_qid[str(qa["id"])] = doc_id
                answers_of_qid[str(qa["id"])] = tuple(str(a["text"]) for a in qa.get("answers", []))

    questions: dict[str, list[XQuADQuestion]] = {}
    for language in question_languages:
        found: dict[str, XQuADQuestion] = {}
        for entry in _read_squad(folder / f"xquad.{language}.json"):
            for paragraph in entry["paragraphs"]:
                for qa in paragraph["qas"]:
                    qid = str(qa["id"])
                    if qid in doc_of_qid:
                        found[qid] = XQuADQuestion(
                            qid=qid,
                            language=language,
                            question=" ".join(str(qa["question"]).split()),
                            answers=answers_of_qid[qid],
                            doc_id=doc_of_qid[qid],
                        )
        questions[language] = [found[qid] for qid in doc_of_qid if qid in found]
    return XQuAD(articles, questions)
