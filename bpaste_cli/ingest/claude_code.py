"""(being written) reader for the claude_code format."""

NAME = "claude-code"
DESCRIPTION = ""


def sniff(head: bytes) -> bool:
    return False


def read(path, ctx):
    return iter(())
