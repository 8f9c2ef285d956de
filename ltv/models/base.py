"""The one interface every LTV model implements, whatever library is behind it.

Modelled on scikit-learn's estimator contract:

* the constructor takes only hyperparameters, as explicit keywords, and stores them unchanged;
* ``get_params()`` is derived from the constructor signature, so ``type(m)(**m.get_params())``
  rebuilds an equal, unfitted model;
* ``fit(data)`` learns state (attributes ending in ``_``) and returns ``self``;
* ``predict(features, horizon_days)`` returns one row per input row with
  :data:`PREDICTION_COLUMNS`, in the input's order, checked and never repaired
  (:func:`check_predictions`: a broken model raises :class:`ModelOutputError`);
* ``save(dir)`` / ``load(dir)`` persist JSON only (``model.json`` plus library-native JSON
  files such as XGBoost's); nothing is ever pickled, so loading runs no code. Loading a
  directory by the model name saved in it is the registry's
  (:func:`ltv.models.registry.load_model`); this module knows no model names.

Units: monetary values are in the input currency; ``frequency``, ``recency`` and ``T`` are in
the feature snapshot's ``time_unit`` (``days`` or ``weeks``), recorded at fit time in
``time_unit_``; ``horizon_days`` is always in days.
"""
from __future__ import annotations

import inspect
import json
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ltv.models.calibration import QuantileCalibration
from ltv.models.dispersion import DEFAULT_POWER, SpendDispersion
from ltv.models.output import (  # noqa: F401  (re-exported: the contract's names have always been here)
    OPTIONAL_COLUMNS, OUTPUT_TOLERANCE, PREDICTION_COLUMNS, QUANTILE_LEVELS, ModelOutputError, check_predictions,
)
from ltv.models.timing import check_edges, uniform_shares

MODEL_FILE = "model.json"
FORMAT_VERSION = 1
DAYS_PER_UNIT = {"days": 1.0, "weeks": 7.0}


@dataclass
class TrainingData:
    """What a model may learn from. Everything but ``example_frame`` is bounded in size (safe on the driver).

    Attributes:
        time_unit: unit of ``frequency``/``recency``/``T`` (``days`` or ``weeks``).
        horizon_days: prediction horizon in days.
        patterns: condensed BTYD patterns at the fit cutoff: ``frequency``, ``recency``, ``T``,
            ``weight`` (number of customers with that pattern), counted by Spark.
        spend_patterns: condensed Gamma-Gamma inputs (customers with ``frequency > 0`` and
            ``monetary_value > 0``): ``frequency``, ``monetary_value``, ``weight``.
        refunds: the snapshot's spend totals at the fit cutoff, ``gross_spend_total`` and
            ``refund_total`` (>= 0) summed over its customers (one row; one per group in a model
            across groups): how much of gross spend came back as refunds (see :func:`net_share`).
            None = no refund information: spend is forecast gross.
        examples: supervised examples (one row per customer and training cutoff): feature
            columns plus ``label_spend`` (net spend in the horizon after that cutoff) and
            ``label_purchases``; None for models that need none. May be a sample.
        feature_columns: which columns of ``examples`` a supervised model may use.
        example_frame: the full supervised examples as a Spark DataFrame (same columns as
            ``examples``) when they are too many for the driver; supervised models then train
            on the cluster (``xgboost.spark``) and ``examples`` holds only a bounded uniform
            sample (for models that need just a few statistics, e.g. a calibration factor).
            None = train on ``examples``.
        spark_workers: number of ``xgboost.spark`` workers for ``example_frame`` (None = Spark's
            default parallelism).
        population: feature rows (no labels) of the snapshot at the fit cutoff, i.e. the
            customers the model is fitted to score, or a bounded uniform sample of them; a model
            may set its level on them (``hybrid``: its total to its BTYD's). None = not given.
    """

    time_unit: str = "days"
    horizon_days: int = 365
    patterns: pd.DataFrame | None = None
    spend_patterns: pd.DataFrame | None = None
    refunds: pd.DataFrame | None = None
    examples: pd.DataFrame | None = None
    feature_columns: list[str] = field(default_factory=list)
    example_frame: Any = None
    spark_workers: int | None = None
    population: pd.DataFrame | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def net_share(refunds: pd.DataFrame | None, what: str = "") -> float:
    """``1 - refund_total / gross_spend_total`` summed over ``refunds`` (1.0 for None).

    Labels are NET spend (refunds are negative rows), while a spend model of purchase amounts
    (Gamma-Gamma) forecasts GROSS spend per purchase: multiplying by this share makes the forecast
    net. Refunds at or above gross spend, or non-finite totals, raise: there is no net level to
    learn from such data.
    """
    if refunds is None:
        return 1.0
    missing = [c for c in ("gross_spend_total", "refund_total") if c not in refunds.columns]
    if missing:
        raise ValueError(f"{what or 'refunds'}: lacks columns {missing} (found {list(refunds.columns)})")
    gross = float(pd.to_numeric(refunds["gross_spend_total"]).sum())
    refunded = float(pd.to_numeric(refunds["refund_total"]).sum())
    if not (np.isfinite(gross) and np.isfinite(refunded)) or refunded < 0:
        raise ValueError(f"{what or 'refunds'}: gross spend {gross} / refunds {refunded} are not usable totals")
    if gross <= 0:
        if refunded > 0:
            raise ValueError(f"{what or 'refunds'}: refunds {refunded:.2f} without any gross spend")
        return 1.0
    share = 1.0 - refunded / gross
    if share <= 0:
        raise ValueError(f"{what or 'refunds'}: refunds {refunded:.2f} reach gross spend {gross:.2f}: no net level to forecast")
    return share


