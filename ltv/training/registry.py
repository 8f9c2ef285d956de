"""MLflow tracking and model registry for ltv, kept under the lake by default.

* Tracking/registry URI: ``$MLFLOW_TRACKING_URI`` when set, else
  ``sqlite:///<lake>/mlflow/mlflow.db``; artifacts under ``<lake>/mlflow/artifacts/<line>``.
* One experiment per business line (``ltv-<line>``); one run per ``ltv train`` per line with
  every candidate's back-test metrics, the gate decision and reason, lineage (Delta versions
  read, cutoffs, horizon, config hash) and the evaluation report.
* Registered model ``ltv-<line>``: a version per promoted/refreshed model; the alias
  ``champion`` marks the one scoring uses. A model that was never promoted has no version, so
  scoring cannot use it.
* Models are logged as their JSON files (``model.json`` + library JSON), never as pickles or
  MLflow pyfunc flavours, and are loaded with :func:`ltv.models.registry.load_model`.
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ltv.config import validate_name

log = logging.getLogger(__name__)

CHAMPION_ALIAS = "champion"
MODEL_ARTIFACT = "model"
REPORT_ARTIFACT = "report"


def tracking_uri(lake_root: Path) -> str:
    """``$MLFLOW_TRACKING_URI`` or the SQLite store under the lake."""
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    folder = Path(lake_root) / "mlflow"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'mlflow.db'}"


def registered_name(line: str) -> str:
    return f"ltv-{validate_name(line, 'business line')}"


@dataclass(frozen=True)
class ChampionInfo:
    line: str
    version: str
    model_name: str
    run_id: str
    source: str
    tags: dict[str, str]


def _info(line: str, mv) -> ChampionInfo:
    """A registered MLflow model version as ltv's :class:`ChampionInfo`."""
    return ChampionInfo(line=line, version=str(mv.version), model_name=mv.tags.get("ltv.model_name", ""),
                        run_id=mv.run_id, source=mv.source, tags=dict(mv.tags))


