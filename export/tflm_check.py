"""The TFLM check of an int8 export: which ops it uses, which TFLM lacks, the smallest tensor arena, and how
far TFLM's outputs are from LiteRT's reference kernels (the goal: bit-exact) and default kernels (no target).

``measure_tflm`` runs once per export, before the C array is written (the header needs the arena and ops);
``tflm_report`` turns its facts and the parity rows' logits into the ``tflm`` block of parity.json and
manifest.json.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .artifacts import stage
from .tflm import TFLMUnsupportedOpsError, model_ops, output_agreement, smallest_arena, tflm_version, unsupported_ops

log = logging.getLogger("export")
ARENA_NOTE = ("smallest arena in which TFLM allocates and invokes the model, measured by bisection on this 64-bit "
              "host with TFLM's reference kernels; a 32-bit MCU needs a little less (pointers and the interpreter's "
              "structures are half the size), but optimized kernels such as CMSIS-NN add scratch buffers of their "
              "own: leave headroom there. Align it to 16 bytes.")
# TFLM vs a LiteRT row: (block key, row, target); only the reference kernels are expected to match bit for bit.
COMPARISONS = (("vs_litert_reference", "tflite_int8_ref", "bit-exact"), ("vs_litert_default", "tflite_int8", None))


@dataclass(frozen=True)
class TFLMFacts:
    ops: list[str]
    unsupported_ops: list[str]          # the ops TFLM has no kernel for; [] when it runs the model
    arena_bytes: int | None             # None when it cannot run the model

    @property
    def runs(self) -> bool:
        return not self.unsupported_ops


@stage("TFLM arena")
def measure_tflm(int8_path: Path) -> TFLMFacts:
    ops = model_ops(int8_path)
    try:
        return TFLMFacts(ops, [], smallest_arena(int8_path))
    except TFLMUnsupportedOpsError as e:
        log.warning("%s", e)
        return TFLMFacts(ops, unsupported_ops(int8_path), None)


def tflm_report(facts: TFLMFacts, logits: dict[str, np.ndarray], output_scale: float) -> dict:
    """The ``tflm`` block: facts, and TFLM vs each LiteRT int8 row on the parity images (compared in
    quantization steps of the model's output, ``output_scale``). The comparisons are absent when TFLM cannot run."""
    report = {
        "version": tflm_version(),
        "ops": facts.ops,
        "unsupported_ops": facts.unsupported_ops,
        "tensor_arena_bytes": facts.arena_bytes,
        "tensor_arena_note": ARENA_NOTE,
    }
    if "tflm" not in logits:
        return report
    for key, row, target in COMPARISONS:
        figures = output_agreement(logits[row], logits["tflm"], step=output_scale)
        report[key] = {"litert_row": row, **figures, "target": target,
                       "bit_exact": figures["exact_match_rate"] == 1.0}
    return report