class LTVModel(ABC):
    """Base class: subclasses set ``name`` and implement ``fit``, ``predict``, state (de)serialisation."""

    name: ClassVar[str] = ""
    #: "baseline", "btyd" or "ml"; reports group by it
    family: ClassVar[str] = ""
    #: whether ``fit`` needs ``TrainingData.examples`` (supervised)
    needs_examples: ClassVar[bool] = False
    #: whether ``fit`` needs ``TrainingData.patterns``
    needs_patterns: ClassVar[bool] = False
    #: whether ``ltv train`` tries it when no candidates are configured
    default_candidate: ClassVar[bool] = True
    #: hyperparameters older releases had and saved, ignored when given (see :meth:`from_params`)
    legacy_params: ClassVar[tuple[str, ...]] = ()
    #: whether training calibrates its quantiles on its back-test windows (conformal, see
    #: :mod:`ltv.models.calibration`): models whose quantiles carry no guarantee of their own
    calibrates_quantiles: ClassVar[bool] = False

    # -- hyperparameters (scikit-learn style) ---------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        names = []
        for pname, param in sig.parameters.items():
            if pname == "self":
                continue
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise TypeError(f"{cls.__name__}.__init__ must take explicit keywords, not *args/**kwargs")
            names.append(pname)
        return sorted(names)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> LTVModel:
        """An unfitted model with ``params``, dropping :attr:`legacy_params` (saved by older releases)."""
        return cls(**{key: value for key, value in params.items() if key not in cls.legacy_params})

    def get_params(self) -> dict[str, Any]:
        """Hyperparameters as given to the constructor."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> LTVModel:
        valid = set(self._param_names())
        for key, value in params.items():
            if key not in valid:
                raise ValueError(f"{self.name}: unknown hyperparameter {key!r}; valid: {sorted(valid)}")
            setattr(self, key, value)
        return self

    def __eq__(self, other: object) -> bool:  # equal hyperparameters and class
        return type(self) is type(other) and self.get_params() == other.get_params()  # type: ignore[union-attr]

    def __hash__(self) -> int:
        return hash((type(self).__name__, json.dumps(self.get_params(), sort_keys=True, default=str)))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # -- learning ---------------------------------------------------------------------
    @abstractmethod
    def fit(self, data: TrainingData) -> LTVModel:
        """Learn from ``data``; return ``self``."""

    @abstractmethod
    def _predict(self, features: pd.DataFrame, horizon_days: int) -> pd.DataFrame:
        """Raw predictions; :meth:`predict` checks and cleans them."""

    def predict(self, features: pd.DataFrame, horizon_days: int) -> pd.DataFrame:
        """Per-row predictions over ``horizon_days`` days: :data:`PREDICTION_COLUMNS`.

        The output is checked, never repaired (see :func:`check_predictions`): NaN or inf anywhere
        (``predicted_ltv_variance`` may be +inf), negative ``predicted_purchases``, ``p_alive`` outside [0, 1] or ``p10 > p90`` raise
        :class:`ModelOutputError` naming the model, the column and how many rows, as do p10 > p50
        and p50 > p90, and ``prob_purchase`` outside [0, 1]. ``p_alive`` is null for models without
        that notion; ``predicted_ltv_p50`` and ``prob_purchase`` are null for models saved before
        0.4 that lack them (:data:`OPTIONAL_COLUMNS`). ``predicted_ltv_variance`` is the model's own
        (BTYD) or, for the others, the Tweedie variance of their back-test dispersion
        (:mod:`ltv.models.dispersion`, set by training); null for a model without either. Spend
        columns may be negative (net spend: refunds can outweigh purchases); ``p10 <= predicted_ltv
        <= p90`` is not required (the mean of a skewed distribution can exceed its 90th percentile).
        """
        self._check_fitted()
        if horizon_days <= 0:
            raise ValueError(f"horizon_days must be positive, got {horizon_days}")
        out = self._predict(features, int(horizon_days))
        for col in OPTIONAL_COLUMNS:
            if col not in out.columns:
                out[col] = np.nan
        missing = [c for c in PREDICTION_COLUMNS if c not in out.columns]
        if missing:
            raise ModelOutputError(f"{self.name} returned no {missing}")
        out = out[list(PREDICTION_COLUMNS)].copy()
        calibration = getattr(self, "quantile_calibration_", None)
        if calibration is not None:
            out = calibration.apply(out)
        dispersion = getattr(self, "spend_dispersion_", None)
        if dispersion is not None and out["predicted_ltv_variance"].isna().all():
            out["predicted_ltv_variance"] = dispersion.variance(out["predicted_ltv"].to_numpy(float))
        out.index = features.index
        if len(out) != len(features):
            raise ModelOutputError(f"{self.name} returned {len(out)} rows for {len(features)} customers")
        return check_predictions(out, self.name)

    def spend_shares(self, features: pd.DataFrame, horizon_days: int, edges_days: np.ndarray) -> np.ndarray:
        """Per row, the share of its expected horizon spend in each period ``(edges[k], edges[k+1]]``.

        ``edges_days`` run from 0 to ``horizon_days`` (:func:`ltv.models.timing.period_edges`); rows
        sum to 1. This default spreads spend uniformly over the horizon (models without a notion of
        timing); BTYD models and ``hybrid`` follow the expected purchase path. Scoring discounts
        along these shares (:mod:`ltv.models.timing`); ``predicted_ltv x shares`` is the expected
        spend per period.
        """
        self._check_fitted()
        return uniform_shares(len(features), check_edges(edges_days, horizon_days))

    def set_quantile_calibration(self, calibration: QuantileCalibration | None) -> LTVModel:
        """Calibrate the quantiles :meth:`predict` gives (saved with the model); None removes it."""
        self.quantile_calibration_ = calibration
        return self

    def dispersion_power(self) -> float:
        """The Tweedie power of this model's spend variance (:mod:`ltv.models.dispersion`)."""
        return DEFAULT_POWER

    def set_spend_dispersion(self, dispersion: SpendDispersion | None) -> LTVModel:
        """The back-test dispersion that gives :meth:`predict`'s ``predicted_ltv_variance`` when the
        model has no variance of its own (saved with the model); None removes it."""
        self.spend_dispersion_ = dispersion
        return self

    def _check_fitted(self) -> None:
        if not any(k.endswith("_") and not k.startswith("_") for k in vars(self)):
            raise RuntimeError(f"{self.name} is not fitted; call fit() first")

    # -- persistence (JSON only) ---------------------------------------------------------
    @abstractmethod
    def _get_state(self, directory: Path) -> dict[str, Any]:
        """Fitted state as JSON-serialisable data; may write extra JSON files into ``directory``."""

    @abstractmethod
    def _set_state(self, state: dict[str, Any], directory: Path) -> None:
        """Restore what :meth:`_get_state` produced."""

    def save(self, directory: str | Path, metadata: dict[str, Any] | None = None) -> Path:
        """Write ``model.json`` (name, hyperparameters, fitted state, metadata) into ``directory``."""
        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        document = {
            "format_version": FORMAT_VERSION,
            "model": self.name,
            "params": self.get_params(),
            "state": self._get_state(directory),
            "metadata": metadata or {},
        }
        calibration = getattr(self, "quantile_calibration_", None)
        if calibration is not None:
            document["quantile_calibration"] = calibration.as_dict()
        dispersion = getattr(self, "spend_dispersion_", None)
        if dispersion is not None:
            document["spend_dispersion"] = dispersion.as_dict()
        path = directory / MODEL_FILE
        path.write_text(json.dumps(document, indent=2, sort_keys=True, default=json_default))
        return path

    @classmethod
    def load(cls, directory: str | Path) -> LTVModel:
        """Rebuild a fitted ``cls`` model from :meth:`save`'s output (JSON only; runs no stored code).

        On a concrete model class (``BGNBDGammaGamma.load(path)``) the directory must hold that
        model. To load whatever model a directory holds, by the name saved in it, use
        :func:`ltv.models.registry.load_model`: the registry knows the names, this interface
        does not. ``LTVModel.load(path)`` on the base class still does that for one release
        (deprecated in 0.2, through the loader the registry installs; see :func:`install_loader`).
        """
        directory = Path(directory)
        document = read_document(directory)
        if not cls.name or inspect.isabstract(cls):
            return _load_by_name(cls, directory)
        if document["model"] != cls.name:
            raise TypeError(
                f"{directory / MODEL_FILE} holds a {document['model']!r} model, not a {cls.__name__} "
                f"({cls.name!r}); load it with ltv.models.registry.load_model"
            )
        return cls.from_document(document, directory)

    @classmethod
    def from_document(cls, document: dict[str, Any], directory: Path) -> LTVModel:
        """A fitted ``cls`` from a ``model.json`` document (hyperparameters + state) and its directory."""
        model = cls.from_params(document["params"])
        model._set_state(document["state"], Path(directory))
        if document.get("quantile_calibration"):  # since 0.4
            model.quantile_calibration_ = QuantileCalibration.from_dict(document["quantile_calibration"])
        if document.get("spend_dispersion"):  # since 0.5
            model.spend_dispersion_ = SpendDispersion.from_dict(document["spend_dispersion"])
        return model


