"""The `newsbot` command line, in-process (typer's CliRunner) and once as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.conftest import REPO, SEEDS

pytestmark = pytest.mark.slow
runner = CliRunner()
FLAGSHIP = "How many soldiers were reported and by whom?"


@pytest.fixture
def seed_env(seed_settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSBOT_DATA_DIR", str(seed_settings.retrieval.data_dir))


@pytest.mark.parametrize("via", ["argument", "stdin"])
def test_ask_json_answers_from_argument_or_stdin(seed_env, via: str) -> None:
    if via == "argument":
        result = runner.invoke(app, ["ask", FLAGSHIP, "--json"])
    else:
        result = runner.invoke(app, ["ask", "--json"], input=FLAGSHIP + "\n")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["question"] == FLAGSHIP and not data["abstained"]
    values = {f["value"].replace(".", "") for f in data["figures"]}
    assert {"1500", "12000", "10000", "3000"} <= values


def test_ask_prints_numbered_sources_for_a_person(seed_env) -> None:
    result = runner.invoke(app, ["ask", "What did NATO Secretary General Mark Rutte warn about?"])
    assert result.exit_code == 0
    assert "[1]" in result.stdout and "Eskalation" in result.stdout


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["ask", ""], None, "empty"),
        (["ask", "   "], None, "empty"),
        (["ask", "x" * 1001], None, "limit is 1000"),
        (["ask", "Wer\x01ist das?"], None, "control characters"),
        (["ask", "-"], "  \n", "empty"),
        (["search", ""], None, "empty"),
    ],
)
def test_bad_questions_exit_2_with_one_line(seed_env, args: list[str], stdin: str | None, message: str) -> None:
    result = runner.invoke(app, args, input=stdin)
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize("args", [["frobnicate"], ["ask", "x", "--no-such-option"], ["search", "x", "--k", "0"]])
def test_unknown_commands_and_options_exit_2(args: list[str]) -> None:
    assert runner.invoke(app, args).exit_code == 2


def test_search_json_has_the_documented_hit_shape(seed_env) -> None:
    result = runner.invoke(app, ["search", "Kursk", "--json", "--k", "3"])
    assert result.exit_code == 0
    hits = json.loads(result.stdout)
    assert len(hits) == 3 and hits[0]["doc_id"].startswith("002_")
    for hit in hits:
        assert set(hit) == {
            "doc_id", "title", "published", "date_source", "fallback_date", "url", "text", "start", "end", "scores",
        }  # fmt: skip
        assert hit["date_source"] in ("published", "fetched", "indexed")
        assert set(hit["scores"]) == {"lexical", "dense", "fused"}


def test_search_finds_sluzki_in_the_duma_article(seed_env) -> None:
    hits = json.loads(runner.invoke(app, ["search", "Wer ist Sluzki?", "--json"]).stdout)
    assert hits[0]["doc_id"].startswith("004_")


def test_ask_without_an_index_says_how_to_build_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSBOT_SEEDS_DIR", str(tmp_path / "no-seeds"))
    result = runner.invoke(app, ["ask", FLAGSHIP])
    assert result.exit_code == 1 and "newsbot index" in result.stderr


def test_index_reports_and_exits_1_when_nothing_could_be_indexed(tmp_path: Path) -> None:
    (tmp_path / "junk.bin").write_bytes(b"\x00\x01")
    (tmp_path / "empty.txt").write_text("")
    result = runner.invoke(app, ["index", str(tmp_path), "--json"])
    assert result.exit_code == 1
    assert "skipped" in result.stderr and "nothing could be indexed" in result.stderr


def test_eval_reports_per_question_and_total(seed_env, tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        '{"id":"a","question":"Wer ist Leonid Sluzki?","expect_any":["Duma"],"sources_any":["004_7cc3b5ee41316440"]}\n'
        '{"id":"b","question":"Wie ist das Wetter morgen in Berlin?","unanswerable":true}\n'
    )
    result = runner.invoke(app, ["eval", str(questions), "--json"])
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["total"] == 2 and report["passed"] == 2 and report["quotes_verbatim"] == 1.0


def test_eval_rejects_a_malformed_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    result = runner.invoke(app, ["eval", str(bad)])
    assert result.exit_code == 2 and "bad.jsonl:1" in result.stderr


def test_chat_answers_shows_sources_and_quits(seed_env) -> None:
    result = runner.invoke(app, ["chat"], input="Wer ist Leonid Sluzki?\n:sources\n:bogus\n:quit\n")
    assert result.exit_code == 0
    assert "Sluzki" in result.stdout and "004_7cc3b5ee41316440" in result.stdout and "Unknown command" in result.stdout


def test_chat_reads_a_follow_up_with_the_previous_question_until_new(seed_env) -> None:
    first, follow_up = "Wie viele Soldaten hat Nordkorea geschickt?", "Und wer hat das gemeldet?"
    result = runner.invoke(app, ["chat"], input=f"{first}\n{follow_up}\n:new\n{follow_up}\n:quit\n")
    assert result.exit_code == 0
    flat = " ".join(result.stdout.split())
    assert flat.count(f"Gelesen als: {first} {follow_up}") == 1  # the follow-up, and not again after :new
    assert "New conversation" in result.stdout


def test_ask_stays_stateless(seed_env) -> None:
    runner.invoke(app, ["ask", "Wie viele Soldaten hat Nordkorea geschickt?"])
    result = runner.invoke(app, ["ask", "Und wer hat das gemeldet?", "--json"])
    assert json.loads(result.stdout)["read_as"] is None


def test_installed_newsbot_command_builds_the_index_and_answers(tmp_path: Path) -> None:
    """The README's main job, as a real process: no index yet, so it indexes seeds/ first."""
    executable = Path(sys.executable).with_name("newsbot")
    command = [str(executable)] if executable.exists() else [sys.executable, "-m", "bot"]
    env = {**os.environ, "NEWSBOT_DATA_DIR": str(tmp_path / "data"), "NEWSBOT_SEEDS_DIR": str(SEEDS), "PYTHONPATH": str(REPO)}
    done = subprocess.run([*command, "ask", FLAGSHIP, "--json"], env=env, cwd=tmp_path, capture_output=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    data = json.loads(done.stdout)
    assert {"12.000", "3.000"} <= {f["value"] for f in data["figures"]}
    assert (tmp_path / "data" / "index" / "CURRENT").exists()


EXIT_PROBE = """
import atexit, sys, threading, time
from pathlib import Path
from bot.cli import exit_without_teardown
out = Path(sys.argv[1])
atexit.register(lambda: (out / "atexit").write_text("ran"))
def late() -> None:
    time.sleep(0.5)
    (out / "thread").write_text("done")
threading.Thread(target=late).start()
sys.stdout.write("printed, not flushed")
exit_without_teardown(sys.argv[2] if sys.argv[2] == "message" else int(sys.argv[2]))
"""


@pytest.mark.parametrize(("code", "status"), [("0", 0), ("3", 3), ("message", 1)])
def test_a_command_exits_without_teardown_but_loses_nothing(tmp_path: Path, code: str, status: int) -> None:
    """`main` skips the interpreter's teardown (~0.16 s of a cold ask), but what a normal exit does first
    still happens: non-daemon threads finish, atexit handlers run, buffered output is written, and the
    status is sys.exit's (a message is printed and exits 1)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", EXIT_PROBE, str(tmp_path), code], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == status, done.stderr
    assert done.stdout == "printed, not flushed"
    assert (tmp_path / "thread").read_text() == "done" and (tmp_path / "atexit").read_text() == "ran"
    assert ("message" in done.stderr) == (code == "message")


def test_the_installed_command_keeps_its_exit_codes(seed_env, tmp_path: Path) -> None:
    """The real process, through `main`: 0 answered, 2 bad usage, 1 no index (and no seeds to build one)."""
    command = [sys.executable, "-m", "bot"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    answered = subprocess.run([*command, "ask", FLAGSHIP, "--json"], env=env, capture_output=True, timeout=300, check=False)
    assert answered.returncode == 0 and json.loads(answered.stdout)["figures"]
    empty = subprocess.run([*command, "ask", ""], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert empty.returncode == 2 and "empty" in empty.stderr
    missing = {**env, "NEWSBOT_DATA_DIR": str(tmp_path / "data"), "NEWSBOT_SEEDS_DIR": str(tmp_path / "no-seeds")}
    no_index = subprocess.run([*command, "ask", FLAGSHIP], env=missing, capture_output=True, text=True, timeout=300, check=False)
    assert no_index.returncode == 1 and "newsbot index" in no_index.stderr


def test_newsbot_eval_and_the_answers_suite_score_the_dev_questions_alike(mixed_settings, mixed_retriever, monkeypatch) -> None:
    """One question set, one scoring (answers/evaluation.py), one default answerer: `newsbot eval`
    and `newsbot bench --suite answers` (its dev block) must report the same per-question results."""
    from bench.answer_collections import Collections
    from bench.answers import evaluate_dev
    from tests.conftest import SHARED

    dev = SHARED / "eval" / "seed_questions.jsonl"
    if not dev.is_file():
        pytest.skip(f"no dev questions at {dev}")
    monkeypatch.setenv("NEWSBOT_DATA_DIR", str(mixed_settings.retrieval.data_dir))
    result = runner.invoke(app, ["eval", str(dev), "--json"])
    assert result.exit_code == 0, result.output
    cli = json.loads(result.stdout)

    collections = Collections(
        xquad=None,  # type: ignore[arg-type]  # the dev block reads only the seeds + distractors collection
        retrievers={"seeds+gnad": mixed_retriever},
        settings={"seeds+gnad": mixed_settings},
        cache=None,  # type: ignore[arg-type]
        embedder=mixed_retriever.embedder,
        distractors=frozenset(),
    )
    suite = evaluate_dev(collections, dev, mixed_settings.models.answer_scorer)

    assert suite["total"] == cli["total"] == 10
    assert suite["passed"] == cli["passed"] and suite["quotes_verbatim"] == cli["quotes_verbatim"]
    assert [f["id"] for f in suite["failed"]] == [q["id"] for q in cli["questions"] if not q["passed"]]


def test_the_readme_verbose_bot_command_parses() -> None:
    """Issue 28, item 9: the README said to add `-v` to `newsbot bot`, and `newsbot bot -v` fails with
    "No such option: -v" (`-v` is `newsbot`'s own option). Every README command that logs verbosely parses."""
    import re

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    commands = [c.split() for c in re.findall(r"`\.venv/bin/newsbot ([^`]+)`", readme) if "-v" in c.split()]
    assert any(args[-1] == "bot" for args in commands), "the README shows how to run the bot with -v"
    assert "newsbot bot -v" not in readme and "(add `-v`" not in readme
    for args in commands:
        result = CliRunner().invoke(app, [*args, "--help"])
        assert result.exit_code == 0, (args, result.output)
