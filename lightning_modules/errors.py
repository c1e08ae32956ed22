"""Errors in a run's settings that the CLI reports as one clear line (exit code 2), not a traceback."""


class ConfigError(ValueError):
    """A model or training setting out of its valid range."""
