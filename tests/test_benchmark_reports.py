"""The benchmark tables are built from a real pipeline run (the session's tiny one), not from hand-made dicts."""

from __future__ import annotations

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
