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


# --- shapes that reached datasets, patterns and policies before (issue 11, item 7) ---------------------

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # AWS's documented example value


def test_url_password_with_an_empty_user_or_an_at_sign():
    assert scrub("redis://:hunter2pass@cache:6379/0") == "redis://:" + placeholder("hunter2pass") + "@cache:6379/0"
    assert scrub("postgres://bob:p@ss@word@db/x") == "postgres://bob:" + placeholder("p@ss@word") + "@db/x"
    # a URL without a password, and an e-mail address later in the text, are left alone
    assert scrub("see https://example.com/a@b and me@example.org") == "see https://example.com/a@b and me@example.org"


def test_aws_secret_access_key_beside_its_name():
    credentials = f"[default]\naws_access_key_id = AKIAABCDEFGHIJKLMNOP\naws_secret_access_key = {AWS_SECRET}\n"
    scrubbed = scrub(credentials)
    assert AWS_SECRET not in scrubbed and placeholder(AWS_SECRET) in scrubbed
    assert scrub(f'{{"SecretAccessKey": "{AWS_SECRET}"}}') == f'{{"SecretAccessKey": "{placeholder(AWS_SECRET)}"}}'
    assert scrub(f"AWS_SECRET_ACCESS_KEY={AWS_SECRET}") == f"AWS_SECRET_ACCESS_KEY={placeholder(AWS_SECRET)}"
    # 40 base64 characters without the name beside them are no secret shape (commit hashes, digests)
    assert scrub("a" * 40) == "a" * 40


def test_no_secret_reaches_the_dataset_manifest_or_mined_rules(tmp_path):
    import json

    import orjson

    from bpaste_cli.ingest import ingest
    from bpaste_cli.mine import MineOptions
    from bpaste_cli.mine.patterns import mine_predictor
    from bpaste_cli.trace.dataset import load_dataset

    token = "ghp_" + "k" * 36
    lines = []
    for i, sid in enumerate(["one", "two"]):
        t = 10.0 * i
        lines.append({"session_id": sid, "kind": "user", "t": t, "text": "deploy"})
        lines.append({"session_id": sid, "kind": "llm", "t_end": t + 1})
        args = {"url": "redis://:hunter2pass@cache/0", "headers": {token: "x"}, "region": "eu-west-1"}
        if i == 0:
            args["note"] = f"aws_secret_access_key={AWS_SECRET}"
            args["password"] = "only-in-session-one"  # a value of one session: never a constant rule
        lines.append({"session_id": sid, "kind": "tool", "tool": "Deploy", "args": args, "t_start": t + 1, "t_end": t + 2})
    lines.append({"session_id": "one", "kind": token})  # an unknown kind: its skip detail quotes the value
    f = tmp_path / "s.jsonl"
    f.write_text("".join(json.dumps(x) + "\n" for x in lines))
    ingest([f], tmp_path / "ds")
    stored = b"".join(p.read_bytes() for p in (tmp_path / "ds").iterdir())
    manifest = orjson.loads((tmp_path / "ds" / "manifest.json").read_bytes())
    assert manifest["skipped_by_reason"] == {"unknown_record": 1}
    ds = load_dataset(tmp_path / "ds")
    text = " ".join(ds.events["args_json"].drop_nulls().to_list()) + json.dumps(manifest)
    for raw in (token, "hunter2pass", AWS_SECRET):
        assert raw not in text and raw.encode() not in stored, raw
    predictor, _, _ = mine_predictor(ds.events, ds.sessions["session_id"].to_list(), MineOptions(max_context=1, min_support=1))
    rules = predictor.tables["rules"]
    consts = {(a, v) for k, a, v in zip(rules["kind"], rules["arg"], rules["value"]) if k == "const"}
    assert ("region", '"eu-west-1"') in consts  # seen in both sessions
    assert not any(a in ("password", "note") for a, _ in consts)
