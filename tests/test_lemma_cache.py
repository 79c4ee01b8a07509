"""The lemma cache: a word a previous process lemmatised is read from the data folder, so a one-shot
`ask` whose answer names a source does not decode simplemma's German dictionary again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from answers import sources


@pytest.fixture
def fresh_cache(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(sources, "_known", {})
    monkeypatch.setattr(sources, "_cache", sources._LemmaCache())
    return sources


def test_lemmas_looked_up_are_kept_and_read_by_the_next_process(
    fresh_cache, tmp_path: Path, monkeypatch
) -> None:
    path = tmp_path / "lemmas.json"
    fresh_cache.use_lemma_cache(path)
    assert fresh_cache.source_name("des südkoreanischen Geheimdienstes") == "südkoreanischer Geheimdienst"
    fresh_cache._save_cache()
    assert json.loads(path.read_text(encoding="utf-8"))["lemmas"]["Geheimdienstes"] == "Geheimdienst"

    monkeypatch.setattr(sources, "_known", {})
    monkeypatch.setattr(sources, "_cache", sources._LemmaCache())
    sources.use_lemma_cache(path)
    import simplemma

    monkeypatch.setattr(simplemma, "lemmatize", lambda *a, **k: pytest.fail("the dictionary was consulted"))
    assert sources.source_name("des südkoreanischen Geheimdienstes") == "südkoreanischer Geheimdienst"


def test_a_damaged_cache_file_is_ignored(fresh_cache, tmp_path: Path) -> None:
    path = tmp_path / "lemmas.json"
    path.write_text("{not json", encoding="utf-8")
    fresh_cache.use_lemma_cache(path)
    assert (
        fresh_cache.source_name("der staatlichen Nachrichtenagentur Anadolu")
        == "staatliche Nachrichtenagentur Anadolu"
    )
