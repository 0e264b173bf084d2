"""The trace model (the face): schema v1 (`schema`), canonical arguments (`canonical`), the session builder
(`builder`) and dataset files (`dataset`, whose manifest is checked by the one artifact gate as `DATASET`).

Other rooms import from here; the submodules are this room's own layout.
"""

from bpaste_cli.trace.builder import Limits, SessionBuilder, result_to_text
from bpaste_cli.trace.canonical import args_hash, canonical_json, short_hash
from bpaste_cli.trace.dataset import Dataset, DatasetWriter, base_manifest, dataset_hash, load_dataset, read_manifest
from bpaste_cli.trace.schema import (
    DATASET,
    EVENT_COLUMNS,
    EVENTS_SCHEMA,
    SCHEMA_VERSION,
    SESSION_COLUMNS,
    SESSIONS_SCHEMA,
    events_json_schema,
    sessions_json_schema,
)

__all__ = [
    "DATASET", "EVENTS_SCHEMA", "EVENT_COLUMNS", "SCHEMA_VERSION", "SESSIONS_SCHEMA", "SESSION_COLUMNS", "Dataset",
    "DatasetWriter", "Limits", "SessionBuilder", "args_hash", "base_manifest", "canonical_json", "dataset_hash",
    "events_json_schema", "load_dataset", "read_manifest", "result_to_text", "sessions_json_schema", "short_hash",
]
