"""(being written) reader for the bfcl format."""

NAME = "bfcl"
DESCRIPTION = ""


def sniff(head: bytes) -> bool:
    return False


def read(path, ctx):
    return iter(())
