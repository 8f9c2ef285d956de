"""Named fault-injection points: where reliability tests make ltv pause (to be killed) or fail.

Production code marks a point by name, on the driver or inside Spark tasks::

    faults.fault_point(name)            # on the driver: here, now
    rows = faults.in_tasks(rows, name)  # in the Spark tasks that compute ``rows``

Both do nothing (a dictionary lookup; ``in_tasks`` returns ``rows`` itself) unless this process
installed a plan with :func:`install`, and only tests do: no environment variable, file or
setting arms a point. A test that must kill ltv at a point starts it with :func:`command`, a
``python -c`` that installs the plan and then runs the ``ltv`` command line::

    marker = tmp_path / "paused"
    plan = {"ingest.transactions.write": faults.Fault("pause", marker=str(marker))}
    proc = subprocess.Popen(faults.command(plan, ["--lake", lake, "ingest", "tx.csv"]), start_new_session=True)
    # wait for the marker, then os.killpg(proc.pid, signal.SIGKILL)

A ``pause`` touches its marker file (so the test knows the point was reached) and sleeps; a
``raise`` raises :class:`InjectedFault`. Every point is declared in :data:`POINTS`: an unknown
name is an error in :func:`install` and at the point itself, so a typo cannot leave a test
silently testing nothing.
"""
from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

#: every fault-injection point in ltv: name -> where it is
POINTS: dict[str, str] = {
    "ingest.transactions.write": "in the Spark tasks that write new rows to `transactions`, before Delta's commit",
}
ACTIONS = ("pause", "raise")


class InjectedFault(RuntimeError):
    """Raised at a point whose plan says ``raise``."""


@dataclass(frozen=True)
class Fault:
    """What happens at a point: ``pause`` (touch ``marker``, sleep ``seconds``) or ``raise``."""

    action: str
    marker: str | None = None
    seconds: float = 600.0

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"fault action {self.action!r} is not one of {ACTIONS}")

    def trigger(self, point: str) -> None:
        if self.marker:
            Path(self.marker).touch()
        if self.action == "raise":
            raise InjectedFault(f"fault injected at {point}")
        time.sleep(self.seconds)


_plan: dict[str, Fault] = {}


def _known(name: str) -> str:
    if name not in POINTS:
        raise ValueError(f"no fault point {name!r}; declared points: {', '.join(sorted(POINTS))}")
    return name


def install(plan: Mapping[str, Fault]) -> None:
    """Arm the points of ``plan`` in this process (tests only); replaces any earlier plan."""
    for name in plan:
        _known(name)
    _plan.clear()
    _plan.update(plan)


def clear() -> None:
    """Disarm every point."""
    _plan.clear()


@contextlib.contextmanager
def installed(plan: Mapping[str, Fault]) -> Iterator[None]:
    """Arm ``plan`` for the ``with`` block (tests in the same process)."""
    install(plan)
    try:
        yield
    finally:
        clear()


def fault_point(name: str) -> None:
    """A point on the driver: does nothing unless a plan armed ``name``."""
    fault = _plan.get(_known(name))
    if fault is not None:
        fault.trigger(name)


def in_tasks(df: DataFrame, name: str) -> DataFrame:
    """``df`` itself, or, when a plan armed ``name``, ``df`` with the fault in each task computing it.

    The fault travels with the task (the plan is not installed in Spark's Python workers); it
    fires on each task's first batch, before any of that task's rows reach the writer.
    """
    fault = _plan.get(_known(name))
    if fault is None:
        return df

    def hit(batches):
        for index, batch in enumerate(batches):
            if index == 0:
                fault.trigger(name)
            yield batch

    return df.mapInPandas(hit, df.schema)


def plan_from_json(text: str) -> dict[str, Fault]:
    return {name: Fault(**fields) for name, fields in json.loads(text).items()}


def command(plan: Mapping[str, Fault], argv: Sequence[str], entry: str = "ltv.cli:main",
            python: str = sys.executable) -> list[str]:
    """The command line of an ``ltv`` run (``argv`` as for ``ltv``) with ``plan`` installed first.

    ``entry`` (``module:function``, called with the argument list) is the command to run.
    """
    for name in plan:
        _known(name)
    module, function = entry.split(":")
    text = json.dumps({name: asdict(fault) for name, fault in plan.items()})
    code = ("import sys; from ltv.runtime import faults; "
            f"faults.install(faults.plan_from_json({text!r})); "
            f"from {module} import {function} as main; sys.exit(main(sys.argv[1:]))")
    return [python, "-c", code, *argv]
