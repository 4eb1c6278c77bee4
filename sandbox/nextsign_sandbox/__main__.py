"""``python -m nextsign_sandbox``."""

import sys

from nextsign_sandbox.cli import main

sys.exit(main())
