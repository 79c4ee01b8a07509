"""A small fake Telegram Bot API server on 127.0.0.1, for running the real bot against it.

It speaks HTTP the way api.telegram.org does for the methods newsbot uses: getMe, getUpdates (long
polling over a queue the test fills with real update JSON), sendMessage, sendChatAction,
editMessageText, answerCallbackQuery, setMyCommands, deleteWebhook, setWebhook, getFile and file
downloads. Every call is recorded. Like Telegram it refuses HTML it cannot parse, messages over
4096 characters and unknown chats; a test can make the next calls of a method fail (`fail_next`,
`flood`: 429 with retry_after, `break_down`: 500), answer late (`delay_next`), or be processed and
then lose the connection before the reply (`drop_after_processing`), as a send that Telegram
handled but whose answer never reached the bot.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web

from tests.telegram.telegram_html import TelegramHTMLError, check_message, utf16_length

TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghijklm"
BOT_USER = {
    "id": 4242,
    "is_bot": True,
    "first_name": "Newsbot",
    "username": "NewsbotTestBot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
# Parameter values that are strings even when they look like JSON ("123" as a question stays text).
_STRING_PARAMS = {"text", "parse_mode", "action", "callback_query_id", "file_id", "url", "secret_token", "language_code"}
_COMMAND = re.compile(r"^/[A-Za-z0-9_]+(?:@[A-Za-z0-9_]+)?")
_MENTION = re.compile(r"(?<![\w@])@[A-Za-z][A-Za-z0-9_]{3,31}")


@dataclass
class ApiCall:
    """One request the bot made: method, decoded parameters, HTTP status answered, and when."""

    method: str
    params: dict[str, Any]
    status: int = 200
    at: float = field(default_factory=time.monotonic)
    result: Any = None
    dropped: bool = False  # processed, but the connection was closed before the reply

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def text(self) -> str:
        return str(self.params.get("text", ""))

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return int(value) if value is not None else None

    @property
    def reply_to(self) -> int | None:
        reply = self.params.get("reply_parameters") or {}
        return reply.get("message_id")


@dataclass
class _Failure:
    status: int
    description: str
    parameters: dict[str, Any] | None


class FakeBotApi:
    """The server; `async with FakeBotApi() as api:` starts it on a free port."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.calls: list[ApiCall] = []
        self.files: dict[str, tuple[str, bytes]] = {}  # file_id -> (file_path, content)
        self.chats: dict[int, dict[str, Any]] = {}
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(100)
        self._file_ids = itertools.count(1)
        self._failures: dict[str, list[_Failure]] = defaultdict(list)
        self._delays: dict[str, list[float]] = defaultdict(list)
        self._drops: dict[str, int] = defaultdict(int)
        self._changed = asyncio.Event()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.confirmed_offset = 0

    # -- server ------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._closing.set()
        self._changed.set()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        call = ApiCall(method, await _params(request))
        self.calls.append(call)
        failures = self._failures.get(method)
        if failures:
            failure = failures.pop(0)
            call.status = failure.status
            return _error(failure.status, failure.description, failure.parameters)
        try:
            result = await self._answer(call)
        except _ApiError as e:
            call.status = e.status
            return _error(e.status, e.description)
        call.result = result
        delays = self._delays.get(method)
        if delays:
            await asyncio.sleep(delays.pop(0))  # processed at once, answered late
        if self._drops.get(method):
            self._drops[method] -= 1
            call.dropped = True
            if request.transport is not None:
                request.transport.abort()  # the client sees the connection close with no reply
            raise web.HTTPServiceUnavailable()  # never written: the transport is gone
        return web.json_response({"ok": True, "result": result})

    async def _answer(self, call: ApiCall) -> Any:
        params = call.params
        if call.method == "getMe":
            return BOT_USER
        if call.method == "getUpdates":
            return await self._get_updates(params)
        if call.method in ("deleteWebhook", "setWebhook", "setMyCommands", "sendChatAction", "answerCallbackQuery"):
            return True
        if call.method in ("sendMessage", "editMessageText"):
            return self._message_result(call)
        if call.method == "getFile":
            file_id = params.get("file_id", "")
            if file_id not in self.files:
                raise _ApiError(400, "Bad Request: invalid file_id")
            path, content = self.files[file_id]
            return {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": len(content), "file_path": path}
        raise _ApiError(404, "Not Found: method not found")

    def _message_result(self, call: ApiCall) -> dict[str, Any]:
        chat_id = call.chat_id
        if chat_id not in self.chats:
            raise _ApiError(400, "Bad Request: chat not found")
        text = call.text
        try:
            plain = check_message(text) if call.params.get("parse_mode") == "HTML" else text
        except TelegramHTMLError as e:
            raise _ApiError(400, f"Bad Request: can't parse entities: {e}") from e
        if not plain.strip():
            raise _ApiError(400, "Bad Request: message text is empty")
        if utf16_length(plain) > 4096:
            raise _ApiError(400, "Bad Request: message is too long")
        message_id = call.params.get("message_id") if call.method == "editMessageText" else next(self._message_ids)
        return {"message_id": message_id, "date": int(time.time()), "chat": self.chats[chat_id], "from": BOT_USER, "text": plain}

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        if offset:
            self.confirmed_offset = max(self.confirmed_offset, offset)
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        while True:
            pending = [u for u in self._updates if u["update_id"] >= offset]
            remaining = deadline - time.monotonic()
            if pending or remaining <= 0 or self._closing.is_set():
                return pending[:limit]
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                pass

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        path = request.match_info["path"]
        call = ApiCall("file", {"path": path})
        self.calls.append(call)
        failures = self._failures.get("file")
        if failures:
            failure = failures.pop(0)
            call.status = failure.status
            return web.Response(status=failure.status, text=failure.description)
        for file_path, content in self.files.values():
            if file_path == path:
                return web.Response(body=content, content_type="application/octet-stream")
        call.status = 404
        return web.Response(status=404, text="Not Found")

    # -- what tests do -----------------------------------------------------------------------

    def fail_next(
        self, method: str, status: int, description: str, parameters: dict[str, Any] | None = None, times: int = 1
    ) -> None:
        """Answer the next `times` calls of `method` ("file" for downloads) with this error."""
        self._failures[method].extend(_Failure(status, description, parameters) for _ in range(times))

    def flood(self, method: str, times: int, retry_after: int = 1) -> None:
        """Refuse the next `times` calls of `method` with 429 Too Many Requests, retry_after seconds."""
        self.fail_next(method, 429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}, times)

    def break_down(self, method: str, times: int) -> None:
        """Answer the next `times` calls of `method` with 500 Internal Server Error."""
        self.fail_next(method, 500, "Internal Server Error", times=times)

    def heal(self) -> None:
        """Forget every failure, delay and drop still queued: the server behaves again."""
        self._failures.clear()
        self._delays.clear()
        self._drops.clear()

    def delay_next(self, method: str, seconds: float, times: int = 1) -> None:
        """Process the next `times` calls of `method` at once but send the reply only after `seconds`."""
        self._delays[method].extend([seconds] * times)

    def drop_after_processing(self, method: str, times: int = 1) -> None:
        """Process the next `times` calls of `method` (a message counts as sent), then drop the connection."""
        self._drops[method] += times

    def delivered(self, chat_id: int | None = None) -> list[ApiCall]:
        """Messages that reached the chat (`chat_id`), oldest first, whether or not the bot got the reply."""
        return [
            c for c in self.calls
            if c.method == "sendMessage" and c.result is not None and (chat_id is None or c.chat_id == chat_id)
        ]  # fmt: skip

    def enqueue(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue a raw update (an `update_id` is assigned) for the bot's next getUpdates."""
        update = {"update_id": next(self._update_ids), **update}
        self._updates.append(update)
        self._changed.set()
        return update

    @staticmethod
    def user(user_id: int, first_name: str = "Ada", language_code: str = "en") -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": language_code}

    def private_chat(self, user_id: int, first_name: str = "Ada", language_code: str = "en") -> dict[str, Any]:
        """Open a private chat with a user; returns the user (the sender of its messages)."""
        self.chats[user_id] = {"id": user_id, "type": "private", "first_name": first_name}
        return self.user(user_id, first_name, language_code)

    def group_chat(self, chat_id: int, title: str = "Newsroom") -> dict[str, Any]:
        self.chats[chat_id] = {"id": chat_id, "type": "supergroup", "title": title}
        return self.chats[chat_id]

    def send_text(
        self, chat_id: int, sender: dict[str, Any], text: str, reply_to: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Queue a text message as Telegram delivers it, with command and mention entities."""
        message = self.text_message(chat_id, sender, text, reply_to)
        self.enqueue({"message": message})
        return message

    def text_message(
        self, chat_id: int, sender: dict[str, Any], text: str, reply_to: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A text message as Telegram would deliver it (not queued: webhook tests post it themselves)."""
        message = self._message(chat_id, sender)
        message["text"] = text
        entities = _entities(text)
        if entities:
            message["entities"] = entities
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        return message

    def send_document(self, chat_id: int, sender: dict[str, Any], file_name: str, content: bytes) -> dict[str, Any]:
        """Queue a message carrying a file; the file can then be fetched with getFile."""
        file_id = f"file-{next(self._file_ids)}"
        self.files[file_id] = (f"documents/{file_id}_{file_name}", content)
        message = self._message(chat_id, sender)
        message["document"] = {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_name": file_name, "file_size": len(content)}
        self.enqueue({"message": message})
        return message

    def press_button(self, sender: dict[str, Any], bot_message: dict[str, Any], data: str) -> dict[str, Any]:
        """Queue a callback query, as when a user presses an inline button under `bot_message`."""
        query = {
            "id": f"cq{next(self._update_ids)}",
            "from": sender,
            "chat_instance": "ci-1",
            "message": bot_message,
            "data": data,
        }
        return self.enqueue({"callback_query": query})

    def _message(self, chat_id: int, sender: dict[str, Any]) -> dict[str, Any]:
        return {"message_id": next(self._message_ids), "date": int(time.time()), "chat": self.chats[chat_id], "from": sender}

    def sent(self, chat_id: int | None = None) -> list[ApiCall]:
        """Messages the bot sent successfully (to `chat_id`), oldest first."""
        return [c for c in self.calls if c.method == "sendMessage" and c.ok and (chat_id is None or c.chat_id == chat_id)]

    async def wait_for(
        self, predicate: Callable[[ApiCall], bool], count: int = 1, timeout: float = 20.0
    ) -> list[ApiCall]:
        """The recorded calls matching `predicate`, once there are `count` of them (fails after `timeout` s)."""
        deadline = time.monotonic() + timeout
        while True:
            matching = [c for c in self.calls if predicate(c)]
            if len(matching) >= count:
                return matching
            if time.monotonic() > deadline:
                made = [f"{c.method}({c.status})" for c in self.calls if c.method != "getUpdates"]
                raise AssertionError(f"waited {timeout} s for {count} matching calls, got {len(matching)}; calls: {made}")
            await asyncio.sleep(0.02)

    async def wait_for_messages(self, chat_id: int, count: int = 1, timeout: float = 20.0) -> list[ApiCall]:
        return await self.wait_for(lambda c: c.method == "sendMessage" and c.ok and c.chat_id == chat_id, count, timeout)

    async def wait_until_delivered(self, update: dict[str, Any], timeout: float = 10.0) -> None:
        """Until the bot has fetched `update` and confirmed it with its next getUpdates offset."""
        deadline = time.monotonic() + timeout
        while self.confirmed_offset <= update["update_id"]:
            if time.monotonic() > deadline:
                raise AssertionError(f"update {update['update_id']} was not fetched within {timeout} s")
            await asyncio.sleep(0.02)


class _ApiError(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def _error(status: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)


async def _params(request: web.Request) -> dict[str, Any]:
    """Parameters as PTB sends them: form fields whose values are JSON unless they are plain strings."""
    if request.content_type == "application/json":
        return await request.json()
    if request.method == "GET":
        form: Any = request.query
    else:
        form = await request.post()
    params: dict[str, Any] = {}
    for key, value in form.items():
        if not isinstance(value, str):
            continue  # an uploaded file; newsbot never sends any
        if key in _STRING_PARAMS:
            params[key] = value
            continue
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    return params


def _entities(text: str) -> list[dict[str, Any]]:
    """The entities Telegram's clients attach: a leading /command and @mentions (offsets in UTF-16 units)."""
    entities = []
    command = _COMMAND.match(text)
    if command:
        entities.append({"type": "bot_command", "offset": 0, "length": utf16_length(command.group(0))})
    for mention in _MENTION.finditer(text):
        if command and mention.start() < command.end():
            continue
        entities.append(
            {"type": "mention", "offset": utf16_length(text[: mention.start()]), "length": utf16_length(mention.group(0))}
        )
    return entities
