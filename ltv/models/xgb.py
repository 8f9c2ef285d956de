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

Scale: below the line's ``distributed_min_rows`` training examples (config; default 1M) the
boosters train on the driver from ``TrainingData.examples``; above it
:mod:`ltv.training.data` leaves the examples in Spark (``TrainingData.example_frame``) and all
three boosters -- the p10/p90 quantile booster included -- train with ``xgboost.spark``
(:mod:`ltv.models._xgb_spark`), which yields the same XGBoost JSON boosters, so predict / save /
load are identical. Training is deterministic on the driver: fixed ``seed``, ``nthread``
threads, ``hist`` trees, examples in a fixed order.

Across business lines (``group_column="business_line"``, the consolidated model of
:mod:`ltv.training.consolidated`): the line is a categorical input; ``hybrid`` fits one BTYD per
line (and per line and cutoff for the examples) and, with ``anchor="btyd_total"``, one level
factor per line, so each line's level stays its own BTYD's. Predicting a line the model was
not trained on is an error naming the lines it knows.
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
        group_column: str | None = None,
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
            group_column: for one model trained across groups (the consolidated model across
                business lines: ``"business_line"``): this column is always an input (a
                categorical feature, so it is needed at predict time too); ``hybrid`` fits its
                BTYD per group and anchors each group's level to that group's BTYD. None = one
                group.
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
        self.group_column = group_column
        self.seed = seed
        self.nthread = nthread

    # -- hooks for hybrid ----------------------------------------------------------------------
    def _fit_scoring_extra(self, data: TrainingData) -> None:
        """Fit whatever the extra features of the scored snapshot need (nothing here)."""

    def _example_keys(self, columns: list[str]) -> list[str] | None:
        """Columns splitting the examples into sets that each get their own extra-feature model
        (hybrid: one BTYD per training cutoff and group); None = no extra features."""
        return None

    def _fit_example_models(self, condensed: dict[str, TrainingData]) -> dict[str, Any]:
        """Per example key (see :func:`example_key_values`): the fitted extra-feature model."""
        return {}

    def _example_extra(self, rows: pd.DataFrame, models: dict[str, Any], keys: list[str] | None) -> pd.DataFrame:
        """Extra feature columns of example ``rows`` from the per-key ``models`` (none here)."""
        return pd.DataFrame(index=rows.index)

    def _example_model_states(self, models: dict[str, Any]) -> dict[str, Any]:
        """``models`` as JSON-able state (shipped to Spark executors for distributed training)."""
        return {}

    def _example_models_from_states(self, states: dict[str, Any]) -> dict[str, Any]:
        return {}

    def _predict_extra(self, features: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(index=features.index)

    def _margins(self, extra: pd.DataFrame) -> dict[str, np.ndarray | None]:
        """Per-booster ``base_margin`` (log scale) from the extra features; None = XGBoost's default."""
        return {"spend": None, "purchases": None}

    def _level_targets(self) -> dict[str, str]:
        """{booster: extra column} whose total over the examples the booster's total is rescaled to
        (per group with ``group_column``); empty = no rescaling."""
        return {}

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

    def _booster_params(self, part: str) -> tuple[dict[str, Any], int]:
        """(XGBoost parameters, boosting rounds) of booster ``part`` (see :data:`BOOSTER_FILES`)."""
        tree = self._tree_params()
        if part == "spend":
            params = {**tree, "objective": OBJECTIVES[self.objective]}
            if self.objective == "tweedie":
                params["tweedie_variance_power"] = float(self.tweedie_variance_power)
            return params, int(self.n_estimators)
        if part == "purchases":
            return {**tree, "objective": "count:poisson"}, int(self.n_estimators)
        if part == "interval":
            return {**tree, "objective": "reg:quantileerror", "quantile_alpha": list(QUANTILES)}, int(self.interval_n_estimators)
        raise KeyError(part)

    def _targets(self, examples: pd.DataFrame) -> dict[str, np.ndarray]:
        """Per booster: its training label (spend clipped at 0 under Tweedie; purchases >= 0)."""
        spend = pd.to_numeric(examples["label_spend"], errors="coerce").fillna(0.0).to_numpy(dtype=float)
        purchases = pd.to_numeric(examples["label_purchases"], errors="coerce").fillna(0.0).to_numpy(dtype=float)
        if self.objective == "tweedie":
            spend = np.maximum(spend, 0.0)
        return {"spend": spend, "purchases": np.maximum(purchases, 0.0), "interval": spend}

    def _check_data(self, data: TrainingData, columns: list[str]) -> None:
        self._check_params()
        if data.time_unit not in DAYS_PER_UNIT:
            raise ValueError(f"unknown time_unit {data.time_unit!r}; use one of {sorted(DAYS_PER_UNIT)}")
        missing = [c for c in ("label_spend", "label_purchases") if c not in columns]
        if missing:
            raise ValueError(f"{self.name}: examples lack label columns {missing}")
        if not data.feature_columns:
            raise ValueError(f"{self.name}: TrainingData.feature_columns is empty; which columns may it use?")

    def _start_fit(self, data: TrainingData, columns: list[str], is_numeric, levels) -> None:
        """Record time unit, horizon, input columns and category levels (``is_numeric(col)``, ``levels(col)``)."""
        inputs = list(self.include_features) if self.include_features is not None else list(data.feature_columns)
        if self.group_column and self.group_column not in inputs:
            inputs.append(self.group_column)
        absent = [c for c in inputs if c not in columns]
        if absent:
            raise ValueError(f"{self.name}: feature columns {absent} missing from the examples")
        self.time_unit_ = data.time_unit
        self.horizon_days_ = int(data.horizon_days)
        self.feature_columns_ = inputs
        self.categories_ = {c: levels(c) for c in inputs if not is_numeric(c)}
        if self.group_column and not self.categories_.get(self.group_column):
            raise ValueError(f"{self.name}: group column {self.group_column!r} must be a non-empty categorical (string) column")

    def fit(self, data: TrainingData) -> _BoostedLTV:
        """Fit the spend, purchase and interval boosters on the examples (see module docstring).

        ``data.example_frame`` set (a Spark DataFrame too large for the driver): trained on the
        cluster with ``xgboost.spark`` (:mod:`ltv.models._xgb_spark`); otherwise on the driver
        from ``data.examples``. Both store the same XGBoost JSON boosters.
        """
        if data.example_frame is not None:
            from ltv.models._xgb_spark import fit_distributed

            return fit_distributed(self, data)
        examples = data.examples
        if examples is None or examples.empty:
            self._check_params()
            raise ValueError(f"{self.name} needs TrainingData.examples (features + label_spend + label_purchases)")
        self._check_data(data, list(examples.columns))
        self._start_fit(
            data, list(examples.columns),
            is_numeric=lambda c: _is_numeric(examples[c]), levels=lambda c: _category_levels(examples[c]),
        )
        extra = self._fit_extra(data, examples)
        matrix = self._design(examples, extra)
        margins = self._margins(extra)
        targets = self._targets(examples)
        self.boosters_ = {}
        for part in BOOSTER_FILES:
            params, rounds = self._booster_params(part)
            self.boosters_[part] = self._train(params, matrix, targets[part], margins.get(part), rounds)
        self._set_level_factors(self._local_totals(examples, matrix, extra, margins))
        return self

    def _fit_extra(self, data: TrainingData, examples: pd.DataFrame) -> pd.DataFrame:
        """Extra feature columns of the examples; fits the scoring and per-key extra models."""
        self._fit_scoring_extra(data)
        keys = self._example_keys(list(examples.columns))
        if keys is None:
            return pd.DataFrame(index=examples.index)
        condensed = condense_examples_local(examples, keys, data.time_unit, data.horizon_days)
        return self._example_extra(examples, self._fit_example_models(condensed), keys)

    def _local_totals(self, examples: pd.DataFrame, matrix: pd.DataFrame, extra: pd.DataFrame, margins: dict) -> pd.DataFrame | None:
        """Per group: boosters' total forecast and the level target columns' total over the examples."""
        targets = self._level_targets()
        if not targets:
            return None
        columns = {"__group": self._group_values(examples)}
        for part, target in targets.items():
            dmatrix = xgb.DMatrix(matrix, base_margin=margins.get(part), enable_categorical=True)
            columns[part] = self.boosters_[part].predict(dmatrix).astype(float)
            columns[target] = extra[target].to_numpy(dtype=float)
        return pd.DataFrame(columns).groupby("__group").sum()

    def _group_values(self, frame: pd.DataFrame) -> np.ndarray:
        """Each row's group as a string ("" for all rows without ``group_column``)."""
        if not self.group_column:
            return np.full(len(frame), "", dtype=object)
        values = frame[self.group_column]
        return values.astype("string").astype(object).where(values.notna(), None).to_numpy()

    def _set_level_factors(self, totals: pd.DataFrame | None) -> None:
        """``level_factors_`` (all rows) and ``group_level_factors_`` (per group) from per-group totals."""
        self.level_factors_ = {"spend": 1.0, "purchases": 1.0}
        self.group_level_factors_: dict[str, dict[str, float]] = {}
        if totals is None or totals.empty:
            return
        targets = self._level_targets()

        def factors(sums: pd.Series) -> dict[str, float]:
            out = {"spend": 1.0, "purchases": 1.0}
            for part, target in targets.items():
                total, wanted = float(sums[part]), float(sums[target])
                out[part] = wanted / total if total > 0 and wanted > 0 else 1.0
            return out

        self.level_factors_ = factors(totals.sum())
        if self.group_column:
            self.group_level_factors_ = {str(g): factors(row) for g, row in totals.iterrows()}
        log.info("%s: level factors (target total / booster total on the examples): %s %s",
                 self.name, self.level_factors_, self.group_level_factors_ or "")

    def _row_factors(self, features: pd.DataFrame, part: str) -> np.ndarray | float:
        if not self.group_level_factors_:
            return self.level_factors_[part]
        groups = self._group_values(features)
        return np.array([self.group_level_factors_[g][part] if g in self.group_level_factors_ else 1.0 for g in groups])

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
        self._check_groups(features)
        extra = self._predict_extra(features)
        matrix = self._design(features, extra)
        margins = self._margins(extra)

        def run(part: str, margin=None) -> np.ndarray:
            dmatrix = xgb.DMatrix(matrix, base_margin=margin, enable_categorical=True)
            return self.boosters_[part].predict(dmatrix)

        ltv = run("spend", margins["spend"]).astype(float) * self._row_factors(features, "spend")
        purchases = run("purchases", margins["purchases"]).astype(float) * self._row_factors(features, "purchases")
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

    def _check_groups(self, features: pd.DataFrame) -> None:
        """A model trained across groups predicts only groups it was trained on (named in the error)."""
        if not self.group_column:
            return
        if self.group_column not in features.columns:
            raise ValueError(f"{self.name} was trained across {self.group_column} values and needs that column "
                             f"to predict (found: {list(features.columns)})")
        known = set(self.categories_.get(self.group_column, []))
        unknown = sorted({str(g) for g in self._group_values(features)} - known)
        if unknown:
            raise ValueError(f"{self.name} was trained on {self.group_column} {sorted(known)}, not on {unknown}; "
                             "retrain with those lines among the consolidated model's members")

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
            "group_level_factors": self.group_level_factors_,
            "trained_distributed": bool(getattr(self, "trained_distributed_", False)),
        }

    def _set_state(self, state: dict[str, Any], directory: Path) -> None:
        self.time_unit_ = state["time_unit"]
        self.horizon_days_ = int(state["horizon_days"])
        self.feature_columns_ = list(state["feature_columns"])
        self.categories_ = {k: list(v) for k, v in state["categories"].items()}
        self.level_factors_ = {k: float(v) for k, v in state["level_factors"].items()}
        self.group_level_factors_ = {
            str(g): {k: float(v) for k, v in parts.items()} for g, parts in state.get("group_level_factors", {}).items()
        }
        self.trained_distributed_ = bool(state.get("trained_distributed", False))
        self.boosters_ = {}
        for part, file_name in state["booster_files"].items():
            if "/" in file_name or file_name.startswith("."):
                raise ValueError(f"refusing booster file name {file_name!r}")
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
        group_column: str | None = None,
        seed: int = 0,
        nthread: int = 1,
    ) -> None:
        super().__init__(
            objective=objective, tweedie_variance_power=tweedie_variance_power, n_estimators=n_estimators,
            learning_rate=learning_rate, max_depth=max_depth, min_child_weight=min_child_weight,
            subsample=subsample, colsample_bytree=colsample_bytree, reg_lambda=reg_lambda, include_features=include_features,
            rate_features=rate_features, interval_n_estimators=interval_n_estimators, group_column=group_column,
            seed=seed, nthread=nthread,
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
        group_column: str | None = None,
        seed: int = 0,
        nthread: int = 1,
    ) -> None:
        """
        Args:
            anchor: ``"btyd_margin"``: boosters start from the BTYD forecast (log base margin)
                and learn a multiplicative correction; ``"btyd_total"``: that, then one factor per
                booster (and group) rescales its total over the examples to the BTYD total over
                them (the trees re-rank, BTYD sets the level); ``"none"``: BTYD outputs are plain
                features.
            btyd_max_penalizer: ``max_penalizer`` of the BTYD fits (see :mod:`ltv.models.btyd`).
            group_column: as for ``xgboost``; moreover one BTYD per group (per training cutoff
                and group for the examples), each fitted on that group's condensed patterns
                (``TrainingData.patterns`` then carries the group column).
            Others: as for ``xgboost``.
        """
        super().__init__(
            objective=objective, tweedie_variance_power=tweedie_variance_power, n_estimators=n_estimators,
            learning_rate=learning_rate, max_depth=max_depth, min_child_weight=min_child_weight,
            subsample=subsample, colsample_bytree=colsample_bytree, reg_lambda=reg_lambda, include_features=include_features,
            rate_features=rate_features, interval_n_estimators=interval_n_estimators, group_column=group_column,
            seed=seed, nthread=nthread,
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

    def _btyd_features_by_key(self, frame: pd.DataFrame, keys: np.ndarray, models: dict[str, BGNBDGammaGamma]) -> pd.DataFrame:
        """BTYD features of each row from the model of its key (positional, so any index works)."""
        out = np.zeros((len(frame), len(BTYD_FEATURES)))
        for key in pd.unique(keys):
            mask = keys == key
            part = self._btyd_features(models[key], frame.iloc[np.flatnonzero(mask)])
            out[mask] = part[list(BTYD_FEATURES)].to_numpy(dtype=float)
        return pd.DataFrame(out, columns=list(BTYD_FEATURES), index=frame.index)

    def _fit_scoring_extra(self, data: TrainingData) -> None:
        """The BTYD(s) of the snapshot to be scored, from ``data.patterns`` (per group with ``group_column``)."""
        if data.patterns is None or data.spend_patterns is None:
            raise ValueError(f"{self.name} needs TrainingData.patterns and spend_patterns (the snapshot it will score)")
        self.btyd_ = None
        self.btyd_by_group_: dict[str, BGNBDGammaGamma] = {}
        if not self.group_column:
            self.btyd_ = self._new_btyd().fit(data)
            return
        group = self.group_column
        for frame in (data.patterns, data.spend_patterns):
            if group not in frame.columns:
                raise ValueError(f"{self.name}: patterns need a {group!r} column for a model trained across groups")
        for level in self.categories_[group]:
            patterns = data.patterns[data.patterns[group].astype(str) == level].drop(columns=group)
            spend = data.spend_patterns[data.spend_patterns[group].astype(str) == level].drop(columns=group)
            if patterns.empty:
                raise ValueError(f"{self.name}: no patterns for {group} {level!r} in the snapshot it will score")
            subset = TrainingData(time_unit=data.time_unit, horizon_days=data.horizon_days, patterns=patterns, spend_patterns=spend)
            self.btyd_by_group_[level] = self._new_btyd().fit(subset)

    def _example_keys(self, columns: list[str]) -> list[str] | None:
        """One BTYD per training cutoff (``as_of``) and, with ``group_column``, per group."""
        keys = ["as_of"] if "as_of" in columns else []
        if self.group_column:
            keys.append(self.group_column)
        return keys

    def _fit_example_models(self, condensed: dict[str, TrainingData]) -> dict[str, BGNBDGammaGamma]:
        models = {}
        for key, subset in sorted(condensed.items()):
            models[key] = self._new_btyd().fit(subset)
            log.debug("%s: BTYD for examples %s: %s", self.name, key or "(all)", models[key].purchase_params_)
        return models

    def _example_extra(self, rows: pd.DataFrame, models: dict[str, Any], keys: list[str] | None) -> pd.DataFrame:
        return self._btyd_features_by_key(rows, example_key_values(rows, keys or []), models)

    def _example_model_states(self, models: dict[str, Any]) -> dict[str, Any]:
        return {key: model._get_state(Path(".")) for key, model in models.items()}

    def _example_models_from_states(self, states: dict[str, Any]) -> dict[str, Any]:
        models = {}
        for key, state in states.items():
            models[key] = self._new_btyd()
            models[key]._set_state(state, Path("."))
        return models

    def _predict_extra(self, features: pd.DataFrame) -> pd.DataFrame:
        if not self.group_column:
            return self._btyd_features(self.btyd_, features)
        return self._btyd_features_by_key(features, self._group_values(features), self.btyd_by_group_)

    def _margins(self, extra: pd.DataFrame) -> dict[str, np.ndarray | None]:
        if self.anchor == "none":
            return {"spend": None, "purchases": None}
        return {
            "spend": np.log(np.maximum(extra["btyd_ltv"].to_numpy(dtype=float), MARGIN_FLOOR)),
            "purchases": np.log(np.maximum(extra["btyd_purchases"].to_numpy(dtype=float), MARGIN_FLOOR)),
        }

    def _level_targets(self) -> dict[str, str]:
        """``anchor="btyd_total"``: booster totals rescaled to the BTYD totals over the examples."""
        if self.anchor != "btyd_total":
            return {}
        return {"spend": "btyd_ltv", "purchases": "btyd_purchases"}

    def _get_state(self, directory: Path) -> dict[str, Any]:
        state = super()._get_state(directory)
        if self.group_column:
            state["btyd_by_group"] = {g: b._get_state(directory) for g, b in self.btyd_by_group_.items()}
        else:
            state["btyd"] = self.btyd_._get_state(directory)
        return state

    def _set_state(self, state: dict[str, Any], directory: Path) -> None:
        super()._set_state(state, directory)
        self.btyd_ = None
        self.btyd_by_group_ = {}
        if "btyd" in state:
            self.btyd_ = self._new_btyd()
            self.btyd_._set_state(state["btyd"], directory)
        for group, sub in state.get("btyd_by_group", {}).items():
            self.btyd_by_group_[group] = self._new_btyd()
            self.btyd_by_group_[group]._set_state(sub, directory)


HISTORY = ("frequency", "recency", "T", "monetary_value")


def example_key_values(rows: pd.DataFrame, keys: list[str]) -> np.ndarray:
    """Each row's example key: its ``keys`` values as strings joined by ``|`` ("" without keys)."""
    if not keys:
        return np.full(len(rows), "", dtype=object)
    joined = rows[keys[0]].astype(str)
    for key in keys[1:]:
        joined = joined + "|" + rows[key].astype(str)
    return joined.to_numpy(dtype=object)


def condensed_by_key(patterns: pd.DataFrame, spend_patterns: pd.DataFrame, keys: list[str], time_unit: str,
                     horizon_days: int) -> dict[str, TrainingData]:
    """Split condensed patterns carrying ``keys`` columns into one BTYD ``TrainingData`` per key."""
    pattern_keys = example_key_values(patterns, keys)
    spend_keys = example_key_values(spend_patterns, keys)
    out = {}
    for key in pd.unique(pattern_keys):
        out[key] = TrainingData(
            time_unit=time_unit, horizon_days=horizon_days,
            patterns=patterns.loc[pattern_keys == key, ["frequency", "recency", "T", "weight"]].reset_index(drop=True),
            spend_patterns=spend_patterns.loc[spend_keys == key, ["frequency", "monetary_value", "weight"]].reset_index(drop=True),
        )
    return out


def condense_examples_local(rows: pd.DataFrame, keys: list[str], time_unit: str, horizon_days: int) -> dict[str, TrainingData]:
    """Condensed BTYD inputs (patterns + spend patterns, with weights) per example key, from pandas rows."""
    history = rows[list(HISTORY)].apply(pd.to_numeric, errors="coerce").fillna(0.0)
    for key in keys:
        history[key] = rows[key].astype(str).to_numpy()
    patterns = history.groupby([*keys, "frequency", "recency", "T"]).size().rename("weight").reset_index()
    buyers = history[(history["frequency"] > 0) & (history["monetary_value"] > 0)]
    spend_patterns = buyers.groupby([*keys, "frequency", "monetary_value"]).size().rename("weight").reset_index()
    return condensed_by_key(patterns, spend_patterns, keys, time_unit, horizon_days)


def _btyd_training_data(rows: pd.DataFrame, time_unit: str, horizon_days: int) -> TrainingData:
    """Condensed BTYD inputs of one cutoff's example rows (all rows one key)."""
    return condense_examples_local(rows, [], time_unit, horizon_days)[""]


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
