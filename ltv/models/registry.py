"""Model registry by name: the built-in models, plus any a user adds with :func:`register`.

Adding a built-in model is one module plus one entry in :data:`BUILTIN_MODELS`. The registry
imports the model modules; they never import it, so the models sit below the registry in the
import graph (the diagnostic ``shuffled`` model, which looks its inner model up by name, sits
above it and registers itself; :mod:`ltv.models` imports it).

It maps names (``baseline``, ``bgnbd_gg``, ``pareto_gg``, ``xgboost``, ``hybrid``, ``shuffled``)
to classes and loads a saved model by the name recorded in its ``model.json``
(:func:`load_model`).

(Not to be confused with the MLflow model registry, which tracks fitted *versions*.)
"""
from __future__ import annotations

from pathlib import Path

from ltv.models.base import LTVModel, install_loader, read_document
from ltv.models.baseline import RecentSpendBaseline
from ltv.models.boosted.boosters import XGBoostLTV
from ltv.models.boosted.hybrid import HybridLTV
from ltv.models.btyd.model import BGNBDGammaGamma, ParetoNBDGammaGamma

#: The models every ltv installation has, registered when this module is imported.
BUILTIN_MODELS: tuple[type[LTVModel], ...] = (
    RecentSpendBaseline, BGNBDGammaGamma, ParetoNBDGammaGamma, XGBoostLTV, HybridLTV,
)
_MODELS: dict[str, type[LTVModel]] = {}


def register(cls: type[LTVModel]) -> type[LTVModel]:
    """Make ``cls`` available under ``cls.name`` (usable as a class decorator); returns ``cls``."""
    if not cls.name:
        raise TypeError(f"{cls.__name__} has no name")
    existing = _MODELS.get(cls.name)
    if existing is not None and existing is not cls:
        raise ValueError(f"model name {cls.name!r} already registered by {existing.__name__}")
    cls._param_names()  # fail early on **kwargs constructors
    _MODELS[cls.name] = cls
    return cls


def get_model_class(name: str) -> type[LTVModel]:
    try:
        return _MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; registered: {available_models()}") from None


def available_models() -> list[str]:
    return sorted(_MODELS)


def default_candidates() -> list[str]:
    """Models ``ltv train`` tries when none are configured (diagnostic models excluded)."""
    return [name for name in available_models() if _MODELS[name].default_candidate]


def create_model(name: str, **params) -> LTVModel:
    """Instantiate a registered model with hyperparameters (those older releases had are dropped)."""
    return get_model_class(name).from_params(params)


def load_model(directory: str | Path) -> LTVModel:
    """Rebuild the fitted model saved in ``directory`` (by :meth:`LTVModel.save`), whatever its class.

    The class is the registered one named in ``model.json``; the state is JSON only, so loading
    runs no stored code. Models saved by ltv 0.1 load unchanged.
    """
    document = read_document(directory)
    return get_model_class(document["model"]).from_document(document, Path(directory))


for _builtin in BUILTIN_MODELS:
    register(_builtin)
install_loader(load_model)  # the deprecated LTVModel.load(directory) on the base class
