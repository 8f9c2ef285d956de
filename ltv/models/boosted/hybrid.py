"""``hybrid``: the boosted model on top of BG/NBD + Gamma-Gamma, anchored to the BTYD's level.

The same three boosters as ``xgboost`` (:mod:`ltv.models.boosted.boosters`) plus a BG/NBD +
Gamma-Gamma model ([FHL05], [N025]; see :mod:`ltv.models.btyd`) whose outputs are extra
features: ``btyd_purchases``, ``btyd_p_alive`` and ``btyd_ltv`` (expected spend over the
horizon). For the examples one BTYD is fitted per training cutoff (``examples["as_of"]``) on that
cutoff's condensed (frequency, recency, T) patterns; at predict time the BTYD fitted on
``TrainingData.patterns`` / ``spend_patterns`` (the snapshot being scored) is used and its
parameters are stored in the state.

Anchors. With ``anchor="btyd_margin"`` the BTYD forecast is also the boosters' starting point:
``base_margin = log(btyd_ltv)`` (``log(btyd_purchases)`` for purchases), so the trees learn a
multiplicative correction of the BTYD forecast. With ``anchor="btyd_total"`` (default) the
corrected forecast is moreover rescaled by one *level factor* fixed at fit,
``sum(btyd_ltv) / sum(corrected)`` over the customers it is fitted to score
(``TrainingData.population``: the fit cutoff's snapshot; the examples when it is not given):
the trees re-rank customers, the level is
BTYD's (a NET level: the BTYDs carry the refund share of their snapshot). Why: a booster trained on one window carries that window's level (season, cohort age)
into the forecast (a plain XGBoost: about +49% aggregate bias on CDNOW at 1997-12-31, -40% at
1997-09-30) while BG/NBD+GG stays within a few percent. ``p_alive`` is the BTYD's.

Across business lines (``group_column``): one BTYD per line (and per line and cutoff for the
examples) and, with ``anchor="btyd_total"``, one level factor per line, so each line's level
stays its own BTYD's.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ltv.models.base import TrainingData
from ltv.models.boosted.boosters import _BoostedLTV
from ltv.models.boosted.condense import example_key_values
from ltv.models.boosted.level import local_totals
from ltv.models.btyd import BGNBDGammaGamma

log = logging.getLogger(__name__)

BTYD_FEATURES = ("btyd_purchases", "btyd_p_alive", "btyd_ltv")
ANCHORS = ("btyd_total", "btyd_margin", "none")
#: floor under BTYD forecasts before taking logs for the base margin (currency / purchases)
MARGIN_FLOOR = 1e-3


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
        return BGNBDGammaGamma(max_penalizer=self.btyd_max_penalizer)

    def _btyd_features(self, btyd: BGNBDGammaGamma, frame: pd.DataFrame) -> pd.DataFrame:
        out = btyd.expected(frame, self.horizon_days_)
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
        if data.refunds is not None and group not in data.refunds.columns:
            raise ValueError(f"{self.name}: refunds need a {group!r} column for a model trained across groups")
        for level in self.categories_[group]:
            patterns = data.patterns[data.patterns[group].astype(str) == level].drop(columns=group)
            spend = data.spend_patterns[data.spend_patterns[group].astype(str) == level].drop(columns=group)
            refunds = (data.refunds[data.refunds[group].astype(str) == level].drop(columns=group)
                       if data.refunds is not None else None)
            if patterns.empty:
                raise ValueError(f"{self.name}: no patterns for {group} {level!r} in the snapshot it will score")
            subset = TrainingData(time_unit=data.time_unit, horizon_days=data.horizon_days, patterns=patterns,
                                  spend_patterns=spend, refunds=refunds)
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

    def spend_shares(self, features: pd.DataFrame, horizon_days: int, edges_days: np.ndarray) -> np.ndarray:
        """The expected purchase path of the BTYD this model is anchored to (per group when trained
        across groups): the boosters set how much, the BTYD when."""
        self._check_fitted()
        if not self.group_column:
            return self.btyd_.spend_shares(features, horizon_days, edges_days)
        keys = self._group_values(features)
        shares = np.zeros((len(features), len(edges_days) - 1))
        for key in pd.unique(keys):
            rows = np.flatnonzero(keys == key)
            shares[rows] = self.btyd_by_group_[key].spend_shares(features.iloc[rows], horizon_days, edges_days)
        return shares

    def _margins(self, extra: pd.DataFrame) -> dict[str, np.ndarray | None]:
        if self.anchor == "none":
            return {"spend": None, "purchases": None}
        return {
            "spend": np.log(np.maximum(extra["btyd_ltv"].to_numpy(dtype=float), MARGIN_FLOOR)),
            "purchases": np.log(np.maximum(extra["btyd_purchases"].to_numpy(dtype=float), MARGIN_FLOOR)),
        }

    def _level_targets(self) -> dict[str, str]:
        """``anchor="btyd_total"``: booster totals rescaled to the BTYD totals (over the population
        it is fitted to score, else the examples); otherwise the boosters' own level, made net as
        for ``xgboost``."""
        if self.anchor != "btyd_total":
            return super()._level_targets()
        return {"spend": "btyd_ltv", "purchases": "btyd_purchases"}

    def _population_totals(self, data: TrainingData) -> pd.DataFrame | None:
        """``anchor="btyd_total"`` with ``data.population``: the boosters' and the scoring BTYD's
        totals over the customers the model is fitted to score (per group), so the forecast's
        total there is the BTYD's; None (the examples' totals are used) without a population."""
        targets = self._level_targets()
        if self.anchor != "btyd_total" or data.population is None or data.population.empty:
            return None
        population = data.population.reset_index(drop=True)
        self._check_groups(population)
        extra = self._predict_extra(population)
        totals = local_totals(self.boosters_, targets, self._design(population, extra), self._margins(extra),
                              self._group_values(population), {t: extra[t].to_numpy(dtype=float) for t in targets.values()})
        log.info("%s: level set on the %d customers it is fitted to score", self.name, len(population))
        return totals

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
