"""Builds the configured sentence scorer once, where an answerer is made."""

from __future__ import annotations

from typing import Literal

from answers.answer_scorer import ScorerParameters
from answers.scoring import SentenceScorer
from answers.scoring.fitted import FittedScorer
from answers.scoring.legacy import LegacyScorer
from config.settings import Settings
from models.embedders import Embedder

ScorerName = Literal["legacy", "fitted", "reader"]


def make_scorer(
    name: ScorerName, settings: Settings, embedder: Embedder, parameters: ScorerParameters | None = None
) -> SentenceScorer:
    """`legacy`, `fitted` (with `parameters`, else the committed ones) or `reader` (over `fitted`)."""
    if name == "legacy":
        return LegacyScorer(settings)
    fitted = FittedScorer(embedder.embed_queries, parameters)
    if name == "fitted":
        return fitted
    if name == "reader":
        from answers.scoring.reader import ReaderScorer
        from models.e5_convert import ensure_default_model
        from models.reader import load_reader

        cache = settings.model_cache_dir
        return ReaderScorer(fitted, load_reader(ensure_default_model(cache), cache))
    raise ValueError(f"unknown answer scorer {name!r}; use legacy, fitted or reader")
