"""The workspace: the folder where bpaste keeps one project's artifacts, so its verbs need no paths.

Like git's `.git`, it is `.bpaste/` in the current folder or the nearest parent that has one; `--workspace DIR`
or `BPASTE_WORKSPACE=DIR` names it instead (DIR is the workspace folder itself). `bpaste ingest` creates it.

    .bpaste/
      workspace.json          kind, schema_version, and how the dataset was ingested (the logs' paths)
      dataset/                bpaste ingest LOGS
      patterns/               bpaste mine
      models/<device>.json    bpaste fit --device D
      policies/<device>.json  bpaste tune --device D
      studies/<device>.optuna.db   the Optuna storage of `tune --device D` (one study per set of inputs)
      report.html             bpaste report

Each artifact records where it came from (dataset hash, pattern hash, seed); `status` compares those records
with what the workspace holds now and says what is stale and which command fixes it. `preflight` tells a verb
that is about to use the workspace's artifacts what to warn about, and refuses where a stale artifact would
make its result wrong (say, patterns mined on another dataset: their training sessions may be in the test split).
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import orjson

from bpaste_cli import __version__
from bpaste_cli.artifacts import ArtifactType, check_artifact
from bpaste_cli.errors import BpasteError
from bpaste_cli.fsutil import atomic_write_bytes, file_sha256

DIR_NAME = ".bpaste"
ENV_VAR = "BPASTE_WORKSPACE"
MANIFEST_FILE = "workspace.json"
KIND = "bpaste-workspace"
WORKSPACE_SCHEMA_VERSION = 1
DEFAULT_DEVICE = "thor"
# how to make a dataset when no logs are known: a template in words, since no command would work as printed
INGEST_IN_WORDS = "pass your agent logs' files, folders or globs to bpaste ingest"

WORKSPACE_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "bpaste workspace manifest (.bpaste/workspace.json)",
    "type": "object",
    "required": ["kind", "schema_version", "bpaste_version", "created_at"],
    "properties": {
        "kind": {"const": KIND},
        "schema_version": {"type": "integer", "minimum": 1},
        "bpaste_version": {"type": "string"},
        "created_at": {"type": "string"},
        "devices": {
            "description": "The TOML profile behind each custom device key of models/ and policies/, so hints can name it.",
            "type": "object", "additionalProperties": {"type": "string"},
        },
        "ingest": {
            "description": "How the workspace's dataset was last ingested, so a hint can repeat it.",
            "type": "object",
            "required": ["paths", "cwd"],
            "properties": {
                "paths": {"type": "array", "items": {"type": "string"}, "description": "The logs' paths or globs, absolute."},
                "flags": {"type": "array", "items": {"type": "string"}, "description": "Options other than the defaults."},
                "cwd": {"type": "string", "description": "The folder ingest ran in: the dataset's relative file paths start there."},
                "at": {"type": "string"},
            },
        },
    },
}
WORKSPACE = ArtifactType(KIND, WORKSPACE_SCHEMA_VERSION, WORKSPACE_JSON_SCHEMA, "workspace manifest",
                         "move it away or pass another --workspace", "repair it or delete it and run `bpaste ingest` again")

_STALE = {"type": "object", "required": ["artifact", "reason", "fix"],
          "properties": {"artifact": {"type": "string"}, "reason": {"type": "string"}, "fix": {"type": "string"}}}
STATUS_JSON_SCHEMA: dict[str, Any] = {
    "description": "`bpaste status --json`: what the workspace holds, how each artifact was made, what is stale and the "
                   "commands that fix it (upstream first), and what to run next when the pipeline is incomplete.",
    "type": "object",
    "required": ["workspace", "found", "artifacts", "stale", "fixes", "next"],
    "properties": {
        "workspace": {"type": "string"},
        "found": {"enum": ["flag", "env", "found", "created"]},
        "artifacts": {"type": "array", "items": {
            "type": "object", "required": ["name", "path", "made", "stale", "error"],
            "properties": {
                "name": {"type": "string", "pattern": "^(dataset|patterns|report|(model|policy|study):.+)$"},
                "path": {"type": "string"}, "made": {"type": "object"}, "stale": {"type": "array", "items": _STALE},
                "error": {"type": ["string", "null"]},
            }}},
        "stale": {"type": "array", "items": _STALE},
        "fixes": {"type": "array", "items": {"type": "string", "pattern": "^bpaste "}},
        "next": {"type": "array", "items": {"type": "string", "pattern": "^bpaste "}},
    },
}

Found = Literal["flag", "env", "found", "created"]


def device_key(device: str | Path) -> str:
    """The name a device's model and policy files carry: a built-in's name, or a TOML profile's `name`."""
    from bpaste_cli.device import device_names, load_device

    text = str(device)
    return _file_name(text if text in device_names() else load_device(text).name)


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip(".-") or "device"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _shown(path: Path, cwd: Path | None = None) -> str:
    """`path` as a person in `cwd` would type it: relative when that is shorter."""
    path = Path(path)
    try:
        rel = os.path.relpath(path, cwd or Path.cwd())
    except ValueError:
        return str(path)
    return rel if len(rel) < len(str(path)) else str(path)


