"""The README's 10-minute tour works as written: its fenced bash blocks, run verbatim.

The blocks between ``<!-- tour:begin`` and ``<!-- tour:end -->`` in README.md are joined into
one bash script and run from a scratch copy of the repository root (``examples/`` copied,
``.venv`` linked), exactly as a new user would paste them. Then every promise the tour makes is
checked: the ingest counts and quarantine reasons, the attributes in the features, each
pipeline step of ``ltv run`` and the gate's promotion, the champion and its lineage, the online
lookup, the report pages, the exported file and the lake tables.

Each ``ltv`` command that needs Spark is a fresh JVM, the largest cost of this (the slowest)
test: :func:`test_tour_stays_short` keeps their number bounded. The script runs as a background
job (``tests/background.py``): it starts when collection ends and runs beside the other tests.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from tests import background

REPO = Path(__file__).resolve().parents[2]
BEGIN, END = "<!-- tour:begin", "<!-- tour:end -->"
AS_OF = "2024-06-30"
LINE = "shop"
CLIENTS = 1000
# `ltv` commands that start a Spark session (a JVM); models / lookup / report do not
SPARK_COMMANDS = ("ingest", "features", "train", "score", "materialize", "run", "export")
MAX_SPARK_COMMANDS = 4


def tour_blocks(readme: str) -> list[str]:
    """The ```bash blocks of the tour section, in order."""
    start, end = readme.index(BEGIN), readme.index(END)
    assert start < end, "tour markers out of order in README.md"
    return re.findall(r"```bash\n(.*?)```", readme[start:end], flags=re.S)


def tour_commands() -> list[str]:
    blocks = tour_blocks((REPO / "README.md").read_text())
    commands = [line.split("#")[0].strip() for block in blocks for line in block.splitlines()]
    return [c for c in commands if c]


def test_tour_blocks_are_found():
    commands = tour_commands()
    for step in ("ltv ingest orders.csv", "ltv ingest clients.csv --table customers", f"ltv run --as-of {AS_OF}",
                 f"ltv models show {LINE}", "ltv lookup", "ltv report", f"ltv export scores --as-of {AS_OF}"):
        assert any(c.startswith(step) for c in commands), f"the tour lost its `{step}` step"


def test_tour_stays_short():
    """Every Spark-starting command costs a JVM start and a cold first query: keep the tour lean."""
    spark = [c for c in tour_commands() if c.startswith("ltv ") and c.split()[1] in SPARK_COMMANDS]
    assert len(spark) <= MAX_SPARK_COMMANDS, (
        f"the README tour starts {len(spark)} Spark sessions ({spark}); at most {MAX_SPARK_COMMANDS}: "
        "use `ltv run` for the features -> train -> score -> materialize chain")


@background.job("readme_tour")
def _tour_job(workdir: Path) -> background.Job | str:
    """The tour's blocks as one bash script, run from a scratch copy of the repository root."""
    if not (REPO / ".venv" / "bin" / "activate").is_file():
        return f"{REPO / '.venv'} missing: the tour runs the README's commands with the project's .venv, which `make setup` builds"
    root = workdir / "repo"
    root.mkdir()
    shutil.copytree(REPO / "examples", root / "examples", ignore=shutil.ignore_patterns("lake", "*.html", "scores.csv"))
    (root / ".venv").symlink_to(REPO / ".venv")
    script = "set -euo pipefail\n" + "\n".join(tour_blocks((REPO / "README.md").read_text()))
    env = {k: v for k, v in os.environ.items() if k not in ("LTV_LAKE", "MLFLOW_TRACKING_URI", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p)
    return background.Job(["bash", "-c", script], cwd=root, env=env, timeout=1500)


def _section(out: str, start: str, end: str | None = None) -> str:
    """The part of ``out`` from the line containing ``start`` up to the next ``end`` (or the end)."""
    assert start in out, f"{start!r} not in the tour's output:\n{out[-4000:]}"
    rest = out[out.index(start):]
    return rest[:rest.index(end, len(start))] if end and end in rest[len(start):] else rest


@pytest.mark.slow
@pytest.mark.background("readme_tour")
def test_readme_tour_runs_verbatim():
    outcome = background.result("readme_tour")
    scratch_repo, done = outcome.cwd, outcome.completed
    out = done.stdout
    assert done.returncode == 0, f"tour failed (exit {done.returncode}):\n{out[-4000:]}\n{done.stderr[-4000:]}"

    tour = scratch_repo / "examples" / "tour"
    lake = tour / "lake"

    # `cat ltv.yaml`: the column mapping the comments point at
    assert "client_id: customer_id" in out and "order_id: transaction_id" in out

    # `ltv ingest orders.csv`: 2,714 rows read, 2,712 accepted, 2 quarantined with their reasons
    orders = _section(out, "orders.csv into", "clients.csv into")
    assert re.search(r"rows read\s+2,714\b", orders) and re.search(r"^accepted\s+2,712\b", orders, flags=re.M), orders
    assert re.search(r"quarantined\s+2\b", orders), orders
    assert re.search(r"invalid_event_ts\s+1\b", orders) and re.search(r"missing_customer_id\s+1\b", orders), orders
    # `ltv ingest clients.csv --table customers`: every client's attributes
    clients = _section(out, "clients.csv into", "as_of")
    assert re.search(rf"^accepted\s+{CLIENTS:,}\b", clients, flags=re.M), clients

    # `ltv run`: each step ran once for the line, training promoted a first champion
    steps = {}
    for step in ("features", "train", "score", "materialize"):
        line = "\\*" if step == "materialize" else LINE
        found = re.search(rf"^{AS_OF}\s+{step}\s+{line}\s+(\w+)\s+[\d.,]+\s+(.*)$", out, flags=re.M)
        assert found, f"`ltv run` printed no {step} row:\n{out[-4000:]}"
        steps[step] = found.groups()
    assert all(status == "ran" for status, _ in steps.values()), steps
    # a first champion: promoted on evidence, or provisional when the bootstrap interval spans 0 (both say why,
    # with the interval of the improvement over the baseline)
    assert "first run" in steps["train"][1] and re.search(r"\b(promote|provisional): ", steps["train"][1]), steps["train"]
    assert re.search(r"improvement [+-][\d.]+ \[[+-][\d.]+, [+-][\d.]+\]|by [+-][\d.]+ \[", steps["train"][1]), steps["train"]
    assert f"{CLIENTS:,} customers" in steps["features"][1] and f"{CLIENTS:,} customers" in steps["score"][1], steps

    # `ltv models show shop`: the champion, its hyperparameters and the Delta versions it was trained on
    shown = re.search(rf"^{LINE}: champion (\S+) version (\d+)", out, flags=re.M)
    assert shown, out[-4000:]
    champion = shown.group(1)
    assert "hyperparameters:" in out and re.search(rf"trained as of {AS_OF}, horizon 90 days, Delta versions \{{", out)

    # `ltv lookup`: the client's attributes (joined point in time), its score and the champion
    lookup = _section(out, f"customer C000042 in business line {LINE}")
    assert f"features as of {AS_OF}" in lookup, lookup[:2000]
    channel = re.search(r"attr_channel\s+(\S+)", lookup)
    assert channel and channel.group(1) != "-", lookup[:2000]  # "-" = null: attributes not joined
    values = {name: re.search(rf"^{name}\s+(\S+)", lookup, flags=re.M) for name in
              ("predicted_ltv", "predicted_ltv_p10", "predicted_ltv_p90", "p_alive", "model_name", "model_version")}
    assert all(values.values()), lookup[:3000]
    assert float(values["predicted_ltv"].group(1).replace(",", "")) >= 0, lookup[:3000]
    assert values["model_name"].group(1) == champion and values["model_version"].group(1) == shown.group(2)

    # `ltv report`: one page, every candidate (the baseline included) with the three charts
    assert re.search(rf"^{LINE}\s+{AS_OF}\s+{re.escape(champion)}\s+yes\b", out, flags=re.M), out[-3000:]
    page = (lake / "reports" / "index.html").read_text()
    assert page.count("data:image/png;base64,") == 3 and "baseline" in page and champion in page
    # and the training run's own report, with the numbers behind it
    run_report = lake / "reports" / LINE / AS_OF
    assert (run_report / "index.html").is_file()
    report = json.loads((run_report / "report.json").read_text())
    assert "baseline" in json.dumps(report) and champion in json.dumps(report)

    # `ltv export scores`: one row per client, with the contract's columns
    assert re.search(rf"wrote {CLIENTS:,} rows to \S*scores\.csv", out), out[-2000:]
    scores = (tour / "scores.csv").read_text().splitlines()
    header = scores[0].split(",")
    assert len(scores) == 1 + CLIENTS
    for column in ("business_line", "customer_id", "as_of", "predicted_ltv", "predicted_ltv_p10", "predicted_ltv_p90",
                   "p_alive", "model_name", "model_version"):
        assert column in header, header

    for table in ("transactions", "transactions_quarantine", "customers", "customer_features", "customer_ltv",
                  "pipeline_runs"):
        assert (lake / table / "_delta_log").is_dir(), table
    assert (lake / "mlflow").is_dir() and (lake / "feast" / "online.db").is_file()
