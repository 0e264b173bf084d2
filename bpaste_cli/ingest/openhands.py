"""(being written) reader for the openhands format."""

NAME = "openhands"
DESCRIPTION = ""


def sniff(head: bytes) -> bool:
    return False


def read(path, ctx):
    return iter(())
