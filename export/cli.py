"""What every export command line shares: one place where errors become one line and an exit code
(``data.errors``: 0 done, 1 a check failed, 2 bad input or usage), and argument types."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from data.errors import EXIT_BAD_INPUT, ToolchainError


def describe_os_error(error: OSError) -> str:
    reason = error.strerror or str(error)
    paths = [p for p in (error.filename, error.filename2) if p]
    return f"{reason}: {' -> '.join(map(str, paths))}" if paths else reason


def _first_line(message: str) -> str:
    """Messages are one line by contract; a wrapped library's message (torch's) may go on for paragraphs."""
    return next((line.strip() for line in message.splitlines() if line.strip()), message)


def run_cli(command: Callable[[], int]) -> int:
    """Run a command's body: a ToolchainError, or an OSError from the file system (a disk that is full or
    read-only, a path that cannot be opened), is printed as one ``error: ...`` line instead of a traceback."""
    try:
        return command()
    except ToolchainError as e:
        print(f"error: {_first_line(str(e))}", file=sys.stderr)
        return e.exit_code
    except OSError as e:
        print(f"error: {describe_os_error(e)}", file=sys.stderr)
        return EXIT_BAD_INPUT


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {text}")
    return value


def share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a share in [0, 1], got {text}")
    return value
