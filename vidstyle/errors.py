"""The project's base exception: every expected failure (bad input, missing weights, ...).

The CLI prints these as one line and exits non-zero; anything else is a bug and keeps its
traceback (with ``--debug``, expected failures do too).
"""


class VidstyleError(Exception):
    """An expected failure with a message fit for the user."""
