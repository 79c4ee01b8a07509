"""Errors of the answer layer, in a leaf module."""

from __future__ import annotations


class QuestionError(ValueError):
    """A question that cannot be answered as asked (empty, too long, control characters)."""
