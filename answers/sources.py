"""Sources in the words a reader would use: "südkoreanischer Geheimdienst", not "südkoreanischen Geheimdienstes".

`answers/figures.py` finds who a figure is attributed to as a slice of the sentence, inflected for
its place there ("nach Angaben des südkoreanischen Geheimdienstes", "laut der staatlichen
Nachrichtenagentur Anadolu"). `source_name` turns that slice into the nominative: leading
prepositions and articles go, the head noun loses its genitive ending (simplemma's lemma tells
which ending that is), and adjectives before it take the strong ending for the head's gender
("südkoreanischer Geheimdienst", "staatliche Nachrichtenagentur", "ukrainisches Militär"). The
verbatim quote stays beside it in every answer; this only names the source.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import re
import threading
from pathlib import Path

logger = logging.getLogger(__name__)

_LEADING = frozenset(
    [
        "vonseiten",
        "seitens",
        "gegenüber",
        "von",
        "bei",
        "in",
        "im",
        "am",
        "an",
        "aus",
        "mit",
        "zu",
        "zur",
        "zum",
    ]
    + ["der", "die", "das", "des", "dem", "den", "ein", "eine", "einer", "eines", "einem", "einen"]
)
# A speaker named only by a pronoun is no source a reader could look up.
_PRONOUNS = frozenset(["ich", "wir", "er", "sie", "es", "man", "ihr", "du"])
_ADJECTIVE_ENDINGS = ("en", "em", "er", "es", "e")
_CAPITALISED = re.compile(r"^[A-ZÄÖÜ]")
# Gender of a head noun by its last compound part, for the adjective ending. German noun gender
# follows these suffixes with few exceptions; anything else is taken as masculine, the most
# common gender of the persons and bodies news articles name as sources (Dienst, Sprecher, Rat).
_FEMININE = re.compile(
    r"(?:ung|heit|keit|schaft|ion|tät|ur|ei|ie|ik|enz|anz|ade|ine|in|e|ee|behörde|stelle|zeitung|regierung)$"
)
_NEUTER = re.compile(
    r"(?:um|ment|chen|lein|amt|militär|institut|land|gericht|büro|magazin|portal|blatt|haus|werk)$"
)
_MASCULINE_E = re.compile(r"(?:kollege|experte|zeuge|junge|kunde|bote|gatte|löwe|name)$")


def load_lemmas() -> None:
    """Load the German lemma dictionary now (1-3 s, once per process) rather than on the first answer naming a source."""
    import simplemma

    simplemma.lemmatize("Geheimdienstes", lang="de")


# Lemmas looked up so far, and the file they are kept in across processes (`use_lemma_cache`).
_known: dict[str, str] = {}


class _LemmaCache:
    path: Path | None = None
    added = 0  # lemmas looked up in the dictionary since the file was read


_cache = _LemmaCache()
_cache_lock = threading.Lock()


def use_lemma_cache(path: Path) -> None:
    """Keep the lemmas looked up in `path` (JSON, word -> lemma, per simplemma version) and use those
    earlier processes looked up. Decoding simplemma's German dictionary costs 1-2 s, which a one-shot
    `ask` would pay whenever its answer names a source; a word met before needs no dictionary.
    Written when the process exits; a damaged or foreign file is ignored."""
    with _cache_lock:
        if _cache.path == path:
            return
        _cache.path = path
        stored = _read_cache(path)
        _known.update(stored)
        atexit.register(_save_cache)


def _simplemma_version() -> str:
    from importlib.metadata import version

    return version("simplemma")


def _read_cache(path: Path) -> dict[str, str]:
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(stored, dict) or stored.get("simplemma") != _simplemma_version():
        return {}
    lemmas = stored.get("lemmas")
    return (
        {k: v for k, v in lemmas.items() if isinstance(k, str) and isinstance(v, str)}
        if isinstance(lemmas, dict)
        else {}
    )


def _save_cache() -> None:
    path = _cache.path
    if path is None or not _cache.added:
        return
    try:
        merged = {**_read_cache(path), **_known}  # another process may have added its own meanwhile
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_name(f".{path.name}.{os.getpid()}")
        staging.write_text(
            json.dumps({"simplemma": _simplemma_version(), "lemmas": merged}, ensure_ascii=False),
            encoding="utf-8",
        )
        staging.replace(path)
    except OSError as e:
        logger.warning("could not keep the lemma cache in %s: %s", path, e)


def _lemma(word: str) -> str:
    lemma = _known.get(word)
    if lemma is None:
        import simplemma

        lemma = _known[word] = simplemma.lemmatize(word, lang="de")
        _cache.added += 1
    return lemma


def _gender(noun: str) -> str:
    lower = noun.lower()
    if _MASCULINE_E.search(lower):
        return "m"
    if _NEUTER.search(lower):
        return "n"
    if _FEMININE.search(lower):
        return "f"
    return "m"


def _nominative_head(word: str, followed_by_name: bool) -> tuple[str, bool]:
    """The head noun in the nominative, and whether it reads as plural."""
    lemma = _lemma(word)
    if lemma == word or not word.startswith(lemma):
        return word, False
    ending = word[len(lemma) :]
    if ending in ("s", "es", "ns"):
        return lemma, False  # genitive singular: "Geheimdienstes", "Seouls"
    if ending in ("en", "n") and followed_by_name:
        return lemma, False  # weak masculine before a name: "Präsidenten Selenskyj"
    return word, True  # a plural as written: "Schätzungen", "Quellen"


def _is_adjective(word: str) -> bool:
    """An inflected adjective, also capitalised inside a name ("Syrischen Beobachtungsstelle")."""
    lower = word.lower()
    lemma = _lemma(lower)
    return lower != lemma and lower.startswith(lemma) and lower[len(lemma) :] in _ADJECTIVE_ENDINGS


def _strong_adjective(word: str, gender: str, plural: bool) -> str:
    if _is_adjective(word):
        base = word[: len(_lemma(word.lower()))]
    elif word.islower() and _lemma(word) == word and word.endswith(("en", "em")):
        base = word[:-2]  # before the head and lower-case, yet unknown to the lemmatiser: "oppositionsnahen"
    else:
        return word
    return base + ("e" if plural else {"m": "er", "f": "e", "n": "es"}[gender])


def _noun_phrase(tokens: list[str]) -> list[str]:
    """Adjectives + head (+ names after it) in the nominative; anything after that as written."""
    adjectives: list[int] = []
    i = 0
    while i < len(tokens) and (
        not _CAPITALISED.match(tokens[i])
        or (i + 1 < len(tokens) and _CAPITALISED.match(tokens[i + 1]) and _is_adjective(tokens[i]))
    ):
        adjectives.append(i)
        i += 1
    if i == len(tokens):
        return tokens
    followed_by_name = i + 1 < len(tokens) and bool(_CAPITALISED.match(tokens[i + 1]))
    head, plural = _nominative_head(tokens[i], followed_by_name)
    out = list(tokens)
    out[i] = head
    gender = _gender(head)
    for j in adjectives:
        out[j] = _strong_adjective(tokens[j], gender, plural)
    return out


def source_name(raw: str) -> str | None:
    """`raw` (a source as sliced from a sentence) as a reader would name it, or None when it names no one."""
    tokens = raw.strip(" ,.;:").split()
    # Words the slice took from before the phrase ("wurden dem türkischen Militär"): the phrase
    # starts after the last article or preposition ahead of its first noun.
    first_noun = next((i for i, t in enumerate(tokens) if _CAPITALISED.match(t)), len(tokens))
    cut = max((i for i in range(first_noun) if tokens[i].lower() in _LEADING), default=-1)
    tokens = tokens[cut + 1 :]
    if not tokens or (len(tokens) == 1 and tokens[0].lower() in _PRONOUNS):
        return None
    parts: list[list[str]] = [[]]
    for token in tokens:  # "US-Regierung und Südkoreas": each named source on its own
        if token == "und" and parts[-1]:
            parts.append([])
        else:
            parts[-1].append(token)
    named = [" ".join(_noun_phrase(part)) for part in parts if part]
    return " und ".join(named) if named else None
