"""Story linking at index time: stored with the generation, incremental, and caught up for an index
written before stories existed."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from retrieval.story_linking import ArticleFeatures, LinkModel, link_stories, named_terms
from tests.conftest import make_settings

pytestmark = pytest.mark.slow


def unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def test_a_new_article_joins_the_story_it_matches_and_nothing_stored_is_relinked() -> None:
    # cosine alone decides here: same event above 0.9, another event below
    model = LinkModel(intercept=-20.0, cosine_weight=22.0, names_weight=0.0, threshold=0.5)
    first = link_stories(
        None,
        [],
        [ArticleFeatures("a", unit(1, 0, 0), frozenset()), ArticleFeatures("b", unit(0, 1, 0), frozenset())],
        1.0,
        model,
    )
    assert first.stories == [0, 1]
    second = link_stories(
        first, ["a", "b"], [ArticleFeatures("c", unit(0.05, 1, 0), frozenset({"kim"}))], 2.0, model
    )
    assert dict(zip(second.doc_ids, second.stories)) == {"a": 0, "b": 1, "c": 1}
    assert second.added == [1.0, 1.0, 2.0]  # when each entered the collection
    third = link_stories(second, ["a", "c"], [ArticleFeatures("d", unit(0, 0, 1), frozenset())], 3.0, model)
    assert dict(zip(third.doc_ids, third.stories)) == {
        "a": 0,
        "c": 1,
        "d": 2,
    }  # "b" removed, "c" kept its story


def test_names_are_stemmed_capitalised_words_without_stopwords() -> None:
    terms = named_terms(["Die NATO warnt Nordkorea.", "Der südkoreanische Geheimdienst in Seoul"])
    assert {"nato", "nordkorea", "seoul"} <= terms
    assert "die" not in terms and "der" not in terms


def test_an_index_written_before_stories_is_linked_by_the_next_index_run(
    mixed_index_dir: Path, tmp_path: Path, e5_embedder
) -> None:
    from answers.stories import story_map
    from retrieval.stores.embedded.indexer import build_index
    from retrieval.stores.embedded.store import load_index, write_generation

    data_dir = tmp_path / "data"
    shutil.copytree(mixed_index_dir, data_dir)
    settings = make_settings(data_dir)
    linked = load_index(settings.index_dir)
    stories = {frozenset(s.articles) for s in story_map(linked).stories}
    linked.stories = None  # as a generation written before stories existed
    write_generation(settings.index_dir, linked)
    old = load_index(settings.index_dir)
    assert old.stories is None
    assert len(story_map(old).stories) == len(old.articles)  # every article its own story meanwhile

    report = build_index([], settings, embedder=e5_embedder)
    assert report.wrote_index and not report.added
    assert {frozenset(s.articles) for s in story_map(load_index(settings.index_dir)).stories} == stories


def test_the_stories_bench_links_a_new_article_into_its_story_in_both_stores() -> None:
    from bench.stories_scale import main, stories_section

    results = main([1_000])
    assert results["embedded"][1_000]["joined_its_story"] is True
    assert results["embedded"][1_000]["old_question_time_clustering_s"] > 0
    if "skipped" not in results["postgres"]:
        assert results["postgres"][1_000]["joined_its_story"] is True
    assert any("Stories at scale" in line for line in stories_section(results))
