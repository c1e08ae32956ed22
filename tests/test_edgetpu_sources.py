"""The Edge TPU rule table: every rule names its source, and docs/edgetpu_rules.md says the same."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from export.edgetpu import ALL_RULES, EDGETPU_OPS, SOURCES, TFLITE_2_5_MAX_VERSION, Rule, schema
from export.edgetpu.sources import CHANGED, UNVERIFIED, VERIFIED

DOC = Path(__file__).resolve().parents[1] / "docs" / "edgetpu_rules.md"

# The outcome of the audit against the sources (docs/edgetpu_rules.md): a rule
# changing standing must be re-documented, so it has to be changed here too.
EXPECTED_UNVERIFIED = {
    "op:RSQRT", "op:SQUARED_DIFFERENCE", "op:SUM", "limit:SUM:constant-axes", "limit:SUM:batch",
    "limit:SPLIT:constant-axis", "limit:SPLIT:batch", "model:single-subgraph", "model:batch-1",
}
EXPECTED_CHANGED = {"model:parameter-cache"}


def test_op_table_is_consistent():
    builtin_names = {k for k in vars(schema.BuiltinOperator) if not k.startswith("_")}
    assert set(TFLITE_2_5_MAX_VERSION) <= builtin_names
    for name, rule in EDGETPU_OPS.items():
        assert name in builtin_names and rule.name == name and rule.row.id == f"op:{name}"
        assert rule.max_version == TFLITE_2_5_MAX_VERSION[name], name
    # the ops of the known-good full-int8 MobileNetV2 (field notes) are all supported
    for name, version in {"CONV_2D": 3, "DEPTHWISE_CONV_2D": 3, "ADD": 2, "PAD": 2,
                          "MEAN": 2, "FULLY_CONNECTED": 4}.items():
        assert version <= EDGETPU_OPS[name].max_version
    assert "DEQUANTIZE" not in EDGETPU_OPS and "LEAKY_RELU" not in EDGETPU_OPS
    # versions newer than TFLite 2.5 that compiler 16 is known to reject (google-coral/edgetpu #631 and others)
    for name, too_new in {"CONV_2D": 6, "EXP": 2, "TRANSPOSE_CONV": 4, "QUANTIZE": 3}.items():
        assert TFLITE_2_5_MAX_VERSION[name] < too_new


def test_every_rule_names_a_source_and_quotes_it():
    assert {rule.source for rule in ALL_RULES.values()} <= set(SOURCES)
    for rule in ALL_RULES.values():
        if rule.status == UNVERIFIED:
            assert rule.source == "unverified" and rule.note, f"{rule.id}: say why it is unverified"
        else:
            assert SOURCES[rule.source].url.startswith("https://"), rule.id
        if rule.verified and rule.id.startswith(("limit:", "tensor:", "model:")):
            assert rule.quote, f"{rule.id} implements wording it does not quote"
    # a limitation quotes (part of) its op row's wording when both come from the same table
    for op in EDGETPU_OPS.values():
        for limit in op.limits:
            if limit.rule.verified and limit.rule.source == op.row.source and op.row.quote:
                assert limit.rule.quote.rstrip(".") in op.row.quote, limit.rule.id


def test_the_audit_outcome():
    assert {r.id for r in ALL_RULES.values() if r.status == UNVERIFIED} == EXPECTED_UNVERIFIED
    assert {r.id for r in ALL_RULES.values() if r.status == CHANGED} == EXPECTED_CHANGED


def test_a_rule_cannot_claim_a_source_it_does_not_have():
    with pytest.raises(ValueError, match="unknown source"):
        Rule("op:X", VERIFIED, "coral models-intro (from memory)")
    with pytest.raises(ValueError, match="does not fit"):
        Rule("op:X", VERIFIED, "unverified")
    with pytest.raises(ValueError, match="does not fit"):
        Rule("op:X", UNVERIFIED, "coral models-intro")
    with pytest.raises(ValueError, match="unknown status"):
        Rule("op:X", "probably", "coral models-intro")


def _doc_rows() -> dict[str, list[str]]:
    rows = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\| `([^`]+)` \|", line)
        if match:
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            assert match.group(1) not in rows, f"{match.group(1)} documented twice"
            rows[match.group(1)] = cells
    return rows


def test_docs_table_matches_the_rules():
    rows = _doc_rows()
    assert set(rows) == set(ALL_RULES), (set(rows) ^ set(ALL_RULES))
    for rule_id, cells in rows.items():
        rule = ALL_RULES[rule_id]
        assert cells[-1] == rule.status, rule_id
        assert cells[-2] == rule.source, rule_id
        if rule.quote:
            assert rule.quote.replace("|", "\\|") in cells[2], rule_id
    text = DOC.read_text(encoding="utf-8")
    for source in SOURCES.values():
        if source.url:
            assert source.url in text, f"source {source.key} is not described in the docs"
