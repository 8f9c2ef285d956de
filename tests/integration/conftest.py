"""Shared integration fixtures: a small simulated business line written as CSV once per session, and
one lake where it is ingested and trained once."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

AS_OF = dt.date(2023, 12, 31)
HORIZON = 120
INGESTED_AT = dt.datetime(2025, 1, 1)


def write_sim_csv(out: Path) -> Path:
    """The small simulated business line ``shop`` as CSV in ``out`` (the same in every process)."""
    from ltv.datasets.simulate import simulate

    result = simulate(
        customers=400, business_lines=["shop"], seed=3,
        start=dt.date(2022, 1, 1), end=dt.date(2024, 6, 30), truth_as_of=AS_OF, truth_horizon_days=HORIZON,
    )
    return result.write(out)["transactions"]


@pytest.fixture(scope="session")
def sim_csv(tmp_path_factory) -> Path:
    return write_sim_csv(tmp_path_factory.mktemp("sim"))


@pytest.fixture(scope="session")
def trained_shop(spark, sim_csv, tmp_path_factory):
    """One lake shared by the training, registry and scoring tests: the sim_csv line ``shop``
    ingested, its ``AS_OF`` feature snapshot built, and baseline + bgnbd_gg trained through the gate.

    Tests may add runs and scores to it, and refit its champion (bgnbd_gg on the same data: the gate
    test does), but must not change its transactions, its features or the champion's model.
    Returns a namespace with ``lake``, ``features`` (BuildResult) and ``trained`` (TrainResult).
    """
    from types import SimpleNamespace

    from ltv.config import LTVConfig
    from ltv.features.pipeline import build_features
    from ltv.ingest.pipeline import ingest_transactions
    from ltv.lake.io import Lake
    from ltv.training.train import train_line

    lake = Lake(spark, tmp_path_factory.mktemp("shop") / "lake")
    ingest_transactions(spark, lake, sim_csv, ingested_at=INGESTED_AT)
    config = LTVConfig()
    features = build_features(spark, lake, config, AS_OF, ["shop"])
    trained = train_line(spark, lake, config, "shop", AS_OF, HORIZON, models=["baseline", "bgnbd_gg"])
    return SimpleNamespace(lake=lake, config=config, features=features, trained=trained)
