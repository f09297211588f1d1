"""Errors the user can act on. The CLI prints their message and exits non-zero."""


class FiubenchError(Exception):
    """A user-facing error: bad input, missing file, unknown option.

    The message must name the file, field or option at fault.
    """


class ConfigError(FiubenchError):
    """A configuration value is missing, unknown or of the wrong type."""


class DataError(FiubenchError):
    """A dataset file is missing or malformed."""
