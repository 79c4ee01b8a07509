"""A strict reading of Telegram's HTML parse mode, used by the fake Bot API server and the tests.

Written from the Bot API documentation (https://core.telegram.org/bots/api#html-style), not from
newsbot's formatter, so the two check each other: only the listed tags, balanced; `<`, `>` and
`&` only as part of a tag or an entity; no blockquote inside a blockquote; nothing inside
`<code>`/`<pre>` but text; at most 4096 UTF-16 code units of text after parsing, and not empty.
"""

from __future__ import annotations

import html
import re

MAX_TEXT_UTF16 = 4096
ALLOWED_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "code", "pre",
    "blockquote", "tg-emoji",
}  # fmt: skip
_PIECE = re.compile(r"<(/?)([a-zA-Z][\w-]*)((?:\s+[a-zA-Z-]+(?:=\"[^\"<>]*\")?)*)\s*>|&(?:#\d+|#x[0-9a-fA-F]+|lt|gt|amp|quot);|[<>&]")
_HREF = re.compile(r'\s+href="([^"]*)"')


class TelegramHTMLError(ValueError):
    """Text Telegram would answer with "Bad Request: can't parse entities"."""


def parse(text: str) -> str:
    """The plain text Telegram would show for `text`; raises `TelegramHTMLError` where it would refuse it."""
    stack: list[str] = []
    plain: list[str] = []
    position = 0
    for match in _PIECE.finditer(text):
        plain.append(text[position : match.start()])
        position = match.end()
        piece = match.group(0)
        if piece in "<>&":
            raise TelegramHTMLError(f"unescaped {piece!r} at offset {match.start()}")
        if piece.startswith("&"):
            plain.append(html.unescape(piece))
            continue
        closing, tag, attributes = match.group(1), match.group(2).lower(), match.group(3) or ""
        if tag not in ALLOWED_TAGS:
            raise TelegramHTMLError(f"unsupported tag <{tag}> at offset {match.start()}")
        if closing:
            if not stack or stack[-1] != tag:
                raise TelegramHTMLError(f"unexpected end tag </{tag}> at offset {match.start()}")
            stack.pop()
            continue
        if stack and stack[-1] in ("code", "pre") and not (stack[-1] == "pre" and tag == "code"):
            raise TelegramHTMLError(f"<{tag}> inside <{stack[-1]}>")
        if tag == "blockquote" and "blockquote" in stack:
            raise TelegramHTMLError("nested <blockquote>")
        if tag == "a" and not _HREF.match(attributes):
            raise TelegramHTMLError("<a> without href")
        stack.append(tag)
    plain.append(text[position:])
    if stack:
        raise TelegramHTMLError(f"unclosed tags {stack}")
    result = "".join(plain)
    if not result.strip():
        raise TelegramHTMLError("message text is empty")
    return result


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def check_message(text: str) -> str:
    """Like `parse`, and also refuse what Telegram refuses as "message is too long"."""
    plain = parse(text)
    if utf16_length(plain) > MAX_TEXT_UTF16:
        raise TelegramHTMLError(f"message is too long ({utf16_length(plain)} UTF-16 code units)")
    return plain


def blockquotes(text: str) -> list[str]:
    """The plain text of every <blockquote> in a message."""
    return [parse(inner) if inner.strip() else "" for inner in re.findall(r"<blockquote[^>]*>(.*?)</blockquote>", text, re.DOTALL)]
