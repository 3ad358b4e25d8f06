"""``python -m vidstyle.cli`` is the ``vidstyle`` command too."""

import sys

from . import main

sys.exit(main())
