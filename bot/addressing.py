"""Whether a group message is meant for this bot, and the question it carries.

In groups the bot answers only when addressed: a mention (@ThisBot or a text mention of its
user), or a reply to one of its own messages. `/ask@OtherBot` never reaches here: PTB's
CommandHandler already checks the @username of a command.
"""

from __future__ import annotations

import re

from telegram import Message, MessageEntity

_LEFTOVER_PUNCTUATION = re.compile(r"^[\s,:;—–-]+|[\s,:;—–-]+$")


def _text_and_entities(message: Message, types: list[str]) -> tuple[str, dict[MessageEntity, str]]:
    """The message's text and entities, or its caption's (a photo with a question under it)."""
    if message.text is None and message.caption is not None:
        return message.caption, message.parse_caption_entities(types)
    return message.text or "", message.parse_entities(types)


def question_addressed_to(message: Message, bot_id: int, bot_username: str) -> str | None:
    """The question in `message` (or its caption) when it mentions or replies to the bot, else None."""
    text, _ = _text_and_entities(message, [])
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and replied.from_user.id == bot_id:
        return _without_mentions(message, bot_id, bot_username)
    mentions = _own_mentions(message, bot_id, bot_username)
    if not mentions:
        return None
    return _without_mentions(message, bot_id, bot_username) if text else None


def _own_mentions(message: Message, bot_id: int, bot_username: str) -> list[str]:
    """The mention texts in `message` that name this bot (by @username or as a text mention)."""
    own = f"@{bot_username}".lower()
    return [
        value
        for entity, value in _text_and_entities(message, [MessageEntity.MENTION, MessageEntity.TEXT_MENTION])[1].items()
        if (entity.type == MessageEntity.MENTION and value.lower() == own)
        or (entity.type == MessageEntity.TEXT_MENTION and entity.user is not None and entity.user.id == bot_id)
    ]


def _without_mentions(message: Message, bot_id: int, bot_username: str) -> str:
    text, _ = _text_and_entities(message, [])
    for mention in _own_mentions(message, bot_id, bot_username):
        text = text.replace(mention, " ", 1)
    return _LEFTOVER_PUNCTUATION.sub("", " ".join(text.split()))
