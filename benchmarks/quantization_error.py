"""Where an int8 model's disagreement with PyTorch comes from: its weights' rounding or its activations'.

    python -m benchmarks.quantization_error [--rows imagenet_mobilenet_v2 ...] [--folds 0 1 2 3 4] [--per-layer-fold 0]

For each fold's export of each row (``benchmarks.real_cv``), on the fold's test crops, the exported model in PyTorch
is compared with three int8 versions of itself, each scored by its agreement with the float model's class and the
mean |difference| of its no_helmet probability:

* **int8 model**: the exported TFLite int8 model on LiteRT (what parity reports);
* **weights only**: every convolution's weights with their batch norm folded in, rounded per output channel to
  symmetric int8 as the converter rounds them (the classifier per tensor); activations float;
* **activations only**: every tensor the int8 model stores (the scaled input, each convolution block's output, each
  projection, each residual sum, the pooled features, the logits) rounded per tensor to asymmetric int8 over the
  min/max seen on 200 crops of the fold's training split, as the converter calibrates; weights float.

On ``--per-layer-fold``, each convolution's weights are also rounded alone, and the layers whose rounding moves the
probability most are listed. Writes benchmarks/results/quantization_error.json and .md.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torchvision.ops.misc import Conv2dNormActivation

from data.images import expand_paths, load_images
from export.calibration import calibration_pixels
from export.runtimes import TFLiteRunner, TorchRunner, softmax
from lightning_modules.checkpoint import load_classifier
from lightning_modules.quantization import FoldedInt8Weights, conv_bn_pairs, symmetric_int8

from .report import REPO, RESULTS, markdown_table, write_results

CALIBRATION_CROPS = 200


@torch.no_grad()
def round_weights(net: nn.Module, only: str | None = None) -> None:
    """Round, in place, the folded weights of every conv/batch-norm pair (or of the pair named ``only``) per output
    channel as the converter does (``lightning_modules.quantization``), and the classifier's per tensor; the batch
    norms stay, so the float graph is otherwise unchanged."""
    for name, conv, norm in conv_bn_pairs(net):
        if only is None or name == only:
            conv.weight.copy_(FoldedInt8Weights(norm)(conv.weight))
    if only is None:
        for module in net.modules():
            if isinstance(module, nn.Linear):
                module.weight.copy_(symmetric_int8(module.weight, per_channel=False))


def stored_tensors(net: nn.Module) -> list[nn.Module]:
    """The modules whose outputs the int8 model stores as int8 tensors, each once."""
    found: list[nn.Module] = [net.normalize]
    for module in net.features.modules():
        if isinstance(module, Conv2dNormActivation):
            found.append(module)
        elif hasattr(module, "conv") and isinstance(module.conv, nn.Sequential):  # an inverted residual block
            if isinstance(module.conv[-1], nn.BatchNorm2d):
                found.append(module.conv[-1])  # its linear projection
            if getattr(module, "use_res_connect", getattr(module, "use_residual", False)):
                found.append(module)  # its residual sum
    return found + [net.pool, net.classifier]


@contextlib.contextmanager
def rounded_activations(net: nn.Module, calibration: torch.Tensor):
    """Within the block, every stored tensor is rounded per tensor to asymmetric int8 over the range it takes on
    ``calibration`` (min/max, widened to include 0, as TFLite's calibration does)."""
    modules, ranges = stored_tensors(net), {}

    def observe(module, _, output):
        lo, hi = ranges.get(module, (0.0, 0.0))
        ranges[module] = (min(lo, float(output.min())), max(hi, float(output.max())))

    def rounded(module, _, output):
        lo, hi = ranges[module]
        scale = max(hi - lo, 1e-12) / 255
        zero_point = int(round(-128 - lo / scale))
        return torch.fake_quantize_per_tensor_affine(output, scale, zero_point, -128, 127)

    hooks = [m.register_forward_hook(observe) for m in modules]
    with torch.no_grad():
        for batch in calibration.split(64):
            net(batch)
    for hook in hooks:
        hook.remove()
    hooks = [m.register_forward_hook(rounded) for m in modules]
    try:
        yield net
    finally:
        for hook in hooks:
            hook.remove()


def compare(reference: np.ndarray, logits: np.ndarray) -> dict:
    return {"agreement": float((reference.argmax(1) == logits.argmax(1)).mean()),
            "mean_abs_prob_diff": float(np.abs(softmax(reference)[:, 1] - softmax(logits)[:, 1]).mean())}


def fold_error(export: Path, crops: Path, per_layer: bool) -> dict:
    """The three int8 versions of one fold's model against its float one (see the module docstring)."""
    loaded = load_classifier(export / "model.pt")
    spec = loaded.spec
    pixels = load_images(expand_paths([crops / "test"]), spec).pixels
    calibration = torch.from_numpy(spec.to_float_nchw(calibration_pixels(str(crops), spec, CALIBRATION_CROPS)))
    float_logits = TorchRunner(loaded.model, spec).logits(pixels)

    def with_weights_rounded(only: str | None = None) -> np.ndarray:
        model = copy.deepcopy(loaded.model).eval()
        round_weights(model, only)
        return TorchRunner(model, spec).logits(pixels)

    with rounded_activations(copy.deepcopy(loaded.model).eval(), calibration) as model:
        activations = TorchRunner(model, spec).logits(pixels)
    result = {"crops": len(pixels),
              "int8 model": compare(float_logits, TFLiteRunner(export / "model_int8.tflite", spec).logits(pixels)),
              "weights only": compare(float_logits, with_weights_rounded()),
              "activations only": compare(float_logits, activations)}
    if per_layer:
        result["per_layer"] = {name: compare(float_logits, with_weights_rounded(name))
                               for name, _, _ in conv_bn_pairs(loaded.model)}
    return result


def row_error(row: str, work: Path, folds: list[int], per_layer_fold: int | None, fold_file: str) -> dict:
    out = {}
    for k in folds:
        fold = work / row / f"fold{k}" / fold_file
        if not fold.is_file():
            raise SystemExit(f"{fold}: no such fold (run python -m benchmarks.real_cv for {row} first)")
        out[f"fold{k}"] = fold_error(fold.parent / "export", work / f"crops_fold{k}", k == per_layer_fold)
        print(f"{row} fold {k}: " + ", ".join(f"{name} {v['agreement']:.1%}" for name, v in out[f"fold{k}"].items()
                                               if isinstance(v, dict) and "agreement" in v), flush=True)
    return out


def pooled(folds: dict, version: str) -> dict:
    crops = sum(f["crops"] for f in folds.values())
    return {key: sum(f[version][key] * f["crops"] for f in folds.values()) / crops
            for key in ("agreement", "mean_abs_prob_diff")}


def markdown(results: dict, top: int) -> str:
    versions = ("int8 model", "weights only", "activations only")
    rows = [[row, len(folds)] + [f"{100 * pooled(folds, v)['agreement']:.1f} % / {100 * pooled(folds, v)['mean_abs_prob_diff']:.1f} %"
                                 for v in versions] for row, folds in results.items()]
    text = markdown_table(["row", "folds"] + [f"{v}: agreement / mean abs Δp" for v in versions], rows)
    for row, folds in results.items():
        for fold, result in folds.items():
            if "per_layer" in result:
                worst = sorted(result["per_layer"].items(), key=lambda kv: -kv[1]["mean_abs_prob_diff"])[:top]
                text += (f"\n\n**{row}, {fold}: the {top} convolutions whose weights' rounding alone moves the "
                         f"probability most** (of {len(result['per_layer'])})\n\n")
                text += markdown_table(["layer", "agreement", "mean abs Δp"],
                                       [[name, f"{100 * v['agreement']:.1f} %", f"{100 * v['mean_abs_prob_diff']:.2f} %"]
                                        for name, v in worst])
    return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.quantization_error", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="+", default=["imagenet_mobilenet_v2", "imagenet_mobilenet_v2_035",
                                                      "slim_mobilenet_distilled_slim_mobilenet"])
    parser.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--per-layer-fold", type=int, default=0, help="round each layer alone on this fold (-1: none)")
    parser.add_argument("--top", type=int, default=5)
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "real_cv")
    parser.add_argument("--fold-file", default="fold.json",
                        help="each fold's record, relative to <work>/<row>/fold<k>/; its export is the folder beside it")
    parser.add_argument("--name", default="quantization_error", help="the results' file name")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)
    results = {row: row_error(row, args.work, args.folds, args.per_layer_fold, args.fold_file) for row in args.rows}
    write_results(args.out, args.name, results, markdown(results, args.top))


if __name__ == "__main__":
    main()
