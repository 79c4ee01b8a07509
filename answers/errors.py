"""Errors of the answer layer, in a leaf module."""

from __future__ import annotations


class QuestionError(ValueError):
    """A question that cannot be answered as asked (empty, too long, control characters)."""


class ScorerFileError(RuntimeError):
    """A fitted model's parameter file (answers/answer_scorer.json) is missing, truncated or not ours;
    the message names the file and what to do."""
