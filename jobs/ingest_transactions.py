"""spark-submit entry point: validate a transactions (or customers) file into the lake.

    ./spark-submit.sh jobs/ingest_transactions.py --master local[2] data/tx.csv --lake /data/lake [--json]

Takes the same arguments as `ltv ingest` (see `--help`).
"""
from __future__ import annotations

import sys

from ltv.cli import main

if __name__ == "__main__":
    sys.exit(main(["ingest", *sys.argv[1:]]))
