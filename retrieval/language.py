"""Language detection for questions and articles (lingua, restricted to the languages we expect).

Restricting the candidates makes short questions ("Wer ist Sluzki?") reliable and keeps the
detector small and fast. lingua's low-accuracy mode (trigrams only) is ready in ~0.02 s and answers
when it is sure; otherwise the high-accuracy detector, whose models take ~0.5 s to load once per
process (most of a one-shot `newsbot ask`), decides. Both are built once per process, on first use.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Literal

Language = Literal["en", "de"]

# The fast detector's top confidence from which its answer stands: the lowest with the full
# detector's accuracy on XQuAD's even questions (de + en, 0.9908); on the odd half 0.9899 against
# the full detector's 0.9916, consulting it for 3.4 % of the questions, and the same language as
# the full detector for all 514 articles of seeds + 10kGNAD (training/fit_language_confidence.py).
FAST_CONFIDENCE = 0.975

_lock = threading.Lock()


@lru_cache(maxsize=2)
def _detector(fast: bool):  # type: ignore[no-untyped-def]
    from lingua import Language as L
    from lingua import LanguageDetectorBuilder

    builder = LanguageDetectorBuilder.from_languages(L.ENGLISH, L.GERMAN)
    return (builder.with_low_accuracy_mode() if fast else builder.with_preloaded_language_models()).build()


def detect_language(text: str, default: Language = "en") -> Language:
    """"en" or "de"; `default` when the text gives no signal (digits, names only)."""
    if not any(ch.isalpha() for ch in text):
        return default
    text = text[:2000]
    with _lock:
        values = _detector(True).compute_language_confidence_values(text)
        if values and values[0].value >= FAST_CONFIDENCE:
            detected = values[0].language
        else:
            detected = _detector(False).detect_language_of(text)
    if detected is None:
        return default
    return "de" if detected.name == "GERMAN" else "en"
