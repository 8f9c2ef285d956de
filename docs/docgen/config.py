"""``docs/config.md``: every ``ltv.yaml`` key, from the pydantic models of ``ltv.config``."""
from __future__ import annotations

import json
import re
import types
import typing
from typing import Any, TypeGuard

from pydantic import BaseModel

from .markdown import banner, table


# What a key means, for keys whose pydantic Field has no description yet (the code's description
# wins when there is one). tests/unit/test_docs.py checks every key here exists in LTVConfig.
KEY_NOTES: dict[str, str] = {
    "lake": "lake folder or URI; `--lake` and `$LTV_LAKE` take precedence; null = `./lake`",
    "spark.master": "Spark master; `--master` takes precedence; null = what spark-submit gave, else `local[*]`",
    "spark.shuffle_partitions": "`spark.sql.shuffle.partitions` of sessions ltv starts",
    "spark.driver_memory": "`spark.driver.memory` of sessions ltv starts",
    "spark.conf": "any other Spark or Hadoop setting, e.g. `{spark.executor.memory: 8g}`",
    "ingest.default_business_line": "business line of rows without a `business_line` column or value",
    "ingest.future_tolerance_seconds": "how far after the ingestion time an `event_ts` may be before the row is "
                                       "quarantined as `future_event_ts`",
    "ingest.csv_delimiter": "field separator of CSV input",
    "features.time_unit": "unit of `frequency`, `recency`, `T` in `customer_features`: `days`, or `weeks` "
                          "(pandas W-SUN, as in the CDNOW papers)",
    "features.windows_days": "trailing windows: one `spend_<N>d` and `purchase_days_<N>d` column each",
    "defaults": "modelling settings of every business line; `business_lines.<line>` overrides them per line",
    "defaults.candidates": "models to back-test; null = every default model (`baseline`, `bgnbd_gg`, "
                           "`pareto_gg`, `xgboost`, `hybrid`)",
    "defaults.horizon_days": "prediction window in days (`--horizon-days` overrides)",
    "defaults.time_unit": "unit the line's BTYD models count `frequency`/`recency`/`T` in (`days` or `weeks`)",
    "defaults.hyperparameters": "per model name, constructor keywords, e.g. `{hybrid: {n_estimators: 100}}`",
    "defaults.gate.primary_metric": "metric the gate ranks candidates by",
    "defaults.gate.min_improvement": "how much a candidate must beat the baseline and the champion by on the "
                                     "primary metric",
    "business_lines": "per business line, any `defaults` keys that differ for it; unset keys come from "
                      "`defaults`",
    "consolidated.enabled": "train one model across lines as well (each line's gate decides where it wins)",
    "pipeline.retrain_every_days": "`ltv run` retrains a line whose champion is this many days old",
    "pipeline.drift_threshold": "`ltv run` retrains a line when the PSI of any drift feature exceeds this",
    "pipeline.drift_features": "`customer_features` columns compared for drift",
    "pipeline.drift_bins": "quantile bins of the champion's training snapshot for the PSI",
}

_SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}

# Hand-written example; tests/unit/test_docs.py checks that it is a valid ltv.yaml.
EXAMPLE_YAML = """\
lake: /data/lake            # or --lake / LTV_LAKE
spark:
  master: local[*]          # or --master
  shuffle_partitions: 8
  driver_memory: 4g
  conf: {spark.executor.memory: 8g}
ingest:
  column_mapping: {cust: customer_id, ts: event_ts, amt: amount}
features:
  time_unit: days           # or weeks (CDNOW papers)
  windows_days: [30, 90, 365]
  attributes: {channel: categorical, age: numeric}
defaults:                   # every business line
  horizon_days: 365
  candidates: [baseline, bgnbd_gg, hybrid]
  hyperparameters: {hybrid: {n_estimators: 100}}
  discount_rate: 0.05       # annual, for discounted_ltv
  gate: {primary_metric: gini, max_abs_bias: 0.15, max_rmse_ratio: 1.05}
business_lines:             # per-line overrides of `defaults`
  music: {horizon_days: 91, time_unit: weeks}
consolidated: {enabled: true, candidates: [hybrid]}
pipeline: {retrain_every_days: 28, drift_threshold: 0.2}
"""


