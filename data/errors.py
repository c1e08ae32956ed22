"""The project's one error hierarchy, and the exit codes every command line uses.

Every CLI catches ``ToolchainError`` once, prints its message as one line (``error: ...``) and exits
with its ``exit_code``:

=====  =====================================================================================
code   meaning
=====  =====================================================================================
0      done
1      a check that ran and failed (not Edge TPU-mappable, parity below its bound, ...)
2      bad input or usage (missing or malformed files, a wrong checkpoint, bad settings, ...)
130    interrupted (Ctrl-C); a fit says how to resume it
=====  =====================================================================================

Anything else that escapes is a bug in this project, and its traceback is the right output.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for a Ctrl-C


class ToolchainError(Exception):
    """Base class: something the user has to fix. The message is one line that names the file or setting."""

    exit_code = EXIT_BAD_INPUT


class DataError(ToolchainError):
    """A dataset, image folder or annotation file that is missing, malformed or unusable as a whole."""


class ImageDecodeError(DataError):
    """One image file that cannot be read (missing, truncated, not an image, a decompression bomb).

    Loaders that read many images count these as skips instead of stopping."""


class ImageTooLargeError(ImageDecodeError):
    """An image declaring more pixels than ``PIL.Image.MAX_IMAGE_PIXELS``: a possible decompression bomb."""


class ConfigError(ToolchainError):
    """A setting out of its valid range, or settings that contradict each other."""


class CheckpointError(ToolchainError):
    """A checkpoint that is missing, unreadable, not this project's, or does not fit its architecture."""


class ArtifactError(ToolchainError):
    """An export directory or model file that is missing, incomplete or not a valid model."""


class OutputExistsError(ToolchainError):
    """An output that exists already and was not asked to be replaced."""


class ConversionError(ToolchainError):
    """A conversion tool (ONNX export, onnx2tf, the TFLite converter) failed on this model."""


class RuntimeUnavailableError(ToolchainError):
    """A runtime the user asked for (the Edge TPU delegate, a weights download) is not available here."""


class CheckFailed(ToolchainError):
    """A check ran and the model failed it."""

    exit_code = EXIT_CHECK_FAILED
