"""Count how many figure attributions in an index read as clean source names, now and at a commit.

An attribution is counted as not clean when it shows one of the defects of sliced text: it starts
inside a word ("em türkischen Militär"), with a preposition or article ("vonseiten der Polizei"),
names only a pronoun ("Wir"), has a head noun in the genitive ("Geheimdienstes", "Seouls"), or an
oblique adjective before a singular head ("südkoreanischen Geheimdienst"). The checks read the
words with simplemma, independently of how answers/sources.py rewrites them.

    python training/measure_attributions.py INDEX_DATA_DIR [BASE_COMMIT]
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import simplemma

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from retrieval.stores.embedded.store import load_index

LEADING = {"von", "vonseiten", "seitens", "gegenüber", "bei", "in", "im", "am", "an", "aus", "mit", "der", "die", "das"}
LEADING |= {"des", "dem", "den", "ein", "eine", "einer", "eines", "einem"}
PRONOUNS = {"ich", "wir", "er", "sie", "es", "man"}


def defects(who: str) -> list[str]:
    tokens = who.split()
    found = []
    first = tokens[0]
    if first[0].islower() and not simplemma.is_known(first, lang="de") and first.lower() not in LEADING:
        found.append("starts inside a word")
    if first.lower() in LEADING:
        found.append("leading preposition or article")
    if len(tokens) == 1 and first.lower() in PRONOUNS:
        found.append("pronoun only")
    for i, token in enumerate(tokens):
        before = tokens[i - 1].lower() if i else ""
        if token[0].isupper() and before not in ("des", "der", "eines", "einer"):
            lemma = simplemma.lemmatize(token, lang="de")
            if lemma != token and token in (lemma + "s", lemma + "es"):
                found.append("genitive head")
                break
    for i, token in enumerate(tokens[:-1]):
        head = tokens[i + 1]
        singular_head = head[0].isupper() and simplemma.lemmatize(head, lang="de") == head
        if token.islower() and token.endswith(("en", "em")) and singular_head:
            found.append("oblique adjective")
            break
    return found


def attributions(index_dir: Path, attribution_of: Callable, find_figures: Callable) -> list[str]:
    data = load_index(index_dir / "index", with_search_structures=False)
    found = []
    for sid, sentence in enumerate(data.sentences):
        figures = find_figures(sentence.text)
        if not figures:
            continue
        previous = data.sentences[sid - 1].text if sid and data.sentences[sid - 1].doc_id == sentence.doc_id else None
        for figure in figures:
            who = attribution_of(sentence.text, figure.start, previous)
            if who:
                found.append(who)
    return found


def report(label: str, found: list[str]) -> None:
    kinds: Counter[str] = Counter()
    clean = 0
    for who in found:
        problems = defects(who)
        clean += not problems
        kinds.update(problems)
    print(f"{label}: {clean} of {len(found)} attributions clean ({clean / max(len(found), 1):.0%}); defects {dict(kinds)}")


def figures_module_at(commit: str) -> object:
    """answers/figures.py as it was at `commit` (with today's other modules)."""
    source = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{commit}:answers/figures.py"], capture_output=True, text=True, check=True
    ).stdout
    path = Path(tempfile.mkdtemp()) / "figures_then.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("figures_then", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["figures_then"] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def main(index_dir: Path, base: str | None) -> None:
    from answers import figures

    if base:
        then = figures_module_at(base)
        report(f"at {base}", attributions(index_dir, then.attribution_of, then.find_figures))  # type: ignore[attr-defined]
    report("now", attributions(index_dir, figures.attribution_of, figures.find_figures))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None)
