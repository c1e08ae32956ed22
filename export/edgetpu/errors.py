"""Errors raised when the Edge TPU check cannot be carried out."""

from __future__ import annotations


class EdgeTpuCheckError(ValueError):
    """Base class: the check could not be carried out (bad input)."""


class InvalidModelError(EdgeTpuCheckError):
    """The file is not a readable TFLite flatbuffer."""


class ModelNotFoundError(InvalidModelError, FileNotFoundError):
    """The model file does not exist."""


class CompilerNotFoundError(EdgeTpuCheckError, FileNotFoundError):
    """An explicitly requested edgetpu_compiler does not exist."""
