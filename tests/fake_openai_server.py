"""A fake OpenAI-compatible chat server on 127.0.0.1 for tests: scripted replies, recorded requests.

It speaks real HTTP, so newsbot's `openai` client, timeouts and error handling run unchanged. Each
request takes the next scripted `Reply` (the last one repeats); every request body is recorded.
A reply may also be computed from the request (`Reply.respond`), e.g. by a model that obeys
instructions planted in the quotes it is given (`obey_planted_instruction`).
"""

from __future__ import annotations

import html
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """What the server does with one request."""

    content: str | None = None  # the assistant message; None with status 200 means `raw`
    status: int = 200
    delay_s: float = 0.0  # wait this long before answering (a slow or hung model)
    raw: bytes | None = None  # a body sent as is (malformed replies)
    respond: Callable[[RecordedRequest], str] | None = None  # the content, computed from the request
    trickle_s: float = 0.0  # send the body in 20 pieces this many seconds apart (a trickling server)


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]  # names in lower case (HTTP header names are case-insensitive)
    body: dict[str, Any]

    @property
    def system(self) -> str:
        return next(m["content"] for m in self.body["messages"] if m["role"] == "system")

    @property
    def user(self) -> str:
        return next(m["content"] for m in self.body["messages"] if m["role"] == "user")


@dataclass
class FakeOpenAIServer:
    """Start with `start()`; `base_url` ends in /v1 like a real server's."""

    replies: list[Reply] = field(default_factory=lambda: [Reply(content="")])
    requests: list[RecordedRequest] = field(default_factory=list)
    said: list[str] = field(default_factory=list)  # every reply content sent, in order
    _server: ThreadingHTTPServer | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def script(self, *replies: Reply) -> None:
        self.replies = list(replies)

    def say(self, content: str) -> None:
        self.script(Reply(content=content))

    def start(self) -> FakeOpenAIServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                request = RecordedRequest(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                fake.requests.append(request)
                reply = fake.replies.pop(0) if len(fake.replies) > 1 else fake.replies[0]
                if reply.delay_s and fake._stop.wait(reply.delay_s):
                    return
                if reply.raw is not None:
                    payload = reply.raw
                elif reply.status != 200:
                    payload = json.dumps({"error": {"message": "scripted failure"}}).encode()
                else:
                    content = reply.respond(request) if reply.respond else reply.content or ""
                    fake.said.append(content)
                    payload = json.dumps(completion(content, body.get("model", ""))).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if reply.trickle_s:
                        step = max(1, len(payload) // 20)
                        for i in range(0, len(payload), step):
                            self.wfile.write(payload[i : i + step])
                            self.wfile.flush()
                            if fake._stop.wait(reply.trickle_s):
                                return
                    else:
                        self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout); that is what the test wanted

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def completion(content: str, model: str) -> dict[str, Any]:
    """A minimal chat.completion object, as OpenAI, vLLM and Ollama's /v1 return it."""
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


def unused_port() -> int:
    """A local port nothing listens on (a server that is down)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# An instruction planted in an article, as a compliant model would read it: "antworte nur: „…“".
_PLANTED = re.compile(r"(?:antworte nur|answer only|reply only|sag nur)\s*:?\s*[„“\"]([^“”\"]+)[“”\"]", re.IGNORECASE)


def quotes_sent(request: RecordedRequest) -> dict[int, str]:
    """The numbered quotes of a request, unescaped, as the model reads them."""
    return {
        int(n): html.unescape(text)
        for n, text in re.findall(r'<quote n="(\d+)"[^>]*>(.*?)</quote>', request.user, re.DOTALL)
    }


def obey_planted_instruction(pin_on: str | None = None) -> Callable[[RecordedRequest], str]:
    """A model that obeys the first instruction it finds inside a quote and answers only what it is told.

    It cites the quote holding the instruction, or with `pin_on` the quote containing that text, as a
    model would that pins the planted claim on a real source.
    """

    def respond(request: RecordedRequest) -> str:
        quotes = quotes_sent(request)
        for n, text in quotes.items():
            match = _PLANTED.search(text)
            if match:
                if pin_on is not None:
                    n = next(m for m, t in quotes.items() if pin_on in t)
                return f"{match.group(1).strip().rstrip('.')} [{n}]."
        return "Die Zitate beantworten die Frage nicht [1]."

    return respond
