"""The benchmark tables are built from a real pipeline run (the session's tiny one), and the footprint sweep's
checkpoints are the settings they name."""

from __future__ import annotations

import torch

from benchmarks.report import chain_table, gradcam_table, markdown_table, parity_table, pipeline_row


def test_markdown_table_has_a_header_rule_and_one_line_per_row():
    assert markdown_table(["a", "b"], [[1, "x"], [2, "y"]]).splitlines() == [
        "| a | b |", "|---|---|", "| 1 | x |", "| 2 | y |"]


def test_pipeline_tables_show_every_runtime_and_the_checks(tiny_pipeline):
    row = pipeline_row("slim_mobilenet", tiny_pipeline)
    results = {"slim_mobilenet": {**row, "int8_latency": {"median_ms": 0.5}}}
    parity = parity_table(results)
    for runtime in ("pytorch", "onnx", "saved_model", "tflite_float32", "tflite_int8", "tflite_int8_ref", "tflm"):
        assert f"| slim_mobilenet | {runtime} |" in parity
    assert "per_image" not in row["parity"]  # per-image predictions stay out of the results files
    chain = chain_table(results)
    assert "yes (100% of" in chain and "KB" in chain  # Edge TPU-mappable, TFLM arena reported
    gradcam = gradcam_table({"slim_mobilenet": {**row, "explain": tiny_pipeline.explanation}})
    assert gradcam.count("\n") == 2 and "| slim_mobilenet | 16 | 6×6 |" in gradcam


def test_mcu_footprint_reuses_only_an_export_made_by_todays_export_code(tmp_path):
    from benchmarks.mcu_footprint import EXPORT_CODE_FILE, export_code_version, made_by_todays_export

    (tmp_path / "manifest.json").write_text("{}")
    assert not made_by_todays_export(tmp_path)  # no stamp: made before stamps, or crashed before it
    (tmp_path / EXPORT_CODE_FILE).write_text("0" * 64)
    assert not made_by_todays_export(tmp_path)  # other export code
    (tmp_path / EXPORT_CODE_FILE).write_text(export_code_version())
    assert made_by_todays_export(tmp_path)
    (tmp_path / "manifest.json").unlink()
    assert not made_by_todays_export(tmp_path)


def test_mcu_footprint_checkpoints_load_as_the_setting_they_name(tmp_path):
    from benchmarks.mcu_footprint import table, untrained_checkpoint
    from lightning_modules.checkpoint import load_classifier

    loaded = load_classifier(untrained_checkpoint(0.5, 81, tmp_path / "w.ckpt"), expect_arch="slim_mobilenet")
    assert loaded.spec.input_size == 81 and loaded.arch_kwargs == {"width_mult": 0.5, "conventions": "torchvision"}
    assert loaded.model.forward_features(torch.zeros(1, 3, 81, 81)).shape[-1] == 6  # 81 → 41 → 21 → 11 → 6
    fits = {"int8_bytes": 92_000, "tflm_arena_bytes": 96_000, "width_mult": 0.5, "input_size": 81,
            "parameters": 1, "ops": 26, "pad_ops": 0}
    too_big = {**fits, "tflm_arena_bytes": 130_000}
    lines = table({"a": fits, "b": too_big}).splitlines()
    assert lines[2].endswith("| yes |") and lines[3].endswith("| no |")


def test_export_footprint_reads_what_the_export_measured(tiny_export):
    from benchmarks.report import export_footprint, fits_microcontroller

    footprint = export_footprint(tiny_export.out, latency=False)
    assert footprint["int8_bytes"] == (tiny_export.out / "model_int8.tflite").stat().st_size
    parts = footprint["int8_bytes_by_part"]
    assert sum(parts.values()) == footprint["int8_bytes"] and min(parts.values()) > 0
    assert parts["weights"] > parts["biases"] and parts["quantization"] > parts["biases"]  # per-channel scales
    assert footprint["tflm_arena_bytes"] == tiny_export.parity["tflm"]["tensor_arena_bytes"] > 0
    assert footprint["edgetpu_mapped_ops"] == footprint["ops"] == tiny_export.edgetpu["num_ops"]
    assert footprint["pad_ops"] == 4  # 96 px: onnx2tf pads explicitly before each of the 4 stride-2 convolutions
    assert "int8_latency" not in footprint and not fits_microcontroller(footprint)  # 232 KB / 341 KB


def test_the_sweep_table_finds_its_settings_among_the_cross_validated_rows():
    from benchmarks.cv_rows import RowSpec
    from benchmarks.mcu_sweep import is_setting, setting_row, shape
    from benchmarks.real_cv import build_parser

    cv_args = build_parser().parse_args([])
    distilled = setting_row(0.35, 65, cv_args, teacher="slim_mobilenet")
    assert distilled.name == "slim_mobilenet_distilled_slim_mobilenet_w0.35_s65"
    assert shape({"settings": distilled.settings()}) == (0.35, 65)
    assert is_setting({"settings": setting_row(0.5, 81, cv_args).settings()})
    early_wide = RowSpec("slim_mobilenet", label="early_wide_s65", overrides={
        "model": {"arch_kwargs": {"blocks": [[1, 16, 1, 1], [4, 48, 1, 2]], "last_channels": 128}}, "data": {"image_size": 65}})
    assert shape({"settings": early_wide.settings()}) == (1.0, 65) and is_setting({"settings": early_wide.settings()})
    assert not is_setting({"settings": RowSpec("slim_mobilenet").settings()})
    assert not is_setting({"settings": RowSpec("mobilenet_v2", overrides=distilled.overrides).settings()})
