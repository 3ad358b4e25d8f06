"""``python -m vidstyle`` is the ``vidstyle`` command."""

import sys

from .cli import main

sys.exit(main())
