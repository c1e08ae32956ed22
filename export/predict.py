"""Classify images with an exported .tflite model.

    python -m export.predict --model DIR/model_int8.tflite IMAGE... [--json] [--edgetpu] [--threads N]

Labels and preprocessing are read from beside the model (labels.txt, preprocess.json).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from data.preprocessing import ImageDecodeError, PreprocessSpec

from .runtimes import TFLiteRunner, softmax

EDGETPU_LIBRARY = "libedgetpu.so.1"


class EdgeTpuUnavailableError(RuntimeError):
    pass


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

    from ai_edge_litert.interpreter import Interpreter, load_delegate

    try:
        ctypes.CDLL(EDGETPU_LIBRARY)  # probe first: load_delegate's failure path also prints a traceback
        delegate = load_delegate(EDGETPU_LIBRARY)
    except (ValueError, OSError) as e:
        raise EdgeTpuUnavailableError(
            f"the Edge TPU delegate ({EDGETPU_LIBRARY}) could not be loaded: {e}. Install the Edge TPU runtime "
            "and compile the model with edgetpu_compiler, or run without --edgetpu") from e
    runner = TFLiteRunner(model, spec)
    runner.interpreter = Interpreter(model_path=str(model), experimental_delegates=[delegate])
    runner.interpreter.allocate_tensors()
    return runner


def predict(model: Path, images: list[Path], edgetpu: bool = False, threads: int = 1) -> list[Prediction]:
    model = Path(model)
    if not model.is_file():
        raise FileNotFoundError(f"model not found: {model}")
    spec = PreprocessSpec.load(model.parent)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export.predict", description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, type=Path, help="a .tflite written by export/to_tflite.py")
    parser.add_argument("images", nargs="+", type=Path)
    parser.add_argument("--json", action="store_true", help="print JSON lines instead of text")
    parser.add_argument("--edgetpu", action="store_true", help="run on the Edge TPU through its delegate")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    try:
        results = predict(args.model, args.images, args.edgetpu, args.threads)
    except (FileNotFoundError, ValueError, EdgeTpuUnavailableError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for r in results:
        if args.json:
            print(json.dumps(asdict(r)))
        elif r.error:
            print(f"{r.image}: skipped ({r.error})")
        else:
            print(f"{r.image}: {r.label} {r.probability:.3f}")
    return 0 if any(r.error is None for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
