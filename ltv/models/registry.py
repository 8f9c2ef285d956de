"""Model registry by name: adding a model is one module plus one ``@register`` line.

It maps names (``baseline``, ``bgnbd_gg``, ``pareto_gg``, ``xgboost``, ``hybrid``, ``shuffled``)
to classes and loads a saved model by the name recorded in its ``model.json``
(:func:`load_model`).

(Not to be confused with the MLflow model registry, which tracks fitted *versions*.)
"""
from __future__ import annotations

import importlib
from pathlib import Path

from ltv.models.base import LTVModel, install_loader, read_document

_MODELS: dict[str, type[LTVModel]] = {}

# Modules whose import registers the built-in models.
BUILTIN_MODULES = (
    "ltv.models.baseline",
    "ltv.models.btyd.model",
    "ltv.models.boosted.boosters",
    "ltv.models.boosted.hybrid",
    "ltv.models.diagnostics",
)


def register(cls: type[LTVModel]) -> type[LTVModel]:
    """Class decorator: make ``cls`` available under ``cls.name``."""
    if not cls.name:
        raise TypeError(f"{cls.__name__} has no name")
    existing = _MODELS.get(cls.name)
    if existing is not None and existing is not cls:
        raise ValueError(f"model name {cls.name!r} already registered by {existing.__name__}")
    cls._param_names()  # fail early on **kwargs constructors
    _MODELS[cls.name] = cls
    return cls


def _load_builtins() -> None:
    for module in BUILTIN_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # a real missing dependency, not a not-yet-written module
                raise


def get_model_class(name: str) -> type[LTVModel]:
    _load_builtins()
    try:
        return _MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; registered: {available_models()}") from None


def available_models() -> list[str]:
    _load_builtins()
    return sorted(_MODELS)


def default_candidates() -> list[str]:
    """Models ``ltv train`` tries when none are configured (diagnostic models excluded)."""
    return [name for name in available_models() if _MODELS[name].default_candidate]


def create_model(name: str, **params) -> LTVModel:
    """Instantiate a registered model with hyperparameters."""
    return get_model_class(name)(**params)


def load_model(directory: str | Path) -> LTVModel:
    """Rebuild the fitted model saved in ``directory`` (by :meth:`LTVModel.save`), whatever its class.

    The class is the registered one named in ``model.json``; the state is JSON only, so loading
    runs no stored code. Models saved by ltv 0.1 load unchanged.
    """
    document = read_document(directory)
    return get_model_class(document["model"]).from_document(document, Path(directory))


install_loader(load_model)  # the deprecated LTVModel.load(directory) on the base class
