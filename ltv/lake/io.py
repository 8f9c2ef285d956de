"""All Delta I/O of the lake: where tables live, creating them, reading versions, merging.

Transform code never reads or writes; it gets DataFrames from here and hands them back.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from ltv.lake.tables import TableSpec, spec_for

log = logging.getLogger(__name__)


_CREATE_ATTEMPTS = 5
_CREATE_RETRY_SECONDS = 0.5
_CREATE_RACE_MARKERS = (
    "ProtocolChanged", "MetadataChanged", "ConcurrentWrite",
    # the winner's folder is there but its first commit is not (yet) readable
    "DELTA_TABLE_NOT_FOUND", "DELTA_CREATE_TABLE_WITH_NON_EMPTY_LOCATION",
)


def _is_create_race(exc: Exception) -> bool:
    """A CREATE that lost to another writer creating the same table (Delta's conflict exceptions,
    or the table folder seen before its first commit landed)."""
    text = f"{type(exc).__name__} {exc}"
    return any(marker in text for marker in _CREATE_RACE_MARKERS)


class Lake:
    """A folder of Delta tables, one sub-folder per table name.

    >>> lake = Lake(spark, "/data/lake")
    >>> lake.read("transactions").count()
    """

    def __init__(self, spark: SparkSession, root: str | Path):
        self.spark = spark
        self.root = Path(root).expanduser().resolve()

    # -- locations -----------------------------------------------------------------
    def path(self, table: str) -> str:
        """Filesystem path of ``table`` (must be a catalogued table name)."""
        spec_for(table)
        return str(self.root / table)

    def exists(self, table: str) -> bool:
        from delta.tables import DeltaTable

        path = self.path(table)
        return Path(path).exists() and DeltaTable.isDeltaTable(self.spark, path)

    # -- create / read ---------------------------------------------------------------
    def ensure(self, table: str) -> None:
        """Create ``table`` empty with its schema, partitioning and properties if missing."""
        from delta.tables import DeltaTable

        spec = spec_for(table)
        if self.exists(table):
            self._add_new_columns(table, spec)
            return
        self.root.mkdir(parents=True, exist_ok=True)
        builder = DeltaTable.createIfNotExists(self.spark).location(self.path(table)).addColumns(spec.schema)
        if spec.partition_by:
            builder = builder.partitionedBy(*spec.partition_by)
        for key, value in spec.properties.items():
            builder = builder.property(key, value)
        # Two writers may create the table in an empty folder at once (two lines scored by
        # concurrent jobs). One CREATE wins; the other sees a conflict (ProtocolChanged,
        # MetadataChanged, ConcurrentWrite) or, while the winner's first commit is being written,
        # DELTA_TABLE_NOT_FOUND / DELTA_CREATE_TABLE_WITH_NON_EMPTY_LOCATION. Then the winner's
        # table is ours: wait briefly for its commit.
        for attempt in range(_CREATE_ATTEMPTS):
            try:
                builder.execute()
                break
            except Exception as exc:  # noqa: BLE001 -- re-raised below unless another writer created it
                if not _is_create_race(exc):
                    raise
                time.sleep(_CREATE_RETRY_SECONDS * (attempt + 1))
                if self.exists(table):
                    log.info("Delta table %s was created concurrently by another writer (%s)", table, type(exc).__name__)
                    return
                if attempt == _CREATE_ATTEMPTS - 1:
                    raise
        log.info("created Delta table %s at %s", table, self.path(table))

    def read(self, table: str, version: int | None = None) -> DataFrame:
        """The table as a DataFrame (optionally at a Delta ``version``: time travel)."""
        if not self.exists(table):
            raise FileNotFoundError(
                f"lake table {table!r} not found under {self.root}; run the step that builds it first "
                "(e.g. `ltv ingest`, `ltv features`)"
            )
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", int(version))
        return reader.load(self.path(table))

    def version(self, table: str) -> int | None:
        """Latest Delta version of ``table`` (None if it does not exist)."""
        from delta.tables import DeltaTable

        if not self.exists(table):
            return None
        row = DeltaTable.forPath(self.spark, self.path(table)).history(1).select("version").first()
        return int(row["version"]) if row else None

    def rows_added(self, table: str, version: int | None, partition_column: str) -> dict[str, int] | None:
        """Rows added by Delta commit ``version`` of ``table``, per value of ``partition_column``.

        Reads only the commit's JSON (the Delta protocol's ``add`` actions carry ``numRecords``),
        which saves scanning the data again; None when the commit is missing or any added file
        lacks statistics.
        """
        import json

        if version is None:
            return None
        commit = Path(self.path(table)) / "_delta_log" / f"{version:020d}.json"
        counts: dict[str, int] = {}
        try:
            for line in commit.read_text().splitlines():
                add = json.loads(line).get("add") if line.strip() else None
                if add is None:
                    continue
                stats = json.loads(add.get("stats") or "{}")
                if "numRecords" not in stats:
                    return None
                value = add["partitionValues"][partition_column]
                counts[value] = counts.get(value, 0) + int(stats["numRecords"])
        except (OSError, ValueError, KeyError):
            return None
        return counts

    # -- writes --------------------------------------------------------------------
    def merge_insert_new(self, table: str, source: DataFrame, keys: Sequence[str] | None = None) -> None:
        """Insert rows of ``source`` whose key is not yet in ``table`` (one atomic commit).

        Idempotent: merging the same rows twice inserts them once.
        """
        from delta.tables import DeltaTable

        spec = spec_for(table)
        self.ensure(table)
        keys = tuple(keys or spec.key)
        condition = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)
        target = DeltaTable.forPath(self.spark, self.path(table))
        source = _conform(source, spec)
        (
            target.alias("t")
            .merge(source.alias("s"), condition)
            .whenNotMatchedInsertAll()
            .execute()
        )

    def upsert(self, table: str, source: DataFrame, keys: Sequence[str] | None = None) -> None:
        """Update matching rows, insert new ones (MERGE on the table's key)."""
        from delta.tables import DeltaTable

        spec = spec_for(table)
        self.ensure(table)
        keys = tuple(keys or spec.key)
        condition = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)
        if not spec.open_schema:
            source = _conform(source, spec)
        target = DeltaTable.forPath(self.spark, self.path(table))
        merge = target.alias("t").merge(source.alias("s"), condition).whenMatchedUpdateAll().whenNotMatchedInsertAll()
        if spec.open_schema:
            # attribute columns may be new: let this one MERGE evolve the schema
            prev = self.spark.conf.get("spark.databricks.delta.schema.autoMerge.enabled", "false")
            self.spark.conf.set("spark.databricks.delta.schema.autoMerge.enabled", "true")
            try:
                merge.execute()
            finally:
                self.spark.conf.set("spark.databricks.delta.schema.autoMerge.enabled", prev)
        else:
            merge.execute()

    def _add_new_columns(self, table: str, spec) -> None:
        """Migrate a table written by an earlier release: add the nullable columns its spec gained
        since (one metadata-only Delta commit; old rows read them as null). A missing column that
        is not nullable cannot be added this way and is an error naming it."""
        present = {f.name.lower() for f in self.read(table).schema.fields}
        missing = [f for f in spec.schema.fields if f.name.lower() not in present]
        if not missing:
            return
        required = [f.name for f in missing if not f.nullable]
        if required:
            raise ValueError(f"{table} at {self.path(table)} lacks required columns {required}: "
                             "it was not written by ltv, or needs a migration this release does not have")
        path = self.path(table)
        if "`" in path:
            raise ValueError(f"lake path {path!r} contains a backtick")
        added = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in missing)
        self.spark.sql(f"ALTER TABLE delta.`{path}` ADD COLUMNS ({added})")
        log.info("migrated %s: added column(s) %s", table, [f.name for f in missing])

    def replace_where(self, table: str, source: DataFrame, predicate: str) -> None:
        """Atomically replace the rows matching ``predicate`` with ``source``.

        ``predicate`` must be built by the caller from validated values only.
        """
        spec = spec_for(table)
        self.ensure(table)
        writer = (
            _conform(source, spec)
            .write.format("delta")
            .mode("overwrite")
            .option("replaceWhere", predicate)
        )
        if spec.open_schema:
            # extra (config-dependent) columns may be new: let this write evolve the schema
            writer = writer.option("mergeSchema", "true")
        writer.save(self.path(table))


def _conform(df: DataFrame, spec: TableSpec) -> DataFrame:
    """Select ``spec``'s columns in order, cast to its types; a missing column is an error."""
    from pyspark.sql import functions as F

    missing = [f.name for f in spec.schema.fields if f.name not in df.columns]
    if missing:
        raise ValueError(f"cannot write {spec.name}: missing columns {missing} (have {df.columns})")
    cols = [F.col(f.name).cast(f.dataType).alias(f.name) for f in spec.schema.fields]
    if spec.open_schema:
        extra = [c for c in df.columns if c not in {f.name for f in spec.schema.fields}]
        cols += [F.col(c) for c in extra]
    return df.select(*cols)
