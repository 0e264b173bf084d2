"""Secret scrubbing: known shapes replaced by stable placeholders, ordinary text left alone."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from bpaste_cli.ingest.secrets import placeholder, scrub

SECRETS = [
    "sk-ant-api03-" + "Zx9" * 10,
    "sk-proj-" + "Qw3e" * 8,
    "AKIA" + "ABCDEFGHIJKLMNOP",
    "ghp_" + "a" * 36,
    "github_pat_" + "B" * 30,
    "xoxb-1234567890-abcdefghij",
    "AIza" + "c" * 35,
    "hf_" + "D" * 34,
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
]


def test_each_known_shape_is_replaced_with_the_hash_of_the_secret():
    for secret in SECRETS:
        text = f"before {secret} after"
        expected = "before <secret:" + hashlib.sha256(secret.encode()).hexdigest()[:12] + "> after"
        assert scrub(text) == expected, secret


def test_context_secrets_keep_their_context():
    assert scrub("Authorization: Bearer abcdefghijklmnop1234") == "Authorization: Bearer " + placeholder("abcdefghijklmnop1234")
    assert scrub("postgres://app:hunter2pass@db:5432/x") == "postgres://app:" + placeholder("hunter2pass") + "@db:5432/x"


def test_private_key_block_even_when_cut():
    block = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nabc\n-----END RSA PRIVATE KEY-----"
    assert scrub(f"x {block} y") == f"x {placeholder(block)} y"
    cut = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA"
    assert scrub(cut) == placeholder(cut)


def test_ordinary_text_is_untouched():
    ordinary = [
        "src/app/models.py:42: def skip_this(): pass",
        "https://example.org/path?q=1",
        "commit 3f2c9a1b7e0d4c5a8b6f1e2d3c4b5a6978e0f1a2",
        "ssh://git@host/repo.git",
        "task-runner --skip-tests --disk-usage",
    ]
    for text in ordinary:
        assert scrub(text) == text


@given(st.text(max_size=200))
def test_scrub_is_idempotent(text):
    once = scrub(text)
    assert scrub(once) == once


@given(st.sampled_from(SECRETS), st.text(alphabet=" \n:=,;", min_size=1, max_size=5))
def test_equal_secrets_give_equal_placeholders(secret, sep):
    a = scrub(f"key{sep}{secret}")
    b = scrub(f"other{sep}{secret}")
    assert placeholder(secret) in a and placeholder(secret) in b and secret not in a
