"""The project's base exception: every expected failure (bad input, missing weights, ...).

The CLI prints these as one line and exits non-zero; anything else is a bug and keeps its
traceback (with ``--debug``, expected failures do too).
"""

from __future__ import annotations

import errno

# Errors of the storage rather than of the program: reported in one line, finished work kept.
STORAGE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EACCES, errno.EPERM)


class VidstyleError(Exception):
    """An expected failure with a message fit for the user."""


class Interrupted(VidstyleError):
    """Ctrl-C (or SIGTERM) during a long run: finished work is kept; the message says how to resume."""


def storage_error(error: BaseException | None) -> OSError | None:
    """The OSError of the storage (disk full, read-only, I/O error) behind ``error``, if any.

    Follows ``__cause__``/``__context__``, since PyAV and the worker threads wrap the original.
    """
    seen = 0
    while error is not None and seen < 10:
        code = getattr(error, "errno", None)
        if code in STORAGE_ERRNOS:  # PyAV's errors carry errno without being OSErrors
            return error if isinstance(error, OSError) else OSError(code, getattr(error, "strerror", None) or "")
        if isinstance(error, OSError) and "requested and 0 written" in str(error):  # numpy's tofile
            return OSError(errno.ENOSPC, "No space left on device")
        error = error.__cause__ or error.__context__
        seen += 1
    return None


def storage_message(error: OSError, folder: object) -> str:
    """One line for a storage error while writing into ``folder``."""
    what = {errno.ENOSPC: "no space left", errno.EDQUOT: "disk quota exceeded",
            errno.EROFS: "read-only file system"}.get(error.errno or 0, error.strerror or str(error))
    return f"cannot write to {folder}: {what}"
