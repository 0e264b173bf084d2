"""The one gate for versioned files: every artifact bpaste reads (pattern-table manifest, value model,
policy, device profile; the trace dataset's manifest once the trace room adopts it) is checked here for
its kind, its schema version and its JSON Schema, and each failure is one sentence saying what is wrong,
where, and what to do.

An `ArtifactType` describes one format; `check_artifact(doc, art, source)` checks a parsed document and
`read_json_artifact(path, art)` reads and checks a JSON file.

JSON Schema's `integer` accepts 4.0 and 1e30 (numbers with a zero fraction); the gate's validator does
not: an integer field must hold a JSON integer, so `beam_width: 4.0` or a tree's `left: [1.0]` is refused
here instead of crashing the replay that indexes or loops with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import jsonschema
import orjson

from bpaste_cli.errors import BpasteError

UPGRADE = "upgrade bpaste (pip install -U bpaste)"


def _is_integer(checker: Any, instance: Any) -> bool:
    """JSON integers only: not 4.0, not 1e30, not true."""
    return isinstance(instance, int) and not isinstance(instance, bool)


StrictValidator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer),
)


@dataclass(frozen=True)
class ArtifactType:
    """One versioned format. `kind`: the value of its `kind` field (None: the format has none, like a device
    profile); `version`: the newest schema version this bpaste reads; `noun`: what people call it;
    `remedy`: what to pass instead when a file is not one; `rebuild`: how to make a good one."""

    kind: str | None
    version: int
    schema: dict[str, Any] = field(repr=False)
    noun: str
    remedy: str
    rebuild: str
    path_sep: str = "/"  # how a failing location is spelled: parameters/slots (JSON) or speculation.slots (TOML)

    @cached_property
    def validator(self) -> jsonschema.protocols.Validator:
        return StrictValidator(self.schema)



def check_artifact(doc: Any, art: ArtifactType, source: str, *, label: str | None = None) -> dict[str, Any]:
    """`doc` after checking kind, schema version and schema, in that order; the first failure is raised as
    one sentence. `source` names the file; `label` replaces "The <noun> <source>" (e.g. for an embedded document)."""
    who = label or f"The {art.noun} {source}"
    if art.kind is not None:
        kind = doc.get("kind") if isinstance(doc, dict) else None
        if kind != art.kind:
            what = f"a {kind} artifact" if isinstance(kind, str) and kind else "a document of another kind"
            raise BpasteError(f"{label or source} holds {what}, not a {art.noun}; {art.remedy}.")
    elif not isinstance(doc, dict):
        raise BpasteError(f"{who} is not a table of settings; {art.rebuild}.")
    version = doc.get("schema_version")
    if version is None:
        raise BpasteError(f"{who} has no schema_version; {art.rebuild}.")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise BpasteError(f"{who} has schema version {version!r}, which no bpaste ever wrote; {art.rebuild}.")
    if version > art.version:
        raise BpasteError(f"{who} has schema version {version}, newer than this bpaste understands ({art.version}); {UPGRADE}.")
    error = next(iter(sorted(art.validator.iter_errors(doc), key=lambda e: list(e.path))), None)
    if error is not None:
        at = art.path_sep.join(str(p) for p in error.path) or "the top level"
        raise BpasteError(f"{who} is invalid at {at}: {error.message[:200]}; {art.rebuild}.")
    return doc


def read_json_artifact(path: Path, art: ArtifactType) -> dict[str, Any]:
    """The JSON file at `path`, checked by `check_artifact` (a missing file or bad JSON is one sentence too)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise BpasteError(f"{path} does not exist; {art.rebuild}.") from None
    except IsADirectoryError:
        raise BpasteError(f"{path} is a directory, not a {art.noun}; {art.remedy}.") from None
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BpasteError(f"{path} is not valid JSON, so it is not a {art.noun}; {art.remedy}.") from None
    return check_artifact(doc, art, str(path))
