"""Supervised gradient-boosting models: the shared machinery and ``xgboost`` (``hybrid``: :mod:`.hybrid`).

Both boosted models learn from ``TrainingData.examples`` (one row per customer and training
cutoff, features at the cutoff, ``label_spend`` = net spend in the ``horizon_days`` after it)
and are trained for exactly that horizon (``horizon_days_``).

``xgboost``
    Three boosters on ``TrainingData.feature_columns``:

    * spend: ``reg:tweedie`` (log link, ``tweedie_variance_power`` in (1, 2): a point mass at
      zero plus a heavy right tail, which is what horizon spend looks like). Tweedie needs labels
      >= 0, so it learns ``label_spend`` floored at 0 (a customer whose refunds outweigh the
      window's purchases counts as 0) and its forecast is made NET by the factor
      ``net_factor_ = sum(label_spend) / sum(floored label)`` over the examples (the refunds'
      share of the level; the booster keeps its own level otherwise); ``objective="squared_error"``
      switches to ``reg:squarederror`` on the raw net label (factor 1), for comparison;
    * purchases: ``count:poisson`` on ``label_purchases`` -> ``predicted_purchases``;
    * buy: ``reg:logistic`` on ``label_purchases > 0`` -> ``prob_purchase`` (added in 0.4);
    * interval: one multi-quantile booster (``reg:quantileerror``, ``quantile_alpha`` =
      [0.1, 0.5, 0.9]; [0.1, 0.9] before 0.4, whose models give no p50) on the raw net label ->
      p10/p50/p90 (sorted per row: crossing quantiles are rearranged), bounded below by the lowest
      label seen at fit (``interval_floor_``, 0 unless some customer's refunds outweighed their
      purchases): quantile trees add up leaf values and can step below the labels' support, where
      no quantile of the spend can lie. The quantiles follow the point forecast's level: they are
      multiplied by the spend booster's level factor without the net factor (hybrid: its total set
      to its BTYD's; xgboost: 1, as the quantiles learn the net label); models saved before 0.4
      give their quantiles as learned (``quantiles_follow_level_`` False).

    ``p_alive`` is None (no notion of churn).

Inputs: categorical columns with the levels seen at fit, optional age-free rate features (see
:mod:`ltv.models.boosted.encoding`), plus whatever extra columns a subclass adds (``hybrid``:
the BTYD forecasts).

Horizon: the boosters forecast ``horizon_days_``. ``predict`` for another horizon scales every
output linearly (``horizon_days / horizon_days_``) and logs a warning: a crude approximation
(it ignores churn, which makes spend grow less than linearly); retrain for that horizon instead.

Persistence: each booster is written with XGBoost's own JSON format (``save_model("*.json")``)
into the save directory; ``model.json`` holds their file names, the feature list, category
levels, horizon, level factors and (hybrid) the BTYD fit. Nothing is pickled.

Scale: below the line's ``distributed_min_rows`` training examples (config; default 1M) the
boosters train on the driver from ``TrainingData.examples``; above it
:mod:`ltv.training.data` leaves the examples in Spark (``TrainingData.example_frame``) and all
three boosters -- the p10/p90 quantile booster included -- train with ``xgboost.spark``
(:mod:`ltv.models.boosted.distributed`), which yields the same XGBoost JSON boosters, so predict
/ save / load are identical. Training is deterministic on the driver: fixed ``seed``,
``nthread`` threads, ``hist`` trees, examples in a fixed order.

Across business lines (``group_column="business_line"``, the consolidated model of
:mod:`ltv.training.consolidated`): the line is a categorical input (and, for ``hybrid``, one
BTYD and one level factor per line). Predicting a line the model was not trained on is an error
naming the lines it knows.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import xgboost as xgb

from ltv.models.base import DAYS_PER_UNIT, LTVModel, TrainingData
from ltv.models.boosted import encoding
from ltv.models.boosted.condense import condense_examples_local
from ltv.models.boosted.distributed import fit_distributed
from ltv.models.boosted.level import level_factors, local_totals, net_factor, row_factors
from ltv.models.boosted.params import OBJECTIVES, QUANTILES, booster_params
from ltv.models.boosted.persist import booster_state, restore_booster_state

log = logging.getLogger(__name__)

BOOSTER_FILES = {"spend": "xgb_spend.json", "purchases": "xgb_purchases.json", "buy": "xgb_buy.json",
                 "interval": "xgb_interval.json"}


class _BoostedLTV(LTVModel):
    """Shared fit / predict / persistence of the boosted models; ``hybrid`` adds BTYD features."""

    family: ClassVar[str] = "ml"
    needs_examples: ClassVar[bool] = True
    calibrates_quantiles: ClassVar[bool] = True

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
            rate_features: add the age-free ratios of
                :func:`~ltv.models.boosted.encoding.rate_features` (spend and purchase days per
                day of tenure, recency / T) to the inputs.
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
        """Per example key (:func:`~ltv.models.boosted.condense.example_key_values`): its fitted extra-feature model."""
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
        (per group with ``group_column``); empty = no rescaling (here: the boosters keep their own
        level, made net by :attr:`net_factor_`)."""
        return {}

    def _check_params(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"{self.name}: objective {self.objective!r} unknown; use one of {sorted(OBJECTIVES)}")
        if not 1.0 < float(self.tweedie_variance_power) < 2.0:
            raise ValueError(f"{self.name}: tweedie_variance_power must be in (1, 2), got {self.tweedie_variance_power}")

    def _booster_params(self, part: str) -> tuple[dict[str, Any], int]:
        """(XGBoost parameters, boosting rounds) of booster ``part`` (see :data:`BOOSTER_FILES`)."""
        return booster_params(self, part)

    def _targets(self, examples: pd.DataFrame) -> dict[str, np.ndarray]:
        """Per booster: its training label (spend floored at 0 under Tweedie, see :meth:`_level_targets`;
        purchases >= 0; buy: whether any purchase; the interval booster learns the raw net spend)."""
        net = encoding.finite_column(examples, "label_spend", self.name)
        purchases = encoding.finite_column(examples, "label_purchases", self.name)
        if (purchases < 0).any():
            raise ValueError(f"{self.name}: label_purchases < 0 in {int((purchases < 0).sum())} of {len(purchases)} examples")
        spend = np.maximum(net, 0.0) if self.objective == "tweedie" else net
        return {"spend": spend, "purchases": purchases, "buy": (purchases > 0).astype(float), "interval": net}

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
        self.quantiles_ = list(QUANTILES)
        self.quantiles_follow_level_ = True
        self.categories_ = {c: levels(c) for c in inputs if not is_numeric(c)}
        if self.group_column and not self.categories_.get(self.group_column):
            raise ValueError(f"{self.name}: group column {self.group_column!r} must be a non-empty categorical (string) column")

    def fit(self, data: TrainingData) -> _BoostedLTV:
        """Fit the spend, purchase and interval boosters on the examples (see module docstring).

        ``data.example_frame`` set (a Spark DataFrame too large for the driver): trained on the
        cluster with ``xgboost.spark`` (:mod:`ltv.models.boosted.distributed`); otherwise on the driver
        from ``data.examples``. Both store the same XGBoost JSON boosters.
        """
        if data.example_frame is not None:
            return fit_distributed(self, data)
        examples = data.examples
        if examples is None or examples.empty:
            self._check_params()
            raise ValueError(f"{self.name} needs TrainingData.examples (features + label_spend + label_purchases)")
        self._check_data(data, list(examples.columns))
        self._start_fit(
            data, list(examples.columns),
            is_numeric=lambda c: encoding.is_numeric(examples[c]), levels=lambda c: encoding.category_levels(examples[c]),
        )
        extra = self._fit_extra(data, examples)
        matrix = self._design(examples, extra)
        margins = self._margins(extra)
        targets = self._targets(examples)
        self.boosters_ = {}
        for part in BOOSTER_FILES:
            params, rounds = self._booster_params(part)
            self.boosters_[part] = self._train(params, matrix, targets[part], margins.get(part), rounds)
        self.interval_floor_ = min(0.0, float(targets["interval"].min()))
        self.net_factor_ = self._net_factor(float(targets["interval"].sum()), float(targets["spend"].sum()))
        population = self._population_totals(data)
        self._set_level_factors(population if population is not None else self._local_totals(examples, matrix, extra, margins))
        return self

    def _fit_extra(self, data: TrainingData, examples: pd.DataFrame) -> pd.DataFrame:
        """Extra feature columns of the examples; fits the scoring and per-key extra models."""
        self._fit_scoring_extra(data)
        keys = self._example_keys(list(examples.columns))
        if keys is None:
            return pd.DataFrame(index=examples.index)
        condensed = condense_examples_local(examples, keys, data.time_unit, data.horizon_days)
        return self._example_extra(examples, self._fit_example_models(condensed), keys)

    def _population_totals(self, data: TrainingData) -> pd.DataFrame | None:
        """Level totals on ``data.population`` (the customers it is fitted to score) instead of the
        examples, for level targets that need no label (hybrid's BTYD); None here: labels are needed."""
        return None

    def _local_totals(self, examples: pd.DataFrame, matrix: pd.DataFrame, extra: pd.DataFrame, margins: dict) -> pd.DataFrame | None:
        """Per group: boosters' total forecast and the level target columns' total over the examples."""
        targets = self._level_targets()
        return local_totals(self.boosters_, targets, matrix, margins, self._group_values(examples),
                            {t: encoding.finite_column(extra, t, self.name) for t in targets.values()})

    def _group_values(self, frame: pd.DataFrame) -> np.ndarray:
        """Each row's group as a string ("" for all rows without ``group_column``)."""
        return encoding.group_values(frame, self.group_column)

    def _set_level_factors(self, totals: pd.DataFrame | None) -> None:
        """``level_factors_`` (all rows) and ``group_level_factors_`` (per group) from per-group
        totals of the boosters and their level targets (:func:`~ltv.models.boosted.level.level_factors`);
        a spend booster without a level target keeps its level, times :attr:`net_factor_`."""
        targets = self._level_targets()
        self.level_factors_, self.group_level_factors_ = level_factors(totals, targets, self.name, self.group_column)
        if "spend" not in targets:
            net = float(getattr(self, "net_factor_", 1.0))
            self.level_factors_["spend"] *= net
            for parts in self.group_level_factors_.values():
                parts["spend"] *= net

    def _net_factor(self, net_total: float, trained_total: float) -> float:
        return net_factor(net_total, trained_total, self.name)

    def _row_factors(self, features: pd.DataFrame, part: str) -> np.ndarray | float:
        return row_factors(self.level_factors_, self.group_level_factors_, self._group_values(features), part)

    @staticmethod
    def _train(params: dict[str, Any], matrix: pd.DataFrame, label: np.ndarray, margin, rounds: int) -> xgb.Booster:
        dmatrix = xgb.DMatrix(matrix, label=label, base_margin=margin, enable_categorical=True)
        return xgb.train(params, dmatrix, num_boost_round=rounds)

    def _design(self, frame: pd.DataFrame, extra: pd.DataFrame) -> pd.DataFrame:
        """The boosters' input: recorded feature columns (numeric -> float, categorical with the fit's levels) + extras."""
        return encoding.design_matrix(frame, self.feature_columns_, self.categories_, self.rate_features, extra, self.name)

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
        levels = tuple(self.quantiles_)
        raw = run("interval").reshape(len(matrix), len(levels)).astype(float)
        quantiles = np.sort(np.maximum(raw, self.interval_floor_), axis=1) * self._quantile_factors(features)
        buy = run("buy").astype(float) if "buy" in self.boosters_ else np.full(len(matrix), np.nan)
        scale = 1.0
        if horizon_days != self.horizon_days_:
            scale = horizon_days / self.horizon_days_
            log.warning(
                "%s was trained for a %d-day horizon; predicting %d days by linear scaling (x%.3f; "
                "P(no purchase) to the power %.3f), which ignores churn inside the horizon: retrain for this "
                "horizon for a real forecast", self.name, self.horizon_days_, horizon_days, scale, scale,
            )
        p_alive = extra["btyd_p_alive"].to_numpy(dtype=float) if "btyd_p_alive" in extra.columns else None
        column = {level: quantiles[:, j] * scale for j, level in enumerate(levels)}
        return pd.DataFrame(
            {
                "predicted_ltv": ltv * scale,
                "predicted_ltv_p10": column[0.1],
                "predicted_ltv_p90": column[0.9],
                "predicted_purchases": purchases * scale,
                "p_alive": p_alive,
                "predicted_ltv_p50": column.get(0.5, np.full(len(matrix), np.nan)),
                "prob_purchase": -np.expm1(scale * np.log1p(-buy)) if scale != 1.0 else buy,
            }
        )

    def dispersion_power(self) -> float:
        """The spend booster's Tweedie power; 0 (a constant variance) for the squared-error objective."""
        return float(self.tweedie_variance_power) if self.objective == "tweedie" else 0.0

    def _quantile_factors(self, features: pd.DataFrame) -> np.ndarray:
        """Per row, the spend booster's level factor without the net factor (see the module docstring)."""
        spend = np.asarray(self._row_factors(features, "spend"), dtype=float)
        if "spend" in self._level_targets() and self.quantiles_follow_level_:
            return spend[:, None] if spend.ndim else np.full((len(features), 1), float(spend))
        return np.ones((len(features), 1))

    def _check_groups(self, features: pd.DataFrame) -> None:
        """A model trained across groups predicts only groups it was trained on (named in the error)."""
        if self.group_column:
            encoding.check_groups(features, self.group_column, self.categories_.get(self.group_column, []), self.name)

    def feature_importance(self, importance_type: str = "total_gain") -> pd.Series:
        """Spend booster's importance per input column (0 for columns never split on)."""
        self._check_fitted()
        scores = self.boosters_["spend"].get_score(importance_type=importance_type)
        names = self.boosters_["spend"].feature_names or []
        return pd.Series({n: float(scores.get(n, 0.0)) for n in names}).sort_values(ascending=False)

    # -- persistence (ltv.models.boosted.persist) ---------------------------------------------------
    def _get_state(self, directory: Path) -> dict[str, Any]:
        return booster_state(self, directory, BOOSTER_FILES)

    def _set_state(self, state: dict[str, Any], directory: Path) -> None:
        restore_booster_state(self, state, directory)


class XGBoostLTV(_BoostedLTV):
    """Gradient-boosted horizon spend (Tweedie), purchases (Poisson) and p10/p90 (quantile).

    Hyperparameters: those of :class:`_BoostedLTV` (its constructor is this model's).
    """

    name: ClassVar[str] = "xgboost"
