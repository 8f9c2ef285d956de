"""Reading training history back from the MLflow registry under a lake.

What ``ltv train`` left behind, for analysts and reports: each line's champion model (read in place
from a local artifact store), the evaluation report logged with a run, and every candidate's
back-test metrics over recent runs as one table. Reads only; nothing here trains or registers.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pandas as pd

from ltv.config import validate_name
from ltv.evaluation.report import EvaluationReport, load_report
from ltv.models.base import LTVModel
from ltv.models.registry import load_model
from ltv.training.registry import REPORT_ARTIFACT, ChampionInfo, ModelRegistry


def local_artifact_dir(artifact_uri: str, path: str) -> Path | None:
    """The local folder of ``path`` under ``artifact_uri``; None when the store is not local (s3, ...)."""
    parsed = urlparse(artifact_uri)
    if parsed.scheme not in ("", "file"):
        return None
    return Path(unquote(parsed.path)) / path


def load_champion(registry: ModelRegistry, line: str) -> tuple[LTVModel | None, ChampionInfo | None]:
    """``(model, ChampionInfo)`` of ``line``'s champion, ``(None, None)`` when it has none.

    A local artifact store (the default, under the lake) is read in place, without the temporary
    copy :meth:`ModelRegistry.load_champion` downloads; other stores go through that method.
    """
    info = registry.champion(line)
    if info is None:
        return None, None
    local = local_artifact_dir(info.source, "")
    if local is None or not local.is_dir():
        return registry.load_champion(line)
    return load_model(local), info


def run_report(
    registry: ModelRegistry, run: Any, download_to: str | os.PathLike[str] | None = None
) -> EvaluationReport | None:
    """The evaluation report logged with a training ``run`` (None if the run has none).

    Local artifact stores (the default, under the lake) are read in place; remote ones are
    downloaded into ``download_to`` (required then, so nothing is written anywhere unasked).
    """
    local = local_artifact_dir(run.info.artifact_uri, REPORT_ARTIFACT)
    if local is None:
        if download_to is None:
            raise ValueError(f"run {run.info.run_id} keeps artifacts at {run.info.artifact_uri}; pass download_to=DIR")
        import mlflow.artifacts

        local = Path(mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id, artifact_path=REPORT_ARTIFACT, tracking_uri=registry.uri,
            dst_path=str(Path(download_to) / run.info.run_id),
        ))
    if not local.is_dir():
        return None
    return load_report(local)


def latest_report(lake_root: str | os.PathLike[str], line: str) -> EvaluationReport | None:
    """The report of ``line``'s most recent training run (None before the first ``ltv train``)."""
    registry = ModelRegistry(lake_root)
    for run in registry.runs(line, max_results=5):
        report = run_report(registry, run)
        if report is not None:
            return report
    return None


def backtest_results(lake_root: str | os.PathLike[str], line: str, max_runs: int = 20) -> pd.DataFrame:
    """Every candidate of ``line``'s recent training runs, from the MLflow registry under the lake.

    Returns:
        One row per (run, candidate), newest run first: ``run_id``, ``as_of``, ``horizon_days``,
        ``model``, ``winner`` (the gate's pick in that run), ``action`` (promote / keep / reject...),
        ``champion_version`` (registry version created from this run, if any), then one column per
        back-test metric (``gini``, ``rmse``, ... as logged). Empty when the line was never trained.
    """
    registry = ModelRegistry(lake_root)
    champion = registry.champion(line)
    rows: list[dict[str, Any]] = []
    for run in registry.runs(validate_name(line, "business line"), max_results=max_runs):
        per_model: dict[str, dict[str, float]] = {}
        for key, value in run.data.metrics.items():
            model, _, metric = key.rpartition(".")
            if model:
                per_model.setdefault(model, {})[metric] = value
        candidates = [c for c in run.data.params.get("candidates", "").split(",") if c]
        for model in candidates + sorted(set(per_model) - set(candidates)):
            if model not in per_model:
                continue  # the candidate failed in this run (see its decision)
            rows.append({
                "run_id": run.info.run_id,
                "as_of": run.data.params.get("as_of"),
                "horizon_days": int(run.data.params.get("horizon_days", 0)) or None,
                "model": model,
                "winner": run.data.tags.get("ltv.winner") == model,
                "action": run.data.tags.get("ltv.action"),
                "champion_version": champion.version if champion and champion.run_id == run.info.run_id else None,
                **per_model[model],
            })
    return pd.DataFrame(rows)


__all__ = ["backtest_results", "latest_report", "load_champion", "local_artifact_dir", "run_report"]
