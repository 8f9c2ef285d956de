"""Shared integration fixtures: a small simulated business line written as CSV once per session."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

AS_OF = dt.date(2023, 12, 31)
HORIZON = 120


@pytest.fixture(scope="session")
def sim_csv(tmp_path_factory) -> Path:
    from ltv.datasets.simulate import simulate

    out = tmp_path_factory.mktemp("sim")
    result = simulate(
        customers=400, business_lines=["shop"], seed=3,
        start=dt.date(2022, 1, 1), end=dt.date(2024, 6, 30), truth_as_of=AS_OF, truth_horizon_days=HORIZON,
    )
    return result.write(out)["transactions"]
