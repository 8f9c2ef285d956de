"""``ltv``'s entry point: parse, set up logging, run the command, map errors to exit codes
(0 ok, 2 usage/config error, 3 input rejected as a whole, 1 anything else; 130 interrupted)."""
from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

from ltv.cli.context import Context
from ltv.cli.parser import build_parser
from ltv.cli.render import warn
from ltv.errors import LTVError


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    # a command prints its own progress; MLflow's tqdm bar for a model download is noise on stderr
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        ctx = Context(args)
        return int(args.func(ctx) or 0)
    except LTVError as exc:
        warn(f"ltv {args.command}: error: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        warn("interrupted")
        return 130
    except Exception as exc:  # anything else: exit 1, traceback only with -v
        if args.verbose:
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        warn(f"ltv {args.command}: error: {first} (run with -v for details)")
        return 1


def configure_logging(verbosity: int) -> None:
    """Warnings only by default; ``-v`` ltv's info, ``-vv`` debug and the libraries' (py4j, Feast, MLflow) too."""
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("py4j", "feast", "mlflow", "alembic", "urllib3"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING) if verbosity < 2 else level)
