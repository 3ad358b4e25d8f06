"""The project's base exception: every expected failure (bad input, missing weights, ...).

The CLI prints these as one line and exits non-zero; anything else is a bug and keeps its
traceback (with ``--debug``, expected failures do too).
"""


class VidstyleError(Exception):
    """An expected failure with a message fit for the user."""


class Interrupted(VidstyleError):
    """Ctrl-C during a long run: finished work is kept; the message says how to resume."""
