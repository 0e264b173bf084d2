"""One module per verb; importing this package registers them all on the app."""

from bpaste_cli.commands import ingest, stats  # noqa: F401
from bpaste_cli.commands import mine  # noqa: F401
from bpaste_cli.commands import replay  # noqa: F401
from bpaste_cli.commands import device  # noqa: F401
