"""The export's verdicts and exit codes: 0 done, 1 a check that ran and failed, 2 bad input or usage; and the
printed summary."""

from __future__ import annotations

import copy
import errno
import shutil

import numpy as np
import pytest

from data.errors import EXIT_BAD_INPUT, EXIT_CHECK_FAILED, EXIT_OK, CheckFailed, ConfigError
from export.cli import run_cli
from export.inputs import DEFAULT_MIN_INT8_AGREEMENT
from export.layout import ExportDir
from export.summary import print_parity
from export.to_tflite import export_checkpoint, main as export_main
from export.verdicts import edgetpu_failures, parity_failures


@pytest.mark.slow
def test_the_tiny_export_passes_every_verdict(tiny_export):
    assert parity_failures(tiny_export.parity, DEFAULT_MIN_INT8_AGREEMENT) == []
    assert edgetpu_failures(tiny_export.edgetpu) == []


@pytest.mark.slow
@pytest.mark.parametrize("steps, top1, fails", [(1, 1.0, False), (2, 1.0, True), (1, 0.99, True)])
def test_tflm_beyond_a_rounding_step_fails_and_says_how_far(tiny_export, steps, top1, fails):
    parity = copy.deepcopy(tiny_export.parity)
    parity["tflm"]["vs_litert_reference"].update(exact_match_rate=0.5, max_abs_diff_steps=steps, top1_agreement=top1,
                                                 bit_exact=False)
    failures = parity_failures(parity, DEFAULT_MIN_INT8_AGREEMENT)
    assert bool(failures) is fails
    if fails:
        [failure] = failures
        assert "beyond rounding" in failure and "50.0%" in failure and f"{steps} quantization" in failure


@pytest.mark.slow
def test_a_missing_tflm_kernel_fails_naming_the_op(tiny_export):
    parity = copy.deepcopy(tiny_export.parity)
    parity["tflm"].update(unsupported_ops=["POW"], tensor_arena_bytes=None)
    del parity["tflm"]["vs_litert_reference"], parity["tflm"]["vs_litert_default"], parity["artifacts"]["tflm"]
    [failure] = parity_failures(parity, DEFAULT_MIN_INT8_AGREEMENT)
    assert "no kernel for POW" in failure


@pytest.mark.slow
def test_int8_agreement_below_the_bound_fails_per_row(tiny_export):
    rows = tiny_export.parity["artifacts"]
    bound = min(rows[row]["agreement_with_pytorch"] for row in ("tflite_int8", "tflite_int8_ref", "tflm"))
    assert parity_failures(tiny_export.parity, bound) == []
    parity = copy.deepcopy(tiny_export.parity)
    parity["artifacts"]["tflite_int8"]["agreement_with_pytorch"] = 0.9
    [failure] = parity_failures(parity, DEFAULT_MIN_INT8_AGREEMENT)
    assert failure.startswith("tflite_int8 agrees with PyTorch on 90.0%") and "--min-int8-agreement 0.95" in failure


@pytest.mark.slow
def test_an_unmappable_model_fails_the_edge_tpu_check(tiny_export):
    edgetpu = copy.deepcopy(tiny_export.edgetpu)
    edgetpu.update(compatible=False, tpu_ops=3, first_unsupported_op="POW")
    [failure] = edgetpu_failures(edgetpu)
    assert "not Edge TPU-mappable" in failure and f"3 of {edgetpu['num_ops']} ops" in failure and "POW" in failure


@pytest.mark.slow
def test_badly_calibrated_int8_fails_the_parity_cli_with_exit_1(tiny_export, tmp_path, capsys):
    """Calibrating on near-black images (wrong data) squeezes the activation ranges: the default bound flags it."""
    from export.parity import main as parity_main
    from export.tflite_convert import convert_int8

    broken = ExportDir(tmp_path / "export")
    shutil.copytree(tiny_export.out, broken.root)
    size = tiny_export.manifest["preprocess"]["input_size"]
    convert_int8(broken.saved_model, broken.int8, np.full((20, size, size, 3), 0.02, np.float32))
    code = parity_main(["--artifacts", str(broken.root), "--limit", "64"])
    err = capsys.readouterr().err
    assert code == EXIT_CHECK_FAILED, err[-2000:]
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "below --min-int8-agreement 0.95" in errors[0] and "Traceback" not in err
    assert "tflm agrees with PyTorch" in errors[0]  # the microcontroller's row is judged too
    assert broken.parity.is_file()  # the measurements are written even when a check fails


@pytest.mark.parametrize("bound", [-0.1, 1.5])
def test_an_agreement_bound_outside_0_1_is_bad_input(tmp_path, bound, capsys):
    with pytest.raises(ConfigError, match="min-int8-agreement"):
        export_checkpoint(tmp_path / "absent.ckpt", tmp_path / "out", min_int8_agreement=bound)
    with pytest.raises(SystemExit) as usage:
        export_main(["--ckpt", str(tmp_path / "absent.ckpt"), "--min-int8-agreement", str(bound)])
    assert usage.value.code == EXIT_BAD_INPUT and "share in [0, 1]" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_help_names_the_real_default_output_and_explains_the_bound(capsys):
    with pytest.raises(SystemExit):
        export_main(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "RUN/export for a checkpoint in RUN/checkpoints/, else <checkpoint stem>_export" in help_text
    assert "exports/<arch>" not in help_text
    assert "(default 0.95)" in help_text and "Below 95 % the quantization itself is broken" in help_text


@pytest.mark.parametrize("raised,code,message", [
    (CheckFailed("tflm is off"), EXIT_CHECK_FAILED, "error: tflm is off"),
    (ConfigError("bad setting"), EXIT_BAD_INPUT, "error: bad setting"),
    (ConfigError("cannot read x.ckpt: torch says\nmore, over\nmany lines"), EXIT_BAD_INPUT,
     "error: cannot read x.ckpt: torch says"),
    (OSError(errno.EACCES, "Permission denied", "/somewhere/model.pt"), EXIT_BAD_INPUT,
     "error: Permission denied: /somewhere/model.pt"),
])
def test_cli_errors_become_one_line_and_an_exit_code(raised, code, message, capsys):
    def command() -> int:
        raise raised

    assert run_cli(command) == code
    assert capsys.readouterr().err == message + "\n"
    assert run_cli(lambda: EXIT_OK) == EXIT_OK


@pytest.mark.slow
def test_printed_summary_shows_the_int8_rows_and_tflm_figures(tiny_export, capsys):
    print_parity(tiny_export.parity)
    printed = capsys.readouterr().out
    tflm = tiny_export.parity["tflm"]
    for row in tiny_export.parity["artifacts"]:
        assert f"│ {row} " in printed, row  # one table row each
    assert f"smallest tensor arena {tflm['tensor_arena_bytes']:,} bytes" in printed
    assert "vs LiteRT reference kernels: 100.0%" in printed and "target bit-exact: met" in printed
    assert f"at most {tflm['vs_litert_default']['max_abs_diff_steps']} step(s)" in printed
