"""Deprecated: use :mod:`ltv.runtime.jars` (``python -m ltv.runtime.jars``).

Kept for one release so existing imports and ``python -m ltv.jars`` keep working; importing it
warns with a DeprecationWarning.
"""
from __future__ import annotations

import sys
import warnings

from ltv.runtime.jars import DELTA_VERSION, fetch_jars, jar_dir, main, spark_jars  # noqa: F401  (re-exported)

warnings.warn(
    "ltv.jars is deprecated and will be removed in the next release; use ltv.runtime.jars",
    DeprecationWarning,
    stacklevel=2,
)


def driver_jars(fetch: bool = True) -> list[str]:
    """The jars ltv adds to the sessions it starts: Delta's (there is no other jar any more)."""
    return fetch_jars() if fetch else spark_jars()


if __name__ == "__main__":
    print("python -m ltv.jars is deprecated; use python -m ltv.runtime.jars", file=sys.stderr)
    sys.exit(main())
