"""Diagnostic models: deliberately uninformative candidates that check the evaluation is honest.

``shuffled`` fits a real model and then permutes its predictions across customers: the level
(and so the aggregate bias) stays right, the ranking is random. A back-test and gate that
work must rank it last on Gini and refuse to promote it. It is never a default candidate;
ask for it with ``--model shuffled``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ltv.models.base import LTVModel, TrainingData
from ltv.models.registry import get_model_class, register


@register
class ShuffledModel(LTVModel):
    """Predictions of ``inner`` randomly permuted across the rows of each batch (seeded)."""

    name: ClassVar[str] = "shuffled"
    family: ClassVar[str] = "diagnostic"
    default_candidate: ClassVar[bool] = False

    def __init__(self, inner: str = "bgnbd_gg", seed: int = 0) -> None:
        self.inner = inner
        self.seed = seed

    @property
    def needs_examples(self) -> bool:  # type: ignore[override]
        return get_model_class(self.inner).needs_examples

    def fit(self, data: TrainingData) -> ShuffledModel:
        self.inner_model_ = get_model_class(self.inner)().fit(data)
        return self

    def _predict(self, features: pd.DataFrame, horizon_days: int) -> pd.DataFrame:
        out = self.inner_model_.predict(features, horizon_days).reset_index(drop=True)
        order = np.random.default_rng(self.seed).permutation(len(out))
        return out.iloc[order].reset_index(drop=True)

    def _get_state(self, directory: Path) -> dict[str, Any]:
        return {"inner_params": self.inner_model_.get_params(), "inner_state": self.inner_model_._get_state(directory)}

    def _set_state(self, state: dict[str, Any], directory: Path) -> None:
        inner = get_model_class(self.inner).from_params(state["inner_params"])
        inner._set_state(state["inner_state"], directory)
        self.inner_model_ = inner
