"""Deprecated: use :mod:`ltv.runtime.cds` (``python -m ltv.runtime.cds``).

Kept for one release so existing imports and ``python -m ltv.cds`` keep working; importing it
warns with a DeprecationWarning.
"""
from __future__ import annotations

import sys
import warnings

from ltv.runtime.cds import (  # noqa: F401  (re-exported)
    DIR_VARIABLE,
    DUMP_VARIABLE,
    KEEP,
    SWITCH,
    archive_path,
    build,
    cache_dir,
    enabled,
    main,
    session_conf,
)

warnings.warn(
    "ltv.cds is deprecated and will be removed in the next release; use ltv.runtime.cds",
    DeprecationWarning,
    stacklevel=2,
)

if __name__ == "__main__":
    print("python -m ltv.cds is deprecated; use python -m ltv.runtime.cds", file=sys.stderr)
    sys.exit(main())
