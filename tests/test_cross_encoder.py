"""The answer reranker (models/cross_encoder.py) with the committed adapters on the real e5 model.

The examples are written for these tests (not from the seed story, not from XQuAD): a sentence
that answers the question in other words, against a sentence of the same story that repeats the
question's words but does not answer it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from answers.answer_scorer import PARAMETERS, load_parameters
from models.cross_encoder import CrossEncoder, CrossEncoderError, load_cross_encoder, read_adapter
from models.e5_convert import ensure_default_model
from tests.conftest import MODEL_CACHE

ADAPTER = PARAMETERS.with_name("answer_reranker.safetensors")

BRIDGE_CONTEXT = "Die neue Eisenbahnbrücke über die Elbe bei Dömitz hat rund 120 Millionen Euro gekostet."
BRIDGE_ANSWER = "Nach vier Jahren Bauzeit wurde sie im März 2021 für den Zugverkehr freigegeben."
BRIDGE_DISTRACTOR = "Die neue Eisenbahnbrücke über die Elbe soll künftig auch von Radfahrern genutzt werden."
INSTITUTE_CONTEXT = "Das Forschungsinstitut für Meeresbiologie in Kiel beschäftigt rund 300 Mitarbeiter."
INSTITUTE_ANSWER = "Geleitet wird es seit 2018 von der Biologin Anna Berger, die zuvor in Bremen lehrte."
INSTITUTE_DISTRACTOR = (
    "Das Forschungsinstitut für Meeresbiologie hat in diesem Jahr ein zweites Schiff gekauft."
)


@pytest.fixture(scope="module")
def reranker() -> CrossEncoder:
    return load_cross_encoder(ensure_default_model(MODEL_CACHE), ADAPTER.resolve())


# The committed adapter does not meet this yet: trained on 534 fit-half questions for 2 epochs on
# 2 CPU cores (27 min), it reaches held-out top-1 0.596 where the bi-encoder cosine alone has 0.742,
# and ranks these distractors (which repeat the question's words) first. It is therefore not used
# by the default scorer (answers/answer_scorer.json); the test states what a usable one must do.
@pytest.mark.xfail(
    reason="committed reranker adapter is weaker than the cosine (BENCHMARKS.md, issue 12)", strict=False
)
@pytest.mark.parametrize(
    ("question", "context", "answer", "distractor"),
    [
        ("Wann wurde die neue Eisenbahnbrücke über die Elbe eröffnet?", BRIDGE_CONTEXT, BRIDGE_ANSWER, BRIDGE_DISTRACTOR),
        ("When was the new railway bridge over the Elbe opened?", BRIDGE_CONTEXT, BRIDGE_ANSWER, BRIDGE_DISTRACTOR),
        ("Wer leitet das Institut für Meeresbiologie?", INSTITUTE_CONTEXT, INSTITUTE_ANSWER, INSTITUTE_DISTRACTOR),
        ("Who heads the institute for marine biology?", INSTITUTE_CONTEXT, INSTITUTE_ANSWER, INSTITUTE_DISTRACTOR),
    ],
)  # fmt: skip
def test_the_answering_sentence_outranks_a_same_topic_distractor(
    reranker: CrossEncoder, question: str, context: str, answer: str, distractor: str
) -> None:
    logits = reranker.score(question, [(distractor, context), (answer, context)])
    assert logits.shape == (2,)
    assert logits[1] > logits[0], f"{question}: answer {logits[1]:.3f} <= distractor {logits[0]:.3f}"


def test_a_pair_scores_the_same_whatever_else_is_asked(reranker: CrossEncoder) -> None:
    question = "Wann wurde die neue Eisenbahnbrücke über die Elbe eröffnet?"
    pairs = [(BRIDGE_DISTRACTOR, BRIDGE_CONTEXT), (BRIDGE_ANSWER, BRIDGE_CONTEXT), (BRIDGE_CONTEXT, None)]
    together = reranker.score(question, pairs)
    alone = np.array([reranker.score(question, [pair])[0] for pair in pairs])
    np.testing.assert_allclose(together, alone, atol=1e-5)  # in order, and no neighbour moves a score
    assert reranker.score(question, []).shape == (0,)


def test_the_onnx_export_scores_as_the_merged_torch_model(reranker: CrossEncoder) -> None:
    import torch

    from models.cross_encoder import build_merged_model, load_tokenizer, pair_text

    model_dir = ensure_default_model(MODEL_CACHE)
    tensors, metadata = read_adapter(ADAPTER)
    merged = build_merged_model(model_dir, tensors, metadata)
    pairs = [(INSTITUTE_ANSWER, INSTITUTE_CONTEXT), (INSTITUTE_DISTRACTOR, None)]
    question = "Who heads the institute for marine biology?"
    encoded = load_tokenizer(model_dir).encode_batch([pair_text(question, s, p) for s, p in pairs])
    ids = torch.tensor([e.ids for e in encoded])
    mask = torch.tensor([e.attention_mask for e in encoded])
    with torch.no_grad():
        expected = merged(merged.encoder.embeddings.word_embeddings(ids), mask).numpy()
    # int8 weights (models.cross_encoder.quantize_int8): the logits moved by up to ~0.2 against
    # float32 on the examples here; the order of the two pairs must not change.
    scored = reranker.score(question, pairs)
    np.testing.assert_allclose(scored, expected, atol=0.3)
    assert (scored[0] > scored[1]) == (expected[0] > expected[1])


def test_a_missing_adapter_file_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "answer_reranker.safetensors"
    with pytest.raises(CrossEncoderError, match="not found.*train_answer_reranker"):
        CrossEncoder(ensure_default_model(MODEL_CACHE), missing)


def test_a_corrupt_adapter_file_is_a_clear_error(tmp_path: Path) -> None:
    corrupt = tmp_path / "answer_reranker.safetensors"
    corrupt.write_bytes(ADAPTER.read_bytes()[:1000])  # a truncated copy
    with pytest.raises(CrossEncoderError, match="unreadable"):
        CrossEncoder(ensure_default_model(MODEL_CACHE), corrupt)
    corrupt.write_bytes(b"not a safetensors file at all")
    with pytest.raises(CrossEncoderError, match="unreadable|not a newsbot"):
        CrossEncoder(ensure_default_model(MODEL_CACHE), corrupt)


def test_the_committed_scorer_names_the_reranker_it_was_fitted_with() -> None:
    parameters = load_parameters()
    if parameters.reranker is None:
        pytest.skip("the committed scorer does not use the reranker")
    assert parameters.reranker.adapter == ADAPTER
    assert 1 <= parameters.reranker.top_k <= 20
    assert parameters.baseline is not None  # the benchmark's baseline variant
    _, metadata = read_adapter(ADAPTER)
    assert metadata["script"] == "scripts/train_answer_reranker.py"
    assert "fit half" in metadata["data"] and float(metadata["held_out_top1"]) > 0
