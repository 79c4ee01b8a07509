"""Fit when the fast language detector may answer alone: lingua's low-accuracy mode (trigrams only,
ready in ~0.02 s) against its high-accuracy mode (every n-gram model, ~0.5 s to load per process,
which a one-shot `newsbot ask` pays for its one question).

The fast mode answers when its top confidence reaches a threshold, else the full detector decides.
Fitted on XQuAD's even questions (de + en, each labelled with its language): the lowest threshold
whose accuracy on that half is at least the full detector's. Reported on the odd half, and as the
share of articles (seeds + 10kGNAD) whose language the rule gives differently from the full detector.

    python training/fit_language_confidence.py [--xquad ../shared/bench/xquad] [--articles DIR ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.squad_data import load_xquad
from retrieval.ingest import iter_article_files, read_article

THRESHOLDS = tuple(round(0.5 + 0.025 * i, 3) for i in range(21))


def _detectors():  # type: ignore[no-untyped-def]
    from lingua import Language, LanguageDetectorBuilder

    def builder():  # type: ignore[no-untyped-def]  # a fresh one each: the builder's options stick
        return LanguageDetectorBuilder.from_languages(Language.ENGLISH, Language.GERMAN)

    return builder().with_low_accuracy_mode().build(), builder().with_preloaded_language_models().build()


def _code(detected) -> str | None:  # type: ignore[no-untyped-def]
    return None if detected is None else ("de" if detected.name == "GERMAN" else "en")


def _observations(texts: list[str]) -> list[tuple[str | None, float, str | None]]:
    """(fast mode's language, its top confidence, full mode's language) per text."""
    fast, full = _detectors()
    rows = []
    for text in texts:
        values = fast.compute_language_confidence_values(text[:2000])
        top = values[0] if values else None
        rows.append((_code(top.language) if top else None, top.value if top else 0.0, _code(full.detect_language_of(text[:2000]))))
    return rows


def _rule(row: tuple[str | None, float, str | None], threshold: float) -> str | None:
    return row[0] if row[1] >= threshold else row[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--xquad", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "bench" / "xquad")
    parser.add_argument("--articles", type=Path, nargs="*", default=[])
    args = parser.parse_args()
    xquad = load_xquad(args.xquad)
    labelled = [(q.question, lang) for lang, questions in sorted(xquad.questions.items()) for q in questions]
    halves = {"even": labelled[0::2], "odd": labelled[1::2]}
    rows = {name: list(zip(_observations([t for t, _ in half]), [lang for _, lang in half])) for name, half in halves.items()}

    def accuracy(name: str, decide) -> float:  # type: ignore[no-untyped-def]
        return sum(decide(row) == lang for row, lang in rows[name]) / len(rows[name])

    full_even = accuracy("even", lambda row: row[2])
    threshold = next(t for t in THRESHOLDS if accuracy("even", lambda row, t=t: _rule(row, t)) >= full_even)
    for name in ("even", "odd"):
        fallback = sum(row[1] < threshold for row, _ in rows[name]) / len(rows[name])
        print(
            f"{name} ({len(rows[name])} questions): full {accuracy(name, lambda row: row[2]):.4f}, "
            f"fast {accuracy(name, lambda row: row[0]):.4f}, rule@{threshold} "
            f"{accuracy(name, lambda row: _rule(row, threshold)):.4f} (full detector consulted for {fallback:.1%})"
        )
    if args.articles:
        texts = [read_article(path).text for folder in args.articles for path in iter_article_files([folder])]
        observed = _observations(texts)
        differ = sum(_rule(row, threshold) != row[2] for row in observed)
        print(f"articles: {len(texts)}, the rule differs from the full detector on {differ}")
    print(f"threshold {threshold}")


if __name__ == "__main__":
    main()