class ModelRegistry:
    """Thin facade over an ``MlflowClient`` bound to one lake."""

    def __init__(self, lake_root: str | Path):
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no progress bars in ltv's output
        from mlflow.tracking import MlflowClient

        if not logging.getLogger("ltv").isEnabledFor(logging.INFO):
            logging.getLogger("mlflow").setLevel(logging.WARNING)
            logging.getLogger("alembic").setLevel(logging.WARNING)

        self.lake_root = Path(lake_root).resolve()
        self.uri = tracking_uri(self.lake_root)
        self.client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)

    # -- experiments and runs ------------------------------------------------------------
    def experiment_id(self, line: str) -> str:
        name = registered_name(line)
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        location = None
        if not os.environ.get("MLFLOW_TRACKING_URI"):
            folder = self.lake_root / "mlflow" / "artifacts" / line
            folder.mkdir(parents=True, exist_ok=True)
            location = folder.as_uri()
        return self.client.create_experiment(name, artifact_location=location)

    def log_training(
        self,
        line: str,
        params: dict[str, Any],
        metrics: dict[str, dict[str, float]],
        decision: dict[str, Any],
        lineage: dict[str, Any],
        report_dir: Path | None,
        model_dir: Path | None,
    ) -> str:
        """One run: params, per-candidate metrics (``<model>.<metric>``), decision, lineage, artifacts."""
        import math

        run = self.client.create_run(self.experiment_id(line), run_name=f"train {line} {params.get('as_of')}")
        run_id = run.info.run_id
        for key, value in params.items():
            self.client.log_param(run_id, key, str(value)[:6000])
        for model, values in metrics.items():
            for metric, value in values.items():
                if value is not None and isinstance(value, (int, float)) and math.isfinite(value):
                    self.client.log_metric(run_id, f"{model}.{metric}", float(value))
        tags = {
            "ltv.line": line,
            "ltv.action": str(decision.get("action")),
            "ltv.promoted": str(bool(decision.get("promote"))).lower(),
            "ltv.winner": str(decision.get("winner")),
            "ltv.reason": str(decision.get("reason"))[:5000],
        }
        for key, value in tags.items():
            self.client.set_tag(run_id, key, value)
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "lineage.json").write_text(json.dumps(lineage, indent=2, sort_keys=True, default=str))
            (Path(tmp) / "decision.json").write_text(json.dumps(decision, indent=2, sort_keys=True, default=str))
            (Path(tmp) / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True, default=str))
            self.client.log_artifacts(run_id, tmp)
        if report_dir is not None and report_dir.exists():
            self.client.log_artifacts(run_id, str(report_dir), REPORT_ARTIFACT)
        if model_dir is not None:
            self.client.log_artifacts(run_id, str(model_dir), MODEL_ARTIFACT)
        self.client.set_terminated(run_id)
        return run_id

    # -- registry ---------------------------------------------------------------------------
    def register_champion(self, line: str, run_id: str, model_name: str, tags: dict[str, str]) -> str:
        """Register the run's model as a new version of ``ltv-<line>`` and point ``champion`` at it."""
        from mlflow.exceptions import MlflowException

        name = registered_name(line)
        try:
            self.client.create_registered_model(name, description=f"LTV champion models for business line {line}")
        except MlflowException:
            pass  # already registered
        run = self.client.get_run(run_id)
        source = f"{run.info.artifact_uri}/{MODEL_ARTIFACT}"
        version = self.client.create_model_version(
            name, source=source, run_id=run_id, tags={"ltv.model_name": model_name, **tags}
        )
        self.client.set_registered_model_alias(name, CHAMPION_ALIAS, version.version)
        log.info("registered %s version %s (%s) as champion", name, version.version, model_name)
        return str(version.version)

    def champion(self, line: str) -> ChampionInfo | None:
        """The line's current champion, or None if no model was ever promoted."""
        from mlflow.exceptions import MlflowException

        try:
            mv = self.client.get_model_version_by_alias(registered_name(line), CHAMPION_ALIAS)
        except MlflowException:
            return None
        return _info(line, mv)

    def versions(self, line: str) -> list[ChampionInfo]:
        """Every registered version of the line's model (each was champion once), oldest first."""
        found = self.client.search_model_versions(f"name='{registered_name(line)}'")
        return sorted((_info(line, mv) for mv in found), key=lambda info: int(info.version))

    def champion_for(self, line: str, as_of) -> ChampionInfo | None:
        """The model that may score ``as_of``: the champion when it was trained as of ``as_of`` or
        earlier, else the newest version trained as of ``as_of`` or earlier (a rolled-back
        line's history included); None when every version was trained later (never a model
        that saw data after the date it scores)."""
        day = as_of.isoformat()
        champion = self.champion(line)
        if champion is not None and champion.tags.get("ltv.as_of", "") <= day:
            return champion
        earlier = [v for v in self.versions(line) if v.tags.get("ltv.as_of", "9999") <= day]
        return max(earlier, key=lambda v: (v.tags["ltv.as_of"], int(v.version))) if earlier else None

    def load_champion(self, line: str, as_of=None):
        """(fitted LTVModel, ChampionInfo) of the line's champion (for ``as_of``: see
        :meth:`champion_for`); raises :class:`~ltv.errors.LTVError` when there is none."""
        from ltv.errors import LTVError

        info = self.champion(line) if as_of is None else self.champion_for(line, as_of)
        if info is None:
            current = self.champion(line) if as_of is not None else None
            if current is not None:
                trained = current.tags.get("ltv.as_of", "?")
                raise LTVError(
                    f"business line {line!r} has no model trained as of {as_of} or earlier (the champion was "
                    f"trained as of {trained}): scoring {as_of} with it would use data from after that date; "
                    f"run `ltv train --as-of {as_of} --business-line {line}` first"
                )
            raise LTVError(
                f"business line {line!r} has no promoted model; run `ltv train --as-of DATE --business-line {line}` "
                "and let the gate promote one (see `ltv models show " + line + "`)"
            )
        return self.load_version(info), info

    def promote_version(self, line: str, version: str, reason: str) -> tuple[ChampionInfo, str]:
        """Make registered ``version`` the champion by hand (pin or roll back), recorded like a gate
        decision: a run with action ``manual``, its reason and the previous champion."""
        from ltv.errors import LTVError

        found = {v.version: v for v in self.versions(line)}
        if str(version) not in found:
            raise LTVError(f"business line {line!r} has no registered version {version}; "
                           f"registered: {sorted(found, key=int) or 'none'} (see `ltv models show {line}`)")
        chosen, previous = found[str(version)], self.champion(line)
        decision = {"action": "manual", "promote": True, "status": "confirmed", "winner": chosen.model_name,
                    "reason": f"set by hand: {reason}",
                    "previous_champion": {"version": previous.version, "model": previous.model_name} if previous else None}
        run_id = self.log_training(line, {"action": "manual", "version": chosen.version}, {}, decision,
                                   {"business_line": line, "as_of": chosen.tags.get("ltv.as_of")}, None, None)
        self.client.set_registered_model_alias(registered_name(line), CHAMPION_ALIAS, chosen.version)
        self.client.set_model_version_tag(registered_name(line), chosen.version, "ltv.status", "confirmed")
        log.info("%s: champion set by hand to version %s (%s)", line, chosen.version, reason)
        return self.champion(line), run_id

    def load_version(self, info: ChampionInfo):
        """The fitted LTVModel of a registered version (read into memory; no /tmp left behind)."""
        import mlflow.artifacts

        from ltv.models.registry import load_model

        with tempfile.TemporaryDirectory(prefix="ltv-champion-") as tmp:
            local = mlflow.artifacts.download_artifacts(artifact_uri=info.source, tracking_uri=self.uri, dst_path=tmp)
            return load_model(local)

    def champion_document(self, info: ChampionInfo) -> dict[str, Any]:
        """The champion's saved ``model.json`` (``params``, ``metadata``: lineage, back-test), read
        without loading the model; the downloaded copy is removed."""
        import mlflow.artifacts

        from ltv.models.base import MODEL_FILE

        with tempfile.TemporaryDirectory(prefix="ltv-champion-") as tmp:
            local = mlflow.artifacts.download_artifacts(artifact_uri=info.source, tracking_uri=self.uri, dst_path=tmp)
            return json.loads((Path(local) / MODEL_FILE).read_text())

    def lines(self) -> list[str]:
        """Business lines with a training experiment."""
        names = [e.name for e in self.client.search_experiments()]
        return sorted(n[len("ltv-"):] for n in names if n.startswith("ltv-"))

    def runs(self, line: str, max_results: int = 20) -> list[Any]:
        found = self.client.get_experiment_by_name(registered_name(line))
        if found is None:
            return []
        return self.client.search_runs([found.experiment_id], order_by=["attributes.start_time DESC"], max_results=max_results)
