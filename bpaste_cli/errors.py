"""The one exception type a user sees: a single clear sentence and an exit status of 2."""


class BpasteError(Exception):
    """A problem with the user's input, worded as one sentence: what, where, and what to do."""

    exit_code = 2
