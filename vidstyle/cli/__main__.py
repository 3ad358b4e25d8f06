"""``python -m vidstyle.cli`` is the ``vidstyle`` command too."""

import sys

try:
    from . import main
except KeyboardInterrupt:  # Ctrl-C while Python is still starting: no traceback either
    print("vidstyle: interrupted", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
