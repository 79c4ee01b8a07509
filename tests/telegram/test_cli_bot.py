"""`newsbot bot`: a missing, malformed or rejected token is one clear line, and the token is never printed."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.conftest import MODEL_CACHE
from tests.telegram.fake_bot_api import FakeBotApi

runner = CliRunner()


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (None, "TELEGRAM_BOT_TOKEN is not set; create a bot with @BotFather"),
        ("", "TELEGRAM_BOT_TOKEN is not set"),
        ("123456:too-short", "TELEGRAM_BOT_TOKEN does not look like a bot token"),
        ("bot123456:AAFakeTokenForTestsOnly_abcdefghijklm", "TELEGRAM_BOT_TOKEN does not look like a bot token"),
        ("123456:AAFake Token With Spaces abcdefghijklmnop", "TELEGRAM_BOT_TOKEN does not look like a bot token"),
    ],
)
def test_bot_refuses_a_missing_or_malformed_token_before_anything_starts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, token: str | None, message: str
) -> None:
    if token is not None:
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", token)

    result = runner.invoke(app, ["bot"])

    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.output
    if token:
        assert token not in result.output
    assert not (tmp_path / "data" / "index").exists()  # nothing was built or loaded


def test_bot_refuses_an_unknown_timezone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:AAFakeTokenForTestsOnly_abcdefghijklm")
    monkeypatch.setenv("TELEGRAM_TIMEZONE", "Mars/Olympus_Mons")

    result = runner.invoke(app, ["bot"])

    assert result.exit_code == 2 and "is not a timezone" in result.stderr


@pytest.mark.anyio
@pytest.mark.slow
async def test_newsbot_bot_reports_a_token_telegram_rejects_in_one_line_without_printing_it(
    api: FakeBotApi, writable_seed_index: Path, tmp_path: Path
) -> None:
    rejected = "987654321:AAThisTokenIsWellFormedButUnknown_xyz"
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": rejected,
        "TELEGRAM_API_BASE_URL": api.base_url,
        "TELEGRAM_API_FILE_URL": api.file_url,
        "NEWSBOT_DATA_DIR": str(writable_seed_index),
        "NEWSBOT_MODEL_CACHE_DIR": str(MODEL_CACHE),
    }
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("newsbot")), "-v", "bot",
        env=env, cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    output = (stdout + stderr).decode()

    assert process.returncode == 1, output[-2000:]
    assert "error: Telegram rejected TELEGRAM_BOT_TOKEN" in output
    assert rejected not in output and rejected.split(":")[1] not in output
    assert "Traceback" not in output


def test_the_token_is_redacted_from_log_messages_and_tracebacks() -> None:
    import io
    import logging

    from bot.app import RedactToken

    token = "123456789:AAFakeTokenForTestsOnly_abcdefghijklm"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactToken(token))
    log = logging.getLogger("tests.redaction")
    log.addHandler(handler)
    try:
        log.warning("POST https://api.telegram.org/bot%s/getMe", token)
        try:
            raise RuntimeError(f"The token `{token}` was rejected by the server.")
        except RuntimeError:
            log.exception("initialize failed")
    finally:
        log.removeHandler(handler)

    assert token not in stream.getvalue()
    assert "bot<TELEGRAM_BOT_TOKEN>/getMe" in stream.getvalue() and "The token `<TELEGRAM_BOT_TOKEN>`" in stream.getvalue()
