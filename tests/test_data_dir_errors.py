"""An unlucky operator's data folder and files (issue 28, items 2 and 7): a full disk, a read-only
disk, a file where the folder should be, a truncated scorer file, a half-written model. Each ends in
one line that names the place and the fix, exit code 1, and the previous index intact.

The disks are real small file systems (tmpfs, mounted for the test); that needs root, and the
tests that need it are skipped with the reason elsewhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.conftest import MODEL_CACHE, REPO, SEEDS

pytestmark = pytest.mark.slow
NEW_ARTICLE = (
    "Hochwasser in Passau\n"
    "Die Donau in Passau hat am Dienstagmorgen einen Pegelstand von 11,20 Metern erreicht, teilte der "
    "Hochwassernachrichtendienst Bayern mit. Die Stadt rief den Katastrophenfall aus.\n"
)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB file system of its own (tmpfs), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path, leave_bytes: int) -> Path:
    """A ballast file that leaves about `leave_bytes` free on `disk`."""
    ballast = disk / "ballast"
    free = shutil.disk_usage(disk).free
    with open(ballast, "wb") as handle:
        handle.write(b"\0" * max(0, free - leave_bytes))
    return ballast


def newsbot(*args: str, data_dir: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed command, as a user runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSBOT_", "TELEGRAM_"))}
    env.update(NEWSBOT_DATA_DIR=str(data_dir), NEWSBOT_MODEL_CACHE_DIR=str(MODEL_CACHE), HF_HUB_OFFLINE="1")
    env["PYTHONPATH"] = str(REPO)  # this checkout, whatever is installed
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300,
        check=False,
    )


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_disk_full_while_indexing_says_so_cleans_up_and_keeps_the_previous_index(
    small_disk: Path, seed_index_dir: Path, tmp_path: Path
) -> None:
    """Item 2: the indexer died with "Bus error", a retry printed a raw sqlite3 error, and the dead
    run's temporary generation stayed."""
    data = small_disk / "data"
    shutil.copytree(seed_index_dir / "index", data / "index")
    (data / "index" / "WRITER.lock").unlink(missing_ok=True)
    sources = tmp_path / "articles"
    shutil.copytree(SEEDS, sources)
    (sources / "passau.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    before = sorted(p.name for p in (data / "index").iterdir() if p.name != "WRITER.lock")
    ballast = fill(small_disk, 380_000)

    full = newsbot("index", str(sources), "--quiet", data_dir=data, cwd=tmp_path)

    assert full.returncode == 1, full.stderr
    assert "Traceback" not in full.stderr
    (line,) = error_lines(full.stderr)
    assert f"the disk holding the data folder {data} is full" in line and "NEWSBOT_DATA_DIR" in line
    assert sorted(p.name for p in (data / "index").iterdir() if p.name != "WRITER.lock") == before  # nothing left over
    searched = newsbot("search", "Wie viele Soldaten?", "--json", data_dir=data, cwd=tmp_path)
    assert searched.returncode == 0 and "Soldaten" in searched.stdout  # the previous index still answers

    # A run killed outright (SIGKILL, a crash) leaves its staging folder: the next writer removes it first.
    leftover = data / "index" / ".tmp-gen-20260101-000000-000000-deadbeef"
    leftover.mkdir()
    (leftover / "chunk_vectors.f32").write_bytes(b"\0" * 200_000)
    ballast.unlink()
    retried = newsbot("index", str(sources), "--quiet", data_dir=data, cwd=tmp_path)
    assert retried.returncode == 0, retried.stderr
    assert not leftover.exists()


VECTOR_WRITER = """
import sys
import numpy as np
from pathlib import Path
from retrieval.stores.embedded.store import GenerationWriter
index_dir, rows = Path(sys.argv[1]), int(sys.argv[2])
writer = GenerationWriter(index_dir, 384)
try:
    writer._raw["chunk_vectors"].write(np.ones((rows, 384), np.float32).tobytes())
    writer._raw["chunk_vectors"].flush()
    writer.n_chunks = rows
    writer._raw["chunk_vectors"].close()
    writer._to_npy("chunk_vectors", rows)
except OSError as e:
    writer.abort()
    print("OSError", e.errno)
    sys.exit(1)
"""


def test_disk_full_while_writing_vectors_raises_an_error_instead_of_a_bus_error(small_disk: Path) -> None:
    """Item 2: vectors were copied through a writable memory map, and a write to a mapped page of a
    full disk kills the process with SIGBUS. Raw vectors that fit, a copy of them that does not."""
    index_dir = small_disk / "index"
    index_dir.mkdir()
    rows = int(shutil.disk_usage(small_disk).free * 0.6) // (384 * 4)
    done = subprocess.run(
        [sys.executable, "-c", VECTOR_WRITER, str(index_dir), str(rows)], capture_output=True, text=True, cwd=REPO,
        check=False,
    )
    assert done.returncode == 1, (done.returncode, done.stderr[-500:])  # -7 is SIGBUS
    assert done.stdout.strip() == "OSError 28"
    assert not [p for p in index_dir.iterdir() if p.name.startswith(".tmp-gen-")]


def test_read_only_data_dir_index_says_so_in_one_line(small_disk: Path, seed_index_dir: Path, tmp_path: Path) -> None:
    """Item 7: `index` on a read-only data folder printed a raw `OSError [Errno 30]`."""
    data = small_disk / "data"
    shutil.copytree(seed_index_dir / "index", data / "index")
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)

    done = newsbot("index", str(SEEDS), "--quiet", data_dir=data, cwd=tmp_path)

    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    (line,) = error_lines(done.stderr)
    assert f"the data folder {data} is on a read-only file system" in line and "NEWSBOT_DATA_DIR" in line


