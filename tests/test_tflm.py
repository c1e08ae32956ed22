"""TFLM, the microcontroller interpreter, on the tiny export's int8 model: bit-exact with LiteRT's reference kernels,
its tensor arena measured by bisection, and one-line errors for missing kernels and too-small arenas."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import TINY_COUNTS
from data.errors import EXIT_BAD_INPUT, EXIT_CHECK_FAILED, ArtifactError, ConfigError
from data.preprocessing import LABELS, PreprocessSpec
from data.sources import synthetic_split
from export.formats import write_mcu_array
from export.layout import ExportDir
from export.runtimes import TFLiteRunner
from export.tflm import (MIN_ARENA_BYTES, ArenaTooSmallError, TFLMRunner, TFLMUnsupportedOpsError,
                         compare_with_litert, model_ops, output_agreement, smallest_arena, unsupported_ops)
from export.tflm_check import measure_tflm, tflm_report
from export.verdicts import tflm_failures

COMPARED_IMAGES = 32


@pytest.fixture(scope="module")
def int8_model(tiny_export):
    return ExportDir(tiny_export.out).int8


@pytest.fixture(scope="module")
def spec(tiny_export):
    return PreprocessSpec.load(tiny_export.out)


@pytest.fixture(scope="module")
def test_pixels(spec):
    return synthetic_split("test", spec, counts=TINY_COUNTS, limit=COMPARED_IMAGES).pixels


@pytest.fixture(scope="module")
def arena_bytes(tiny_export):
    """The arena the export measured and recorded (parity.json, manifest.json, the C header)."""
    return tiny_export.parity["tflm"]["tensor_arena_bytes"]


@pytest.fixture(scope="module")
def model_with_ops_tflm_lacks(tmp_path_factory):
    """A tiny float model whose POW and TOPK_V2 have no TFLM kernel (REDUCE_PROD and SIGN have none either)."""
    import tensorflow as tf

    class PowTopK(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, 8], tf.float32)])
        def __call__(self, x):
            values, _ = tf.math.top_k(tf.pow(x, x + 1.0), k=3)
            return values

    module = PowTopK()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([module.__call__.get_concrete_function()], module)
    path = tmp_path_factory.mktemp("unsupported") / "pow_topk.tflite"
    path.write_bytes(converter.convert())
    return path


@pytest.mark.slow
def test_tflm_is_bit_exact_with_litert_reference_kernels(int8_model, spec, test_pixels):
    report = compare_with_litert(int8_model, test_pixels, "builtin_ref", spec)
    assert report == {"images": COMPARED_IMAGES, "litert_op_resolver": "builtin_ref", "exact_match_rate": 1.0,
                      "max_abs_diff_steps": 0, "top1_agreement": 1.0}
    tflm_logits = TFLMRunner(int8_model, spec).logits(test_pixels)
    assert tflm_logits.shape == (COMPARED_IMAGES, spec.num_classes) and tflm_logits.dtype == np.float32
    np.testing.assert_array_equal(tflm_logits, TFLiteRunner(int8_model, spec, op_resolver="builtin_ref").logits(test_pixels))


@pytest.mark.slow
@pytest.mark.parametrize("op_resolver", ["default", "builtin"])
def test_tflm_vs_optimized_litert_kernels_is_measured(int8_model, spec, test_pixels, op_resolver):
    report = compare_with_litert(int8_model, test_pixels, op_resolver, spec)
    assert report["images"] == COMPARED_IMAGES and report["litert_op_resolver"] == op_resolver
    assert 0.0 <= report["exact_match_rate"] <= 1.0 and 0.0 <= report["top1_agreement"] <= 1.0
    assert isinstance(report["max_abs_diff_steps"], int) and 0 <= report["max_abs_diff_steps"] <= 255
    print(f"TFLM vs LiteRT {op_resolver}: {report}")


@pytest.mark.slow
def test_agreement_of_dequantized_logits_counts_the_same_steps(int8_model, spec, test_pixels):
    """The export compares rows' dequantized logits in steps of the output scale: the same figures as raw int8."""
    litert, tflm = TFLiteRunner(int8_model, spec), TFLMRunner(int8_model, spec)
    model_inputs = litert.quantize_input(test_pixels)
    raw = output_agreement(litert.raw_outputs(model_inputs), tflm.raw_outputs(model_inputs))
    dequantized = output_agreement(litert.logits(test_pixels), tflm.logits(test_pixels), step=litert.output["quantization"][0])
    assert dequantized == raw and raw["images"] == COMPARED_IMAGES
    tflm_raw = tflm.raw_outputs(model_inputs).astype(np.int64)
    shifted = tflm_raw + np.array([0, 3])  # 3 steps more for the second class on every image
    assert output_agreement(tflm_raw, shifted) == {
        "images": COMPARED_IMAGES, "exact_match_rate": 0.0, "max_abs_diff_steps": 3,
        "top1_agreement": float(np.mean(tflm_raw.argmax(1) == shifted.argmax(1)))}


