"""Presentation for the ``ltv`` command: stage progress on stderr, plain-text tables and JSON on stdout.

Only the CLI prints. Library functions that report progress take a ``progress`` object with
``say(message)`` and ``stage(name)`` (a context manager); :class:`Progress` is the CLI's.
"""
from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TextIO


class Progress:
    """Prints ``[  12.3s] stage ...`` lines on stderr (quiet with ``enabled=False``)."""

    def __init__(self, enabled: bool = True, stream: TextIO | None = None):
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.started = time.monotonic()

    def say(self, message: str) -> None:
        if self.enabled:
            print(f"[{time.monotonic() - self.started:7.1f}s] {message}", file=self.stream, flush=True)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.monotonic()
        self.say(f"{name} ...")
        yield
        self.say(f"{name} done in {time.monotonic() - t0:.1f}s")


def show(text: str) -> None:
    """A command's human-readable output, on stdout."""
    print(text)


def show_json(document: Any) -> None:
    """A command's ``--json`` output: one JSON document on stdout (dates and paths as strings)."""
    print(json.dumps(document, indent=2, default=str))


def warn(text: str) -> None:
    """A message for the operator on stderr (stdout stays the command's output)."""
    print(text, file=sys.stderr)


def format_table(rows: Iterable[Sequence[Any]], headers: Sequence[str]) -> str:
    """Left-aligned text table; numbers right-aligned; floats with 4 significant decimals."""
    rendered = [[_cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in rendered:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    numeric = [all(_is_number(r[i]) for r in rendered) and rendered for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if numeric[i] else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    out = [line(list(headers)), line(["-" * w for w in widths])]
    out += [line(r) for r in rendered]
    return "\n".join(out)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != value:
            return "nan"
        return f"{value:,.4f}" if abs(value) < 1000 else f"{value:,.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
        return True
    except ValueError:
        return text == "-"
