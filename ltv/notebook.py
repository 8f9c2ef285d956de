"""The analysts' helpers: open a lake, read tables and bounded samples, cohorts, champions, reports.

The one import the notebooks in ``notebooks/`` need (``from ltv import notebook``). Everything here
is a thin layer over the library (``ltv.lake``, ``ltv.training``, ``ltv.evaluation``, the models),
and some helpers are re-exported from where they live in the data flow: cohorts from
:mod:`ltv.evaluation.cohorts`, champions, reports and back-test results from
:mod:`ltv.training.history`. Nothing customer-sized reaches the driver unless asked for with a
bound (:func:`sample_to_pandas`).

>>> spark, lake = open_lake("/data/lake")                      # or $LTV_LAKE
>>> features = sample_to_pandas(read_table(lake, "customer_features", latest=True), 20_000)
>>> results = backtest_results(lake.root, "retail")            # one row per (training run, candidate)
"""
from __future__ import annotations

import contextlib
import datetime as dt
import io
import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ltv.config import SparkSettings, validate_name
from ltv.evaluation.cohorts import cohort_matrix, cohort_spend
from ltv.training.history import backtest_results, latest_report, load_champion, run_report
from ltv.training.registry import ModelRegistry

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from ltv.lake.io import Lake
    from ltv.models.base import LTVModel

log = logging.getLogger(__name__)

LAKE_ENV = "LTV_LAKE"
OUT_ENV = "LTV_NOTEBOOK_OUT"

#: Spark settings for a notebook on a laptop: two cores, few shuffle partitions, small heap.
NOTEBOOK_SPARK = SparkSettings(master="local[2]", shuffle_partitions=4, driver_memory="2g")


# -- the small lake every notebook can fall back to --------------------------------------------
@dataclass(frozen=True)
class SmallLake:
    """What :func:`build_small_lake` builds: simulated lines, feature/score dates, the horizon (days)."""

    root: Path
    business_lines: tuple[str, ...] = ("retail", "online")
    customers: int = 300
    seed: int = 11
    feature_dates: tuple[dt.date, ...] = (dt.date(2024, 6, 30), dt.date(2024, 9, 30))
    train_as_of: dt.date = dt.date(2024, 6, 30)
    horizon_days: int = 180
    models: tuple[str, ...] = ("bgnbd_gg", "pareto_gg")
    #: one back-test window: a small lake is for looking around, quickly
    backtest_windows: int = 1
    log: str = field(default="", compare=False)

    def cli_steps(self) -> list[list[str]]:
        """The ``ltv`` commands (without ``--lake``) that build the lake, in order."""
        sim = str(self.root / "_input")
        lines = ",".join(self.business_lines)
        horizon = ["--horizon-days", str(self.horizon_days)]
        steps = [
            ["simulate", "--customers", str(self.customers), "--business-lines", lines,
             "--seed", str(self.seed), "--out", sim],
            ["ingest", f"{sim}/transactions.csv"],
            ["ingest", f"{sim}/customers.csv", "--table", "customers"],
            ["features", *[a for d in self.feature_dates for a in ("--as-of", d.isoformat())]],
            ["train", "--as-of", self.train_as_of.isoformat(), *horizon, "--backtest-windows", str(self.backtest_windows),
             *[a for m in self.models for a in ("--model", m)]],
        ]
        steps += [["score", "--as-of", d.isoformat(), *horizon] for d in self.feature_dates]
        steps.append(["materialize"])
        return steps


def build_small_lake(root: str | os.PathLike[str], **options: Any) -> SmallLake:
    """Build a small but complete lake at ``root`` by running the ``ltv`` commands in this process.

    Simulated ``retail`` and ``online`` lines (300 customers each), transactions and customer
    attributes ingested, feature snapshots at two dates, BTYD candidates trained (the gate picks
    the champions), scores at both dates (so ``customer_ltv``'s change data feed has an
    increment) and the Feast online store materialized. Inputs go to ``<root>/_input``.

    Args:
        root: an empty or new folder.
        options: fields of :class:`SmallLake` to change (``customers``, ``seed``, ...).

    Returns:
        the :class:`SmallLake` description, with the commands' combined output in ``log``.

    Raises:
        RuntimeError: a command failed (its output is in the message).
    """
    from ltv.cli import main

    spec = SmallLake(root=Path(root).expanduser().resolve(), **options)
    if spec.root.exists() and any(spec.root.iterdir()):
        raise FileExistsError(f"{spec.root} is not empty; build the small lake in a new folder")
    output = io.StringIO()
    for step in spec.cli_steps():
        argv = ["--lake", str(spec.root), "-q", *step]
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            code = main(argv)
        if code != 0:
            raise RuntimeError(f"`ltv {' '.join(argv)}` exited with {code}:\n{output.getvalue()[-4000:]}")
    return replace(spec, log=output.getvalue())