@pytest.mark.slow
def test_smallest_arena_runs_and_one_byte_less_fails_naming_the_size(int8_model, spec, test_pixels, arena_bytes):
    assert MIN_ARENA_BYTES < arena_bytes < 10 * int8_model.stat().st_size
    assert smallest_arena(int8_model) == arena_bytes  # the bisection is deterministic: the export's figure holds
    logits = TFLMRunner(int8_model, spec, arena_bytes=arena_bytes).logits(test_pixels[:2])
    assert logits.shape == (2, spec.num_classes)
    # The bisection is byte-exact, so one byte less is the next step below.
    with pytest.raises(ArenaTooSmallError, match=f"{arena_bytes - 1:,} bytes is too small .* needs {arena_bytes:,} bytes") as error:
        TFLMRunner(int8_model, spec, arena_bytes=arena_bytes - 1)
    assert error.value.exit_code == EXIT_BAD_INPUT and "\n" not in str(error.value)


@pytest.mark.slow
def test_arena_below_what_tflm_can_start_in_is_refused(int8_model, spec):
    with pytest.raises(ConfigError, match=f"at least {MIN_ARENA_BYTES} bytes"):
        TFLMRunner(int8_model, spec, arena_bytes=MIN_ARENA_BYTES - 1)


@pytest.mark.slow
def test_exported_model_needs_no_op_tflm_lacks(int8_model):
    ops = model_ops(int8_model)
    assert "CONV_2D" in ops and "DEPTHWISE_CONV_2D" in ops
    assert unsupported_ops(int8_model) == []


@pytest.mark.slow
def test_ops_without_a_tflm_kernel_are_named(model_with_ops_tflm_lacks, spec):
    assert {"POW", "TOPK_V2"} <= set(model_ops(model_with_ops_tflm_lacks))
    assert sorted(unsupported_ops(model_with_ops_tflm_lacks)) == ["POW", "TOPK_V2"]
    with pytest.raises(TFLMUnsupportedOpsError, match=r"pow_topk\.tflite uses op\(s\) TFLM .* no kernel for: ") as error:
        TFLMRunner(model_with_ops_tflm_lacks, spec)
    assert {"POW", "TOPK_V2"} <= set(str(error.value).rsplit(": ", 1)[1].split(", "))
    assert error.value.exit_code == EXIT_CHECK_FAILED and "\n" not in str(error.value)
    with pytest.raises(TFLMUnsupportedOpsError, match="POW"):
        smallest_arena(model_with_ops_tflm_lacks)


def test_an_export_whose_ops_tflm_lacks_names_them_and_writes_no_c_array(model_with_ops_tflm_lacks, tmp_path):
    facts = measure_tflm(model_with_ops_tflm_lacks)
    assert sorted(facts.unsupported_ops) == ["POW", "TOPK_V2"] and facts.arena_bytes is None and not facts.runs
    assert write_mcu_array(ExportDir(tmp_path), LABELS, facts) == ()
    assert list(tmp_path.iterdir()) == []
    report = tflm_report(facts, {}, output_scale=1.0)  # no tflm row ran
    assert report["unsupported_ops"] == facts.unsupported_ops and report["tensor_arena_bytes"] is None
    assert "vs_litert_reference" not in report and "vs_litert_default" not in report
    [failure] = tflm_failures(report)
    assert "no kernel for POW, TOPK_V2" in failure or "no kernel for TOPK_V2, POW" in failure


def test_missing_model_file_is_an_artifact_error(tmp_path):
    with pytest.raises(ArtifactError, match="no model file"):
        smallest_arena(tmp_path / "absent.tflite")


def test_unknown_litert_op_resolver_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="op_resolver must be one of"):
        TFLiteRunner(tmp_path / "unused.tflite", PreprocessSpec(), op_resolver="xnnpack")
