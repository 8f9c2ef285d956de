"""``python -m ltv.cli ...`` is ``ltv ...``."""
from __future__ import annotations

import sys

from ltv.cli.app import main

if __name__ == "__main__":
    sys.exit(main())
