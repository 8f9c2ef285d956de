"""The evaluation report's data: file names, ``metrics.json`` / ``report.json`` content, reading it back.

``report.json`` holds everything needed to redraw the report page, bounded in size whatever the
number of customers (see :func:`report_payload`); :func:`load_report` reads it (or an older
folder's ``metrics.json``) into an :class:`EvaluationReport`. No matplotlib, no HTML here.
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ltv.evaluation.metrics import METRIC_NAMES, compare, decile_calibration, interval_coverage, lorenz_curve

LORENZ_PNG = "lorenz.png"
CALIBRATION_PNG = "calibration.png"
DISTRIBUTION_PNG = "distribution.png"
METRICS_JSON = "metrics.json"
REPORT_JSON = "report.json"
INDEX_HTML = "index.html"
#: layout version of ``report.json``; :func:`load_report` refuses other versions
REPORT_SCHEMA_VERSION = 1
#: at most this many points per Lorenz curve in ``report.json``
REPORT_CURVE_POINTS = 201

#: ``{model_name: {"actual", "predicted", "p10", "p90"}}``: per-customer arrays (currency units)
Curves = Mapping[str, Mapping[str, Any]]


def _json_safe(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) or math.isinf(value) else float(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)


def to_json(payload: Mapping[str, Any], indent: int | None = None) -> str:
    """``payload`` as JSON text ending in a newline: NaN / inf as null, numpy scalars as numbers,
    other objects (dates, paths) as their ``str``."""
    return json.dumps(_json_safe(payload), indent=indent, allow_nan=False) + "\n"


def metrics_payload(
    title: str,
    line: str,
    metrics: Mapping[str, Mapping[str, float]],
    champion: str | None,
    promoted: bool,
    reason: str,
    lineage: Mapping[str, Any],
) -> dict[str, Any]:
    """The content of ``metrics.json``: the numbers of the comparison table and the gate's decision."""
    return {
        "title": title,
        "line": line,
        "champion": champion,
        "promoted": bool(promoted),
        "reason": reason,
        "metric_names": list(METRIC_NAMES),
        "metrics": metrics,
        "lineage": lineage,
    }


def _curve_indices(size: int, max_points: int) -> np.ndarray:
    """At most ``max_points`` evenly spread indices into ``range(size)``, first and last included."""
    if size <= max_points:
        return np.arange(size)
    return np.unique(np.linspace(0, size - 1, max_points).round().astype(int))


def _lorenz_points(actual: np.ndarray, predicted: np.ndarray, max_points: int) -> dict[str, list[float]] | None:
    """Model and ideal Lorenz curves on a shared x grid of <= ``max_points`` points (None: undefined)."""
    try:
        x, y = lorenz_curve(actual, predicted)
        _, ideal = lorenz_curve(actual, actual)
    except ValueError:
        return None
    keep = _curve_indices(x.size, max_points)
    return {name: np.round(values[keep], 6).tolist() for name, values in (("x", x), ("y", y), ("ideal", ideal))}


def _coverage(actual: np.ndarray, p10: Any, p90: Any) -> dict[str, float | int | None]:
    """How the 80% interval ``[p10, p90]`` did: share inside (target 0.8), below, above, mean width."""
    out: dict[str, float | int | None] = {"n": int(actual.size), "coverage_80": None, "below_p10": None,
                                         "above_p90": None, "mean_width": None}
    if p10 is None or p90 is None:
        return out
    lower = np.asarray(p10, dtype=float)
    upper = np.asarray(p90, dtype=float)
    out["coverage_80"] = interval_coverage(actual, lower, upper)
    out["below_p10"] = float(np.mean(actual < lower))
    out["above_p90"] = float(np.mean(actual > upper))
    out["mean_width"] = float(np.mean(upper - lower))
    return out


def report_payload(
    title: str,
    line: str,
    metrics: Mapping[str, Mapping[str, float]],
    curves: Curves,
    champion: str | None,
    promoted: bool,
    reason: str,
    lineage: Mapping[str, Any],
    max_curve_points: int = REPORT_CURVE_POINTS,
) -> dict[str, Any]:
    """The content of ``report.json`` (see :func:`load_report` for the layout).

    Bounded whatever the number of customers: <= ``max_curve_points`` Lorenz points and 10
    calibration rows per model. Models without ``curves`` (or whose Lorenz curve is undefined
    because total actual spend is <= 0) are absent from the matching section.
    """
    lorenz: dict[str, Any] = {}
    calibration: dict[str, Any] = {}
    coverage: dict[str, Any] = {}
    for model, arrays in curves.items():
        actual = np.asarray(arrays["actual"], dtype=float)
        predicted = np.asarray(arrays["predicted"], dtype=float)
        points = _lorenz_points(actual, predicted, max_curve_points)
        if points is not None:
            lorenz[model] = points
        table = decile_calibration(actual, predicted).reset_index()
        calibration[model] = table.to_dict(orient="records")
        coverage[model] = _coverage(actual, arrays.get("p10"), arrays.get("p90"))
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "title": title,
        "line": line,
        "champion": champion,
        "promoted": bool(promoted),
        "reason": reason,
        "candidates": list(metrics),
        "metric_names": list(METRIC_NAMES),
        "metrics": metrics,
        "lorenz": lorenz,
        "calibration": calibration,
        "coverage": coverage,
        "lineage": lineage,
        "files": {
            "html": INDEX_HTML,
            "metrics": METRICS_JSON,
            "lorenz": LORENZ_PNG,
            "calibration": CALIBRATION_PNG,
            "distribution": DISTRIBUTION_PNG,
        },
    }


