"""``python -m vidstyle`` is the ``vidstyle`` command."""

import sys

try:
    from .cli import main
except KeyboardInterrupt:  # Ctrl-C while Python is still starting: no traceback either
    print("vidstyle: interrupted", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
