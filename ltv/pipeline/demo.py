"""The platform end to end on bundled data, in a fresh folder (``ltv demo``).

Data: the real CDNOW purchases shipped inside the ``lifetimes`` wheel (business line
``music``), simulated lines from known BTYD processes (``retail``, ``online``) with customer
attributes, and a small deliberately dirty file that shows the quarantine at work.

Two steps, so that Spark starts only once the inputs are written:

1. :func:`prepare_inputs` (no Spark): empty the demo folder, write the input files;
2. :func:`run_demo`: ingest, features, train (back-test, gate, registry), score the lines with a
   champion, materialize the Feast online store, look one customer up, write the report page.

:func:`run_demo` returns a :class:`DemoResult`: what was done and where it went. It prints
nothing; the ``ltv demo`` command renders the result.
"""
from __future__ import annotations

import contextlib
import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ltv.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from ltv.config import LTVConfig
    from ltv.features.pipeline import FeatureBuildResult
    from ltv.ingest.pipeline import IngestResult
    from ltv.scoring.score import ScoreResult
    from ltv.serving.materialize import MaterializeResult
    from ltv.training.train import LineResult

log = logging.getLogger(__name__)

MARKER = ".ltv-demo"
SIM_LINES = ("retail", "online")
SAMPLE_LINE = "music"
SAMPLE_CUSTOMER = "00004"
DEMO_TABLES = ("transactions", "transactions_quarantine", "customers", "customer_features", "customer_ltv")
DIRTY_ROWS = """customer_id,event_ts,amount,business_line
r-dirty-1,2023-03-01,19.99,retail
,2023-03-02,5.00,retail
r-dirty-2,03/04/2023,7.50,retail
r-dirty-3,2999-01-01,12.00,retail
r-dirty-4,2023-03-05,twelve,retail
r-dirty-5,2023-03-06,NaN,retail
"""


class Progress(Protocol):
    """What :func:`run_demo` reports stages to (the CLI's progress printer, for instance)."""

    def say(self, message: str) -> None: ...

    def stage(self, name: str) -> contextlib.AbstractContextManager[Any]: ...


@dataclass(frozen=True)
class DemoInputs:
    """The demo folder and the input files written into it."""

    out: Path
    data: Path
    simulated: dict[str, Path]  # transactions, customers, ground_truth
    cdnow: Path
    dirty: Path

    @property
    def lake_root(self) -> Path:
        return self.out / "lake"


@dataclass(frozen=True)
class LineCounts:
    """Rows of ``transactions`` per business line and their date range (event dates, UTC)."""

    business_line: str
    rows: int
    customers: int
    first: date
    last: date


@dataclass(frozen=True)
class QuarantineCount:
    table: str
    reason: str
    rows: int


@dataclass(frozen=True)
class TableVersion:
    name: str
    path: str
    version: int | None


@dataclass(frozen=True)
class DemoResult:
    """Everything ``ltv demo`` did, in order, and where it went.

    ``trained`` has one :class:`~ltv.training.train.LineResult` per line (candidates' back-test
    metrics, the gate decision and reason, the report); ``scored`` only the lines that have a
    champion. ``lookup`` is the online store's row for ``sample_customer`` of ``sample_line``.
    """

    out: Path
    lake_root: Path
    inputs: DemoInputs
    transactions: list[LineCounts]
    quarantine: list[QuarantineCount]
    ingested: list[IngestResult]
    features: list[FeatureBuildResult]
    trained: list[LineResult]
    scored: list[ScoreResult]
    online: MaterializeResult
    sample_line: str
    sample_customer: str
    lookup: dict[str, Any]
    tables: list[TableVersion]
    report: Path

    @property
    def mlflow_db(self) -> Path:
        """The SQLite MLflow store (unless ``MLFLOW_TRACKING_URI`` pointed elsewhere)."""
        return self.lake_root / "mlflow" / "mlflow.db"


def prepare_folder(out: Path) -> Path:
    """Empty ``out`` if it is a previous demo folder; refuse to wipe anything else."""
    out = out.expanduser().resolve()
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise ConfigError(f"{out} exists and is not an ltv demo folder; pass --out to an empty or new folder")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("created by `ltv demo`; safe to delete\n")
    return out


def prepare_inputs(out: Path, customers: int = 2000, seed: int = 7, progress: Progress | None = None) -> DemoInputs:
    """Recreate the demo folder ``out`` and write its inputs under ``out/data``: ``customers`` simulated
    customers per simulated line (``seed``), the CDNOW master file and the dirty sample."""
    from ltv.datasets.cdnow import write_cdnow_csv
    from ltv.datasets.simulate import simulate

    out = prepare_folder(out)
    data = out / "data"
    with _stage(progress, f"simulating {customers:,} customers for each of {', '.join(SIM_LINES)}"):
        sim = simulate(
            customers=customers,
            business_lines=list(SIM_LINES),
            seed=seed,
            start=date(2022, 1, 1),
            end=date(2024, 12, 31),
            truth_as_of=date(2023, 12, 31),
            truth_horizon_days=365,
        )
        simulated = sim.write(data / "simulated")
    with _stage(progress, "writing the CDNOW data set (music)"):
        cdnow = write_cdnow_csv(data / "cdnow_master.csv", which="master")
    dirty = data / "dirty_sample.csv"
    dirty.write_text(DIRTY_ROWS)
    return DemoInputs(out=out, data=data, simulated=dict(simulated), cdnow=Path(cdnow), dirty=dirty)