def _is_model(annotation: Any) -> TypeGuard[type[BaseModel]]:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _type_name(annotation: Any, nested: bool = False) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        text = " or ".join(f"`{a}`" for a in args)
        return f"({text})" if nested and len(args) > 1 else text
    if origin in (typing.Union, types.UnionType):
        text = " or ".join(_type_name(a, nested=True) for a in args)
        return f"({text})" if nested else text
    if origin is list:
        return f"list of {_type_name(args[0], nested=True)}" if args else "list"
    if origin is dict:
        return (f"map of {_type_name(args[0], nested=True)} to {_type_name(args[1], nested=True)}"
                if args else "map")
    if annotation is typing.Any:
        return "any"
    if _is_model(annotation):
        return "section"
    return _SCALARS.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _constraints(field: Any) -> str:
    words = []
    for item in field.metadata:
        for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            if getattr(item, attr, None) is not None:
                words.append(f"{sign} {getattr(item, attr)}")
        if getattr(item, "min_length", None) is not None:
            words.append(f"at least {item.min_length} item" + ("s" if item.min_length != 1 else ""))
    return ", ".join(words)


def _yaml_value(value: Any) -> str:
    if isinstance(value, str):
        return value if value else '""'
    return json.dumps(value)


def _from_code(text: str | None) -> str:
    """A description written in Python terms, in ltv.yaml terms (None is null there)."""
    return re.sub(r"\bNone\b", "null", text or "")


def _first_paragraph(doc: str | None) -> str:
    return " ".join((doc or "").strip().split("\n\n")[0].split())


def config_rows(model: type[BaseModel], prefix: str, notes: dict[str, str]) -> list[tuple[str, str, str, str]]:
    """(key, type, default, description) of every key of ``model``, nested sections depth first."""
    rows = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        annotation = field.annotation
        described = _from_code(field.description) or notes.get(key, "")
        if _is_model(annotation):
            rows.append((f"`{key}`", "section", "", described or _from_code(_first_paragraph(annotation.__doc__))))
            rows += config_rows(annotation, f"{key}.", notes)
            continue
        type_text = _type_name(annotation)
        limits = _constraints(field)
        if limits:
            type_text += f" ({limits})"
        default = field.get_default(call_default_factory=True)
        if typing.get_origin(annotation) is dict and _is_model(typing.get_args(annotation)[1]):
            inner = typing.get_args(annotation)[1]
            same_as = next((f"`{k}`" for k, f in model.model_fields.items() if f.annotation is inner), "a section")
            type_text = f"map of name to section (the keys of {same_as})"
        rows.append((f"`{key}`", type_text, f"`{_yaml_value(default)}`", described))
    return rows


def render_config(model: type[BaseModel] | None = None, notes: dict[str, str] | None = None) -> str:
    """``docs/config.md`` for ``model`` (default :class:`ltv.config.LTVConfig`)."""
    import yaml

    from ltv import config

    model = model or config.LTVConfig
    notes = KEY_NOTES if notes is None else notes
    full = yaml.safe_dump(model().model_dump(mode="json"), sort_keys=False, default_flow_style=False, width=100)
    out = [
        "# Configuration: `ltv.yaml`\n\n",
        banner("the pydantic models of ltv/config.py"),
        f"\nOptional. ltv reads `./{config.DEFAULT_CONFIG_FILE}` when it exists, or the file given with "
        "`--config FILE`; without one every key has the default below. Unknown keys are rejected (exit code "
        "2, naming the key), so a typo never falls back to a default silently. Business lines differ only "
        "in config: `business_lines.<line>` takes any key of `defaults`.\n\n",
        "Precedence for the lake: `--lake`, then `$LTV_LAKE`, then `lake:`, then `./lake`; for the Spark "
        "master: `--master`, then `spark.master`, then what spark-submit gave, then `local[*]`.\n\n",
        "## Keys\n\n",
        table(["key", "type", "default", "description"], config_rows(model, "", notes)),
        "\n## Every default, as a file\n\n`LTVConfig().model_dump()`: an `ltv.yaml` with these contents "
        "behaves exactly like no file.\n\n",
        f"```yaml\n{full}```\n",
        "\n## An example\n\n",
        f"```yaml\n{EXAMPLE_YAML}```\n",
    ]
    return "".join(out)