def get_session(settings: SparkSettings | None = None) -> SparkSession:
    """ltv's SparkSession for a notebook (:data:`NOTEBOOK_SPARK` unless ``settings`` is given)."""
    from ltv.runtime.session import get_spark

    return get_spark(settings or NOTEBOOK_SPARK, app_name="ltv-notebook")


def lake_root(path: str | os.PathLike[str] | None = None) -> Path:
    """The lake a notebook works on: ``path``, else ``$LTV_LAKE``, else a small lake built now.

    The fallback (:func:`build_small_lake` in a new temporary folder) starts Spark and takes a
    few minutes; set ``LTV_LAKE`` (e.g. to ``ltv-demo/lake`` after ``ltv demo``) to skip it.
    """
    chosen = path or os.environ.get(LAKE_ENV)
    if chosen:
        root = Path(chosen).expanduser().resolve()
        if not root.is_dir():
            raise FileNotFoundError(f"lake folder {root} does not exist; run `ltv demo` or set {LAKE_ENV}")
        return root
    root = Path(tempfile.mkdtemp(prefix="ltv-small-lake-")) / "lake"
    log.warning("%s is not set: building a small lake in %s (a few minutes)", LAKE_ENV, root)
    get_session()
    return build_small_lake(root).root


def open_lake(path: str | os.PathLike[str] | None = None,
              settings: SparkSettings | None = None) -> tuple[SparkSession, Lake]:
    """``(spark, lake)`` for ``path`` (see :func:`lake_root` for the default)."""
    from ltv.lake.io import Lake

    spark = get_session(settings)
    return spark, Lake(spark, lake_root(path))


def output_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """Where a notebook saves its figures: ``path``, else ``$LTV_NOTEBOOK_OUT``, else a new temp folder."""
    chosen = path or os.environ.get(OUT_ENV)
    out = Path(chosen).expanduser().resolve() if chosen else Path(tempfile.mkdtemp(prefix="ltv-notebook-"))
    out.mkdir(parents=True, exist_ok=True)
    return out


def save_figure(figure, out_dir: str | os.PathLike[str], name: str, dpi: int = 100) -> Path:
    """Save a matplotlib ``figure`` as ``<out_dir>/<name>.png``; returns the path."""
    validate_name(name, "figure name")
    path = Path(out_dir) / f"{name.removesuffix('.png')}.png"
    figure.savefig(path, dpi=dpi, bbox_inches="tight", format="png")
    return path


# -- reading tables ------------------------------------------------------------------------------
def latest_per_line(frame: DataFrame, date_column: str = "as_of") -> DataFrame:
    """Rows of ``frame`` at each business line's latest ``date_column`` (lines may differ)."""
    from pyspark.sql import functions as F

    latest = frame.groupBy("business_line").agg(F.max(date_column).alias("_latest"))
    return (
        frame.join(latest, "business_line")
        .where(F.col(date_column) == F.col("_latest"))
        .drop("_latest")
    )


def read_table(
    lake: Lake,
    name: str,
    business_lines: Sequence[str] | None = None,
    as_of: dt.date | None = None,
    latest: bool = False,
) -> DataFrame:
    """A lake table as a Spark DataFrame, optionally filtered.

    Args:
        lake: the lake.
        name: table name (``customer_features``, ``customer_ltv``, ``transactions``, ...).
        business_lines: keep only these lines.
        as_of: keep only this snapshot date (tables with an ``as_of`` column).
        latest: keep only each line's latest ``as_of`` (ignored when ``as_of`` is given).
    """
    from pyspark.sql import functions as F

    import ltv.features.schema  # noqa: F401  (catalogues customer_features)

    frame = lake.read(name)
    if business_lines:
        frame = frame.where(F.col("business_line").isin([validate_name(x, "business line") for x in business_lines]))
    if as_of is not None:
        frame = frame.where(F.col("as_of") == F.lit(as_of))
    elif latest:
        frame = latest_per_line(frame)
    return frame


def sample_to_pandas(frame: DataFrame, max_rows: int = 20_000, seed: int = 7) -> pd.DataFrame:
    """At most ``max_rows`` rows of ``frame`` in pandas: all of them if few enough, else a uniform sample.

    The sample is drawn by Spark (``sample`` + ``limit``), so only ``max_rows`` rows reach the driver.
    """
    if max_rows < 1:
        raise ValueError(f"max_rows must be >= 1, got {max_rows}")
    total = frame.count()
    if total > max_rows:
        # oversample a little so the limit, not the coin flips, decides the size
        frame = frame.sample(withReplacement=False, fraction=min(1.0, 1.1 * max_rows / total), seed=seed)
    return frame.limit(max_rows).toPandas()


