"""``python -m ml.data``: see ``ml.data.cli``."""

import sys

from ml.data.cli import main

sys.exit(main())
