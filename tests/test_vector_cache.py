"""The answerer's term and phrase vector cache stays bounded and never loses a vector a question needs."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from answers.vector_cache import VectorCache


class CountingEmbedder:
    """The real model's query embedding, counting the texts it is asked to embed."""

    def __init__(self, embedder) -> None:
        self.embedder = embedder
        self.embedded: list[str] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.embedded += texts
        return self.embedder.embed_queries(texts)


def test_a_question_gets_its_vectors_when_filling_the_cache_evicts_an_older_one_it_also_needs(e5_embedder) -> None:
    """The defect this replaces: with the cache full, a question whose terms were one old and one new
    evicted the old one while adding the new, then looked it up again (KeyError after 8,192 terms)."""
    embed = CountingEmbedder(e5_embedder)
    cache = VectorCache(embed, max_items=2)
    cache.get(["Nordkorea", "Russland"])
    vectors = cache.get(["Nordkorea", "Kursk", "Sluzki"])  # Nordkorea cached; two new ones overflow it
    assert len(vectors) == 3 and len(cache) == 2
    for text, vector in zip(["Nordkorea", "Kursk", "Sluzki"], vectors):
        assert np.allclose(vector, e5_embedder.embed_queries([text])[0], atol=1e-5)
    assert embed.embedded == ["Nordkorea", "Russland", "Kursk", "Sluzki"], "a cached vector is not embedded again"


def test_the_least_recently_used_text_is_evicted_and_repeats_are_embedded_once(e5_embedder) -> None:
    embed = CountingEmbedder(e5_embedder)
    cache = VectorCache(embed, max_items=2)
    cache.get(["Soldaten", "Pjöngjang"])
    cache.get(["Soldaten"])  # now the most recently used
    cache.get(["Selenskyj", "Selenskyj"])  # evicts Pjöngjang, embeds the repeat once
    embed.embedded.clear()
    cache.get(["Soldaten", "Selenskyj"])
    assert embed.embedded == []
    cache.get(["Pjöngjang"])
    assert embed.embedded == ["Pjöngjang"]


def test_threads_sharing_a_small_cache_all_get_their_vectors(e5_embedder) -> None:
    cache = VectorCache(e5_embedder.embed_queries, max_items=3)
    words = ["Nordkorea", "Russland", "Ukraine", "Kursk", "Moskau", "Seoul", "Kiew", "Pjöngjang"]
    expected = dict(zip(words, e5_embedder.embed_queries(words)))
    errors: list[BaseException] = []

    def ask(offset: int) -> None:
        try:
            for i in range(12):
                batch = [words[(offset + i + j) % len(words)] for j in range(3)]
                for text, vector in zip(batch, cache.get(batch)):
                    assert np.allclose(vector, expected[text], atol=1e-5)
        except BaseException as e:  # noqa: BLE001 - re-raised in the main thread below
            errors.append(e)

    threads = [threading.Thread(target=ask, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert len(cache) <= 3


def test_a_cache_must_hold_something(e5_embedder) -> None:
    with pytest.raises(ValueError, match="at least one"):
        VectorCache(e5_embedder.embed_queries, max_items=0)
