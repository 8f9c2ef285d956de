"""Fault-injection points (ltv/runtime/faults.py): inert unless a test installs a plan, by name only."""
from __future__ import annotations

import subprocess
import sys

import pytest

from ltv.runtime import faults

POINT = "ingest.transactions.write"


@pytest.fixture(autouse=True)
def no_plan():
    faults.clear()
    yield
    faults.clear()


def test_points_do_nothing_without_a_plan(spark):
    faults.fault_point(POINT)
    df = spark.range(3)
    assert faults.in_tasks(df, POINT) is df


def test_a_plan_arms_its_points(tmp_path):
    marker = tmp_path / "reached"
    with faults.installed({POINT: faults.Fault("raise", marker=str(marker))}):
        with pytest.raises(faults.InjectedFault, match=POINT):
            faults.fault_point(POINT)
    assert marker.exists()
    faults.fault_point(POINT)  # disarmed again


def test_a_pause_touches_its_marker_then_waits(tmp_path):
    marker = tmp_path / "paused"
    with faults.installed({POINT: faults.Fault("pause", marker=str(marker), seconds=0.01)}):
        faults.fault_point(POINT)
    assert marker.exists()


def test_a_fault_in_tasks_fails_the_job(spark):
    with faults.installed({POINT: faults.Fault("raise")}):
        df = faults.in_tasks(spark.range(3).toDF("n"), POINT)
    with pytest.raises(Exception, match=f"fault injected at {POINT}"):
        df.collect()


def test_unknown_points_and_actions_are_errors():
    with pytest.raises(ValueError, match="no fault point 'ingest.typo'"):
        faults.install({"ingest.typo": faults.Fault("raise")})
    with pytest.raises(ValueError, match="no fault point"):
        faults.fault_point("ingest.typo")
    with pytest.raises(ValueError, match="not one of"):
        faults.Fault("explode")


def test_the_environment_cannot_arm_a_point(monkeypatch):
    """Only an explicit install() arms a point: no variable of the environment is read."""
    import inspect

    source = inspect.getsource(faults)
    assert "os.environ" not in source and "getenv" not in source


def probe(argv):
    """A stand-in for ltv's CLI in the child process of the test below."""
    faults.fault_point(POINT)
    return 0


def test_a_command_installs_the_plan_before_running_ltv(tmp_path, repo_root):
    marker = tmp_path / "reached"
    plan = {POINT: faults.Fault("raise", marker=str(marker))}
    command = faults.command(plan, ["ingest", "x.csv"])
    assert command[:2] == [sys.executable, "-c"] and command[-2:] == ["ingest", "x.csv"]
    assert "from ltv.cli import main as main" in command[2]
    proc = subprocess.run(faults.command(plan, ["x"], entry="tests.unit.test_faults:probe"), cwd=repo_root,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "InjectedFault: fault injected at ingest.transactions.write" in proc.stderr
    assert marker.exists()
