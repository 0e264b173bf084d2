"""One module per verb; importing this package registers them all on the app, in the pipeline's order."""

from bpaste_cli.cli.commands import ingest, stats, synth, mine, replay, device, fit, tune, policy, report, status, demo, serve, live  # noqa: F401  isort: skip