@pytest.mark.parametrize("command", [["ask", "Wie viele Soldaten?"], ["index", str(SEEDS)], ["search", "Kursk"]])
def test_data_dir_path_that_is_a_file_says_so_in_one_line(tmp_path: Path, monkeypatch, command: list[str]) -> None:
    """Item 7: `ask` and `index` with NEWSBOT_DATA_DIR naming a file ended in a raw NotADirectoryError."""
    a_file = tmp_path / "data"
    a_file.write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv("NEWSBOT_DATA_DIR", str(a_file))

    result = CliRunner().invoke(app, command)

    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"the data folder {a_file} cannot be used: it is a file, not a folder" in result.output
    assert "NEWSBOT_DATA_DIR" in result.output


def test_truncated_answer_scorer_json_says_what_to_do(tmp_path: Path, monkeypatch, seed_index_dir: Path) -> None:
    """Item 7: a truncated answers/answer_scorer.json ended `ask` with a traceback."""
    import answers.answer_scorer as scorer

    truncated = tmp_path / "answer_scorer.json"
    truncated.write_text(scorer.PARAMETERS.read_text(encoding="utf-8")[:2000], encoding="utf-8")
    import answers.answer

    monkeypatch.setattr(scorer, "PARAMETERS", truncated)
    monkeypatch.setattr(answers.answer, "_answerers", {})  # answerers loaded by earlier tests hold the parameters
    scorer.default_parameters.cache_clear()
    monkeypatch.setenv("NEWSBOT_DATA_DIR", str(seed_index_dir))
    try:
        result = CliRunner().invoke(app, ["ask", "Wie viele nordkoreanische Soldaten sind in Russland?"])
    finally:
        scorer.default_parameters.cache_clear()

    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"the answer scorer's parameters {truncated} cannot be read" in result.output
    assert "NEWSBOT_ANSWER_SCORER=legacy" in result.output


def test_half_written_model_in_the_cache_is_converted_again(tmp_path: Path) -> None:
    """Item 7: a model folder cut short (a copy interrupted, a full disk) failed in 105 lines that
    advised setting NEWSBOT_EMBEDDING_MODEL; now it is simply converted again."""
    from models.e5_convert import MODEL_DIR_NAME, ensure_default_model

    cache = tmp_path / "models"
    shutil.copytree(MODEL_CACHE / MODEL_DIR_NAME, cache / MODEL_DIR_NAME)
    weights = cache / MODEL_DIR_NAME / "model.safetensors"
    whole = weights.stat().st_size
    os.truncate(weights, whole // 3)

    path = ensure_default_model(cache)

    assert weights.stat().st_size == whole
    from sentence_transformers import SentenceTransformer

    assert SentenceTransformer(str(path), device="cpu").encode(["passage: Kursk"]).shape == (1, 384)
