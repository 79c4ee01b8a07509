"""Language detection for questions and articles (lingua, restricted to the languages we expect).

Restricting the candidates makes short questions ("Wer ist Sluzki?") reliable and keeps the
detector small and fast; it is built once per process.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Literal

Language = Literal["en", "de"]

_lock = threading.Lock()


@lru_cache(maxsize=1)
def _detector():  # type: ignore[no-untyped-def]
    from lingua import Language as L
    from lingua import LanguageDetectorBuilder

    return LanguageDetectorBuilder.from_languages(L.ENGLISH, L.GERMAN).with_preloaded_language_models().build()


def detect_language(text: str, default: Language = "en") -> Language:
    """"en" or "de"; `default` when the text gives no signal (digits, names only)."""
    if not any(ch.isalpha() for ch in text):
        return default
    with _lock:
        detected = _detector().detect_language_of(text[:2000])
    if detected is None:
        return default
    return "de" if detected.name == "GERMAN" else "en"