def read_changes(lake: Lake, table: str, starting_version: int, ending_version: int | None = None) -> DataFrame:
    """Rows changed in ``table`` from Delta version ``starting_version`` on (its change data feed).

    Each row carries ``_change_type`` (``insert``, ``delete``, ``update_preimage``,
    ``update_postimage``), ``_commit_version`` and ``_commit_timestamp``. Downstream readers keep
    the last version they consumed and ask for the versions after it.
    """
    if starting_version < 0:
        raise ValueError(f"starting_version must be >= 0, got {starting_version}")
    from delta.tables import DeltaTable

    # DeltaTable, not spark.sql("DESCRIBE DETAIL delta.`...`"): SQL would create ./spark-warehouse
    properties = DeltaTable.forPath(lake.spark, lake.path(table)).detail().first()["properties"]
    if properties.get("delta.enableChangeDataFeed") != "true":
        raise ValueError(
            f"{table} has no change data feed; enable it with "
            f"ALTER TABLE delta.`{lake.path(table)}` SET TBLPROPERTIES (delta.enableChangeDataFeed = true)"
        )
    reader = (
        lake.spark.read.format("delta")
        .option("readChangeFeed", "true")
        .option("startingVersion", int(starting_version))
    )
    if ending_version is not None:
        reader = reader.option("endingVersion", int(ending_version))
    return reader.load(lake.path(table))


# -- models --------------------------------------------------------------------------------------
def btyd_model(lake: Lake, line: str, horizon_days: int = 365) -> tuple[LTVModel, str]:
    """A fitted model with a P(alive) notion for ``line``, and where it came from.

    The line's champion when it is a BTYD model; otherwise a BG/NBD + Gamma-Gamma fitted now on
    the condensed patterns of the line's latest ``customer_features`` snapshot (bounded data).
    """
    from pyspark.sql import functions as F

    from ltv.features.pipeline import condense_patterns, condense_refunds, condense_spend
    from ltv.models.base import TrainingData
    from ltv.models.registry import create_model

    model, info = load_champion(ModelRegistry(lake.root), line)
    if model is not None and info is not None and model.family == "btyd":
        return model, f"champion {info.model_name} version {info.version}"
    snapshot = read_table(lake, "customer_features", business_lines=[line], latest=True)
    time_unit = snapshot.select(F.first("time_unit")).first()[0]
    if time_unit is None:
        raise ValueError(f"no customer_features rows for business line {line!r}; run `ltv features --as-of DATE`")
    data = TrainingData(
        time_unit=time_unit, horizon_days=horizon_days,
        patterns=condense_patterns(snapshot), spend_patterns=condense_spend(snapshot),
        refunds=condense_refunds(snapshot),
    )
    return create_model("bgnbd_gg").fit(data), "bgnbd_gg fitted on the latest snapshot"


def frequency_recency_matrix(
    model: LTVModel,
    T: float,
    horizon_days: int,
    max_frequency: int,
    recency_points: int = 40,
) -> dict[str, pd.DataFrame]:
    """Expected purchases and P(alive) over a grid of (frequency, recency) for customers of age ``T``.

    The data of lifetimes' ``plot_frequency_recency_matrix`` / ``plot_probability_alive_matrix``,
    computed with any fitted ltv model. ``T`` and recency are in the model's ``time_unit_``
    (``days`` or ``weeks``); ``horizon_days`` in days.

    Returns:
        ``{"predicted_purchases": frame, "p_alive": frame}``: index ``frequency`` (0..max_frequency),
        columns ``recency`` (``recency_points`` values from 0 to ``T``). Cells with
        ``frequency == 0`` use recency 0 (no repeat purchase), so that row is constant.
    """
    if T <= 0 or max_frequency < 0 or recency_points < 2:
        raise ValueError("need T > 0, max_frequency >= 0 and recency_points >= 2")
    recencies = np.linspace(0.0, float(T), recency_points)
    freq, rec = np.meshgrid(np.arange(max_frequency + 1, dtype=float), recencies, indexing="ij")
    grid = pd.DataFrame({
        "frequency": freq.ravel(),
        "recency": np.where(freq.ravel() > 0, rec.ravel(), 0.0),
        "T": float(T),
        "monetary_value": 0.0,  # spend is not used by these two outputs
    })
    predictions = model.predict(grid, horizon_days)
    out = {}
    for column in ("predicted_purchases", "p_alive"):
        values = pd.to_numeric(predictions[column], errors="coerce").to_numpy(dtype=float)
        frame = pd.DataFrame(values.reshape(freq.shape), index=np.arange(max_frequency + 1), columns=recencies)
        frame.index.name, frame.columns.name = "frequency", "recency"
        out[column] = frame
    return out


__all__ = [
    # opening a lake, saving figures
    "LAKE_ENV", "OUT_ENV", "NOTEBOOK_SPARK", "SmallLake", "build_small_lake", "get_session", "lake_root",
    "open_lake", "output_dir", "save_figure",
    # reading tables
    "latest_per_line", "read_table", "sample_to_pandas", "read_changes",
    # cohorts (ltv.evaluation.cohorts)
    "cohort_spend", "cohort_matrix",
    # models
    "btyd_model", "frequency_recency_matrix",
    # champions, reports, back-test results (ltv.training.history)
    "load_champion", "run_report", "latest_report", "backtest_results",
]
