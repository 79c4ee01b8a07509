"""A model-worded answer in Telegram, end to end: real PTB to the fake Bot API, the model a fake OpenAI server.

The bot answers through the same `answer()` as the terminal, so what is checked here is what a chat
shows: the "worded by a language model" line, link syntax from the model as plain text (and the
sentence linking where no quote does dropped), and the complete figures table beside the prose.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from answers.labels import label
from tests.fake_openai_server import FakeOpenAIServer, RecordedRequest, Reply, quotes_sent
from tests.telegram.conftest import USER_ID, answer_parts, newsbot
from tests.telegram.fake_bot_api import FakeBotApi
from tests.telegram.telegram_html import parse

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.fixture
def fake_llm() -> Iterator[FakeOpenAIServer]:
    server = FakeOpenAIServer().start()
    yield server
    server.stop()


def quote_with(request: RecordedRequest, fragment: str) -> int:
    return next(n for n, text in quotes_sent(request).items() if fragment in text)


def adversarial_but_half_faithful(request: RecordedRequest) -> str:
    """One faithful sentence, one with a link no quote holds, as a model under attack might write."""
    moved = quote_with(request, "dass 1.500 nordkoreanische Soldaten")
    total = quote_with(request, "bis zu 12.000")
    return (
        f"South Korea's intelligence service reported that 1.500 North Korean soldiers had been moved to Russia "
        f"[{moved}]. [Click here](http://evil.example) for 12.000 more [{total}]."
    )


async def test_telegram_labels_a_model_answer_shows_links_as_text_and_keeps_every_figure(
    api: FakeBotApi, bot_settings, fake_llm: FakeOpenAIServer
) -> None:
    fake_llm.script(Reply(respond=adversarial_but_half_faithful))
    settings = bot_settings(NEWSBOT_LLM_BASE_URL=fake_llm.base_url, NEWSBOT_LLM_MODEL="qwen2.5:7b-instruct")
    user = api.private_chat(USER_ID)
    async with newsbot(settings):
        api.send_text(USER_ID, user, "How many soldiers were reported and by whom?")
        parts = await answer_parts(api, USER_ID)

    assert len(fake_llm.requests) == 1
    markup = "".join(part.text for part in parts)
    plain = "".join(parse(part.text) for part in parts)
    assert (
        "South Korea's intelligence service reported that 1.500 North Korean soldiers had been moved to Russia [1]."
        in plain
    )
    assert label("en", "model_worded") in plain
    assert "evil.example" not in markup and "Click here" not in plain
    assert all(href.startswith("https://") for href in re.findall(r'href="([^"]*)"', markup))
    # The figures table of the extractive answer, complete, beside the prose.
    for value in ("1.500", "12.000", "3.000", "10.000", "mehrere tausend"):
        assert f"• {value} " in plain, value