#: loads a saved model by the name in its model.json; installed by ltv.models.registry (which
#: ``ltv.models`` imports first), used only by the deprecated ``LTVModel.load`` on a base class
_loader: list[Callable[[Path], LTVModel]] = []


def install_loader(loader: Callable[[Path], LTVModel]) -> None:
    """Let ``LTVModel.load`` on a base class load by name (deprecated; the registry calls this)."""
    _loader[:] = [loader]


def _load_by_name(cls: type[LTVModel], directory: Path) -> LTVModel:
    if not _loader:
        raise TypeError(f"{cls.__name__}.load cannot tell which model {directory} holds; "
                        "use ltv.models.registry.load_model(directory)")
    warnings.warn(
        f"{cls.__name__}.load(directory) is deprecated and goes in ltv 0.3; "
        "use ltv.models.registry.load_model(directory)",
        DeprecationWarning,
        stacklevel=3,
    )
    model = _loader[0](directory)
    if not isinstance(model, cls):
        raise TypeError(f"{directory / MODEL_FILE} holds a {type(model).__name__}, not a {cls.__name__}")
    return model


def read_document(directory: str | Path) -> dict[str, Any]:
    """The ``model.json`` document of a saved model, its format version checked."""
    path = Path(directory) / MODEL_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {MODEL_FILE} in {directory}; is this a saved ltv model?")
    document = json.loads(path.read_text())
    if document.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: unsupported format_version {document.get('format_version')}")
    return document


def read_metadata(directory: str | Path) -> dict[str, Any]:
    """The ``metadata`` block of a saved model (lineage, metrics) without loading it."""
    return json.loads((Path(directory) / MODEL_FILE).read_text()).get("metadata", {})


def horizon_in_units(horizon_days: int, time_unit: str) -> float:
    """Convert a horizon in days to the snapshot's time unit."""
    try:
        return horizon_days / DAYS_PER_UNIT[time_unit]
    except KeyError:
        raise ValueError(f"unknown time_unit {time_unit!r}; use one of {sorted(DAYS_PER_UNIT)}") from None


def json_default(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (pd.Timestamp,)):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} in model.json")
