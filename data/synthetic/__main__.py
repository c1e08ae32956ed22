"""``python -m data.synthetic``: see ``data.synthetic.main``."""

import sys

from . import main

sys.exit(main())
