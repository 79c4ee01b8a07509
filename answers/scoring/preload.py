"""Loads the configured scorer's models in the background, ahead of the first question.

Why its own module: a one-shot `newsbot ask` calls it as soon as its settings are read, before it
imports the answer pipeline (~0.3 s) and loads the index (~0.2 s), so it imports nothing of either.
"""

from __future__ import annotations

from config.settings import Settings


def start_loading_scorer(settings: Settings) -> None:
    """Begin loading the reader (`models.reader.load_reader_in_background`) where it is the configured
    scorer; the answerer's own build then finds it loaded or waits for it. Nothing to do for the other
    scorers, nor where the default model is not converted yet (the answerer's build converts it, in the
    caller's thread, where its progress and errors are reported)."""
    if settings.models.answer_scorer != "reader":
        return
    from models.e5_convert import converted_default_model
    from models.reader import READER_DIR, load_reader_in_background

    cache = settings.model_cache_dir
    base = converted_default_model(cache)
    if base is not None:
        load_reader_in_background(base, cache, READER_DIR)
