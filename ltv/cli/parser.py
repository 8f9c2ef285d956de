"""The ``ltv`` argument parser: the global options and every command group's subcommands, in the
order ``ltv --help`` lists them. Each group module owns its options, help text and examples."""
from __future__ import annotations

import argparse

from ltv.cli import demo, features, ingest, models, run, score, serving, simulate, train
from ltv.cli.options import add_global_options


def build_parser() -> argparse.ArgumentParser:
    """The whole command line (also what the docs generator walks: commands, options, help, examples)."""
    parser = argparse.ArgumentParser(
        prog="ltv",
        description="Customer lifetime value on Spark + Delta: ingest, features, models, scores, Feast.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run `ltv COMMAND --help` for a command's options and examples.",
    )
    add_global_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for add in (
        ingest.add_parser,
        features.add_parser,
        train.add_parser,
        models.add_parser,
        score.add_parser,
        score.add_export_parser,
        run.add_parser,
        train.add_report_parser,
        simulate.add_parser,
        demo.add_parser,
        serving.add_parser,
        serving.add_lookup_parser,
    ):
        add(sub)
    return parser
