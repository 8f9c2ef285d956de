"""Supervised gradient-boosting models: ``xgboost`` and ``hybrid`` (XGBoost on top of BG/NBD+GG).

Both learn from ``TrainingData.examples`` (one row per customer and training cutoff, features
at the cutoff, ``label_spend`` = net spend in the ``horizon_days`` after it) and are trained
for exactly that horizon (``horizon_days_``).

``xgboost``
    Three boosters on ``TrainingData.feature_columns``:

    * spend: ``reg:tweedie`` (log link, ``tweedie_variance_power`` in (1, 2): a point mass at
      zero plus a heavy right tail, which is what horizon spend looks like) on ``label_spend``
      clipped at 0 (net refunds are not spend to forecast); ``objective="squared_error"``
      switches to ``reg:squarederror`` on the raw label, for comparison;
    * purchases: ``count:poisson`` on ``label_purchases`` -> ``predicted_purchases``;
    * interval: one multi-quantile booster (``reg:quantileerror``, ``quantile_alpha`` =
      [0.1, 0.9]) -> p10/p90 (sorted per row so p10 <= p90).

    ``p_alive`` is None (no notion of churn).

``hybrid``
    The same three boosters plus a BG/NBD + Gamma-Gamma model ([FHL05], [N025]; see
    :mod:`ltv.models.btyd`) whose outputs are extra features: ``btyd_purchases``,
    ``btyd_p_alive`` and ``btyd_ltv`` (expected spend over the horizon). For the examples one
    BTYD is fitted per training cutoff (``examples["as_of"]``) on that cutoff's condensed
    (frequency, recency, T) patterns; at predict time the BTYD fitted on
    ``TrainingData.patterns`` / ``spend_patterns`` (the snapshot being scored) is used and its
    parameters are stored in the state. With ``anchor="btyd_margin"`` the BTYD forecast is also
    the boosters' starting point: ``base_margin = log(btyd_ltv)`` (``log(btyd_purchases)`` for
    purchases), so the trees learn a multiplicative correction of the BTYD forecast. With
    ``anchor="btyd_total"`` (default) the corrected forecast is moreover rescaled by one factor
    fixed at fit, ``sum(btyd_ltv) / sum(corrected)`` over the examples: the trees re-rank
    customers, the level is BTYD's. Why: a booster trained on one window carries that window's
    level (season, cohort age) into the forecast (a plain XGBoost: about +49% aggregate bias on
    CDNOW at 1997-12-31, -40% at 1997-09-30) while BG/NBD+GG stays within a few percent.
    ``p_alive`` is the BTYD's.

Categorical features (non-numeric columns, e.g. ``attr_*`` strings) use XGBoost's native
categorical support: at fit the observed levels are recorded (sorted) in the state, and every
frame is encoded as a pandas ``Categorical`` with exactly those levels, so a level unseen at
fit (or null) becomes NaN and follows the trees' missing-value branch, identically before and
after save/load. A categorical column with no level at all at fit is passed as an all-missing
numeric column (XGBoost rejects a categorical feature without categories).

Horizon: the boosters forecast ``horizon_days_``. ``predict`` for another horizon scales every
output linearly (``horizon_days / horizon_days_``) and logs a warning: a crude approximation
(it ignores churn, which makes spend grow less than linearly); retrain for that horizon instead.

Persistence: each booster is written with XGBoost's own JSON format (``save_model("*.json")``)
into the save directory; ``model.json`` holds their file names, the feature list, category
levels, horizon and (hybrid) the BTYD fit. Nothing is pickled.

Scale: boosters train on the driver from ``TrainingData.examples``, which
:mod:`ltv.training.data` caps at ``MAX_EXAMPLES`` (1M rows, a uniform sample beyond). For
bigger training sets ``xgboost.spark`` is the distributed path (not built yet). Training is
deterministic: fixed ``seed``, ``nthread`` threads, ``hist`` trees.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import xgboost as xgb

from ltv.models.base import DAYS_PER_UNIT, LTVModel, TrainingData
from ltv.models.btyd import BGNBDGammaGamma
from ltv.models.registry import register

log = logging.getLogger(__name__)

OBJECTIVES = {"tweedie": "reg:tweedie", "squared_error": "reg:squarederror"}
QUANTILES = (0.1, 0.9)
BOOSTER_FILES = {"spend": "xgb_spend.json", "purchases": "xgb_purchases.json", "interval": "xgb_interval.json"}
BTYD_FEATURES = ("btyd_purchases", "btyd_p_alive", "btyd_ltv")
ANCHORS = ("btyd_total", "btyd_margin", "none")
#: floor under BTYD forecasts before taking logs for the base margin (currency / purchases)
MARGIN_FLOOR = 1e-3


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)


def _category_levels(series: pd.Series) -> list[str]:
    """Sorted distinct non-null values as strings."""
    values = series.dropna().astype(str)
    return sorted(set(values))


class _BoostedLTV(LTVModel):
    """Shared fit / predict / persistence of the boosted models; ``hybrid`` adds BTYD features."""

    family: ClassVar[str] = "ml"
    needs_examples: ClassVar[bool] = True

    def __init__(
        self,
        objective: str = "tweedie",
        tweedie_variance_power: float = 1.5,
        n_estimators: int = 50,
        learning_rate: float = 0.05,
        max_depth: int = 4,
        min_child_weight: float = 5.0,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        include_features: list[str] | None = None,
        rate_features: bool = True,
        interval_n_estimators: int = 200,
        seed: int = 0,
        nthread: int = 1,
    ) -> None:
        """
        Args:
            objective: ``"tweedie"`` (``reg:tweedie`` on spend clipped at 0) or
                ``"squared_error"`` (``reg:squarederror`` on the raw net spend).
            tweedie_variance_power: Tweedie power p in (1, 2); nearer 1 = more Poisson-like.
            n_estimators: boosting rounds of the spend and purchase boosters (50 at eta 0.05:
                on CDNOW more rounds fit the training window's level and rank worse out of time).
            learning_rate, max_depth, min_child_weight, subsample, colsample_bytree, reg_lambda:
                XGBoost tree parameters (``eta``, ``max_depth``, ...), shared by all boosters.
            include_features: use only these of ``TrainingData.feature_columns`` (None = all of
                them); names not in the examples are an error.
            rate_features: add the age-free ratios of :func:`_rate_features` (spend and purchase
                days per day of tenure, recency / T) to the inputs.
            interval_n_estimators: rounds of the p10/p90 quantile booster.
            seed: random seed (row/column subsampling); same data + seed -> same model.
            nthread: XGBoost threads for training and prediction.
        """
        self.objective = objective
        self.tweedie_variance_power = tweedie_variance_power
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.min_child_weight = min_child_weight
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.include_features = include_features
        self.rate_features = rate_features
        self.interval_n_estimators = interval_n_estimators
        self.seed = seed
        self.nthread = nthread

    # -- hooks for hybrid ----------------------------------------------------------------------
    def _fit_extra(self, data: TrainingData, examples: pd.DataFrame) -> pd.DataFrame:
        """Extra feature columns for the examples (none here); may record fitted state."""
        return pd.DataFrame(index=examples.index)

    def _predict_extra(self, features: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(index=features.index)

    def _margins(self, extra: pd.DataFrame) -> dict[str, np.ndarray | None]:
        """Per-booster ``base_margin`` (log scale) from the extra features; None = XGBoost's default."""
        return {"spend": None, "purchases": None}

    # -- learning -------------------------------------------------------------------------------
    def _check_params(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"{self.name}: objective {self.objective!r} unknown; use one of {sorted(OBJECTIVES)}")
        if not 1.0 < float(self.tweedie_variance_power) < 2.0:
            raise ValueError(f"{self.name}: tweedie_variance_power must be in (1, 2), got {self.tweedie_variance_power}")

    def _tree_params(self) -> dict[str, Any]:
        return {
            "eta": float(self.learning_rate),
            "max_depth": int(self.max_depth),
            "min_child_weight": float(self.min_child_weight),
            "subsample": float(self.subsample),
            "colsample_bytree": float(self.colsample_bytree),
            "lambda": float(self.reg_lambda),
            "tree_method": "hist",
            "seed": int(self.seed),
            "nthread": int(self.nthread),
            "max_cat_to_onehot": 1,
            "verbosity": 0,
        }

    def fit(self, data: TrainingData) -> _BoostedLTV:
        """Fit the spend, purchase and interval boosters on ``data.examples`` (see module docstring)."""
        self._check_params()
        if data.time_unit not in DAYS_PER_UNIT:
            raise ValueError(f"unknown time_unit {data.time_unit!r}; use one of {sorted(DAYS_PER_UNIT)}")
        examples = data.examples
        if examples is None or examples.empty:
            raise ValueError(f"{self.name} needs TrainingData.examples (features + label_spend + label_purchases)")
        missing = [c for c in ("label_spend", "label_purchases") if c not in examples.columns]
        if missing:
            raise ValueError(f"{self.name}: examples lack label columns {missing}")
        if not data.feature_columns:
            raise ValueError(f"{self.name}: TrainingData.feature_columns is empty; which columns may it use?")
        columns = list(data.feature_columns)
        if self.include_features is not None:
            columns = list(self.include_features)
        absent = [c for c in columns if c not in examples.columns]
        if absent:
            raise ValueError(f"{self.name}: feature columns {absent} missing from the examples")

        self.time_unit_ = data.time_unit
        self.horizon_days_ = int(data.horizon_days)
        self.feature_columns_ = columns
        self.categories_ = {
            c: _category_levels(examples[c]) for c in self.feature_columns_ if not _is_numeric(examples[c])
        }
        extra = self._fit_extra(data, examples)
        matrix = self._design(examples, extra)
        margins = self._margins(extra)
        spend = pd.to_numeric(examples["label_spend"], errors="coerce").fillna(0.0).to_numpy(dtype=float)
        purchases = pd.to_numeric(examples["label_purchases"], errors="coerce").fillna(0.0).to_numpy(dtype=float)

        spend_params = {**self._tree_params(), "objective": OBJECTIVES[self.objective]}
        if self.objective == "tweedie":
            spend_params["tweedie_variance_power"] = float(self.tweedie_variance_power)
            spend = np.maximum(spend, 0.0)
        self.boosters_ = {
            "spend": self._train(spend_params, matrix, spend, margins["spend"], int(self.n_estimators)),
            "purchases": self._train(
                {**self._tree_params(), "objective": "count:poisson"},
                matrix, np.maximum(purchases, 0.0), margins["purchases"], int(self.n_estimators),
            ),
            "interval": self._train(
                {**self._tree_params(), "objective": "reg:quantileerror", "quantile_alpha": list(QUANTILES)},
                matrix, spend, None, int(self.interval_n_estimators),
            ),
        }
        self.level_factors_ = self._level_factors(matrix, extra, margins)
        return self

    def _level_factors(self, matrix: pd.DataFrame, extra: pd.DataFrame, margins: dict) -> dict[str, float]:
        """Multipliers of the spend / purchase forecasts fixed at fit (1 = as the boosters say)."""
        return {"spend": 1.0, "purchases": 1.0}

    @staticmethod
    def _train(params: dict[str, Any], matrix: pd.DataFrame, label: np.ndarray, margin, rounds: int) -> xgb.Booster:
        dmatrix = xgb.DMatrix(matrix, label=label, base_margin=margin, enable_categorical=True)
        return xgb.train(params, dmatrix, num_boost_round=rounds)

    def _design(self, frame: pd.DataFrame, extra: pd.DataFrame) -> pd.DataFrame:
        """The boosters' input: recorded feature columns (numeric -> float, categorical with the fit's levels) + extras."""
        absent = [c for c in self.feature_columns_ if c not in frame.columns]
        if absent:
            raise ValueError(f"{self.name}: features lack columns {absent} it was trained on (found: {list(frame.columns)})")
        columns: dict[str, Any] = {}
        for col in self.feature_columns_:
            if col in self.categories_ and not self.categories_[col]:
                columns[col] = np.full(len(frame), np.nan)  # never observed at fit: no information
            elif col in self.categories_:
                values = frame[col].astype("string").astype(object).where(frame[col].notna(), None)
                columns[col] = pd.Categorical(values, categories=self.categories_[col])
            else:
                columns[col] = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
        matrix = pd.DataFrame(columns, index=frame.index)
        if self.rate_features:
            for name, values in _rate_features(frame).items():
                matrix[name] = values
        for col in extra.columns:
            matrix[col] = extra[col].to_numpy(dtype=float)
        return matrix

    # -- prediction -------------------------------------------------------------------------------
    def _predict(self, features: pd.DataFrame, horizon_days: int) -> pd.DataFrame:
        extra = self._predict_extra(features)
        matrix = self._design(features, extra)
        margins = self._margins(extra)

        def run(part: str, margin=None) -> np.ndarray:
            dmatrix = xgb.DMatrix(matrix, base_margin=margin, enable_categorical=True)
            return self.boosters_[part].predict(dmatrix)

        ltv = run("spend", margins["spend"]).astype(float) * self.level_factors_["spend"]
        purchases = run("purchases", margins["purchases"]).astype(float) * self.level_factors_["purchases"]
        bounds = np.sort(np.maximum(run("interval").reshape(len(matrix), len(QUANTILES)), 0.0), axis=1)
        scale = 1.0
        if horizon_days != self.horizon_days_:
            scale = horizon_days / self.horizon_days_
            log.warning(
                "%s was trained for a %d-day horizon; predicting %d days by linear scaling (x%.3f), "
                "which ignores churn inside the horizon: retrain for this horizon for a real forecast",
                self.name, self.horizon_days_, horizon_days, scale,
            )
        p_alive = extra["btyd_p_alive"].to_numpy(dtype=float) if "btyd_p_alive" in extra.columns else None
        return pd.DataFrame(
            {
                "predicted_ltv": ltv * scale,
                "predicted_ltv_p10": bounds[:, 0] * scale,
                "predicted_ltv_p90": bounds[:, 1] * scale,
                "predicted_purchases": purchases * scale,
                "p_alive": p_alive,
            }
        )

    def feature_importance(self, importance_type: str = "total_gain") -> pd.Series:
        """Spend booster's importance per input column (0 for columns never split on)."""
        self._check_fitted()
        scores = self.boosters_["spend"].get_score(importance_type=importance_type)
        names = self.boosters_["spend"].feature_names or []
        return pd.Series({n: float(scores.get(n, 0.0)) for n in names}).sort_values(ascending=False)

    # -- persistence --------------------------------------------------------------------------------
    def _get_state(self, directory: Path) -> dict[str, Any]:
        for part, booster in self.boosters_.items():
            booster.save_model(str(directory / BOOSTER_FILES[part]))
        return {
            "time_unit": self.time_unit_,
            "horizon_days": self.horizon_days_,
            "feature_columns": self.feature_columns_,
            "categories": self.categories_,
            "booster_files": dict(BOOSTER_FILES),
            "level_factors": self.level_factors_,
        }

    def _set_state(self, state: dict[str, Any], directory: Path) -> None:
        self.time_unit_ = state["time_unit"]
        self.horizon_days_ = int(state["horizon_days"])
        self.feature_columns_ = list(state["feature_columns"])
        self.categories_ = {k: list(v) for k, v in state["categories"].items()}
        self.level_factors_ = {k: float(v) for k, v in state["level_factors"].items()}
        self.boosters_ = {}
        for part, file_name in state["booster_files"].items():
            booster = xgb.Booster()
            booster.load_model(str(directory / file_name))
            booster.set_param({"nthread": int(self.nthread)})
            self.boosters_[part] = booster


@register
class XGBoostLTV(_BoostedLTV):
    """Gradient-boosted horizon spend (Tweedie), purchases (Poisson) and p10/p90 (quantile)."""

    name: ClassVar[str] = "xgboost"

    def __init__(
        self,
        objective: str = "tweedie",
        tweedie_variance_power: float = 1.5,
        n_estimators: int = 50,
        learning_rate: float = 0.05,
        max_depth: int = 4,
        min_child_weight: float = 5.0,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        include_features: list[str] | None = None,
        rate_features: bool = True,
        interval_n_estimators: int = 200,
        seed: int = 0,
        nthread: int = 1,
    ) -> None:
        super().__init__(
            objective=objective, tweedie_variance_power=tweedie_variance_power, n_estimators=n_estimators,
            learning_rate=learning_rate, max_depth=max_depth, min_child_weight=min_child_weight,
            subsample=subsample, colsample_bytree=colsample_bytree, reg_lambda=reg_lambda, include_features=include_features,
            rate_features=rate_features,
            interval_n_estimators=interval_n_estimators, seed=seed, nthread=nthread,
        )


@register
class HybridLTV(_BoostedLTV):
    """XGBoost with BG/NBD + Gamma-Gamma forecasts as features and (``anchor``) as base margin and level."""

    name: ClassVar[str] = "hybrid"
    needs_patterns: ClassVar[bool] = True

    def __init__(
        self,
        anchor: str = "btyd_total",
        objective: str = "tweedie",
        tweedie_variance_power: float = 1.5,
        n_estimators: int = 50,
        learning_rate: float = 0.05,
        max_depth: int = 4,
        min_child_weight: float = 5.0,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        include_features: list[str] | None = None,
        rate_features: bool = True,
        interval_n_estimators: int = 200,
        btyd_max_penalizer: float = 0.1,
        seed: int = 0,
        nthread: int = 1,
    ) -> None:
        """
        Args:
            anchor: ``"btyd_margin"``: boosters start from the BTYD forecast (log base margin)
                and learn a multiplicative correction; ``"btyd_total"``: that, then one factor per
                booster rescales its total over the examples to the BTYD total over them (the
                trees re-rank, BTYD sets the level); ``"none"``: BTYD outputs are plain features.
            btyd_max_penalizer: ``max_penalizer`` of the BTYD fits (see :mod:`ltv.models.btyd`).
            Others: as for ``xgboost``.
        """
        super().__init__(
            objective=objective, tweedie_variance_power=tweedie_variance_power, n_estimators=n_estimators,
            learning_rate=learning_rate, max_depth=max_depth, min_child_weight=min_child_weight,
            subsample=subsample, colsample_bytree=colsample_bytree, reg_lambda=reg_lambda, include_features=include_features,
            rate_features=rate_features,
            interval_n_estimators=interval_n_estimators, seed=seed, nthread=nthread,
        )
        self.anchor = anchor
        self.btyd_max_penalizer = btyd_max_penalizer

    def _check_params(self) -> None:
        super()._check_params()
        if self.anchor not in ANCHORS:
            raise ValueError(f"{self.name}: anchor {self.anchor!r} unknown; use one of {list(ANCHORS)}")
        if self.anchor != "none" and self.objective != "tweedie":
            raise ValueError(f"{self.name}: anchor={self.anchor!r} needs the log link of objective='tweedie'; use anchor='none'")

    def _new_btyd(self) -> BGNBDGammaGamma:
        return BGNBDGammaGamma(max_penalizer=self.btyd_max_penalizer, n_draws=1)

    def _btyd_features(self, btyd: BGNBDGammaGamma, frame: pd.DataFrame) -> pd.DataFrame:
        out = btyd.predict(frame, self.horizon_days_)
        return pd.DataFrame(
            {
                "btyd_purchases": out["predicted_purchases"].to_numpy(dtype=float),
                "btyd_p_alive": out["p_alive"].to_numpy(dtype=float),
                "btyd_ltv": out["predicted_ltv"].to_numpy(dtype=float),
            },
            index=frame.index,
        )

    def _fit_extra(self, data: TrainingData, examples: pd.DataFrame) -> pd.DataFrame:
        """BTYD features of the examples (one BTYD per example cutoff); fit the scoring BTYD on ``data.patterns``."""
        if data.patterns is None or data.spend_patterns is None:
            raise ValueError(f"{self.name} needs TrainingData.patterns and spend_patterns (the snapshot it will score)")
        self.btyd_ = self._new_btyd().fit(data)
        groups = examples.groupby("as_of", sort=True).groups if "as_of" in examples.columns else {None: examples.index}
        parts = []
        for cutoff, index in groups.items():
            rows = examples.loc[index]
            btyd = self._new_btyd().fit(_btyd_training_data(rows, data.time_unit, data.horizon_days))
            log.debug("%s: BTYD for examples at %s: %s", self.name, cutoff, btyd.purchase_params_)
            parts.append(self._btyd_features(btyd, rows))
        return pd.concat(parts).loc[examples.index]

    def _predict_extra(self, features: pd.DataFrame) -> pd.DataFrame:
        return self._btyd_features(self.btyd_, features)

    def _margins(self, extra: pd.DataFrame) -> dict[str, np.ndarray | None]:
        if self.anchor == "none":
            return {"spend": None, "purchases": None}
        return {
            "spend": np.log(np.maximum(extra["btyd_ltv"].to_numpy(dtype=float), MARGIN_FLOOR)),
            "purchases": np.log(np.maximum(extra["btyd_purchases"].to_numpy(dtype=float), MARGIN_FLOOR)),
        }

    def _level_factors(self, matrix: pd.DataFrame, extra: pd.DataFrame, margins: dict) -> dict[str, float]:
        """``anchor="btyd_total"``: per booster, BTYD total / booster total over the examples."""
        if self.anchor != "btyd_total":
            return super()._level_factors(matrix, extra, margins)
        factors = {}
        for part, btyd_column in (("spend", "btyd_ltv"), ("purchases", "btyd_purchases")):
            dmatrix = xgb.DMatrix(matrix, base_margin=margins[part], enable_categorical=True)
            total = float(self.boosters_[part].predict(dmatrix).sum())
            target = float(extra[btyd_column].sum())
            factors[part] = target / total if total > 0 and target > 0 else 1.0
        log.info("%s: level factors (BTYD total / booster total on the examples): %s", self.name, factors)
        return factors

    def _get_state(self, directory: Path) -> dict[str, Any]:
        state = super()._get_state(directory)
        state["btyd"] = self.btyd_._get_state(directory)
        return state

    def _set_state(self, state: dict[str, Any], directory: Path) -> None:
        super()._set_state(state, directory)
        self.btyd_ = self._new_btyd()
        self.btyd_._set_state(state["btyd"], directory)


def _btyd_training_data(rows: pd.DataFrame, time_unit: str, horizon_days: int) -> TrainingData:
    """Condensed BTYD inputs (patterns + spend patterns, with weights) of one cutoff's example rows."""
    history = rows[["frequency", "recency", "T", "monetary_value"]].apply(pd.to_numeric, errors="coerce").fillna(0.0)
    patterns = history.groupby(["frequency", "recency", "T"]).size().rename("weight").reset_index()
    buyers = history[(history["frequency"] > 0) & (history["monetary_value"] > 0)]
    spend_patterns = buyers.groupby(["frequency", "monetary_value"]).size().rename("weight").reset_index()
    return TrainingData(time_unit=time_unit, horizon_days=horizon_days, patterns=patterns, spend_patterns=spend_patterns)


#: (name, numerator, denominator) of the age-free ratios added with ``rate_features=True``
RATE_FEATURES = (
    ("rate_net_spend_per_day", "net_spend_total", "tenure_days"),
    ("rate_purchase_days_per_day", "purchase_days_total", "tenure_days"),
    ("rate_recency_share", "recency", "T"),
)


def _rate_features(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Ratios that keep their meaning as customers age (for those whose columns are present).

    Totals and ages grow with the snapshot date, so trees trained on young customers (the
    examples' cutoffs) extrapolate them badly to older ones; rates per day of tenure (floored at
    one day) and the recency share of the customer's age do not drift that way.
    """
    out = {}
    for name, numerator, denominator in RATE_FEATURES:
        if numerator in frame.columns and denominator in frame.columns:
            top = pd.to_numeric(frame[numerator], errors="coerce").to_numpy(dtype=float)
            bottom = pd.to_numeric(frame[denominator], errors="coerce").to_numpy(dtype=float)
            out[name] = top / np.maximum(bottom, 1.0)
    return out
