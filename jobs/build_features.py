"""spark-submit entry point: build point-in-time feature snapshots.

    ./spark-submit.sh jobs/build_features.py --master local[2] --as-of 2024-06-30 --lake /data/lake

Takes the same arguments as `ltv features` (see `--help`).
"""
from __future__ import annotations

import sys

from ltv.cli import main

if __name__ == "__main__":
    sys.exit(main(["features", *sys.argv[1:]]))
