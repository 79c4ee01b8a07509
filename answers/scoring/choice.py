"""Builds the configured sentence scorer once, where an answerer is made."""

from __future__ import annotations

from typing import Literal

from answers.answer_scorer import ScorerParameters
from answers.scoring import SentenceScorer
from answers.scoring.fitted import FittedScorer
from answers.scoring.legacy import LegacyScorer
from config.settings import Settings
from models.embedders import Embedder
from models.reader import READER_DIR as READER_WEIGHTS

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
        from answers.scoring.reader import ReaderBlend, ReaderScorer
        from models.e5_convert import ensure_default_model
        from models.reader import load_reader

        cache = settings.model_cache_dir
        return ReaderScorer(fitted, load_reader(ensure_default_model(cache), cache), blend=ReaderBlend.read())
    raise ValueError(f"unknown answer scorer {name!r}; use legacy, fitted or reader")


def prepare_scorer(settings: Settings) -> None:
    """Do a scorer's one-time work ahead of the first question (the reader's ONNX export, ~15 s with
    torch), so that `newsbot index`, which has torch loaded anyway, pays it instead of a user's `ask`."""
    if settings.models.answer_scorer != "reader":
        return
    from models.e5_convert import ensure_default_model
    from models.reader import export_reader

    cache = settings.model_cache_dir
    export_reader(ensure_default_model(cache), READER_WEIGHTS, cache)