@dataclass(frozen=True)
class Workspace:
    """A located workspace: `root` is the `.bpaste` folder; `found` says how it was chosen (hints depend on it)."""

    root: Path
    found: Found = "found"

    # where each artifact lives (whether or not it exists yet)
    @property
    def dataset_dir(self) -> Path:
        return self.root / "dataset"

    @property
    def patterns_dir(self) -> Path:
        return self.root / "patterns"

    def model_path(self, device: str | Path = DEFAULT_DEVICE) -> Path:
        return self.root / "models" / f"{device_key(device)}.json"

    def policy_path(self, device: str | Path = DEFAULT_DEVICE) -> Path:
        return self.root / "policies" / f"{device_key(device)}.json"

    def report_path(self) -> Path:
        return self.root / "report.html"

    def study(self, device: str | Path, inputs: dict[str, Any]) -> tuple[str, str]:
        """(Optuna storage URL, study name) for `tune --device D`: one SQLite file per device, one study per set of
        inputs (dataset hash, pattern hash, seed, model, objectives, constraints), so re-tuning after `ingest`
        or `mine` starts a new study while the same inputs resume the old one."""
        key = device_key(device)
        digest = hashlib.sha256(orjson.dumps(inputs, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)).hexdigest()[:10]
        storage = self.root / "studies" / f"{key}.optuna.db"
        storage.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{storage if not storage.is_absolute() else storage.resolve()}", f"{key}-{digest}"

    # resolution: the paths a verb uses when the user gave none, or one sentence saying what to run
    def cmd(self, verb: str) -> str:
        """`bpaste VERB`, with `--workspace DIR` when the workspace was chosen by that option (so it works as printed)."""
        return f"bpaste {verb}" + (f" --workspace {shlex.quote(_shown(self.root))}" if self.found == "flag" else "")

    def device_cmd(self, verb: str, device: str | Path) -> str:
        """`bpaste VERB --device D` that works as printed: a built-in by name, a TOML profile by its path (as given,
        or as recorded when a verb wrote that device's model or policy); `device` is a --device value or a key."""
        from bpaste_cli.device import device_names

        text = str(device)
        if text in device_names() or Path(text).is_file():
            arg = text
        else:
            recorded = (self.manifest().get("devices") or {}).get(text)
            arg = _shown(Path(recorded)) if recorded else text
        return self.cmd(f"{verb} --device {shlex.quote(arg)}")

    def record_device(self, device: str | Path) -> None:
        """Remember the TOML profile behind a device key (a verb wrote that device's model or policy), so hints
        can name the profile's path; built-in devices need no record."""
        from bpaste_cli.device import device_names

        if str(device) in device_names():
            return
        doc = self.manifest()
        devices = dict(doc.get("devices") or {}) | {device_key(device): str(Path(device).resolve())}
        _write_manifest(self.root, doc | {"devices": devices})

    def ingest_cmd(self) -> str | None:
        """The `bpaste ingest` command that (re)builds the dataset: the recorded logs' paths, or `logs` if there is
        one; None when no logs are known (then say INGEST_IN_WORDS)."""
        record = self.manifest().get("ingest")
        if record:
            args = [shlex.quote(_shown(Path(p))) for p in record["paths"]] + [shlex.quote(f) for f in record.get("flags", [])]
            return self.cmd("ingest " + " ".join(args))
        base = self.root.parent
        logs = base / "logs"
        return self.cmd(f"ingest {shlex.quote(_shown(logs))}") if logs.is_dir() else None

    def dataset(self) -> Path:
        """The workspace's dataset, or one sentence saying how to make it."""
        if not (self.dataset_dir / "manifest.json").is_file():
            cmd = self.ingest_cmd()
            raise BpasteError(f"There is no dataset in the workspace {_shown(self.root)}: "
                              + (f"run `{cmd}`." if cmd else INGEST_IN_WORDS + (f" with --workspace {shlex.quote(_shown(self.root))}."
                                                                                  if self.found == "flag" else ".")))
        return self.dataset_dir

    def patterns(self) -> Path:
        """The workspace's pattern table, or one sentence saying how to make it."""
        self.dataset()
        if not (self.patterns_dir / "manifest.json").is_file():
            raise BpasteError(f"There are no patterns in the workspace {_shown(self.root)}: run `{self.cmd('mine')}`.")
        return self.patterns_dir

    def model(self, device: str | Path = DEFAULT_DEVICE, *, required: bool = False) -> Path | None:
        """The value model fitted for `device`; None when there is none (it is optional) unless `required`."""
        return self._per_device(self.model_path(device), "value model", "fit", device, required)

    def policy(self, device: str | Path = DEFAULT_DEVICE, *, required: bool = False) -> Path | None:
        """The policy tuned for `device`; None when there is none unless `required`."""
        return self._per_device(self.policy_path(device), "policy", "tune", device, required)

    def _per_device(self, path: Path, what: str, verb: str, device: str | Path, required: bool) -> Path | None:
        """`path` when it exists; else None, or (when `required`) one sentence naming the verb that makes it."""
        if path.is_file():
            return path
        if required:
            raise BpasteError(f"There is no {what} for {device_key(device)} in the workspace {_shown(self.root)}: "
                              f"run `{self.device_cmd(verb, device)}`.")
        return None

    def split_seed(self) -> int | None:
        """The split seed the workspace's patterns were mined with (the seed later verbs must use), if any."""
        return table_split_seed(self.patterns_dir)

    # the manifest
    def manifest(self) -> dict[str, Any]:
        """workspace.json, checked (kind, schema version, JSON Schema)."""
        return read_workspace_manifest(self.root)

    def record_ingest(self, paths: list[str | Path], flags: list[str] | tuple[str, ...] = (), cwd: Path | None = None) -> None:
        """Remember how the dataset was ingested (after a successful `ingest` into the workspace): status checks
        those logs for changes, and hints repeat the command."""
        cwd = Path(cwd or Path.cwd()).resolve()
        doc = self.manifest() | {"ingest": {"paths": [os.path.normpath(cwd / str(p)) for p in paths], "flags": list(flags),
                                            "cwd": str(cwd), "at": _now()}}
        _write_manifest(self.root, doc)


