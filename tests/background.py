"""Long end-to-end subprocesses that run beside the rest of the suite.

A few tests are one long child process each (the README tour's commands, a pipeline on
``local-cluster``): minutes of JVM start-up and cold queries that use about one of the machine's
two cores while the in-process tests use the other. A test marked ``@pytest.mark.background(NAME)``
gets its child started as soon as collection ends (only if the test was selected), one child at a
time in the order of :data:`ORDER`, and waits for it with :func:`result` when its turn comes; its
assertions are unchanged. Modules waiting on a long job run after all others (:func:`rank`). A
child still running when the session ends is killed.

A job is a function ``prepare(workdir) -> Job | str`` registered with :func:`job`: it sets up
``workdir`` and returns the command, or a reason to skip.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Job:
    """A child process to run: ``argv`` in ``cwd`` with ``env``, killed after ``timeout`` seconds."""

    argv: list[str]
    cwd: Path
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    timeout: float = 1500.0


@dataclass
class Outcome:
    """What a finished job left: the :class:`subprocess.CompletedProcess`, or why it did not run;
    ``workdir`` is the folder the job was prepared in, ``cwd`` where its child ran."""

    workdir: Path | None = None
    cwd: Path | None = None
    completed: subprocess.CompletedProcess | None = None
    skipped: str | None = None
    error: BaseException | None = None


_PREPARE: dict[str, Callable[[Path], Job | str]] = {}
#: the order jobs are started in, one at a time; the modules that wait on a ``wait_last`` job run
#: last, in the same order (``pytest_collection_modifyitems`` in ``tests/conftest.py``), so every
#: child overlaps with in-process tests. The notebooks go last: their child is the longest after
#: the tour, and its module's checks are quick. Jobs not listed here start after these, in the
#: order they were registered.
ORDER: list[str] = ["spark_submit_ingest", "readme_tour", "local_cluster_run", "notebooks"]
_outcomes: dict[str, Outcome] = {}
_done: dict[str, threading.Event] = {}
_processes: dict[str, subprocess.Popen] = {}
_root: list[Path] = []
_stop = threading.Event()
_WAIT_LAST: set[str] = set()


def job(name: str, wait_last: bool = True):
    """Register ``prepare`` as background job ``name`` (decorator). With ``wait_last``, the modules
    whose tests wait on it run after every other module (:func:`rank`); a job that is done long
    before its module's natural turn passes False."""
    def register(prepare: Callable[[Path], Job | str]) -> Callable[[Path], Job | str]:
        _PREPARE[name] = prepare
        if name not in ORDER:
            ORDER.append(name)
        if wait_last:
            _WAIT_LAST.add(name)
        return prepare
    return register


def rank(names: set[str]) -> int:
    """Where a module whose tests wait on the jobs ``names`` runs: -1 (in its natural place) unless
    one of them is ``wait_last``; then after the modules waiting on earlier jobs of :data:`ORDER`."""
    return max((ORDER.index(name) for name in names & _WAIT_LAST), default=-1)


def start(names: set[str]) -> None:
    """Run the jobs ``names`` one after another in a background thread (call once, after collection)."""
    unknown = names - set(_PREPARE)
    if unknown:
        raise KeyError(f"unknown background jobs {sorted(unknown)}; known: {sorted(_PREPARE)}")
    wanted = [name for name in ORDER if name in names]
    for name in wanted:
        _done[name] = threading.Event()
    if wanted:
        _root.append(Path(tempfile.mkdtemp(prefix="ltv-tests-background-")))
        threading.Thread(target=_run_all, args=(wanted,), name="ltv-background-jobs", daemon=True).start()


def _run_all(names: list[str]) -> None:
    for name in names:
        outcome = Outcome()
        try:
            if _stop.is_set():
                outcome.skipped = "the session ended before this job started"
                continue
            workdir = _root[0] / name
            workdir.mkdir()
            outcome.workdir = workdir
            prepared = _PREPARE[name](workdir)
            if isinstance(prepared, str):
                outcome.skipped = prepared
                continue
            outcome.cwd = prepared.cwd
            process = subprocess.Popen(prepared.argv, cwd=prepared.cwd, env=prepared.env, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True, start_new_session=True)
            _processes[name] = process
            try:
                stdout, stderr = process.communicate(timeout=prepared.timeout)
            except subprocess.TimeoutExpired:
                _kill(process)
                stdout, stderr = process.communicate()
                stderr += f"\n[killed after {prepared.timeout:.0f} s]"
            outcome.completed = subprocess.CompletedProcess(prepared.argv, process.returncode, stdout, stderr)
        except BaseException as exc:  # reported by result() in the test that needs it
            outcome.error = exc
        finally:
            _outcomes[name] = outcome
            _done[name].set()


def result(name: str) -> Outcome:
    """Wait for job ``name`` and return its :class:`Outcome` (started by :func:`start`, or run now)."""
    import pytest

    if name not in _done:  # not started at collection (e.g. called from an unmarked test): run it now
        start({name})
    _done[name].wait()
    outcome = _outcomes[name]
    if outcome.error is not None:
        raise RuntimeError(f"background job {name} could not run") from outcome.error
    if outcome.skipped:
        pytest.skip(outcome.skipped)
    return outcome


def _kill(process: subprocess.Popen) -> None:
    import signal

    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def stop() -> None:
    """Kill what still runs and remove the jobs' folders (at the end of the session)."""
    _stop.set()
    for process in _processes.values():
        if process.poll() is None:
            _kill(process)
    for event in _done.values():
        event.wait(timeout=30)
    for root in _root:
        shutil.rmtree(root, ignore_errors=True)
