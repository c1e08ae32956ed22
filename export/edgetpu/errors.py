"""Errors raised when the Edge TPU check cannot be carried out.

They belong to the project's one hierarchy (``data.errors``): every one is a
``ToolchainError`` with exit code 2 (bad input). ``ValueError`` stays a second
base so that callers written before the hierarchy (``except ValueError``) keep
working.
"""

from __future__ import annotations

from data.errors import ArtifactError, ToolchainError


class EdgeTpuCheckError(ToolchainError, ValueError):
    """Base class: the check could not be carried out (bad input)."""


class InvalidModelError(EdgeTpuCheckError, ArtifactError):
    """The file is not a readable TFLite flatbuffer (truncated, corrupt, not TFLite)."""


class ModelNotFoundError(InvalidModelError, FileNotFoundError):
    """The model file does not exist."""


class CompilerNotFoundError(EdgeTpuCheckError, FileNotFoundError):
    """An explicitly requested edgetpu_compiler does not exist."""
