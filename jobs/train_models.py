"""spark-submit entry point: back-test, gate and register models (same arguments as `ltv train`).

    ./spark-submit.sh jobs/train_models.py --master local[2] --as-of 2024-06-30 --lake /data/lake
"""
from __future__ import annotations

import sys

from ltv.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
