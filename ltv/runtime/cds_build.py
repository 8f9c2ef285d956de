"""The workload that records ltv's class-data-sharing archive (:mod:`ltv.runtime.cds`).

Run only as the child process of :func:`ltv.runtime.cds.build` (``python -m
ltv.runtime.cds_build`` with ``LTV_CDS_DUMP`` set): it starts a throw-away local session, whose
driver JVM :func:`ltv.runtime.cds.session_conf` starts with ``-XX:ArchiveClassesAtExit``, runs
small versions of what ltv's commands do so their classes are loaded, and waits for the JVM to
write the archive on exit. It reads and writes only a temporary folder.
"""
from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
from pathlib import Path

from ltv.config import SparkSettings
from ltv.runtime.cds import DUMP_VARIABLE
from ltv.runtime.session import get_spark


def record() -> None:
    """Run the workload, then wait for the JVM to write the archive."""
    from pyspark import SparkContext

    spark = get_spark(SparkSettings(master="local[2]", shuffle_partitions=2), app_name="ltv-cds")
    with tempfile.TemporaryDirectory(prefix="ltv-cds-") as tmp:
        workload(spark, Path(tmp))
        gateway = SparkContext._gateway
        spark.stop()
        # The JVM (pyspark's gateway server) exits when its stdin closes and writes the archive
        # on the way out: wait for it here, so the parent finds a complete file.
        gateway.proc.stdin.close()
        gateway.proc.wait(timeout=300)


def workload(spark, folder: Path) -> None:
    """Small versions of what ltv's commands do, so their classes end up in the archive."""
    from delta.tables import DeltaTable
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    rows = [(f"c{i % 50:03d}", "shop" if i % 3 else "web", dt.datetime(2024, 1, 1) + dt.timedelta(hours=7 * i),
             float(i % 17) - 2.0) for i in range(600)]
    frame = spark.createDataFrame(rows, "customer_id string, business_line string, event_ts timestamp, amount double")
    csv = folder / "in.csv"
    frame.toPandas().to_csv(csv, index=False)
    frame = spark.read.option("header", True).schema(frame.schema).csv(str(csv))
    table = str(folder / "delta")
    frame.write.format("delta").partitionBy("business_line").save(table)
    (frame.where("amount > 5 AND business_line = 'shop'").withColumn("amount", F.col("amount") * 2).write.format("delta")
     .mode("overwrite").option("replaceWhere", "business_line = 'shop'").save(table))
    target = DeltaTable.forPath(spark, table)
    (target.alias("t").merge(frame.limit(100).alias("s"), "t.customer_id = s.customer_id AND t.event_ts = s.event_ts")
     .whenNotMatchedInsertAll().execute())
    target.history().collect()
    data = spark.read.format("delta").load(table)
    window = Window.partitionBy("business_line", "customer_id").orderBy("event_ts")
    summary = (data.withColumn("gap", F.datediff("event_ts", F.lag("event_ts").over(window)))
               .groupBy("business_line", "customer_id")
               .agg(F.count(F.lit(1)).alias("n"), F.sum("amount").alias("spend"), F.avg("gap").alias("gap"),
                    F.min_by("amount", "event_ts").alias("first"), F.countDistinct(F.to_date("event_ts")).alias("days")))
    joined = summary.join(data.groupBy("customer_id").agg(F.max("event_ts").alias("last")), "customer_id", "left")
    joined.write.mode("overwrite").parquet(str(folder / "parquet"))
    spark.read.parquet(str(folder / "parquet")).toPandas()

    def doubled(batches):
        for batch in batches:
            yield batch.assign(spend=batch["spend"] * 2)

    summary.mapInPandas(doubled, summary.schema).collect()
    spark.sql(f"SELECT business_line, COUNT(*) FROM delta.`{table}` GROUP BY business_line").collect()


def main() -> int:
    if not os.environ.get(DUMP_VARIABLE):
        sys.stderr.write(f"{DUMP_VARIABLE} is not set: build the archive with `python -m ltv.runtime.cds`\n")
        return 2
    record()
    return 0


if __name__ == "__main__":
    sys.exit(main())
