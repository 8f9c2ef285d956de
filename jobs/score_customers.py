"""spark-submit entry point: score customers with each line's champion (same arguments as `ltv score`).

    ./spark-submit.sh jobs/score_customers.py --master local[2] --as-of 2024-06-30 --lake /data/lake
"""
from __future__ import annotations

import sys

from ltv.cli import main

if __name__ == "__main__":
    sys.exit(main(["score", *sys.argv[1:]]))