def read_workspace_manifest(root: Path) -> dict[str, Any]:
    """The workspace manifest in `root`, after checking it is one this bpaste can read."""
    path = Path(root) / MANIFEST_FILE
    try:
        doc = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise BpasteError(f"{_shown(Path(root))} has no {MANIFEST_FILE}, so it is not a bpaste workspace; "
                          "run `bpaste ingest` in the project folder to make one.") from None
    except orjson.JSONDecodeError:
        raise BpasteError(f"{_shown(path)} is not valid JSON; repair it or delete it and run `bpaste ingest` again.") from None
    if not isinstance(doc, dict) or doc.get("kind") != KIND:
        raise BpasteError(f"{_shown(path)} is not a bpaste workspace manifest; move it away or pass another --workspace.")
    return check_artifact(doc, WORKSPACE, _shown(path))


def _write_manifest(root: Path, doc: dict[str, Any]) -> None:
    atomic_write_bytes(Path(root) / MANIFEST_FILE, orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")


def _is_workspace(path: Path) -> bool:
    return (path / MANIFEST_FILE).is_file()


def _named(path: Path, found: Found, create: bool) -> Workspace:
    """The workspace at a path the user named (by --workspace or the environment), made if `create`."""
    path = Path(path).expanduser().absolute()
    how = "--workspace" if found == "flag" else ENV_VAR
    if _is_workspace(path):
        read_workspace_manifest(path)
        return Workspace(path, found)
    if path.exists() and not path.is_dir():
        raise BpasteError(f"{how} {_shown(path)} is a file; name the folder bpaste keeps its artifacts in.")
    if _is_workspace(path / DIR_NAME):
        raise BpasteError(f"{how} {_shown(path)} is a project folder, not a workspace; name its workspace: {how} {_shown(path / DIR_NAME)}.")
    if path.is_dir() and any(path.iterdir()):
        raise BpasteError(f"{how} {_shown(path)} already holds files but no {MANIFEST_FILE}, so it is not a bpaste workspace; "
                          "name the .bpaste folder that bpaste ingest made, or a new folder.")
    if not create:
        where = f"with --workspace {shlex.quote(_shown(path))}" if found == "flag" else f"while {ENV_VAR} names it"
        raise BpasteError(f"{how} {_shown(path)} is not a bpaste workspace yet; make it: {INGEST_IN_WORDS} {where}.")
    return _init(path, found)


def _init(path: Path, found: Found) -> Workspace:
    if path.is_dir() and any(path.iterdir()):
        raise BpasteError(f"{_shown(path)} already holds files but no {MANIFEST_FILE}, so it is not a bpaste workspace; "
                          "move it away or pass --workspace with a new folder.")
    path.mkdir(parents=True, exist_ok=True)
    _write_manifest(path, {"kind": KIND, "schema_version": WORKSPACE_SCHEMA_VERSION, "bpaste_version": __version__,
                           "created_at": _now()})
    return Workspace(path, found)


def _relative(path: Path, cwd: Path | None) -> Path:
    """A workspace found from the current folder, relative to it (`.bpaste`, `../.bpaste`): the paths the verbs
    print then read as the user would type them."""
    return Path(os.path.relpath(path)) if cwd is None else path


def locate(workspace: Path | str | None = None, *, create: bool = False, cwd: Path | None = None,
           environ: dict[str, str] | None = None) -> Workspace:
    """The workspace a verb works in: `workspace` (the --workspace option), else $BPASTE_WORKSPACE, else `.bpaste/`
    in `cwd` or its nearest parent that has one. With `create` (ingest), a missing one is made (in `cwd` when
    nothing names one); without it, a missing one is one sentence saying how to make it."""
    env = os.environ if environ is None else environ
    if workspace is not None and str(workspace) != "":
        return _named(Path(workspace), "flag", create)
    if env.get(ENV_VAR):
        return _named(Path(env[ENV_VAR]), "env", create)
    here = Path(cwd or Path.cwd()).absolute()
    for folder in (here, *here.parents):
        if _is_workspace(folder / DIR_NAME):
            read_workspace_manifest(folder / DIR_NAME)
            return Workspace(_relative(folder / DIR_NAME, cwd), "found")
    if create:
        return _init(_relative(here / DIR_NAME, cwd), "created")
    make = "run `bpaste ingest logs`" if (here / "logs").is_dir() else INGEST_IN_WORDS
    raise BpasteError(f"There is no bpaste workspace ({DIR_NAME}/) in {_shown(here)} or any folder above it: "
                      f"{make} to make one here, or name one with --workspace.")


# ---------------------------------------------------------------------------------------------------------------
# provenance and staleness

Severity = Literal["refuse", "warn"]


@dataclass
class Stale:
    """One reason an artifact is out of date, with the command that brings it up to date."""

    artifact: str  # dataset, patterns, model:<device>, policy:<device>, report
    reason: str  # "the dataset changed after the patterns were mined"
    fix: str  # "bpaste mine"

    def sentence(self) -> str:
        return f"{self.reason[0].upper()}{self.reason[1:]}: run `{self.fix}`."


@dataclass
class Artifact:
    """What the workspace holds under one name: where, how it was made, and whether it is current."""

    name: str
    path: Path
    made: dict[str, Any] = field(default_factory=dict)
    stale: list[Stale] = field(default_factory=list)
    error: str | None = None  # unreadable: the loader's sentence

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path), "made": self.made, "stale": [asdict(s) for s in self.stale],
                "error": self.error}


