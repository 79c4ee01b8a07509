"""A long article on one line (issue 28, item 1): indexing it reports progress within seconds,
as a short one does, instead of splitting silently for minutes while holding the writer lock."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bench.long_lines import one_line_article, prose
from retrieval.indexing import IndexProgress
from retrieval.stores.embedded.indexer import build_index
from retrieval.stores.embedded.store import current_generation_or_none
from tests.conftest import SEEDS, SHARED, make_settings

pytestmark = pytest.mark.slow


class EnoughProgress(Exception):
    """Raised by the test's progress callback: the first report is all it waits for."""


def test_a_long_single_line_file_reports_progress_within_seconds(tmp_path: Path, e5_embedder) -> None:
    text, _ = prose(SHARED / "corpora" / "10kgnad", SEEDS)
    article = tmp_path / "lang.txt"
    article.write_bytes(one_line_article(text, 300_000))  # splitting it took about 75 s before the fix
    settings = make_settings(tmp_path / "data")
    reports: list[tuple[float, IndexProgress]] = []
    started = time.perf_counter()

    def progress(status: IndexProgress) -> None:
        reports.append((time.perf_counter() - started, status))
        raise EnoughProgress

    with pytest.raises(EnoughProgress):
        build_index([article], settings, embedder=e5_embedder, progress=progress)

    ((seconds, first),) = reports
    # The encoder's first slice of 64 texts plus reading and splitting 300 KB: a few seconds on two
    # busy cores; 30 s leaves room for a loaded machine and still excludes the quadratic split.
    assert seconds < 30, seconds
    assert first.articles_total == 1 and first.chunks_done > 0
    assert current_generation_or_none(settings.index_dir) is None  # the interrupted build left nothing current
