"""``python -m export.edgetpu``: see ``export.edgetpu.cli``."""

import sys

from .cli import main

sys.exit(main())
