"""User-facing errors. The CLI prints them as one line on stderr and exits non-zero.

`raise` one of these for a user's mistake (bad flag, missing data, occupied output
folder); a bug is left to show its traceback.
"""
from __future__ import annotations


class MrdBenchError(Exception):
    """Base class of every error that is the user's to fix."""


class ConfigError(MrdBenchError):
    """A flag, name or value that is not allowed."""


class DataError(MrdBenchError):
    """Data that is missing, empty or malformed."""


class ModelError(MrdBenchError):
    """A model that cannot be found or loaded."""


class OutputExistsError(MrdBenchError):
    """An output that would overwrite earlier results."""


class TrainingDiverged(MrdBenchError):
    """A training run whose loss or weights stopped being finite numbers (nothing is saved)."""


class MrdBenchWarning(UserWarning):
    """A setting that makes a run meaningless, or a file kept: the CLI prints it as one line."""
