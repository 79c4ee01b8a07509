"""One settings object: every NEWSBOT_*/TELEGRAM_* variable sets a field, or is an error that names it."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from config.errors import SettingsError
from config.settings import SECTIONS, Settings, known_variables, load_settings


def test_variables_reach_their_sections_from_the_environment_and_env_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("NEWSBOT_CHUNK_SENTENCES=6\nTELEGRAM_ADMIN_IDS=1, 2\nNEWSBOT_LLM_MODEL=qwen\nUNRELATED=1\n")
    monkeypatch.setenv("NEWSBOT_TOP_K", "12")
    monkeypatch.setenv("NEWSBOT_ABSTAIN_THRESHOLD", "0.9")
    monkeypatch.setenv("NEWSBOT_TEST_SOMETHING", "the test suite's own, not a setting")

    settings = load_settings(env_file)

    assert settings.retrieval.chunk_sentences == 6 and settings.retrieval.top_k == 12
    assert settings.models.abstain_threshold == 0.9
    assert settings.telegram.admin_ids == [1, 2] and settings.llm.model == "qwen"


def test_the_environment_wins_over_the_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("NEWSBOT_TOP_K=3\n")
    monkeypatch.setenv("NEWSBOT_TOP_K", "7")
    assert load_settings(env_file).retrieval.top_k == 7


@pytest.mark.parametrize(
    ("variable", "suggestion"),
    [
        ("NEWSBOT_CHUNK_SENTENSES", "NEWSBOT_CHUNK_SENTENCES"),
        ("NEWSBOT_LLM_MODLE", "NEWSBOT_LLM_MODEL"),
        ("TELEGRAM_BOT_TOKN", "TELEGRAM_BOT_TOKEN"),
        ("NEWSBOT_ABSTAIN_TRESHOLD", "NEWSBOT_ABSTAIN_THRESHOLD"),
    ],
)
@pytest.mark.parametrize("where", ["environment", ".env file"])
def test_an_unknown_variable_is_an_error_that_names_it_and_suggests_the_setting_meant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, suggestion: str, where: str
) -> None:
    env_file = tmp_path / ".env"
    if where == "environment":
        monkeypatch.setenv(variable, "3")
        env_file.write_text("")
    else:
        env_file.write_text(f"{variable}=3\n")

    with pytest.raises(SettingsError) as caught:
        load_settings(env_file)

    message = str(caught.value)
    assert message == f"unknown setting {variable} (in the {where}); did you mean {suggestion}?"


def test_an_invalid_value_names_its_variable_but_never_echoes_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSBOT_TOP_K", "s3cr3t-not-a-number")
    with pytest.raises(SettingsError, match=r"^NEWSBOT_TOP_K \(in the environment\): ") as caught:
        load_settings(None)
    assert "s3cr3t" not in str(caught.value)


def test_every_section_forbids_extra_fields_and_every_field_has_a_distinct_variable() -> None:
    for _, _, section in SECTIONS:
        assert section.model_config.get("extra") == "forbid"
    assert Settings.model_config.get("extra") == "forbid"
    names = known_variables()
    assert len(names) == len(set(names)) and "NEWSBOT_CHUNK_SENTENCES" in names and "NEWSBOT_LLM_BASE_URL" in names


def test_env_example_lists_exactly_the_settings() -> None:
    example = Path(__file__).resolve().parents[1] / ".env.example"
    listed = {
        line.lstrip("# ").split("=", 1)[0]
        for line in example.read_text(encoding="utf-8").splitlines()
        if "=" in line and line.lstrip("# ").startswith(("NEWSBOT_", "TELEGRAM_"))
    }
    assert listed == set(known_variables())


@pytest.mark.parametrize("command", [["ask", "Wer ist Sluzki?"], ["search", "Kursk"], ["index"]])
def test_the_cli_turns_an_unknown_setting_into_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch, command: list[str]) -> None:
    monkeypatch.setenv("NEWSBOT_CHUNK_SENTENSES", "3")

    result = CliRunner().invoke(app, command)

    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    expected = (
        "error: invalid configuration: unknown setting NEWSBOT_CHUNK_SENTENSES (in the environment); "
        "did you mean NEWSBOT_CHUNK_SENTENCES?"
    )
    assert lines == [expected]
