"""`bpaste ingest`: agent logs in many formats -> one schema-v1 trace dataset.

This package's face: the verb lives in `run.py`, one reader module per format beside it (`base.py` says
what a reader is). The names other rooms import are re-exported here.
"""

from bpaste_cli.ingest.run import (
    FORMATS,
    READERS,
    SNIFF_BYTES,
    IngestOptions,
    IngestResult,
    detect_format,
    expand_paths,
    ingest,
    known_formats,
)

__all__ = [
    "FORMATS",
    "READERS",
    "SNIFF_BYTES",
    "IngestOptions",
    "IngestResult",
    "detect_format",
    "expand_paths",
    "ingest",
    "known_formats",
]
