"""``docs/tables.md``: every lake table, from the ``TableSpec``s of ``ltv/`` and ``ltv.features.schema``."""
from __future__ import annotations

import importlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .markdown import banner, code_list, prose, table

REPO = Path(__file__).resolve().parents[2]
# Tables in the order data flows through them; tables not listed here follow, by name.
FLOW_ORDER = ("transactions", "transactions_quarantine", "customers", "customer_features", "customer_ltv",
              "pipeline_runs")
# Placeholder window length, rendered as <N> (window columns are built by ltv.features.schema).
_WINDOW_SENTINEL = 987654


def table_modules() -> list[str]:
    """Modules under ``ltv/`` that define a ``TableSpec`` (importing one registers its tables)."""
    found = []
    for path in sorted((REPO / "ltv").rglob("*.py")):
        rel = path.relative_to(REPO).with_suffix("")
        if rel.parts[-1] == "__init__" or rel.as_posix() == "ltv/lake/tables":
            continue
        if "TableSpec(" in path.read_text(encoding="utf-8"):
            found.append(".".join(rel.parts))
    return found


def lake_tables() -> list[Any]:
    """Every registered ``TableSpec``, in flow order."""
    from ltv.lake import tables

    for module in table_modules():
        importlib.import_module(module)
    specs = dict(tables.TABLES)
    ordered = [specs.pop(name) for name in FLOW_ORDER if name in specs]
    return ordered + [specs[name] for name in sorted(specs)]


def _columns(fields: Iterable[Any]) -> str:
    fields = list(fields)
    comments = [(f.metadata or {}).get("comment", "") for f in fields]
    rows = [(f"`{f.name}`", f"`{f.dataType.simpleString()}`", "yes" if f.nullable else "no") for f in fields]
    if any(comments):  # a StructField's metadata {"comment": ...} is shown when the code gives one
        return table(["column", "type", "nullable", "comment"], [(*r, c) for r, c in zip(rows, comments)])
    return table(["column", "type", "nullable"], rows)


def feature_columns_section() -> str:
    """The config-dependent columns of ``customer_features``, from :mod:`ltv.features.schema`."""
    from ltv.config import LTVConfig
    from ltv.features import schema

    windows = LTVConfig().features.windows_days
    pattern = [
        type(f)(f.name.replace(str(_WINDOW_SENTINEL), "<N>"), f.dataType, f.nullable)
        for f in schema.window_columns([_WINDOW_SENTINEL])
    ]
    attrs = [(kind, schema.attribute_field("<name>", kind)) for kind in ("categorical", "numeric", "date")]
    out = [
        "**Columns that follow the config** (the table has an open schema: Delta adds these columns on "
        "write).\n\n",
        f"Trailing windows, one pair per entry `N` of `features.windows_days` (default "
        f"`{json.dumps(windows)}`):\n\n",
        _columns(pattern),
        f"\nWith the default config the window columns are {code_list(f.name for f in schema.window_columns(windows))}.\n",
        "\nCustomer attributes from the `customers` table (`features.attributes`; default: every attribute "
        "column, typed by its data), one column each:\n\n",
        table(["attribute kind", "column", "type", "nullable"],
               [(kind, f"`{f.name}`", f"`{f.dataType.simpleString()}`", "yes" if f.nullable else "no")
                for kind, f in attrs]),
        "\nA date attribute becomes the number of days from the date to `as_of`. `frequency`, `recency` and "
        "`T` are in the snapshot's `time_unit` (`features.time_unit`: `days`, or `weeks` counted as pandas "
        "`W-SUN` periods like lifetimes); every `*_days` column is in days; money is in the currency of "
        "`transactions.amount`.\n",
    ]
    return "".join(out)


def render_tables(specs: Iterable[Any], feature_notes: str | None = None) -> str:
    """``docs/tables.md`` for ``specs`` (``TableSpec``s); ``feature_notes`` is added under ``customer_features``."""
    specs = list(specs)
    out = [
        "# Lake tables\n\n",
        banner("ltv/lake/tables.py, ltv/features/schema.py and every other TableSpec under ltv/"),
        "\nEvery table is a Delta table in the folder `<lake>/<table name>` (lake: `--lake DIR`, `$LTV_LAKE`, "
        "`lake:` in `ltv.yaml`, default `./lake`). Any Delta reader can read them without `ltv` "
        "(Spark: `spark.read.format(\"delta\").load(\"lake/customer_ltv\")`; pandas: "
        "`deltalake.DeltaTable(\"lake/customer_ltv\").to_pandas()`). Writes check the schema below: a "
        "write with another type fails instead of changing the table. Types are Spark SQL types "
        "(`bigint` = 64-bit integer, `int` = 32-bit, `timestamp` = UTC instant).\n\n",
        "What the columns mean for consumers, and what may change between releases: "
        "[contract.md](contract.md).\n\n",
        table(["table", "key", "partitioned by", "description"],
               [(f"[`{s.name}`](#{s.name})", code_list(s.key), code_list(s.partition_by), s.description)
                for s in specs]),
    ]
    for spec in specs:
        out.append(f"\n## {spec.name}\n\n{prose(spec.description)}\n\n")
        facts = [
            ("path", f"`<lake>/{spec.name}`"),
            ("key", code_list(spec.key)),
            ("partitioned by", code_list(spec.partition_by)),
            ("table properties", code_list(f"{k}={v}" for k, v in sorted(spec.properties.items()))),
            ("schema", "open: the columns below are fixed, other columns may be added" if spec.open_schema
             else "fixed: exactly the columns below"),
        ]
        out.append("".join(f"* {name}: {value}\n" for name, value in facts))
        out.append("\n" + _columns(spec.schema.fields))
        if spec.name == "customer_features" and feature_notes:
            out.append("\n" + feature_notes)
        if spec.name == "customers" and spec.open_schema:
            out.append("\nAttribute columns follow the input file (`ltv ingest FILE --table customers`): numbers "
                       "become `double`, ISO dates `date`, everything else `string`. A new attribute column "
                       "extends the table.\n")
    return "".join(out)
