"""The query adapter (training/train_query_adapter.py) as the answer scorer applies it, on the real seed index."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from answers.answer_scorer import (
    ADAPTER_FEATURES,
    PARAMETERS,
    SENTENCE_FEATURES,
    FeatureExtractor,
    load_parameters,
    load_query_adapter,
    with_adapter_columns,
)


def test_a_missing_or_malformed_adapter_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="missing or unreadable.*train_query_adapter"):
        load_query_adapter(tmp_path / "query_adapter.npz")
    (tmp_path / "broken.npz").write_bytes(b"not a numpy archive")
    with pytest.raises(ValueError, match="train_query_adapter"):
        load_query_adapter(tmp_path / "broken.npz")
    np.savez(tmp_path / "wide.npz", weight=np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="not a square matrix"):
        load_query_adapter(tmp_path / "wide.npz")


def test_the_identity_adapter_reproduces_the_plain_cosine(seed_retriever) -> None:
    """The adapter starts at the bi-encoder: with W = I its column is the sentence cosine."""
    question = "Wer hat den russischen Botschafter einbestellt?"
    result = seed_retriever.search(question)
    extractor = FeatureExtractor(seed_retriever.embedder.embed_queries)
    candidates = extractor.candidates(question, result, seed_retriever.data)
    dimension = len(result.query_vector)
    extended = with_adapter_columns(candidates, seed_retriever.data, result.query_vector, np.eye(dimension))
    assert extended.columns == SENTENCE_FEATURES + ADAPTER_FEATURES
    adapted = extended.features[:, len(SENTENCE_FEATURES)]
    np.testing.assert_allclose(adapted, candidates.features[:, 0], atol=1e-4)  # SENTENCE_FEATURES[0]: dense
    assert (
        extended.features[:, len(SENTENCE_FEATURES) + 1].max() == 0.0
    )  # the gap to the best is 0 for the best


def test_the_committed_adapter_says_where_it_came_from() -> None:
    parameters = load_parameters()
    if parameters.query_adapter is None:
        pytest.skip("the committed scorer does not use the query adapter")
    weight = parameters.query_adapter
    assert weight.shape[0] == weight.shape[1]
    with np.load(PARAMETERS.with_name("query_adapter.npz")) as stored:
        provenance = json.loads(str(stored["provenance"]))
    # The committed adapter was trained before the script moved from scripts/ into training/ (issue 25).
    assert provenance["script"] in ("scripts/train_query_adapter.py", "training/train_query_adapter.py")
    assert "fit half" in provenance["data"]
    assert (
        provenance["held_out_top1_adapted"] >= provenance["held_out_top1_cosine"]
    )  # chosen on held-out titles
    assert parameters.baseline is not None  # the benchmark's baseline variant, fitted in the same run
