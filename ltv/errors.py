"""Exceptions that map to the CLI's exit codes (see CLI_CONTRACT.md)."""
from __future__ import annotations


class LTVError(Exception):
    """Base class; ``exit_code`` is what the CLI returns."""

    exit_code = 1


class ConfigError(LTVError):
    """Bad usage or configuration (exit 2)."""

    exit_code = 2


class InputRejected(LTVError):
    """The input as a whole is unusable; nothing was written (exit 3)."""

    exit_code = 3
