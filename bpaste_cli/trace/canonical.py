"""Canonical JSON for tool arguments, and the hashes derived from it.

Two calls are the same call exactly when their canonical argument strings are equal: keys sorted,
compact separators, integral floats written as integers, -0.0 as 0, non-finite floats as null,
integers beyond 64 bits as their digits in a string, and
strings that themselves hold a JSON object or array (as OpenAI-style `arguments` do) left as strings:
readers decode those where the format says so, canonicalisation never guesses.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import orjson

_MAX_EXACT_INT = 2**53


def normalise(value: Any) -> Any:
    """Return `value` with numbers in one stable form and every mapping key a string."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        # beyond 64 bits JSON encoders disagree (orjson refuses): keep the exact digits as a string
        return value if -(2**63) <= value < 2**63 else str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        if value.is_integer() and abs(value) < _MAX_EXACT_INT:
            return int(value)
        return value
    if isinstance(value, dict):
        return {str(k): normalise(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [normalise(v) for v in value]
    return str(value)


def canonical_json(value: Any) -> str:
    """The canonical text of a JSON value: sorted keys, no insignificant whitespace, stable numbers."""
    if type(value) is str or (type(value) is dict and all(type(k) is str and type(v) is str for k, v in value.items())):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()  # already normal (the predictor's usual case)
    return orjson.dumps(normalise(value), option=orjson.OPT_SORT_KEYS).decode()


def short_hash(text: str | bytes) -> str:
    """A 16-hex-digit SHA-256 prefix: stable across runs and machines, short enough to read."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()[:16]


def args_hash(args_json: str) -> str:
    """The hash of a canonical argument string."""
    return short_hash(args_json)
