"""What every command's parser shares: the global options, the :func:`command` helper (help,
examples, globals), argument types (``DATE``, business line) and the ``--as-of`` / backfill range."""
from __future__ import annotations

import argparse
import textwrap
from collections.abc import Callable
from datetime import date, timedelta
from typing import TYPE_CHECKING

from ltv.config import validate_name
from ltv.errors import ConfigError

if TYPE_CHECKING:
    from ltv.cli.context import Context

Command = Callable[["Context"], int]


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; use YYYY-MM-DD") from None


def parse_line(text: str) -> str:
    try:
        return validate_name(text, "business line")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_global_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """``--lake --config --master -v -q``: on the top parser, and (suppressed defaults) on every command."""
    default = (lambda v: argparse.SUPPRESS) if suppress else (lambda v: v)
    group = parser.add_argument_group("global options")
    group.add_argument("--lake", default=default(None), metavar="DIR",
                       help="lake folder (env LTV_LAKE; default ./lake)")
    group.add_argument("--config", default=default(None), metavar="FILE",
                       help="ltv.yaml (default ./ltv.yaml when present)")
    group.add_argument("--master", default=default(None), metavar="URL",
                       help="Spark master (default local[*], or what spark-submit gave)")
    group.add_argument("-v", "--verbose", action="count", default=default(0), help="more log detail (-vv for Spark's)")
    group.add_argument("-q", "--quiet", action="store_true", default=default(False), help="no progress lines")


def command(sub, name: str, func: Command, help_text: str, examples: str) -> argparse.ArgumentParser:
    """A subcommand with its help text as description, an ``examples:`` epilog and the global options."""
    parser = sub.add_parser(
        name,
        help=help_text,
        description=help_text,
        epilog="examples:\n" + textwrap.indent(textwrap.dedent(examples).strip(), "  "),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_global_options(parser, suppress=True)
    parser.set_defaults(func=func)
    return parser


def add_date_range(parser: argparse.ArgumentParser, as_of_help: str) -> None:
    """``--as-of DATE`` (repeatable) and ``--from DATE --to DATE [--step-days N]``; read with :func:`dates`."""
    parser.add_argument("--as-of", type=parse_date, action="append", metavar="DATE", help=as_of_help)
    parser.add_argument("--from", dest="date_from", type=parse_date, metavar="DATE", help="backfill start")
    parser.add_argument("--to", dest="date_to", type=parse_date, metavar="DATE", help="backfill end (inclusive)")
    parser.add_argument("--step-days", type=int, default=7, help="backfill step (default 7)")


def dates(args: argparse.Namespace) -> list[date]:
    """``--as-of`` (repeatable) and/or ``--from/--to [--step-days]`` as a sorted list of dates."""
    days = set(args.as_of or [])
    if args.date_from or args.date_to:
        if not (args.date_from and args.date_to):
            raise ConfigError("--from and --to go together (a backfill range)")
        if args.date_to < args.date_from:
            raise ConfigError(f"--to {args.date_to} is before --from {args.date_from}")
        if args.step_days < 1:
            raise ConfigError(f"--step-days must be 1 or more (got {args.step_days})")
        day = args.date_from
        while day <= args.date_to:
            days.add(day)
            day += timedelta(days=args.step_days)
    if not days:
        raise ConfigError("give --as-of DATE (repeatable) or --from DATE --to DATE")
    return sorted(days)
