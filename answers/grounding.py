"""The grounding rules, enforced in code: quotes are verbatim, numbers come from quotes.

Every answerer's output passes through `enforce_grounding` before anyone sees it. A quote that is
not exactly `article.text[start:end]` is a bug and raises; a figure, or a line of model prose,
carrying a number that no cited quote contains is removed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

from answers.quantities import unsupported_quantities
from answers.types import Answer, Citation
from retrieval.numbers import join_digit_groups
from retrieval.types import Article

logger = logging.getLogger(__name__)

CITATION_MARKER = re.compile(r"\[(\d{1,3})\]")
_NUMBER = re.compile(r"\d+(?:,\d+)?")  # matched after digit groups are joined


class GroundingError(AssertionError):
    """A quote that is not verbatim in its article: a bug, never shown to a user."""


def numbers_in(text: str) -> set[str]:
    """Normalised digit numbers in `text`, citation markers ([3]) excluded."""
    return {m.group(0) for m in _NUMBER.finditer(join_digit_groups(CITATION_MARKER.sub(" ", text)))}


def check_citation(citation: Citation, articles: Mapping[str, Article]) -> None:
    article = articles.get(citation.doc_id)
    if article is None:
        raise GroundingError(f"citation [{citation.n}] names unknown article {citation.doc_id!r}")
    if article.text[citation.start : citation.end] != citation.quote:
        raise GroundingError(f"citation [{citation.n}] is not verbatim in {citation.doc_id} at {citation.start}:{citation.end}")


def unsupported_numbers(line: str, quotes: list[str]) -> set[str]:
    """Numbers in `line`, in digits or in words ("sixty", "zwölftausend"), that none of `quotes` states."""
    return {q.text for q in unsupported_quantities(CITATION_MARKER.sub(" ", line), quotes)}


def enforce_grounding(answer: Answer, articles: Mapping[str, Article]) -> Answer:
    """Raise on a non-verbatim quote; drop figures and prose lines whose numbers no cited quote carries.

    A figure is checked against the quotes it cites; a line of model prose against the quotes its
    [n] markers name (all quotes when it names none). Each dropped item counts in `dropped_sentences`.
    """
    for citation in answer.citations:
        check_citation(citation, articles)
    by_number = {c.n: c.quote for c in answer.citations}
    figures = []
    for figure in answer.figures:
        cited = [by_number[n] for n in figure.citations if n in by_number]
        said = " ".join(part for part in (figure.value, figure.what, figure.attributed_to) if part)
        missing = unsupported_numbers(said, cited)
        if missing:
            logger.warning("dropped a figure with numbers not in its quotes: %s", sorted(missing))
            answer.dropped_sentences += 1
            continue
        figures.append(figure)
    answer.figures = figures
    if answer.text is not None:
        kept = []
        for line in answer.text.split("\n"):
            cited = [by_number[int(n)] for n in CITATION_MARKER.findall(line) if int(n) in by_number]
            missing = unsupported_numbers(line, cited if cited else list(by_number.values()))
            if missing:
                logger.warning("dropped an answer line with numbers not in its quotes: %s", sorted(missing))
                answer.dropped_sentences += 1
                continue
            kept.append(line)
        answer.text = "\n".join(kept)
    return answer
