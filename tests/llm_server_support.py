"""A small OpenAI-compatible chat server of the test suite's own, on 127.0.0.1, doing CPU work per request.

It stands where a user's llama.cpp / vLLM / Ollama server would: `GET /v1/models` lists one model and
`POST /v1/chat/completions` burns about `work_s` of CPU (a fixed number of SHA-256 blocks, sized once at
start) before it answers, so co-running CPU jobs slow it as they slow a real local model. Bounded: it
answers at most `max_requests` requests and shuts itself down after `lifetime_s`, whatever the test does.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_BLOCK = b"\x5a" * 65536


def _burn(blocks: int) -> None:
    h = hashlib.sha256()
    for _ in range(blocks):
        h.update(_BLOCK)


class LocalLLMServer:
    """`with LocalLLMServer() as server:` ... `server.url`, `server.completions` (requests answered)."""

    def __init__(self, work_s: float = 0.03, model: str = "tiny-test-model", status: int = 200,
                 max_requests: int = 2000, lifetime_s: float = 300.0) -> None:
        t0 = time.perf_counter()
        _burn(100)
        self.blocks = max(1, round(work_s * 100 / (time.perf_counter() - t0)))
        self.model, self.status, self.max_requests, self.lifetime_s = model, status, max_requests, lifetime_s
        self.completions = 0
        self.bodies: list[dict] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _handler(self):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def _send(self, status: int, doc: dict) -> None:
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/v1/models":
                    self._send(200, {"object": "list", "data": [{"id": owner.model, "object": "model"}]})
                else:
                    self._send(404, {"error": "not found"})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                with owner._lock:
                    owner.bodies.append(body)
                    over = len(owner.bodies) > owner.max_requests
                if self.path != "/v1/chat/completions" or over:
                    self._send(404 if not over else 429, {"error": "not served"})
                    return
                if owner.status != 200:
                    self._send(owner.status, {"error": "configured to fail"})
                    return
                _burn(owner.blocks)
                with owner._lock:
                    owner.completions += 1
                self._send(200, {"id": "cmpl-test", "object": "chat.completion", "model": body.get("model"),
                                 "choices": [{"index": 0, "finish_reason": "length",
                                              "message": {"role": "assistant", "content": "2, 3, 5, 7"}}],
                                 "usage": {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16}})

        return Handler

    def __enter__(self) -> LocalLLMServer:
        threading.Thread(target=self._server.serve_forever, daemon=True, name="test-llm-server").start()
        self._timer = threading.Timer(self.lifetime_s, self._server.shutdown)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()
        self._server.shutdown()
        self._server.server_close()
