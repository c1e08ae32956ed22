"""Classify images with an exported .tflite model.

    python -m export.predict --model DIR/model_int8.tflite IMAGE... [--json] [--edgetpu] [--threads N]

Labels and preprocessing are read from beside the model (the spec files an export writes, ``export/layout.py``).
Exit 0 when at least one image was classified, 1 when none could be read, 2 for bad input (a missing model or
spec, no Edge TPU runtime for --edgetpu).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from data.errors import EXIT_CHECK_FAILED, EXIT_OK, ArtifactError, RuntimeUnavailableError
from data.preprocessing import ImageDecodeError, PreprocessSpec

from .cli import positive_int, run_cli
from .layout import ExportDir
from .runtimes import TFLiteRunner, softmax

EDGETPU_LIBRARY = "libedgetpu.so.1"


class EdgeTpuUnavailableError(RuntimeUnavailableError):
    """The Edge TPU runtime (libedgetpu) cannot be loaded here."""


@dataclass
class Prediction:
    image: str
    label: str | None
    probability: float | None
    probabilities: dict[str, float] | None
    error: str | None = None


def edgetpu_runner(model: Path, spec: PreprocessSpec) -> TFLiteRunner:
    """A runner whose interpreter uses the Edge TPU delegate (needs libedgetpu and an _edgetpu.tflite model)."""
    import ctypes

    from ai_edge_litert.interpreter import load_delegate

    try:
        ctypes.CDLL(EDGETPU_LIBRARY)  # probe first: load_delegate's failure path also prints a traceback
        delegate = load_delegate(EDGETPU_LIBRARY)
    except (ValueError, OSError) as e:
        raise EdgeTpuUnavailableError(
            f"the Edge TPU delegate ({EDGETPU_LIBRARY}) could not be loaded: {e}. Install the Edge TPU runtime "
            "and compile the model with edgetpu_compiler, or run without --edgetpu") from e
    return TFLiteRunner(model, spec, delegates=[delegate])


def predict(model: Path, images: list[Path], edgetpu: bool = False, threads: int = 1) -> list[Prediction]:
    model = Path(model)
    if not model.is_file():
        raise ArtifactError(f"model not found: {model}")
    spec = ExportDir(model.parent).load_spec()
    runner = edgetpu_runner(model, spec) if edgetpu else TFLiteRunner(model, spec, num_threads=threads)
    results = []
    for image in images:
        try:
            pixels = spec.load_uint8(image)[None]
        except ImageDecodeError as e:
            results.append(Prediction(str(image), None, None, None, str(e)))
            continue
        probs = softmax(runner.logits(pixels))[0]
        best = int(np.argmax(probs))
        results.append(Prediction(str(image), spec.labels[best], float(probs[best]),
                                  {name: float(p) for name, p in zip(spec.labels, probs)}))
    return results


def _print(results: list[Prediction], as_json: bool) -> None:
    for r in results:
        if as_json:
            print(json.dumps(asdict(r)))
        elif r.error:
            print(f"{r.image}: skipped ({r.error})")
        else:
            print(f"{r.image}: {r.label} {r.probability:.3f}")


def _predict_command(args: argparse.Namespace) -> int:
    results = predict(args.model, args.images, args.edgetpu, args.threads)
    _print(results, args.json)
    return EXIT_OK if any(r.error is None for r in results) else EXIT_CHECK_FAILED


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export.predict", description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, type=Path, help="a .tflite written by export/to_tflite.py")
    parser.add_argument("images", nargs="+", type=Path)
    parser.add_argument("--json", action="store_true", help="print JSON lines instead of text")
    parser.add_argument("--edgetpu", action="store_true", help="run on the Edge TPU through its delegate")
    parser.add_argument("--threads", type=positive_int, default=1)
    args = parser.parse_args(argv)
    return run_cli(lambda: _predict_command(args))


if __name__ == "__main__":
    sys.exit(main())
