"""Adding articles from the chat: admins only, confirmed with title and date, bad files leave the index alone."""

from __future__ import annotations

import pytest

from retrieval.stores.embedded.store import current_generation
from tests.telegram.conftest import ADMIN_ID, USER_ID, answer_parts, newsbot
from tests.telegram.fake_bot_api import FakeBotApi
from tests.telegram.telegram_html import blockquotes

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

NEW_ARTICLE = """Hochwasser in Passau: Pegel der Donau steigt auf 11,20 Meter
22.10.2024

Die Donau in Passau hat am Dienstagmorgen einen Pegelstand von 11,20 Metern erreicht, teilte der Hochwassernachrichtendienst Bayern mit.
Die Stadt rief den Katastrophenfall aus und sperrte die Altstadt für den Verkehr.
Nach Angaben der Feuerwehr mussten rund 400 Anwohner ihre Wohnungen verlassen.
""".encode()


async def test_an_admin_uploads_an_article_and_the_next_question_quotes_it(api: FakeBotApi, bot_settings) -> None:
    settings = bot_settings()
    admin = api.private_chat(ADMIN_ID, language_code="de")
    async with newsbot(settings):
        api.send_document(ADMIN_ID, admin, "passau-hochwasser.txt", NEW_ARTICLE)
        (confirmation,) = await api.wait_for_messages(ADMIN_ID, timeout=30)
        api.send_text(ADMIN_ID, admin, "Welchen Pegelstand erreichte die Donau in Passau?")
        parts = await answer_parts(api, ADMIN_ID, after=1)

    assert confirmation.text.startswith(
        "Indexiert: „Hochwasser in Passau: Pegel der Donau steigt auf 11,20 Meter“ (2024-10-22)"
    )
    assert "6 Artikel im Index" in confirmation.text
    quotes = [quote for part in parts for quote in blockquotes(part.text)]
    assert "[1] Die Donau in Passau hat am Dienstagmorgen einen Pegelstand von 11,20 Metern erreicht, " \
        "teilte der Hochwassernachrichtendienst Bayern mit." == quotes[0]  # fmt: skip
    assert (settings.retrieval.data_dir / "uploads" / "passau-hochwasser.txt").read_bytes() == NEW_ARTICLE


async def test_an_upload_from_someone_who_is_not_an_admin_is_refused_and_not_downloaded(
    api: FakeBotApi, bot_settings
) -> None:
    settings = bot_settings()
    before = current_generation(settings.index_dir)
    user = api.private_chat(USER_ID)
    async with newsbot(settings):
        api.send_document(USER_ID, user, "passau-hochwasser.txt", NEW_ARTICLE)
        (refusal,) = await api.wait_for_messages(USER_ID)

    assert refusal.text == "Sorry, only the bot's admins can add articles."
    assert not any(c.method in ("getFile", "file") for c in api.calls)
    assert current_generation(settings.index_dir) == before


@pytest.mark.parametrize(
    ("file_name", "content", "reason"),
    [
        ("scan.pdf", b"%PDF-1.7 binary", "unsupported file type .pdf; send .txt, .md or .html"),
        ("leer.txt", b"   \n", "file is empty"),
        ("bild.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "looks binary (NUL bytes), not a text article"),
        ("kurz.md", b"# Titel\n\nZu kurz.", "no article text left after cleaning"),
    ],
)
async def test_a_bad_file_gets_a_clear_message_and_the_index_is_unchanged(
    api: FakeBotApi, bot_settings, file_name: str, content: bytes, reason: str
) -> None:
    settings = bot_settings()
    before = current_generation(settings.index_dir)
    admin = api.private_chat(ADMIN_ID)
    async with newsbot(settings):
        api.send_document(ADMIN_ID, admin, file_name, content)
        (message,) = await api.wait_for_messages(ADMIN_ID, timeout=30)

    assert message.text.startswith(f"I could not index {file_name}: {reason}")
    assert message.text.endswith("The index is unchanged.")
    assert str(settings.retrieval.data_dir) not in message.text  # no server paths in chat
    assert current_generation(settings.index_dir) == before
    assert not (settings.retrieval.data_dir / "uploads" / file_name).exists()
