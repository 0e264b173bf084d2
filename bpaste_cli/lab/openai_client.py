"""A minimal client of an OpenAI-compatible chat endpoint (llama.cpp server, vLLM, Ollama), standard library only.

The lab times real LLM requests with it; it sends one fixed, seeded, non-streaming chat completion and
reports how long the answer took. Any failure to reach or understand the server is one clear sentence.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from bpaste_cli.errors import BpasteError


def endpoint_base(url: str) -> str:
    """The API root (`.../v1`) of a URL given as a host, an API root or a full chat-completions URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BpasteError(f"--llm-url {url!r} is not an http(s) URL; give the server's address, e.g. http://127.0.0.1:8080.")
    path = parts.path.rstrip("/")
    for tail in ("/chat/completions", "/completions"):
        if path.endswith(tail):
            path = path[: -len(tail)]
    if not path.endswith("/v1"):
        path += "/v1"
    return f"{parts.scheme}://{parts.netloc}{path}"


def is_local(url: str) -> bool:
    """Whether the endpoint's host is this machine (loopback, or one of its own names or addresses)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback or host in socket.gethostbyname_ex(socket.gethostname())[2]
    except ValueError:
        return host in (socket.gethostname(), socket.getfqdn())
    except OSError:
        return False


class ChatClient:
    """POSTs `{base}/chat/completions`; `model=None` takes the first model the server lists."""

    def __init__(self, url: str, model: str | None = None, timeout_s: float = 120.0, max_tokens: int = 16,
                 seed: int = 0) -> None:
        self.base = endpoint_base(url)
        self.timeout_s = timeout_s
        self.max_tokens = max_tokens
        self.seed = seed
        self.model = model or self._first_model()

    def _request(self, path: str, body: dict | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise BpasteError(f"The LLM endpoint {self.base}{path} answered HTTP {exc.code} ({exc.reason}); "
                              "check the URL and the model name (--llm-model).") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise BpasteError(f"The LLM endpoint {self.base}{path} did not answer ({reason}); "
                              "check that the server runs and that --llm-url points at it.") from None
        except ValueError:
            raise BpasteError(f"The LLM endpoint {self.base}{path} did not answer with JSON; "
                              "is --llm-url an OpenAI-compatible server?") from None

    def _first_model(self) -> str:
        try:
            models = self._request("/models").get("data") or []
        except BpasteError:
            models = []
        ids = [m.get("id") for m in models if isinstance(m, dict) and m.get("id")]
        return ids[0] if ids else "default"

    def complete(self, prompt: str) -> float:
        """Seconds until the whole answer to `prompt` arrived (non-streaming, temperature 0, seeded)."""
        body = {"model": self.model, "messages": [{"role": "user", "content": prompt}],
                "max_tokens": self.max_tokens, "temperature": 0, "seed": self.seed, "stream": False}
        t0 = time.perf_counter()
        doc = self._request("/chat/completions", body)
        elapsed = time.perf_counter() - t0
        if not isinstance(doc, dict) or not doc.get("choices"):
            raise BpasteError(f"The LLM endpoint {self.base}/chat/completions answered without `choices`; "
                              "is --llm-url an OpenAI-compatible server?")
        return elapsed
