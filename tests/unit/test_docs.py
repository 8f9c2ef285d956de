"""The docs are the contract, checked against the code.

* The generated pages (``docs/tables.md``, ``docs/cli.md``, ``docs/config.md``) equal what
  ``docs/generate.py`` makes from the code now: a table schema, command option or config key
  that changes without its doc fails here, with the diff and the command that regenerates.
* The check can fail: a changed column type, a new table, a new option and a new config key
  each make the generated page differ from the committed one.
* The hand-written pages name every table, command, config section and quarantine reason; the
  examples in them are valid; every relative link between pages resolves.
* README.md stays a user's guide; bench/RESULTS.md is what bench/results/*.json gives.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import re
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
README_MAX_BYTES = 12 * 1024


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and typing look modules up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gen():
    return _load("ltv_docs_generate", DOCS / "generate.py")


@pytest.fixture(scope="module")
def pages(gen):
    return gen.generate()


def _committed(name: str) -> str:
    path = DOCS / name
    assert path.is_file(), f"docs/{name} missing: run `.venv/bin/python docs/generate.py`"
    return path.read_text(encoding="utf-8")


# -- generated pages == code ----------------------------------------------------------------
@pytest.mark.parametrize("name", ["tables.md", "cli.md", "config.md"])
def test_generated_page_is_current(gen, pages, name):
    diffs = gen.stale({name: pages[name]})
    assert not diffs, (
        f"docs/{name} does not match the code; regenerate it with `{gen.REGENERATE}` (or `make docs`) "
        f"and commit the result:\n{diffs[name][:6000]}"
    )


def test_a_column_type_change_without_its_doc_fails(gen, monkeypatch):
    """What a schema change looks like to this test: the regenerated tables.md differs from the committed one."""
    from pyspark.sql.types import StringType, StructField, StructType

    from ltv.lake import tables

    spec = tables.TABLES["transactions"]
    changed = StructType([StructField(f.name, StringType() if f.name == "amount" else f.dataType, f.nullable)
                          for f in spec.schema.fields])
    monkeypatch.setitem(tables.TABLES, "transactions", dataclasses.replace(spec, schema=changed))
    diffs = gen.stale({"tables.md": gen.render_tables(gen.lake_tables(), gen.feature_columns_section())})
    assert "tables.md" in diffs
    assert "-| `amount` | `double` | no |" in diffs["tables.md"]
    assert "+| `amount` | `string` | no |" in diffs["tables.md"]


def test_a_new_table_without_its_doc_fails(gen, monkeypatch):
    from pyspark.sql.types import StringType, StructField, StructType

    from ltv.lake import tables

    extra = tables.TableSpec(name="customer_segments", schema=StructType([StructField("segment", StringType())]),
                             key=("segment",), description="a table nobody documented")
    monkeypatch.setitem(tables.TABLES, extra.name, extra)
    diffs = gen.stale({"tables.md": gen.render_tables(gen.lake_tables(), gen.feature_columns_section())})
    assert "+## customer_segments" in diffs.get("tables.md", "")


def test_a_new_option_without_its_doc_fails(gen):
    from ltv.cli import build_parser

    parser = build_parser()
    score = dict((name, sub) for name, _, sub in gen.subcommands(parser))["score"]
    score.add_argument("--dry-run", action="store_true", help="score without writing")
    diffs = gen.stale({"cli.md": gen.render_cli(parser)})
    assert "+| `--dry-run` |" in diffs.get("cli.md", "")


def test_a_config_change_without_its_doc_fails(gen):
    from pydantic import Field, create_model

    from ltv.config import LTVConfig, PipelineSettings

    with_key = create_model("WithKey", __base__=LTVConfig, currency=(str, Field("EUR", description="money unit")))
    assert "+| `currency` | string | `EUR` | money unit |" in gen.stale({"config.md": gen.render_config(with_key)}).get(
        "config.md", "")
    slower = create_model("Slower", __base__=PipelineSettings, retrain_every_days=(int, 56))
    new_default = create_model("NewDefault", __base__=LTVConfig, pipeline=(slower, Field(default_factory=slower)))
    diff = gen.stale({"config.md": gen.render_config(new_default)}).get("config.md", "")
    assert "+| `pipeline.retrain_every_days` | integer | `56` |" in diff


def test_check_mode_exits_1_with_a_diff_when_stale(gen, tmp_path, capsys, monkeypatch):
    for name in gen.PAGES:
        (tmp_path / name).write_text("stale\n", encoding="utf-8")
    monkeypatch.setattr(gen, "DOCS", tmp_path)
    assert gen.main(["--check"]) == 1
    captured = capsys.readouterr()
    assert "-stale" in captured.out and "docs/generate.py" in captured.err


# -- the hand-written pages name what the code has ------------------------------------------
def test_every_lake_table_is_documented(gen):
    contract = _committed("contract.md")
    tables_md = _committed("tables.md")
    for spec in gen.lake_tables():
        assert f"\n## {spec.name}\n" in tables_md, f"docs/tables.md has no section for {spec.name}"
        assert f"`{spec.name}`" in contract, f"docs/contract.md's list of lake tables lacks `{spec.name}`"


def test_every_command_is_documented(gen):
    from ltv.cli import build_parser

    contract, readme, cli_md = _committed("contract.md"), (REPO / "README.md").read_text(), _committed("cli.md")
    for name, _, _ in gen.subcommands(build_parser()):
        assert f"### `ltv {name}`" in cli_md
        assert f"`ltv {name}" in contract, f"docs/contract.md's command table lacks `ltv {name}`"
    assert "[docs/cli.md](docs/cli.md)" in readme


def test_every_config_key_is_documented(gen):
    from ltv.config import LTVConfig

    config_md, contract = _committed("config.md"), _committed("contract.md")
    keys = [row[0].strip("`") for row in gen.config_rows(LTVConfig, "", gen.KEY_NOTES)]
    for key in keys:
        assert f"| `{key}` |" in config_md, f"docs/config.md lacks `{key}`"
    for top in LTVConfig.model_fields:
        assert f"`{top}`" in config_md
    stale_notes = sorted(set(gen.KEY_NOTES) - set(keys))
    assert not stale_notes, f"docs/generate.py KEY_NOTES describes keys LTVConfig no longer has: {stale_notes}"
    assert "config.md" in contract


def test_every_key_has_a_description(gen):
    from ltv.config import LTVConfig

    missing = [row[0] for row in gen.config_rows(LTVConfig, "", gen.KEY_NOTES) if not row[3]]
    assert not missing, (f"config keys without a description: {missing}; give the pydantic Field a description= "
                         "(or add a line to KEY_NOTES in docs/generate.py), then regenerate")


def test_every_quarantine_reason_is_documented():
    contract = _committed("contract.md")
    reasons = set()
    for path in (REPO / "ltv" / "ingest").glob("*.py"):
        reasons |= set(re.findall(r'^REASON_\w+\s*=\s*"([a-z_]+)"', path.read_text(), flags=re.M))
    assert reasons, "no REASON_* constants found under ltv/ingest/"
    missing = sorted(r for r in reasons if f"`{r}`" not in contract)
    assert not missing, f"docs/contract.md's quarantine table lacks {missing}"


def test_config_examples_are_valid(gen):
    from ltv.config import LTVConfig

    blocks = re.findall(r"```yaml\n(.*?)```", _committed("config.md"), flags=re.S)
    assert len(blocks) == 2
    full, example = (yaml.safe_load(b) for b in blocks)
    assert LTVConfig.model_validate(full) == LTVConfig(), "the 'every default' file is not the defaults"
    LTVConfig.model_validate(example)
    for page in ("contract.md", "pipeline.md"):
        for block in re.findall(r"```yaml\n(.*?)```", _committed(page), flags=re.S):
            LTVConfig.model_validate(yaml.safe_load(block))


# -- links, README, bench ---------------------------------------------------------------------
def _slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    return {_slug(h) for h in re.findall(r"^#{1,6} (.+)$", text, flags=re.M)}


MARKDOWN = ["README.md", "CHANGELOG.md", "bench/README.md", "bench/RESULTS.md",
            *(p.relative_to(REPO).as_posix() for p in sorted(DOCS.glob("*.md")))]


@pytest.mark.parametrize("page", MARKDOWN)
def test_relative_links_resolve(page):
    path = REPO / page
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.exists():
            broken.append(target)
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            broken.append(target)
    assert not broken, f"{page}: broken links {broken}"


def test_readme_is_a_users_guide():
    raw = (REPO / "README.md").read_bytes()
    text = raw.decode("utf-8")
    assert len(raw) <= README_MAX_BYTES, f"README.md is {len(raw):,} bytes; keep it under {README_MAX_BYTES:,}"
    quick = text.index("make demo"), text.index("make test"), text.index("<!-- tour:begin")
    assert quick[0] < quick[2] and quick[1] < quick[2], "`make demo` and `make test` come before the tour"
    assert ".ci/run" in text
    for gone in ("sparkext", "Spark extension", "LTV_SPARK_EXTENSION", "collapsePartialAggregates",
                 "CLI_CONTRACT.md"):
        assert gone not in text, f"README.md still mentions {gone!r}"
    diary = re.findall(r"\d{1,2}:\d{2} UTC|\bmeasured on\b|tests? passed in|\bin \d[\d,]* s\b", text, flags=re.I)
    assert not diary, f"README.md reads like a run diary ({diary}); results belong in bench/"
    for page in ("docs/contract.md", "docs/concepts.md", "bench/README.md"):
        assert f"]({page})" in text, f"README.md does not link {page}"


def test_changelog_has_an_unreleased_section():
    text = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    assert re.search(r"^## \[Unreleased\]$", text, flags=re.M)
    assert "ltv.runtime.session" in text and "LTV_SPARK_EXTENSION" in text


def test_bench_results_page_is_current():
    table = _load("ltv_bench_table", REPO / "bench" / "table.py")
    committed = (REPO / "bench" / "RESULTS.md").read_text(encoding="utf-8")
    assert committed == table.render(), f"bench/RESULTS.md is stale; run `{table.REGENERATE}`"
    for name in sorted(p.name for p in (REPO / "bench" / "results").glob("*.json")):
        if name.startswith(("features", "oracle")):
            assert f"`{name}`" in committed, f"bench/RESULTS.md does not show results/{name}"
    assert "removed Spark extension" in committed  # those runs are history, labelled as such
