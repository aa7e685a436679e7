"""Errors that a user can fix: the CLIs print them without a traceback and exit 2."""


class UserError(Exception):
    """Bad input (config, data, model file, budget): the message says what is wrong and how to fix it."""


class DataError(UserError):
    """Missing, corrupt or unexpected dataset files."""


class ConfigError(UserError):
    """An invalid configuration value or an unknown preset/model."""
