"""`python -m bpaste_cli` runs the command-line interface."""

from bpaste_cli.cli import main

main()