@dataclass
class WorkspaceStatus:
    """`bpaste status`: every artifact with its provenance and staleness, the fixes in the order to run them, and
    what to run next when the pipeline is incomplete."""

    workspace: Path
    found: str
    artifacts: list[Artifact]
    next: list[str]

    @property
    def stale(self) -> list[Stale]:
        return [s for a in self.artifacts for s in a.stale]

    @property
    def fixes(self) -> list[str]:
        """The distinct fix commands, upstream first (ingest, mine, fit, tune, report)."""
        order = {"ingest": 0, "mine": 1, "fit": 2, "tune": 3, "report": 4}
        seen = dict.fromkeys(s.fix for s in self.stale)
        return sorted(seen, key=lambda c: order.get(c.split()[1], 9))

    def artifact(self, name: str) -> Artifact | None:
        return next((a for a in self.artifacts if a.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {"workspace": str(self.workspace), "found": self.found, "artifacts": [a.to_json() for a in self.artifacts],
                "stale": [asdict(s) for s in self.stale], "fixes": self.fixes, "next": self.next}


def _mtime(path: Path) -> float:
    return path.stat().st_mtime


_READS: dict[tuple[Any, ...], Any] = {}


def _read(loader: Any, path: Path) -> Any:
    """`loader(path)`, remembered while the file (or the files of the folder) keep their size and mtime: a status
    reads each artifact once, although validating a large value model or policy takes a while."""
    files = sorted(path.iterdir()) if path.is_dir() else [path]
    key = (loader, str(path.resolve()), tuple((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in files if f.is_file()))
    if key not in _READS:
        if len(_READS) > 32:
            _READS.clear()
        _READS[key] = loader(path)
    return _READS[key]


def _sources_changed(ws: Workspace, manifest: dict[str, Any]) -> list[str]:
    """What changed in the ingested logs since the dataset was made: files gone, changed (a size or, for files
    touched since, a content hash that differs) or added under the recorded paths. Empty without a record."""
    record = ws.manifest().get("ingest")
    if not record:
        return []
    from bpaste_cli.ingest import expand_paths

    base = Path(record["cwd"])
    made = _mtime(ws.dataset_dir / "manifest.json")
    gone = changed = 0
    known: set[Path] = set()
    for f in manifest.get("files", []):
        path = Path(f["path"]) if os.path.isabs(f["path"]) else base / f["path"]
        known.add(path.resolve())
        try:
            st = path.stat()
        except OSError:
            gone += 1
            continue
        if st.st_size != f.get("bytes") or (st.st_mtime > made and f.get("sha256") and file_sha256(path) != f["sha256"]):
            changed += 1
    try:
        now = {resolved for _, _, resolved in expand_paths(record["paths"])}
    except BpasteError:
        now = set()
        gone = max(gone, 1)
    parts = [(n, what) for n, what in ((len(now - known), "added"), (changed, "changed"), (gone, "gone")) if n]
    return [f"{n} log file{'s' if n != 1 else ''} {what}" if i == 0 else f"{n} {what}" for i, (n, what) in enumerate(parts)]


def _dataset(ws: Workspace) -> tuple[Artifact, dict[str, Any] | None]:
    from bpaste_cli.trace import read_manifest

    art = Artifact("dataset", ws.dataset_dir)
    try:
        m = read_manifest(ws.dataset_dir)
    except BpasteError as exc:
        art.error = str(exc)
        return art, None
    record = ws.manifest().get("ingest") or {}
    art.made = {"created_at": m.get("created_at"), "bpaste_version": m.get("bpaste_version"), "dataset_hash": m.get("dataset_hash"),
                "counts": m.get("counts"), "files": len(m.get("files", [])), "skipped_lines": m.get("skipped_lines"),
                "options": m.get("options"), "ingested_from": record.get("paths")}
    changes = _sources_changed(ws, m)
    if changes:
        art.stale.append(Stale("dataset", f"the logs changed after they were ingested ({', '.join(changes)})", ws.ingest_cmd() or ws.cmd("ingest --help")))
    return art, m


def _patterns(ws: Workspace, ds: dict[str, Any] | None) -> tuple[Artifact, dict[str, Any] | None]:
    from bpaste_cli.mine.store import read_table_manifest

    art = Artifact("patterns", ws.patterns_dir)
    try:
        m = read_table_manifest(ws.patterns_dir)
    except BpasteError as exc:
        art.error = str(exc)
        return art, None
    ev = m.get("eval") or {}
    art.made = {"created_at": m.get("created_at"), "bpaste_version": m.get("bpaste_version"), "dataset_hash": m.get("dataset_hash"),
                "seed": m.get("seed"), "parameters": m.get("parameters"), "train_sessions": (m.get("train") or {}).get("sessions"),
                "test_call_top1": ev.get("call_top1")}
    if ds is None:
        art.stale.append(Stale("patterns", "the dataset the patterns were mined from is missing",
                               ws.ingest_cmd() or ws.cmd("ingest --help")))
    elif m.get("dataset_hash") != ds.get("dataset_hash"):
        art.stale.append(Stale("patterns", "the dataset changed after the patterns were mined", ws.cmd("mine")))
    return art, m


def _devices(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


def _model(ws: Workspace, device: str, ds: dict[str, Any] | None, pat: dict[str, Any] | None) -> Artifact:
    from bpaste_cli.fit import load_value_model

    path = ws.root / "models" / f"{device}.json"
    art = Artifact(f"model:{device}", path)
    try:
        meta = _read(load_value_model, path).meta
    except BpasteError as exc:
        art.error = str(exc)
        return art
    prov = meta.get("provenance") or {}
    metrics = meta.get("metrics") or {}
    art.made = {"created_at": meta.get("created_at"), "bpaste_version": meta.get("bpaste_version"), "device": prov.get("device"),
                "dataset_hash": prov.get("dataset_hash"), "patterns_hash": prov.get("patterns_hash"), "seed": prov.get("seed"),
                "estimator": (prov.get("estimator") or {}).get("name"), "chosen_on": metrics.get("chosen_on")}
    fix = ws.device_cmd("fit", device)
    if prov.get("device") not in (None, device):
        art.stale.append(Stale(art.name, f"the value model in {path.name} was fitted for device {prov.get('device')!r}", fix))
    if ds is not None and prov.get("dataset_hash") != ds.get("dataset_hash"):
        art.stale.append(Stale(art.name, f"the dataset changed after the value model for {device} was fitted", fix))
    elif pat is not None and prov.get("patterns_hash") and prov["patterns_hash"] != _read(pattern_table_hash, ws.patterns_dir):
        art.stale.append(Stale(art.name, f"the patterns were mined again after the value model for {device} was fitted", fix))
    return art


def _policy(ws: Workspace, device: str, ds: dict[str, Any] | None, pat: dict[str, Any] | None, pattern_hash: str | None) -> Artifact:
    from bpaste_cli.policy import read_policy_doc

    path = ws.root / "policies" / f"{device}.json"
    art = Artifact(f"policy:{device}", path)
    try:
        doc = _read(read_policy_doc, path)
    except BpasteError as exc:
        art.error = str(exc)
        return art
    prov, params = doc["provenance"], doc["parameters"]
    art.made = {"created_at": doc.get("created_at"), "bpaste_version": doc.get("bpaste_version"), "device": doc["device"]["name"],
                "dataset_hash": prov.get("dataset_hash"), "pattern_hash": prov.get("pattern_hash"), "seed": prov.get("seed"),
                "study": prov.get("study"), "trial": prov.get("trial"), "arm": params.get("arm"), "rank": params.get("rank"),
                "validation_speedup": doc["validation"]["policy"].get("speedup"), "validation_sessions": doc["validation"].get("sessions")}
    fix = ws.device_cmd("tune", device)
    if _file_name(doc["device"]["name"]) != device:
        art.stale.append(Stale(art.name, f"{path.name} holds a policy for device {doc['device']['name']!r}", fix))
    if ds is not None and prov.get("dataset_hash") != ds.get("dataset_hash"):
        art.stale.append(Stale(art.name, f"the dataset changed after the policy for {device} was tuned", fix))
    elif pattern_hash is not None and prov.get("pattern_hash") != pattern_hash:
        art.stale.append(Stale(art.name, f"the patterns were mined again after the policy for {device} was tuned", fix))
    model = ws.root / "models" / f"{device}.json"
    if model.is_file():
        embedded = (doc.get("value_model") or {}).get("embedded")
        if embedded is not None and embedded != orjson.loads(model.read_bytes()):
            art.stale.append(Stale(art.name, f"the value model for {device} was fitted again after the policy was tuned", fix))
        elif embedded is None and _mtime(model) > _mtime(path):
            art.stale.append(Stale(art.name, f"the value model for {device} was fitted after the policy was tuned, which did not "
                                             "consider its ranking", fix))
    return art


def _report(ws: Workspace) -> Artifact | None:
    path = ws.report_path()
    if not path.is_file():
        return None
    made = _mtime(path)
    art = Artifact("report", path, {"written_at": datetime.fromtimestamp(made, timezone.utc).isoformat(timespec="seconds")})
    inputs = [ws.dataset_dir / "manifest.json", ws.patterns_dir / "manifest.json", *sorted((ws.root / "policies").glob("*.json"))]
    if any(p.is_file() and _mtime(p) > made for p in inputs):
        art.stale.append(Stale("report", "the dataset, patterns or a policy changed after the report was written", ws.cmd("report")))
    return art


def pattern_table_hash(path: Path) -> str:
    """The identity of the pattern table at `path` (`mine.pattern_hash` of its predictor): what a value model
    and a policy record as the patterns they were made with."""
    from bpaste_cli.mine import load_predictor, pattern_hash

    return pattern_hash(load_predictor(path))


def status(ws: Workspace) -> WorkspaceStatus:
    """What `ws` holds, how each artifact was made, what is stale, and the commands that fix it."""
    artifacts: list[Artifact] = []
    ds_art, ds = _dataset(ws) if ws.dataset_dir.exists() else (None, None)
    if ds_art:
        artifacts.append(ds_art)
    pat_art, pat = _patterns(ws, ds) if ws.patterns_dir.exists() else (None, None)
    if pat_art:
        artifacts.append(pat_art)
    artifacts += [_model(ws, d, ds, pat) for d in _devices(ws.root / "models")]
    policies = _devices(ws.root / "policies")
    phash = None
    if policies and pat is not None:
        try:
            phash = _read(pattern_table_hash, ws.patterns_dir)
        except BpasteError as exc:
            pat_art.error = str(exc)  # type: ignore[union-attr]
    artifacts += [_policy(ws, d, ds, pat, phash) for d in policies]
    studies = sorted((ws.root / "studies").glob("*.optuna.db")) if (ws.root / "studies").is_dir() else []
    artifacts += [Artifact(f"study:{p.name[: -len('.optuna.db')]}", p, {"bytes": p.stat().st_size}) for p in studies]
    if (report := _report(ws)) is not None:
        artifacts.append(report)
    nxt = []
    if ds is None and ws.ingest_cmd():
        nxt.append(ws.ingest_cmd())
    elif pat is None:
        nxt.append(ws.cmd("mine"))
    elif not policies:
        nxt.append(ws.cmd(f"tune --device {DEFAULT_DEVICE}"))
    return WorkspaceStatus(ws.root, ws.found, artifacts, nxt)


# What each verb takes from the workspace when no path is given, and what a stale one means for its result.
# "refuse": the result would be wrong (say, leakage: the patterns' training sessions in the sessions reported on).
# "warn": the result is right for the artifact used, but the artifact is out of date.
USES: dict[str, dict[str, Severity]] = {
    "mine": {"dataset": "warn"},
    "stats": {"dataset": "warn"},
    "fit": {"dataset": "warn", "patterns": "refuse"},
    "tune": {"dataset": "warn", "patterns": "refuse", "model": "refuse"},
    "replay": {"dataset": "warn", "patterns": "refuse", "model": "refuse", "policy": "warn"},
    "report": {"dataset": "warn", "patterns": "refuse", "policy": "warn"},
}


def preflight(ws: Workspace, verb: str, *, device: str | Path | None = None, uses: tuple[str, ...] | None = None,
              st: WorkspaceStatus | None = None) -> list[str]:
    """Warnings for `verb` about the workspace artifacts it is about to use (`uses`: the kinds it takes from the
    workspace, by default all of USES[verb]); raises one sentence when a stale one would make its result wrong."""
    table = USES[verb]
    kinds = set(table if uses is None else uses)
    key = device_key(device) if device is not None else None
    st = st or status(ws)
    warnings = []
    for art in st.artifacts:
        kind, _, dev = art.name.partition(":")
        if kind not in kinds or (dev and dev != key):
            continue
        if art.error:
            raise BpasteError(art.error)
        for s in art.stale:
            if table[kind] == "refuse":
                raise BpasteError(f"The workspace's {kind} {'for ' + dev + ' ' if dev else ''}"
                                  f"{'are' if kind == 'patterns' else 'is'} stale ({s.reason}), so {verb} would give a "
                                  f"wrong result: run `{s.fix}` first.")
            warnings.append(s.sentence())
    return warnings


# ---------------------------------------------------------------------------------------------------------------
# what each verb uses when a path is omitted

@dataclass
class Inputs:
    """The paths a verb works with: those the user gave, the workspace's for those omitted. `workspace` is None
    when the user gave every path (then no workspace is needed, and the verbs' own provenance checks apply)."""

    workspace: Workspace | None = None
    paths: list[str] | None = None  # ingest: the logs
    dataset: Path | None = None
    patterns: Path | None = None
    model: Path | None = None
    policy: Path | None = None
    output: Path | None = None
    seed: int = 0
    storage: str | None = None  # tune: the Optuna storage URL and study name
    study: str | None = None
    taken: tuple[str, ...] = ()  # the kinds taken from the workspace
    warnings: list[str] = field(default_factory=list)


def table_split_seed(patterns: Path | str) -> int | None:
    """The split seed the pattern table at `patterns` was mined with, if it is a table that records one (not the
    oracle, not a path without a table: the verb that opens it says what is wrong)."""
    from bpaste_cli.mine.store import read_table_manifest

    if str(patterns) == "oracle" or not (Path(patterns) / "manifest.json").is_file():
        return None
    seed = read_table_manifest(Path(patterns)).get("seed")
    return seed if isinstance(seed, int) else None


def resolve(
    verb: str,
    *,
    workspace: Path | str | None = None,
    device: str | Path = DEFAULT_DEVICE,
    paths: list[str] | None = None,
    dataset: Path | None = None,
    patterns: Path | None = None,
    model: Path | None = None,
    policy: Path | None = None,
    output: Path | None = None,
    seed: int | None = None,
    storage: str | None = None,
    study: str | None = None,
    study_inputs: dict[str, Any] | None = None,
    need_patterns: bool = True,
    need_model: bool = False,
) -> Inputs:
    """Fill in what `verb` was not given from the workspace (see the module docstring for the layout), check the
    workspace artifacts it takes with `preflight`, and return them with the warnings to print.

    ingest: logs (omitted: the recorded ones) -> `dataset/` (with no -o; creates the workspace).
    mine: `dataset/` -> `patterns/` (-o omitted and the dataset taken from the workspace).
    fit: `dataset/`, `patterns/` -> `models/<device>.json`.
    tune: `dataset/`, `patterns/`, `models/<device>.json` if present -> `policies/<device>.json`, with the study
      in `studies/<device>.optuna.db` named after `study_inputs` (unless --storage/--study or -o are given).
    replay: `dataset/`, `patterns/` (when `need_patterns`), `policies/<device>.json` if present, `models/<device>.json`
      (when `need_model`: --rank model without --model).
    report: `dataset/`, `patterns/` and `policies/<device>.json` if present -> `report.html`.
    stats: `dataset/`.  The split seed, when not given, is the one the patterns were mined with (else 0).
    """
    if verb not in USES and verb != "ingest":
        raise ValueError(f"no workspace rule for {verb!r}")  # a wiring bug, not a user error
    got = Inputs(paths=paths, dataset=dataset, patterns=patterns, model=model, policy=policy, output=output,
                 seed=0 if seed is None else seed, storage=storage, study=study)
    if verb == "ingest":
        if output is not None and paths:
            return got
        ws = got.workspace = locate(workspace, create=output is None and bool(paths))
        if not paths:
            record = ws.manifest().get("ingest")
            if not record:
                raise BpasteError(f"bpaste ingest needs the logs to read: {INGEST_IN_WORDS}.")
            got.paths = list(record["paths"])
        got.output = output or ws.dataset_dir
        return got
    needs_patterns = verb in ("fit", "tune") or (verb == "replay" and need_patterns)
    required = {
        "dataset": dataset is None,
        "patterns": patterns is None and needs_patterns,
        "model": model is None and verb == "replay" and need_model,
        "output": output is None and verb in ("fit", "tune", "report") or (verb == "mine" and output is None and dataset is None),
    }
    if seed is None and patterns is not None:  # a table given by path lends its seed as the workspace's does (below)
        got.seed = table_split_seed(patterns) or 0
    if not any(required.values()):
        return got  # every path the verb needs was given: it runs as it always did, no workspace involved
    optional = {
        "patterns": patterns is None and not needs_patterns and verb in ("replay", "report"),
        "model": model is None and verb == "tune",
        "policy": policy is None and verb in ("replay", "report"),
    }
    ws = got.workspace = locate(workspace)
    taken = []
    if required["dataset"]:
        got.dataset = ws.dataset()
        taken.append("dataset")
    if required["patterns"]:
        got.patterns = ws.patterns()
        taken.append("patterns")
    elif optional["patterns"] and (ws.patterns_dir / "manifest.json").is_file():
        got.patterns = ws.patterns_dir
        taken.append("patterns")
    if required["model"] or optional["model"]:
        got.model = ws.model(device, required=required["model"])
        taken += ["model"] if got.model is not None else []
    if optional["policy"]:
        got.policy = ws.policy(device)
        taken += ["policy"] if got.policy is not None else []
    if required["output"]:
        got.output = {"mine": ws.patterns_dir, "fit": ws.model_path(device), "tune": ws.policy_path(device),
                      "report": ws.report_path()}[verb]
        if verb in ("fit", "tune"):
            ws.record_device(device)
    if seed is None and "patterns" in taken:
        got.seed = table_split_seed(got.patterns) or 0
    if "dataset" in taken:  # with a dataset of the user's own, the verbs' own provenance checks apply
        st = status(ws)
        model = st.artifact(f"model:{device_key(device)}")
        if optional["model"] and model is not None and (model.stale or model.error):
            got.model = None  # tune works without it; a stale one would rank by labels from other sessions
            taken.remove("model")
            why = model.error or model.stale[0].reason
            got.warnings.append(f"Tuning without the value model for {device_key(device)} ({why}): run "
                                f"`{ws.device_cmd('fit', device)}` to use it.")
        got.warnings += preflight(ws, verb, device=device, uses=tuple(k for k in taken if k in USES[verb]), st=st)
    if verb == "tune" and required["output"] and storage is None and study is None:
        got.storage, got.study = ws.study(device, _study_key(got, study_inputs or {}))
    got.taken = tuple(taken)
    return got


def tune_study_inputs(objectives: tuple[str, ...] | list[str], max_interference: float, max_amplification: float) -> dict[str, Any]:
    """The options of `tune` besides its inputs that make a different study (`resolve`'s `study_inputs`), so the
    verb and the demo name the same study for the same run."""
    return {"objectives": list(objectives), "max_interference": max_interference, "max_amplification": max_amplification}


def _study_key(got: Inputs, extra: dict[str, Any]) -> dict[str, Any]:
    """What a tune study depends on: the dataset, the patterns, the model, the seed, and the options in `extra`."""
    from bpaste_cli.trace import read_manifest

    return {"dataset_hash": read_manifest(got.dataset)["dataset_hash"], "patterns_hash": _read(pattern_table_hash, got.patterns),
            "model_sha256": file_sha256(got.model) if got.model else None, "seed": got.seed} | extra
