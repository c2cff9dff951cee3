"""A deliberately unfriendly OpenAI/Anthropic-compatible server, written apart from utils.llm_server.

Standard library only (http.server in a thread on 127.0.0.1), so the tests of utils.llm's boundary do not rest
on our own loopback server's idea of the protocol. Each request takes the next mode from `script` (then
`default`); a mode decides how badly the request is answered:

    ok            a well-formed answer: the text between the <document> lines (or the prompt), with " (tr)" after
                  each line that ends in a letter or a full stop, so it differs from its source as a translation does
    html          200 with a proxy's HTML error page
    cut           200 whose JSON body stops halfway (Content-Length says so too)
    empty         200 with "choices": [] (OpenAI) or "content": [] (Anthropic)
    null          200 whose message content is null (OpenAI) or an empty text block (Anthropic)
    trickle       200 whose JSON body arrives one byte every `trickle_delay` seconds
    quota         OpenAI's 429 insufficient_quota / Anthropic's 400 "credit balance is too low"
    billing       Anthropic's 402 billing_error
    wait          429 with Retry-After: `retry_after` seconds
    echo_auth     400 whose message repeats the Authorization header and the query string it received
    drop          closes the connection without answering
"""
from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

QUOTA_MESSAGE = (
    "You exceeded your current quota, please check your plan and billing details. For more information on this "
    "error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors."
)
CREDIT_MESSAGE = (
    "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or "
    "purchase credits."
)


class HostileServer:
    """`with HostileServer() as hs:` serves on hs.openai_url / hs.anthropic_url until the block ends."""

    def __init__(self, default: str = "ok", *, trickle_delay: float = 0.2, retry_after: int = 1) -> None:
        self.default = default
        self.script: deque[str] = deque()
        self.trickle_delay = trickle_delay
        self.retry_after = retry_after
        self.requests: list[tuple[str, str]] = []  # (path, mode)
        self.headers_seen: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="hostile-server", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def openai_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def next_mode(self, path: str, headers: dict[str, str]) -> str:
        with self._lock:
            mode = self.script.popleft() if self.script else self.default
            self.requests.append((path, mode))
            self.headers_seen.append(headers)
        return mode

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                anthropic = self.path.split("?")[0].endswith("/messages")
                mode = owner.next_mode(self.path, dict(self.headers.items()))
                answer = getattr(self, f"_{mode}")
                answer(body, anthropic)

            # --- answers -------------------------------------------------------------------------------------

            def _send(self, status: int, payload: bytes, content_type: str = "application/json",
                      headers: dict[str, str] | None = None) -> None:  # fmt: skip
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def _json(self, status: int, value: object, headers: dict[str, str] | None = None) -> None:
                self._send(status, json.dumps(value).encode(), headers=headers)

            def _ok(self, body: dict[str, Any], anthropic: bool) -> None:
                self._json(200, _answer(body, anthropic, _echo(body)))

            def _html(self, body: dict[str, Any], anthropic: bool) -> None:
                page = b"<html><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>"
                self._send(200, page, "text/html")

            def _cut(self, body: dict[str, Any], anthropic: bool) -> None:
                payload = json.dumps(_answer(body, anthropic, _echo(body))).encode()
                self._send(200, payload[: len(payload) // 2])

            def _empty(self, body: dict[str, Any], anthropic: bool) -> None:
                answer = _answer(body, anthropic, "")
                answer["content" if anthropic else "choices"] = []
                self._json(200, answer)

            def _null(self, body: dict[str, Any], anthropic: bool) -> None:
                answer = _answer(body, anthropic, "")
                if not anthropic:
                    answer["choices"][0]["message"]["content"] = None
                self._json(200, answer)

            def _trickle(self, body: dict[str, Any], anthropic: bool) -> None:
                payload = json.dumps(_answer(body, anthropic, _echo(body))).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.flush()
                try:
                    for i in range(len(payload)):
                        self.wfile.write(payload[i : i + 1])
                        self.wfile.flush()
                        time.sleep(owner.trickle_delay)
                except OSError:  # the client gave up, as it should
                    self.close_connection = True

            def _quota(self, body: dict[str, Any], anthropic: bool) -> None:
                if anthropic:
                    credit = {"type": "invalid_request_error", "message": CREDIT_MESSAGE}
                    self._json(400, {"type": "error", "error": credit})
                else:
                    quota = {"message": QUOTA_MESSAGE, "type": "insufficient_quota", "param": None,
                             "code": "insufficient_quota"}  # fmt: skip
                    self._json(429, {"error": quota})

            def _billing(self, body: dict[str, Any], anthropic: bool) -> None:
                message = "This organization has no payment method; add one under Plans & Billing."
                self._json(402, {"type": "error", "error": {"type": "billing_error", "message": message}})

            def _wait(self, body: dict[str, Any], anthropic: bool) -> None:
                error = {"message": "Slow down.", "type": "rate_limit_error"}
                self._json(429, {"type": "error", "error": error}, {"Retry-After": str(owner.retry_after)})

            def _echo_auth(self, body: dict[str, Any], anthropic: bool) -> None:
                seen = f"{self.headers.get('Authorization')} {self.headers.get('x-api-key')} {self.path}"
                self._json(400, {"type": "error", "error": {"type": "invalid_request_error",
                                                           "message": f"bad credentials: {seen}"}})  # fmt: skip

            def _drop(self, body: dict[str, Any], anthropic: bool) -> None:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

        return Handler


@contextlib.contextmanager
def silent_port() -> Iterator[int]:
    """A port on 127.0.0.1 that takes no connection: its listen queue is full, so a connect waits until it
    times out (a server that is down behind a firewall that drops packets, or hopelessly overloaded)."""
    with contextlib.ExitStack() as stack:
        listener = stack.enter_context(socket.socket())
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = int(listener.getsockname()[1])
        for _ in range(4):  # connections that are never accepted fill the queue
            filler = stack.enter_context(socket.socket())
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
        yield port


def _echo(body: dict[str, Any]) -> str:
    """The source between the <document> lines of the last user message, else its text, "translated" (see ok)."""
    last: dict[str, Any] = next((m for m in reversed(body.get("messages", [])) if m.get("role") == "user"), {})
    content = last.get("content", "")
    text = content if isinstance(content, str) else "".join(p.get("text", "") for p in content)
    lines = text.split("\n")
    if "<document>" in lines and "</document>" in lines:
        lines = lines[lines.index("<document>") + 1 : len(lines) - 1 - lines[::-1].index("</document>")]
    return "\n".join(line + " (tr)" if line[-1:].isalpha() or line[-1:] == "." else line for line in lines)


def _answer(body: dict[str, Any], anthropic: bool, text: str) -> dict[str, Any]:
    words_in, words_out = len(json.dumps(body)) // 4 + 1, len(text) // 4 + 1
    if anthropic:
        return {
            "id": "msg_hostile", "type": "message", "role": "assistant", "model": body.get("model", "m"),
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": words_in, "output_tokens": words_out},
        }  # fmt: skip
    return {
        "id": "chatcmpl-hostile", "object": "chat.completion", "created": int(time.time()),
        "model": body.get("model", "m"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": words_in, "completion_tokens": words_out, "total_tokens": words_in + words_out},
    }  # fmt: skip
