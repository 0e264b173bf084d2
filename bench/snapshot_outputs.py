"""Run every verb with `--json` on the sample traces and on each corpus in ../shared/traces, and write
the outputs (temporary paths replaced) to one directory, one file per command.

Two snapshots taken from two checkouts are compared with `--compare A B`, ignoring volatile fields
(timestamps, durations, versions): a refactoring that changes no figure leaves them identical. Usage:

    python bench/snapshot_outputs.py -o /tmp/before          # in the old checkout
    python bench/snapshot_outputs.py -o /tmp/after           # in the new one
    python bench/snapshot_outputs.py --compare /tmp/before /tmp/after

`--bpaste CMD` chooses the bpaste command (default: `python -m bpaste_cli` of this interpreter).
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "traces"
TIMED = ("claude-code-spotter", "codex-localpush", "openhands")
VOLATILE = re.compile(r"(^|_)(at|time|elapsed|seconds|wall_clock|created|started|finished|datetime)$")
# patterns_hash: fit hashed the pattern table's files, whose manifest records how long mining took
VOLATILE_KEYS = {"bpaste", "elapsed_s", "study_storage", "storage", "patterns_hash"}


CHECKOUT = re.compile(r"[^\s\"'`]*/(?=sample_traces(/|\b))")  # where the checkout lives differs between two checkouts


def _clean(value):
    """The output with every volatile field (timestamps, durations, versions) replaced by a marker and the
    checkout's own path by <repo>/."""
    if isinstance(value, dict):
        return {k: ("<volatile>" if k in VOLATILE_KEYS or VOLATILE.search(k) else _clean(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, str):
        return CHECKOUT.sub("<repo>/", value)
    return value


def _run(bpaste: list[str], args: list[str], tmp: str) -> dict:
    proc = subprocess.run([*bpaste, *args], capture_output=True, text=True, cwd=tmp)
    out: dict = {"exit": proc.returncode}
    try:
        out["json"] = json.loads(proc.stdout.replace(tmp, "<tmp>"))
    except json.JSONDecodeError:
        out["stdout"] = proc.stdout.replace(tmp, "<tmp>")[-2000:]
    if proc.returncode:
        out["stderr"] = proc.stderr.replace(tmp, "<tmp>")[-2000:]
    return out


def _corpus_commands(name: str, src: Path, timed: bool, full: bool) -> list[tuple[str, list[str]]]:
    ds, pt, md, pol = f"{name}.ds", f"{name}.pt", f"{name}.model.json", f"{name}.policy.json"
    cmds = [
        ("ingest", ["ingest", str(src), "-o", ds, "--json"]),
        ("stats", ["stats", ds, "--json"]),
        ("mine", ["mine", ds, "-o", pt, "--json"]),
    ]
    if timed:
        cmds += [
            ("replay", ["replay", ds, "--patterns", pt, "--device", "thor", "--json"]),
            ("replay-server-all", ["replay", ds, "--patterns", pt, "--device", "server", "--split", "all", "--json"]),
            ("replay-oracle", ["replay", ds, "--patterns", "oracle", "--device", "thor", "--json"]),
        ]
    if timed and full:
        cmds += [
            ("fit", ["fit", ds, "--patterns", pt, "--device", "thor", "-o", md, "--json"]),
            ("replay-model", ["replay", ds, "--patterns", pt, "--device", "thor", "--rank", "model", "--model", md, "--json"]),
            ("tune", ["tune", ds, "--patterns", pt, "--model", md, "--device", "thor", "--trials", "12",
                      "--workers", "1", "--seed", "0", "-o", pol, "--json"]),
            ("policy-validate", ["policy", "validate", pol, "--json"]),
            ("replay-policy", ["replay", ds, "--policy", pol, "--json"]),
            ("report", ["report", ds, "--patterns", pt, "--policy", pol, "--device", "thor", "-o", f"{name}.html", "--json"]),
        ]
    return cmds


def snapshot(out: Path, bpaste: list[str], shared: Path = SHARED) -> None:
    out.mkdir(parents=True, exist_ok=True)
    corpora = [("samples", REPO / "sample_traces", True, True)]
    if shared.is_dir():
        for d in sorted(p for p in shared.iterdir() if p.is_dir()):
            corpora.append((d.name, d, d.name in TIMED, d.name == "claude-code-spotter"))
    else:
        print(f"{shared} is absent: only the sample traces are snapshotted", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        for args in (["device", "list", "--json"], ["device", "show", "thor", "--json"]):
            (out / f"_{'-'.join(args[:2])}.json").write_text(json.dumps(_run(bpaste, args, tmp), indent=1, sort_keys=True))
        for name, src, timed, full in corpora:
            for label, args in _corpus_commands(name, src, timed, full):
                result = _run(bpaste, args, tmp)
                (out / f"{name}.{label}.json").write_text(json.dumps(result, indent=1, sort_keys=True))
                print(f"{name:24} {label:18} exit {result['exit']}")


def compare(a: Path, b: Path) -> int:
    names = sorted({p.name for p in a.iterdir()} | {p.name for p in b.iterdir()})
    def load(path: Path):
        return _clean(json.loads(path.read_text())) if path.exists() else None

    differ = [n for n in names if load(a / n) is None or load(a / n) != load(b / n)]
    for n in differ:
        print(f"differs: {n}")
    print(f"{len(names) - len(differ)} of {len(names)} outputs identical")
    return 1 if differ else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", type=Path)
    ap.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"))
    ap.add_argument("--bpaste", default=f"{shlex.quote(sys.executable)} -m bpaste_cli")
    ap.add_argument("--traces", type=Path, default=SHARED, help="The shared corpora (default: ../shared/traces).")
    ns = ap.parse_args()
    if ns.compare:
        return compare(*ns.compare)
    if not ns.out:
        ap.error("give -o DIR or --compare A B")
    snapshot(ns.out, shlex.split(ns.bpaste), ns.traces)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
