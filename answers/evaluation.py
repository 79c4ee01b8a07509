"""Scoring answers against a question set with expected facts (the `newsbot eval` format).

Each line of the JSONL file: `question`, optional `expect_all` / `expect_any` (regexes that must
appear in the answer or its quotes), `sources_any` (article ids of which one must be cited),
`min_sources` (distinct articles cited), `unanswerable` (the answer must abstain).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from answers.grounding import GroundingError, check_citation
from answers.types import Answer
from retrieval.types import Article


class EvalFileError(ValueError):
    """The question file is missing or not in the expected format."""


@dataclass
class QuestionResult:
    id: str
    question: str
    passed: bool
    facts_found: bool
    sources_right: bool
    abstention_right: bool
    quotes_verbatim: bool
    abstained: bool
    citations: int
    missing_facts: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class EvalReport:
    results: list[QuestionResult]

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results)

    @property
    def all_verbatim(self) -> bool:
        return all(r.quotes_verbatim for r in self.results)

    def to_json(self) -> dict[str, Any]:
        n = len(self.results) or 1
        return {
            "total": len(self.results),
            "passed": self.passed,
            "facts_found": sum(r.facts_found for r in self.results) / n,
            "sources_right": sum(r.sources_right for r in self.results) / n,
            "abstention_right": sum(r.abstention_right for r in self.results) / n,
            "quotes_verbatim": sum(r.quotes_verbatim for r in self.results) / n,
            "questions": [asdict(r) for r in self.results],
        }


def load_questions(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise EvalFileError(f"cannot read question file {path}: {e}") from e
    questions = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as e:
            raise EvalFileError(f"{path}:{number}: not valid JSON ({e.msg})") from e
        if not isinstance(item, dict) or not isinstance(item.get("question"), str):
            raise EvalFileError(f"{path}:{number}: each line needs a \"question\" string")
        item.setdefault("id", f"q{number}")
        questions.append(item)
    if not questions:
        raise EvalFileError(f"{path} holds no questions")
    return questions


def score_answer(item: Mapping[str, Any], answer: Answer, articles: Mapping[str, Article]) -> QuestionResult:
    """Judge one answer against one question's expectations."""
    text = "\n".join([answer.answer] + [c.quote for c in answer.citations])
    missing = [p for p in item.get("expect_all", []) if not re.search(p, text)]
    any_patterns = item.get("expect_any", [])
    if any_patterns and not any(re.search(p, text) for p in any_patterns):
        missing.append(" | ".join(any_patterns))
    unanswerable = bool(item.get("unanswerable"))
    cited = {c.doc_id for c in answer.citations}
    sources_right = True
    if not unanswerable:
        if item.get("sources_any"):
            sources_right = bool(cited & set(item["sources_any"]))
        if item.get("min_sources"):
            sources_right = sources_right and len(cited) >= int(item["min_sources"])
    verbatim = True
    for citation in answer.citations:
        try:
            check_citation(citation, articles)
        except GroundingError:
            verbatim = False
    abstention_right = answer.abstained == unanswerable
    facts_found = unanswerable or not missing
    return QuestionResult(
        id=str(item["id"]),
        question=item["question"],
        passed=abstention_right and facts_found and sources_right and verbatim,
        facts_found=facts_found,
        sources_right=sources_right,
        abstention_right=abstention_right,
        quotes_verbatim=verbatim,
        abstained=answer.abstained,
        citations=len(answer.citations),
        missing_facts=[] if unanswerable else missing,
    )


def evaluate(
    questions: list[dict[str, Any]], ask: Callable[[str], Answer], articles: Mapping[str, Article]
) -> EvalReport:
    return EvalReport([score_answer(item, ask(item["question"]), articles) for item in questions])
