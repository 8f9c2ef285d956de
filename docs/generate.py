"""Generate the reference pages of ``docs/`` from the code, or check that they are current.

    .venv/bin/python docs/generate.py            # (re)write docs/tables.md, docs/cli.md, docs/config.md
    .venv/bin/python docs/generate.py --check    # exit 1 with a diff when a committed page is stale

Sources, nothing else:

* ``docs/tables.md``: every lake table in :data:`ltv.lake.tables.TABLES` (every module under
  ``ltv/`` that defines a ``TableSpec`` is imported first, so tables registered elsewhere, such
  as ``customer_features`` and ``pipeline_runs``, are included), plus the config-dependent
  columns of ``customer_features`` from :mod:`ltv.features.schema` under the default config;
* ``docs/cli.md``: :func:`ltv.cli.build_parser`, walked through argparse's subparsers, and the
  exit codes of :mod:`ltv.errors`;
* ``docs/config.md``: the pydantic models of :mod:`ltv.config` (``LTVConfig`` and the models it
  nests), walked through ``model_fields``, and ``LTVConfig().model_dump()`` as a full ``ltv.yaml``.

The renderers are in ``docs/docgen/`` (one module per page). ``tests/unit/test_docs.py`` runs
:func:`generate` and fails when a page differs from its committed copy, so a schema, option or
config key cannot change without its doc.
"""
from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
if str(DOCS) not in sys.path:  # docgen/ sits next to this file, which is run as a script
    sys.path.insert(0, str(DOCS))

from docgen.cli import render_cli, subcommands  # noqa: E402
from docgen.config import EXAMPLE_YAML, KEY_NOTES, config_rows, render_config  # noqa: E402
from docgen.markdown import REGENERATE  # noqa: E402
from docgen.tables import feature_columns_section, lake_tables, render_tables, table_modules  # noqa: E402

PAGES = ("tables.md", "cli.md", "config.md")
__all__ = ["DOCS", "EXAMPLE_YAML", "KEY_NOTES", "PAGES", "REGENERATE", "config_rows", "feature_columns_section",
           "generate", "lake_tables", "main", "render_cli", "render_config", "render_tables", "stale", "subcommands",
           "table_modules"]


# -- the pages ---------------------------------------------------------------------------------
def generate() -> dict[str, str]:
    """Every generated page: file name under ``docs/`` -> content."""
    from ltv.cli import build_parser

    return {
        "tables.md": render_tables(lake_tables(), feature_columns_section()),
        "cli.md": render_cli(build_parser()),
        "config.md": render_config(),
    }


def stale(pages: dict[str, str], docs: Path | None = None) -> dict[str, str]:
    """Pages whose committed copy (in ``docs``, default this folder) differs: name -> unified diff."""
    docs = docs or DOCS
    diffs = {}
    for name, text in pages.items():
        path = docs / name
        committed = path.read_text(encoding="utf-8") if path.exists() else ""
        if committed != text:
            diffs[name] = "".join(difflib.unified_diff(
                committed.splitlines(keepends=True), text.splitlines(keepends=True),
                fromfile=f"docs/{name} (committed)", tofile=f"docs/{name} (from the code)"))
    return diffs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 with a diff when a page is stale")
    args = parser.parse_args(argv)
    pages = generate()
    if args.check:
        diffs = stale(pages)
        for diff in diffs.values():
            sys.stdout.write(diff)
        if diffs:
            print(f"\nstale: {', '.join('docs/' + n for n in diffs)}; run `{REGENERATE}` (or `make docs`)",
                  file=sys.stderr)
            return 1
        print(f"docs up to date: {', '.join('docs/' + n for n in pages)}")
        return 0
    for name, text in pages.items():
        path = DOCS / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote docs/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
