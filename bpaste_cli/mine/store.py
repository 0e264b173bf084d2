"""Pattern tables on disk: a directory of control/signatures/rules Parquet files and manifest.json.

The Parquet files hold exactly the predictor's flat tables (plus a `words` column in rules.parquet
for people), so `load_predictor` rebuilds the same predictor that `mine` evaluated.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from bpaste_cli import __version__
from bpaste_cli.artifacts import ArtifactType, check_artifact
from bpaste_cli.errors import BpasteError
from bpaste_cli.fsutil import atomic_directory
from bpaste_cli.mine.dataflow import Rule, describe
from bpaste_cli.mine.predictor import (
    CONTROL_COLUMNS,
    PREDICTOR_SCHEMA_VERSION,
    RULE_COLUMNS,
    SIGNATURE_COLUMNS,
    PatternPredictor,
)

KIND = "pattern-table"
MANIFEST_FILE = "manifest.json"
PATTERN_TABLE = ArtifactType(KIND, PREDICTOR_SCHEMA_VERSION, {"type": "object"}, "pattern table",
                             "pass the directory written by `bpaste mine`", "re-run `bpaste mine`")
TABLES = {"control": CONTROL_COLUMNS, "signatures": SIGNATURE_COLUMNS, "rules": RULE_COLUMNS}
SCHEMAS = {
    "control": {"context": pl.List(pl.String), "n": pl.Int64, "tool": pl.String, "count": pl.Int64, "prob": pl.Float64},
    "signatures": {"tool": pl.String, "args": pl.List(pl.String), "count": pl.Int64, "prob": pl.Float64},
    "rules": {
        "tool": pl.String, "arg": pl.String, "kind": pl.String, "src": pl.String, "rank": pl.Int64,
        "field": pl.String, "pos": pl.Int64, "cast": pl.String, "value": pl.String, "occurrences": pl.Int64,
        "bindable": pl.Int64, "exact": pl.Int64, "rate": pl.Float64,
    },
}


def rule_words(rules: dict[str, list[Any]]) -> list[str]:
    """Each rule of a rules table in words."""
    out = []
    for i in range(len(rules["tool"])):
        r = Rule(rules["kind"][i], rules["src"][i], rules["rank"][i], rules["field"][i], rules["pos"][i], rules["cast"][i], rules["value"][i])
        out.append(describe(r, rules["tool"][i], rules["arg"][i]))
    return out


def write_table(path: Path, predictor: PatternPredictor, manifest: dict[str, Any]) -> None:
    """Write the pattern table directory atomically."""
    with atomic_directory(Path(path)) as tmp:
        for name, cols in predictor.tables.items():
            df = pl.DataFrame(cols, schema=SCHEMAS[name])
            if name == "rules":
                df = df.with_columns(pl.Series("words", rule_words(cols), dtype=pl.String))
            df.write_parquet(tmp / f"{name}.parquet", compression="zstd")
        doc = {
            "kind": KIND,
            "schema_version": PREDICTOR_SCHEMA_VERSION,
            "bpaste_version": __version__,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "parameters": predictor.params,
            "calibration": predictor.calibration,
        } | manifest
        (tmp / MANIFEST_FILE).write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))


def is_pattern_table(path: Path) -> bool:
    """`path` is a directory whose manifest says it is a pattern table (whatever its version)."""
    try:
        manifest = orjson.loads((Path(path) / MANIFEST_FILE).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return False
    return isinstance(manifest, dict) and manifest.get("kind") == KIND


def read_table_manifest(path: Path) -> dict[str, Any]:
    """The manifest of the pattern table at `path`, after checking it is one this bpaste can read."""
    path = Path(path)
    if not path.is_dir():
        if path.exists():
            raise BpasteError(f"{path} is a file, not a pattern table (a directory made by `bpaste mine`); pass the pattern table directory.")
        raise BpasteError(f"{path} does not exist; make a pattern table with `bpaste mine DATASET -o {path}`.")
    if not (path / MANIFEST_FILE).is_file():
        raise BpasteError(f"{path} has no {MANIFEST_FILE}, so it is not a pattern table; make one with `bpaste mine`.")
    try:
        manifest = orjson.loads((path / MANIFEST_FILE).read_bytes())
    except orjson.JSONDecodeError:
        raise BpasteError(f"{path / MANIFEST_FILE} is not valid JSON; re-run `bpaste mine` to rebuild the pattern table.") from None
    return check_artifact(manifest, PATTERN_TABLE, str(path))


def provenance_warnings(manifest: dict[str, Any], dataset_hash: str, seed: int, use: str) -> list[str]:
    """Warnings when a pattern table was not mined from this dataset's train split with this seed: then the
    sessions `use` reports on (e.g. "the replayed sessions") may include the patterns' training sessions."""
    if manifest.get("dataset_hash") != dataset_hash:
        return [f"the patterns were mined from another dataset ({manifest.get('dataset_hash')}): {use} may include "
                "their training sessions, so the figures may be optimistic."]
    if manifest.get("seed", seed) != seed:
        return [f"the patterns were mined with split seed {manifest.get('seed')}, this run uses {seed}: {use} may "
                "include their training sessions."]
    return []


def pattern_hash(predictor: PatternPredictor) -> str:
    """The identity of a pattern table: 16 hex of the SHA-256 of its run-time tables' canonical JSON (the same
    for the directory `mine` wrote and the copy a policy embeds; independent of when it was written)."""
    return hashlib.sha256(orjson.dumps(predictor.to_dict(), option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def open_table(path: Path, dataset_hash: str, seed: int, use: str) -> tuple[PatternPredictor, list[str]]:
    """The predictor of the pattern table at `path` and the `provenance_warnings` for using it on a dataset."""
    warnings = provenance_warnings(read_table_manifest(Path(path)), dataset_hash, seed, use)
    return load_predictor(Path(path)), warnings


def load_predictor(path: Path) -> PatternPredictor:
    """The predictor stored in a pattern table directory (validated; one-sentence errors)."""
    path = Path(path)
    manifest = read_table_manifest(path)
    tables = {}
    for name, cols in TABLES.items():
        try:
            df = pl.read_parquet(path / f"{name}.parquet")
        except (OSError, pl.exceptions.ComputeError) as exc:
            raise BpasteError(f"The pattern table {path} has a missing or unreadable {name}.parquet ({exc}); re-run `bpaste mine`.") from None
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise BpasteError(f"{path / (name + '.parquet')} lacks the column(s) {', '.join(missing)}; re-run `bpaste mine`.")
        tables[name] = {c: df[c].to_list() for c in cols}
    return PatternPredictor(manifest.get("parameters") or {}, tables, manifest.get("calibration"))
