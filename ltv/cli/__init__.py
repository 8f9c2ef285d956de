"""The ``ltv`` command (console script ``ltv = "ltv.cli:main"``).

One module per command group, each with its ``add_parser(sub)``, its ``cmd_*`` functions (call
the library, hand the result to a renderer) and its ``render_*`` functions (text for stdout):
:mod:`~ltv.cli.ingest`, :mod:`~ltv.cli.features`, :mod:`~ltv.cli.train` (train, report),
:mod:`~ltv.cli.models`, :mod:`~ltv.cli.score` (score, export), :mod:`~ltv.cli.serving`
(materialize, lookup), :mod:`~ltv.cli.run`, :mod:`~ltv.cli.simulate`, :mod:`~ltv.cli.demo`.
Shared pieces: :mod:`~ltv.cli.options` (global options, argument types), :mod:`~ltv.cli.context`
(config, lake, lazy Spark), :mod:`~ltv.cli.render` (progress, tables, JSON),
:mod:`~ltv.cli.parser` (:func:`build_parser`), :mod:`~ltv.cli.app` (:func:`main`, exit codes).
"""
from __future__ import annotations

from ltv.cli.app import main
from ltv.cli.parser import build_parser

__all__ = ["build_parser", "main"]
