"""Model registry by name: adding a model is one module plus one ``@register`` line.

(Not to be confused with the MLflow model registry, which tracks fitted *versions*.)
"""
from __future__ import annotations

import importlib

from ltv.models.base import LTVModel

_MODELS: dict[str, type[LTVModel]] = {}

# Modules whose import registers the built-in models.
BUILTIN_MODULES = ("ltv.models.baseline", "ltv.models.btyd", "ltv.models.xgb", "ltv.models.diagnostics")


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
