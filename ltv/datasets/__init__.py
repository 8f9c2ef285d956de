"""Bundled data: synthetic transactions from known BTYD processes and the real CDNOW data set."""
from __future__ import annotations

from ltv.datasets.cdnow import cdnow_master_path, cdnow_sample_path, load_cdnow, write_cdnow_csv
from ltv.datasets.simulate import (
    Level,
    LineProcess,
    SimulationResult,
    default_processes,
    simulate,
)

__all__ = [
    "Level",
    "LineProcess",
    "SimulationResult",
    "cdnow_master_path",
    "cdnow_sample_path",
    "default_processes",
    "load_cdnow",
    "simulate",
    "write_cdnow_csv",
]
