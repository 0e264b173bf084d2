"""Replace values of well-known secret shapes with a stable placeholder derived from their hash.

Equal secrets get equal placeholders (`<secret:1a2b3c4d5e6f>`), so data-flow mining still sees a key
copied from one call into another as the same value, while the dataset never holds the key itself.
"""

from __future__ import annotations

import hashlib
import re

# (substrings one of which every match contains, pattern): the cheap substring test skips the regex
# on the vast majority of texts, which hold no secret at all.
_WHOLE = [
    # private key blocks (a block cut by the length limit is replaced to the end of the text)
    (("PRIVATE KEY-----",), r"-----BEGIN[A-Z ]{0,40} PRIVATE KEY-----(?:.|\n)*?(?:-----END[A-Z ]{0,40} PRIVATE KEY-----|\Z)"),
    (("sk-",), r"\bsk-(?:ant-|proj-|svcacct-)?[A-Za-z0-9_\-]{20,}"),  # Anthropic, OpenAI
    (("_live_", "_test_"), r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"),  # Stripe
    (("AKIA", "ASIA"), r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),  # AWS access key id
    (("ghp_", "gho_", "ghu_", "ghs_", "ghr_"), r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),  # GitHub tokens
    (("github_pat_",), r"\bgithub_pat_[A-Za-z0-9_]{22,}\b"),
    (("glpat-",), r"\bglpat-[A-Za-z0-9_\-]{20,}\b"),  # GitLab
    (("xox",), r"\bxox[abprs]-[A-Za-z0-9\-]{10,}"),  # Slack
    (("AIza",), r"\bAIza[0-9A-Za-z_\-]{35}\b"),  # Google API key
    (("hf_",), r"\bhf_[A-Za-z0-9]{30,}\b"),  # Hugging Face
    (("eyJ",), r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),  # JWT
]
# Secrets inside a context: only the first group is replaced. The middle item lists substrings every
# match also contains (URLs are common in logs, URLs with a password rare: skip the costly regex).
_CONTEXT = [
    (("earer", "EARER"), (), r"(?i)\bbearer\s+([A-Za-z0-9._~+/\-]{16,}=*)"),  # Authorization: Bearer <token>
    # password in a URL; the user may be empty (redis://:pw@host), the password may hold `@` (up to the last one)
    (("://",), ("@",), r"\b[a-zA-Z][a-zA-Z0-9+.\-]{1,20}://[^\s:/@]{0,64}:([^\s/]{1,128})@"),
    # AWS secret access key beside its name (credentials files, env, JSON): 40 characters of base64
    (
        ("ecret_access_key", "ECRET_ACCESS_KEY", "ecretAccessKey"),
        (),
        r"(?i)secret_?access_?key[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])",
    ),
]

_WHOLE_RE = [(t, re.compile(p)) for t, p in _WHOLE]
_CONTEXT_RE = [(t, needs, re.compile(p)) for t, needs, p in _CONTEXT]
# The pre-filter: one pass over the text for each pattern's trigger (for a pattern with a middle item, for
# the first thing it needs instead: URLs are common in logs, URLs with a password rare). A trigger is
# searched from its character that comes first in `_ANCHORS` (few, and rare in logs), a lookbehind
# checking what precedes it, so the scan stops to compare at few places. A text without any of them
# holds no trigger, so no pattern applies: the test misses no secret.
_ANCHORS = "@JxKIR_-r"


def _looked_for() -> list[str]:
    found = [t for triggers, _ in _WHOLE for t in triggers]
    for triggers, needs, _ in _CONTEXT:
        found += [needs[0]] if needs else list(triggers)
    return list(dict.fromkeys(found))


def _anchored(triggers: list[str]) -> str:
    """A pattern that matches where one of `triggers` occurs, each matched from its anchor character."""
    by_anchor: dict[str, list[str]] = {}
    for trigger in triggers:
        i = next((trigger.index(c) for c in _ANCHORS if c in trigger), 0)
        behind = f"(?<={re.escape(trigger[: i + 1])})" if i else ""
        by_anchor.setdefault(trigger[i], []).append(behind + re.escape(trigger[i + 1 :]))
    return "|".join(f"{re.escape(c)}(?:{'|'.join(rest)})" for c, rest in by_anchor.items())


_ANY_TRIGGER = re.compile(_anchored(_looked_for()))
_PREFIX = "<secret:"


def placeholder(secret: str) -> str:
    return f"{_PREFIX}{hashlib.sha256(secret.encode('utf-8', 'surrogatepass')).hexdigest()[:12]}>"


def _replace_whole(match: re.Match[str]) -> str:
    return placeholder(match.group(0))


def _replace_group(match: re.Match[str]) -> str:
    whole = match.group(0)
    start, end = match.span(1)
    offset = match.start(0)
    value = match.group(1)
    if value.startswith(_PREFIX):
        return whole
    return whole[: start - offset] + placeholder(value) + whole[end - offset :]


def may_hold_secret(text: str) -> bool:
    """Whether some pattern may match in `text` (see `_ANY_TRIGGER`). When none may, `scrub` leaves `text`
    and every piece of it as they are: one test over a record's whole JSON can stand for one per string."""
    return _ANY_TRIGGER.search(text) is not None


def scrub(text: str) -> str:
    """`text` with every recognised secret replaced by its placeholder (idempotent)."""
    return _scrub_each(text) if _ANY_TRIGGER.search(text) is not None else text


def _scrub_each(text: str) -> str:
    """`scrub` without the pre-filter: each pattern whose trigger (and what it needs) occurs is applied."""
    for triggers, pattern in _WHOLE_RE:
        for trigger in triggers:
            if trigger in text:
                text = pattern.sub(_replace_whole, text)
                break
    for triggers, needs, pattern in _CONTEXT_RE:
        for trigger in triggers:
            if trigger in text:
                if all(n in text for n in needs):
                    text = pattern.sub(_replace_group, text)
                break
    return text