@dataclass(frozen=True)
class EvaluationReport:
    """A report written by :func:`~ltv.evaluation.report.write_report`, read back by :func:`load_report`.

    Attributes:
        directory: the report folder (``index.html``, PNGs, JSON).
        title, line: as given to :func:`~ltv.evaluation.report.write_report`.
        champion: the gate's winner (None when nothing won); ``promoted``: whether it was registered.
        reason: the gate's explanation.
        candidates: model names in table order.
        metrics: ``{model: {metric: value}}`` (:data:`~ltv.evaluation.metrics.METRIC_NAMES`; None = undefined).
        lorenz: ``{model: {"x", "y", "ideal"}}``: share of customers targeted (ranked by prediction),
            share of actual spend captured by the model and by the ideal ordering; <= 201 points.
        calibration: ``{model: [{"decile", "n", "mean_predicted", "mean_actual", "sum_predicted",
            "sum_actual"}, ...]}``, decile 1 = highest predictions.
        coverage: ``{model: {"n", "coverage_80", "below_p10", "above_p90", "mean_width"}}`` (None
            values for models without an interval).
        lineage: key/value provenance.
        schema_version: ``report.json`` layout version; 0 = an older report that only had
            ``metrics.json`` (``lorenz``, ``calibration`` and ``coverage`` are then empty).
    """

    directory: Path
    title: str
    line: str
    champion: str | None
    promoted: bool
    reason: str
    candidates: list[str]
    metrics: dict[str, dict[str, float | None]]
    lorenz: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    calibration: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    coverage: dict[str, dict[str, float | None]] = field(default_factory=dict)
    lineage: dict[str, Any] = field(default_factory=dict)
    schema_version: int = REPORT_SCHEMA_VERSION

    @property
    def html(self) -> Path:
        """The report page."""
        return self.directory / INDEX_HTML

    def comparison(self):
        """Model-by-metric ``pandas.DataFrame`` (as :func:`ltv.evaluation.metrics.compare`; None -> NaN)."""
        return compare(self.metrics)

    def calibration_table(self, model: str):
        """Decile calibration of ``model`` as a ``pandas.DataFrame`` indexed by ``decile``."""
        import pandas as pd

        if model not in self.calibration:
            raise KeyError(f"no calibration table for {model!r} in {self.directory}; have {sorted(self.calibration)}")
        return pd.DataFrame(self.calibration[model]).set_index("decile")

    def coverage_table(self):
        """Interval coverage per model as a ``pandas.DataFrame`` indexed by model."""
        import pandas as pd

        table = pd.DataFrame.from_dict(self.coverage, orient="index", dtype=float)
        table.index.name = "model"
        return table


def load_report(report_dir: str | os.PathLike[str]) -> EvaluationReport:
    """Read the report written by :func:`~ltv.evaluation.report.write_report` in ``report_dir``.

    Args:
        report_dir: the report folder, or any file in it (e.g. its ``index.html``).

    Returns:
        :class:`EvaluationReport`. A folder from before ``report.json`` existed (only
        ``metrics.json``) loads with ``schema_version`` 0 and no curves.

    Raises:
        FileNotFoundError: neither ``report.json`` nor ``metrics.json`` is there.
        ValueError: ``report.json`` has an unknown ``schema_version`` or is not valid JSON.
    """
    directory = Path(report_dir).expanduser()
    if directory.is_file():
        directory = directory.parent
    path = directory / REPORT_JSON
    if not path.is_file():
        legacy = directory / METRICS_JSON
        if not legacy.is_file():
            raise FileNotFoundError(
                f"no {REPORT_JSON} (or {METRICS_JSON}) in {directory}; reports are written by `ltv train` "
                "under <lake>/reports/<line>/<as_of>/"
            )
        path = legacy
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); re-run `ltv train` to rewrite the report") from exc
    version = int(doc.get("schema_version", 0)) if path.name == REPORT_JSON else 0
    if version not in (0, REPORT_SCHEMA_VERSION):
        raise ValueError(
            f"{path} has schema_version {version}; this ltv reads {REPORT_SCHEMA_VERSION}: upgrade ltv"
        )
    metrics = doc.get("metrics") or {}
    return EvaluationReport(
        directory=directory.resolve(),
        title=str(doc.get("title", "")),
        line=str(doc.get("line", "")),
        champion=doc.get("champion"),
        promoted=bool(doc.get("promoted", False)),
        reason=str(doc.get("reason", "")),
        candidates=list(doc.get("candidates") or metrics),
        metrics=metrics,
        lorenz=doc.get("lorenz") or {},
        calibration=doc.get("calibration") or {},
        coverage=doc.get("coverage") or {},
        lineage=doc.get("lineage") or {},
        schema_version=version,
    )


__all__ = [
    "CALIBRATION_PNG", "DISTRIBUTION_PNG", "INDEX_HTML", "LORENZ_PNG", "METRICS_JSON", "REPORT_CURVE_POINTS",
    "REPORT_JSON", "REPORT_SCHEMA_VERSION", "Curves", "EvaluationReport", "load_report", "metrics_payload",
    "report_payload", "to_json",
]
