"""What every command needs, built from the global options: config, lake folder, a lazily started
Spark session and lake, and the progress printer."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ltv.cli.render import Progress
from ltv.config import LTVConfig, load_config, resolve_lake

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from ltv.lake.io import Lake


class Context:
    """Config and lake folder from ``--config`` / ``--lake``; Spark (``--master``) only when a command asks."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.config: LTVConfig = load_config(args.config)
        self.lake_root: Path = resolve_lake(args.lake, self.config)
        self.master: str | None = args.master
        self.progress = Progress(enabled=not getattr(args, "quiet", False))
        self._spark: SparkSession | None = None
        self._lake: Lake | None = None

    @property
    def spark(self) -> SparkSession:
        if self._spark is None:
            from ltv.runtime.session import DEFAULT_MASTER, get_spark, launched_by_spark_submit

            master = self.master or self.config.spark.master
            master = master or ("as given to spark-submit" if launched_by_spark_submit() else DEFAULT_MASTER)
            with self.progress.stage(f"starting Spark ({master})"):
                self._spark = get_spark(self.config.spark, master=self.master)
        return self._spark

    @property
    def lake(self) -> Lake:
        if self._lake is None:
            from ltv.lake.io import Lake

            self._lake = Lake(self.spark, self.lake_root)
        return self._lake
