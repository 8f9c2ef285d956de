"""``docs/cli.md``: every command of ``ltv.cli.build_parser()``, walked through argparse, and the exit codes."""
from __future__ import annotations

import argparse
import contextlib
import inspect
import os
import re
from collections.abc import Iterator

from .markdown import banner, prose, table


@contextlib.contextmanager
def _fixed_width(columns: int = 100) -> Iterator[None]:
    """argparse wraps usage lines at the terminal width; fix it so the page does not depend on it."""
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(columns)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old


def subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(name, help, parser) of each subcommand, in the order they were added."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            seen: set[int] = set()
            for name, sub in action.choices.items():
                if id(sub) in seen:  # an alias
                    continue
                seen.add(id(sub))
                found.append((name, helps.get(name, ""), sub))
    return found


def _argument_name(action: argparse.Action) -> str:
    if action.option_strings:
        names = ", ".join(action.option_strings)
        if action.nargs == 0:
            return names
        if action.choices is not None and action.metavar is None:
            return f"{names} {{{','.join(map(str, action.choices))}}}"
        return f"{names} {_metavar(action) or action.dest.upper()}"
    if action.choices is not None and action.metavar is None:
        return "{" + ",".join(map(str, action.choices)) + "}"
    return _metavar(action) or action.dest


def _metavar(action: argparse.Action) -> str:
    """argparse allows a tuple of metavars (one per value)."""
    meta = action.metavar
    return " ".join(meta) if isinstance(meta, tuple) else (meta or "")


def _default(action: argparse.Action) -> str:
    if action.default is argparse.SUPPRESS or action.nargs == 0 and action.default in (False, None):
        return "–"
    if action.default is None:
        return "–"
    if isinstance(action.default, (list, tuple)):
        return ", ".join(map(str, action.default)) or "–"
    return f"`{action.default}`"


def _help(action: argparse.Action) -> str:
    text = action.help or ""
    if "%(" in text:
        text = text % {**vars(action), "default": action.default}
    notes = []
    if action.required and action.option_strings and "required" not in text:
        notes.append("required")
    if isinstance(action, argparse._AppendAction) and "repeatable" not in text:
        notes.append("repeatable")
    if action.nargs == "?" and not action.option_strings:
        notes.append("optional")
    return "; ".join(filter(None, [text] + notes))


def _arguments(parser: argparse.ArgumentParser, skip: set[str]) -> str:
    rows = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)) or action.dest in skip:
            continue
        if action.help is argparse.SUPPRESS:
            continue
        rows.append((f"`{_argument_name(action)}`", _default(action), _help(action)))
    return table(["argument", "default", "description"], rows) if rows else ""


def _usage(parser: argparse.ArgumentParser) -> str:
    lines = parser.format_usage().strip().splitlines()
    lines[0] = re.sub(r"^usage: ", "", lines[0])
    return "\n".join([lines[0]] + [re.sub(r"^ {1,7}", "", line) for line in lines[1:]])


def _examples(parser: argparse.ArgumentParser) -> str:
    epilog = (parser.epilog or "").strip()
    if not epilog:
        return ""
    epilog = re.sub(r"^examples:\n", "", epilog)
    lines = [line[2:] if line.startswith("  ") else line for line in epilog.splitlines()]
    commands, _, notes = "\n".join(lines).partition("\n\n")  # commands, then prose after a blank line
    text = f"Examples:\n\n```bash\n{commands.rstrip()}\n```\n"
    for paragraph in filter(None, (p.strip() for p in notes.split("\n\n"))):
        text += "\n" + prose(" ".join(paragraph.split())) + "\n"
    return text


def _command_sections(parser: argparse.ArgumentParser, path: list[str], skip: set[str]) -> list[str]:
    out = []
    for name, help_text, sub in subcommands(parser):
        full = " ".join(path + [name])
        heading = "#" * min(3 + len(path) - 1, 5)
        section = [f"\n{heading} `{full}`\n\n"]
        description = sub.description or help_text
        if description:
            section.append(prose(description.strip()) + "\n\n")
        section.append(f"```\n{_usage(sub)}\n```\n\n")
        args = _arguments(sub, skip)
        if args:
            section.append(args + "\nand the [global options](#global-options).\n\n")
        section.append(_examples(sub))
        out.append("".join(section))
        out += _command_sections(sub, path + [name], skip)
    return out


def _exit_codes() -> list[tuple[int, str]]:
    """(code, meaning) from :mod:`ltv.errors`, plus what the CLI itself returns."""
    from ltv import errors

    codes: dict[int, list[str]] = {
        0: ["success"],
        1: ["any other error (the message names the cause; `-v` shows the traceback)"],
        2: ["the command line is wrong (unknown command or option, missing or malformed argument)"],
    }
    classes = sorted((c for _, c in inspect.getmembers(errors, inspect.isclass)
                      if issubclass(c, errors.LTVError) and c is not errors.LTVError), key=lambda c: c.__name__)
    for cls in classes:
        doc = (inspect.getdoc(cls) or cls.__name__).splitlines()[0].rstrip(".")
        doc = re.sub(r"\s*\(exit \d+\)", "", doc)
        codes.setdefault(int(cls.exit_code), []).append(f"`{cls.__name__}`: {doc[:1].lower()}{doc[1:]}")
    codes.setdefault(130, []).append("interrupted (Ctrl-C)")
    return [(code, "; ".join(texts)) for code, texts in sorted(codes.items())]


def render_cli(parser: argparse.ArgumentParser) -> str:
    """``docs/cli.md`` for the ``ltv`` parser."""
    with _fixed_width():
        globals_ = {a.dest for a in parser._actions
                    if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))}
        commands = subcommands(parser)
        out = [
            "# The `ltv` command\n\n",
            banner("ltv.cli.build_parser() and ltv/errors.py"),
            "\n" + (parser.description or "").strip() + "\n\n",
            f"```\n{_usage(parser)}\n```\n\n",
            "Every command also answers `ltv COMMAND --help`. `DATE` is `YYYY-MM-DD` and means the end of "
            "that day (UTC): rows with `event_ts` on that date belong to it.\n\n",
            table(["command", "does"], [(f"[`ltv {name}`](#ltv-{name})", help_text) for name, help_text, _ in commands]),
            "\n## Global options\n\nAccepted before or after the command name (`ltv --lake DIR score ...` or "
            "`ltv score ... --lake DIR`).\n\n",
            _arguments(parser, set()),
            "\n## Exit codes\n\nErrors go to stderr and name the fix.\n\n",
            table(["code", "meaning"], _exit_codes()),
            "\n## Commands\n",
        ]
        out += _command_sections(parser, ["ltv"], globals_)
    return "".join(out)
