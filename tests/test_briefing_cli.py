"""`newsbot briefing [--since …] [TOPIC]`: what is new in the terminal, with the same fields as /briefing."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.conftest import make_settings
from tests.telegram.test_whats_new import FOLLOW_UP

runner = CliRunner()


@pytest.fixture
def writable_env(writable_seed_index, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    settings = make_settings(writable_seed_index)
    monkeypatch.setenv("NEWSBOT_DATA_DIR", str(writable_seed_index))
    monkeypatch.setenv("NEWSBOT_MODEL_CACHE_DIR", str(settings.models.model_cache_dir))
    return settings


def test_briefing_since_a_moment_lists_only_the_articles_added_after_it(writable_env, e5_embedder) -> None:
    from retrieval.backends import index_uploaded_article

    time.sleep(1.1)  # the seeds entered the index at least a second before the cut
    cut = dt.datetime.now().astimezone().isoformat(timespec="seconds")  # with its UTC offset
    time.sleep(1.1)
    added = index_uploaded_article(FOLLOW_UP.encode(), "pentagon.txt", writable_env, e5_embedder)

    result = runner.invoke(app, ["briefing", "--since", cut, "--language", "en", "--json"])
    assert result.exit_code == 0, result.output
    briefing = json.loads(result.output)
    assert briefing["new_articles"] == 1
    (story,) = briefing["stories"]
    assert [n["doc_id"] for n in story["new"]] == [added.doc_id]
    assert [f["value"] for f in story["new"][0]["new_figures"]] == ["11.000"]
    assert [a["doc_id"] for a in briefing["newest"]] == [added.doc_id]

    text = runner.invoke(app, ["briefing", "--since", cut, "--language", "en"]).output
    assert "New since" in text and "new: Pentagon: 11.000 nordkoreanische Soldaten in Russland" in text
    assert "Nothing new since" in runner.invoke(app, ["briefing", "--since", "0h", "--language", "en"]).output


def test_an_unreadable_since_is_a_usage_error(writable_env) -> None:
    result = runner.invoke(app, ["briefing", "--since", "yesterday-ish"])
    assert result.exit_code == 2
    assert "neither a duration" in result.output
