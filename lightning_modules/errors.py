"""Kept for imports only: the project's errors live in data/errors.py."""

from data.errors import ConfigError

__all__ = ["ConfigError"]
