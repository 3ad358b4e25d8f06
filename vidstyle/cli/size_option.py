"""The ``--size`` option type every command shares (kept out of :mod:`vidstyle.cli.options`, which is
at the module size limit)."""

from __future__ import annotations

import argparse

#: The smallest working long side: videos need both sides even and at least 2 px.
MIN_SIZE = 2


def size_int(text: str) -> int:
    """An option type: a ``--size``, a long side of at least :data:`MIN_SIZE` pixels."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < MIN_SIZE:
        raise argparse.ArgumentTypeError(f"{text!r} is too small: the long side must be at least {MIN_SIZE} pixels")
    return value
