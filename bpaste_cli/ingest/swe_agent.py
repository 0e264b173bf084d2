"""(being written) reader for the swe_agent format."""

NAME = "swe-agent"
DESCRIPTION = ""


def sniff(head: bytes) -> bool:
    return False


def read(path, ctx):
    return iter(())
