"""Where each Edge TPU rule comes from: the sources that were read, and each rule's standing.

Every op row, op limitation and model-level rule of the checker is a ``Rule``
that names its source and, where the source has one, the exact wording it
implements. ``docs/edgetpu_rules.md`` is the same table for people.

Coral's own page ("TensorFlow models on the Edge TPU") could only be read up
to its compatibility overview: the stored copies searched for this table end
before its "Supported operations" table and its requirements list. Rows are
therefore checked against copies of that table (Axis publishes it for its
ARTPEC-7 chip, which runs Edge TPU-compiled models; a 2019 copy sits in a
public repository), against Coral maintainers' statements and compiler output
in google-coral/edgetpu issues, and against TensorFlow's source.
"""

from __future__ import annotations

from dataclasses import dataclass

VERIFIED = "verified"  # a source supports the rule as implemented
CHANGED = "changed"  # a source supports the rule as changed to match it
UNVERIFIED = "unverified"  # no source read supports it; verdicts resting on it say so
STATUSES = (VERIFIED, CHANGED, UNVERIFIED)


@dataclass(frozen=True)
class Source:
    key: str
    title: str
    url: str
    what_was_read: str


SOURCES: dict[str, Source] = {s.key: s for s in (
    Source("coral models-intro", "Coral, \"TensorFlow models on the Edge TPU\"",
           "https://coral.ai/docs/edgetpu/models-intro/",
           "the opening sections only (up to 'Compatibility overview'); the stored copies do not reach "
           "the 'Supported operations' table or the model requirements list"),
    Source("coral models-intro 2019", "Coral, the same page at coral.withgoogle.com (an older edition)",
           "https://coral.withgoogle.com/docs/edgetpu/models-intro/",
           "the opening sections only, including its note on post-training quantization"),
    Source("coral table (axis copy)", "Axis, \"Supported ops\" for ARTPEC-7 (an Edge TPU; models are compiled "
           "with edgetpu_compiler): the Edge TPU operation table",
           "https://developer.axis.com/computer-vision/on-device/system-on-chip/artpec-7/supported-ops/",
           "rows Add to ResizeBilinear (alphabetical); the rest of the table was not in the stored excerpt"),
    Source("axis optimization tips", "Axis, \"Optimization Tips\" for ARTPEC-7",
           "https://developer.axis.com/computer-vision/on-device/system-on-chip/artpec-7/optimization-tips/",
           "the model-level requirements (int8, static sizes, rank rule, single partition)"),
    Source("coral table (2019 copy)", "dgist-datalab/Datalab_Intern, Edge_TPU/convert_model_for_Edge_TPU.md: "
           "a 2019 copy (in Korean, table in English) of Coral's requirements list and operation table",
           "https://github.com/dgist-datalab/Datalab_Intern/blob/master/Edge_TPU/convert_model_for_Edge_TPU.md",
           "the whole file: requirements list and the table from Logistic to StridedSlice"),
    Source("coral issue 193", "google-coral/edgetpu#193, a Coral maintainer's reply (2021-08-03)",
           "https://github.com/google-coral/edgetpu/issues/193", "the thread"),
    Source("coral issue 684", "google-coral/edgetpu#684, a user quoting the supported-operations table",
           "https://github.com/google-coral/edgetpu/issues/684", "the issue description"),
    Source("coral issue 290", "google-coral/edgetpu#290, edgetpu_compiler 15 output",
           "https://github.com/google-coral/edgetpu/issues/290", "the thread"),
    Source("coral issue 384", "google-coral/edgetpu#384, edgetpu_compiler 15 output and a Coral reply",
           "https://github.com/google-coral/edgetpu/issues/384", "the thread"),
    Source("compiler log (openvino2tensorflow 28)", "PINTO0309/openvino2tensorflow#28, an edgetpu_compiler "
           "15 log of a 13.35 MiB model", "https://github.com/PINTO0309/openvino2tensorflow/issues/28",
           "the log in the issue description"),
    Source("tensorflow runtime_version.cc", "TensorFlow, tensorflow/lite/tools/versioning/runtime_version.cc "
           "(the minimum runtime of every builtin op version)",
           "https://github.com/tensorflow/tensorflow/blob/master/tensorflow/lite/tools/versioning/runtime_version.cc",
           "the whole op_version_map"),
    Source("tensorflow quantization_spec.md", "TensorFlow Lite 8-bit quantization specification",
           "https://github.com/tensorflow/tensorflow/blob/master/tensorflow/lite/g3doc/performance/quantization_spec.md",
           "the whole file"),
    Source("unverified", "no source found", "", "see docs/edgetpu_rules.md for what was searched"),
)}


@dataclass(frozen=True)
class Rule:
    """One op row, op limitation or model-level rule, with where it comes from."""

    id: str  # "op:MEAN", "limit:MEAN:batch", "tensor:rank", "model:op-versions"
    status: str  # VERIFIED, CHANGED or UNVERIFIED
    source: str  # a key of SOURCES
    quote: str = ""  # the source's exact wording, where it has one
    note: str = ""  # how the checker reads it, or what was changed and why

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"rule {self.id}: unknown status {self.status!r}")
        if self.source not in SOURCES:
            raise ValueError(f"rule {self.id}: unknown source {self.source!r}")
        if (self.status == UNVERIFIED) != (self.source == "unverified"):
            raise ValueError(f"rule {self.id}: status {self.status!r} does not fit source {self.source!r}")

    @property
    def verified(self) -> bool:
        return self.status != UNVERIFIED
