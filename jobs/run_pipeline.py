"""spark-submit entry point: the daily pipeline (same arguments as `ltv run`).

    ./spark-submit.sh jobs/run_pipeline.py --master local[2] --as-of 2024-06-30 --lake /data/lake
    ./spark-submit.sh jobs/run_pipeline.py --master spark://host:7077 --from 2024-01-07 --to 2024-06-30 --lake /shared/lake
"""
from __future__ import annotations

import sys

from ltv.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
