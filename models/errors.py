"""Errors of the model layer, in a leaf module so that every model module can raise them without
importing another."""

from __future__ import annotations


class EmbeddingModelError(RuntimeError):
    """The configured embedding model cannot be loaded."""