def run_demo(
    spark: SparkSession,
    inputs: DemoInputs,
    config: LTVConfig | None = None,
    progress: Progress | None = None,
) -> DemoResult:
    """Every stage of the platform on ``inputs``, in a lake at ``inputs.lake_root``.

    ``config`` (default: the defaults) is copied; ``music`` gets a 91-day horizon unless it
    configures one. Dates: ``music`` as of 1998-06-30, the simulated lines as of 2024-12-31.
    """
    from ltv.config import LineSettings, LTVConfig
    from ltv.evaluation.overview import write_overview
    from ltv.features.pipeline import build_features
    from ltv.ingest.pipeline import ingest_customers, ingest_transactions
    from ltv.lake.io import Lake
    from ltv.scoring.score import score_line
    from ltv.serving.lookup import lookup
    from ltv.serving.materialize import materialize
    from ltv.serving.store import feature_store
    from ltv.training.registry import ModelRegistry
    from ltv.training.train import train_line

    config = (config or LTVConfig()).model_copy(deep=True)
    config.business_lines.setdefault(SAMPLE_LINE, LineSettings(horizon_days=91))
    lake_root = inputs.lake_root
    lake = Lake(spark, lake_root)

    ingested = []
    for label, path in (
        ("simulated transactions", inputs.simulated["transactions"]),
        ("CDNOW transactions", inputs.cdnow),
        ("dirty sample", inputs.dirty),
    ):
        with _stage(progress, f"ingesting {label}"):
            ingested.append(ingest_transactions(spark, lake, path, settings=config.ingest))
    with _stage(progress, "ingesting simulated customer attributes"):
        ingested.append(ingest_customers(spark, lake, inputs.simulated["customers"], settings=config.ingest))

    schedule = ((date(1998, 6, 30), [SAMPLE_LINE]), (date(2024, 12, 31), list(SIM_LINES)))
    features, trained, scored = [], [], []
    for as_of, lines in schedule:
        with _stage(progress, f"features as of {as_of} for {', '.join(lines)}"):
            features.append(build_features(spark, lake, config, as_of, lines))
    for as_of, lines in schedule:
        for line in lines:
            with _stage(progress, f"training {line} as of {as_of} (back-test, gate, registry)"):
                trained.append(train_line(spark, lake, config, line, as_of, progress=progress))
    registry = ModelRegistry(lake.root)
    for result in trained:
        if registry.champion(result.line) is not None:
            with _stage(progress, f"scoring {result.line} as of {result.as_of}"):
                scored.append(score_line(spark, lake, config, result.line, result.as_of))

    with _stage(progress, "materializing the latest features and scores into the Feast online store (SQLite)"):
        online = materialize(spark, lake, config)
    with _stage(progress, f"online lookup of {SAMPLE_LINE} customer {SAMPLE_CUSTOMER}"):
        looked_up = lookup(feature_store(lake_root, apply=False), SAMPLE_CUSTOMER, SAMPLE_LINE)

    report, _ = write_overview(lake_root)
    return DemoResult(
        out=inputs.out,
        lake_root=lake_root,
        inputs=inputs,
        transactions=_transactions_per_line(lake),
        quarantine=_quarantine_counts(lake),
        ingested=ingested,
        features=features,
        trained=trained,
        scored=scored,
        online=online,
        sample_line=SAMPLE_LINE,
        sample_customer=SAMPLE_CUSTOMER,
        lookup=looked_up,
        tables=[TableVersion(name, lake.path(name), lake.version(name)) for name in DEMO_TABLES if lake.exists(name)],
        report=report,
    )


def _transactions_per_line(lake) -> list[LineCounts]:
    from pyspark.sql import functions as F

    rows = (
        lake.read("transactions")
        .groupBy("business_line")
        .agg(
            F.count("*").alias("rows"),
            F.countDistinct("customer_id").alias("customers"),
            F.min("event_date").alias("first"),
            F.max("event_date").alias("last"),
        )
        .orderBy("business_line")
        .collect()  # one row per business line
    )
    return [LineCounts(r["business_line"], r["rows"], r["customers"], r["first"], r["last"]) for r in rows]


def _quarantine_counts(lake) -> list[QuarantineCount]:
    rows = (
        lake.read("transactions_quarantine")
        .groupBy("target_table", "reason").count()
        .orderBy("target_table", "reason")
        .collect()  # one row per (table, reason)
    )
    return [QuarantineCount(r["target_table"], r["reason"], r["count"]) for r in rows]


@contextlib.contextmanager
def _stage(progress: Progress | None, name: str) -> Iterator[None]:
    if progress is not None:
        with progress.stage(name):
            yield
    else:
        log.info("%s ...", name)
        yield
