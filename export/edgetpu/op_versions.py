"""The builtin op versions that edgetpu_compiler 16 can parse.

edgetpu_compiler 16 (16.0.384591198, 2021) fails on a model holding any op
version its built-in TFLite does not know ("Didn't find op for builtin opcode
'X' version 'N'"), whether or not that op would run on the Edge TPU. Compiler
15 failed that way on RSQRT version 2, a TFLite 2.5 version, and Coral's answer
was to use compiler 16 (google-coral/edgetpu#384); compiler 16 is therefore
taken to know the versions of TFLite 2.5 and no newer ones.

The table holds, for every builtin op, the highest version whose minimum
runtime in TensorFlow's tensorflow/lite/tools/versioning/runtime_version.cc is
2.5.0 or older (ops it lists only at 1.x versions have version 1 here). Ops
that runtime_version.cc first lists at 2.6.0 or later are absent, so the
checker reports them as unknown to the compiler.
"""

from __future__ import annotations

from .sources import VERIFIED, Rule

_VERSIONS_ABOVE_1 = {
    "ABS": 3, "ADD": 3, "ARG_MAX": 2, "ARG_MIN": 2, "AVERAGE_POOL_2D": 3,
    "BATCH_MATMUL": 4, "BATCH_TO_SPACE_ND": 3, "BIDIRECTIONAL_SEQUENCE_LSTM": 3,
    "BIDIRECTIONAL_SEQUENCE_RNN": 3, "BROADCAST_TO": 3, "CONCATENATION": 3,
    "CONV_2D": 5, "DEPTH_TO_SPACE": 2, "DEPTHWISE_CONV_2D": 6, "DEQUANTIZE": 4,
    "DIV": 2, "EMBEDDING_LOOKUP": 3, "EQUAL": 3, "FAKE_QUANT": 2, "FILL": 3,
    "FLOOR_DIV": 2, "FULLY_CONNECTED": 9, "GATHER": 5, "GATHER_ND": 3,
    "GREATER": 2, "GREATER_EQUAL": 2, "L2_NORMALIZATION": 2, "LEAKY_RELU": 2,
    "LESS": 2, "LESS_EQUAL": 2, "LOG_SOFTMAX": 2, "LOGISTIC": 3, "LSTM": 4,
    "MAX_POOL_2D": 3, "MAXIMUM": 4, "MEAN": 3, "MINIMUM": 4, "MIRROR_PAD": 2,
    "MUL": 4, "NOT_EQUAL": 3, "PACK": 3, "PAD": 3, "PADV2": 3, "QUANTIZE": 2,
    "REDUCE_MAX": 3, "REDUCE_MIN": 3, "RELU": 3, "RELU6": 3,
    "RESIZE_BILINEAR": 4, "RESIZE_NEAREST_NEIGHBOR": 4, "REVERSE_V2": 3,
    "RNN": 3, "RSQRT": 2, "SELECT": 2, "SLICE": 5, "SOFTMAX": 3,
    "SPACE_TO_BATCH_ND": 3, "SPACE_TO_DEPTH": 2, "SPARSE_TO_DENSE": 3,
    "SPLIT": 4, "SPLIT_V": 2, "SQUARED_DIFFERENCE": 2, "SQUEEZE": 2,
    "STRIDED_SLICE": 5, "SUB": 5, "SUM": 2, "SVDF": 4, "TANH": 3, "TILE": 2,
    "TOPK_V2": 2, "TRANSPOSE": 5, "TRANSPOSE_CONV": 3,
    "UNIDIRECTIONAL_SEQUENCE_LSTM": 3, "UNIDIRECTIONAL_SEQUENCE_RNN": 3,
    "UNPACK": 4,
}
_VERSION_1_ONLY = (
    "ADD_N", "CALL_ONCE", "CAST", "CEIL", "COMPLEX_ABS", "CONV_3D", "COS",
    "CUMSUM", "DENSIFY", "ELU", "EMBEDDING_LOOKUP_SPARSE", "EXP", "EXPAND_DIMS",
    "FLOOR", "FLOOR_MOD", "HARD_SWISH", "HASHTABLE", "HASHTABLE_FIND",
    "HASHTABLE_IMPORT", "HASHTABLE_LOOKUP", "HASHTABLE_SIZE", "IF", "IMAG",
    "L2_POOL_2D", "LOCAL_RESPONSE_NORMALIZATION", "LOG", "LOGICAL_AND",
    "LOGICAL_NOT", "LOGICAL_OR", "LSH_PROJECTION", "MATRIX_DIAG",
    "MATRIX_SET_DIAG", "NEG", "NON_MAX_SUPPRESSION_V4", "NON_MAX_SUPPRESSION_V5",
    "ONE_HOT", "POW", "PRELU", "RANGE", "RANK", "REAL", "REDUCE_ANY",
    "REDUCE_PROD", "RELU_N1_TO_1", "RESHAPE", "REVERSE_SEQUENCE", "RFFT2D",
    "ROUND", "SCATTER_ND", "SEGMENT_SUM", "SELECT_V2", "SHAPE", "SIN",
    "SKIP_GRAM", "SQRT", "SQUARE", "UNIQUE", "WHERE", "WHILE", "ZEROS_LIKE",
)
TFLITE_2_5_MAX_VERSION: dict[str, int] = {
    **{name: 1 for name in _VERSION_1_ONLY},
    **_VERSIONS_ABOVE_1,
}

OP_VERSION_RULE = Rule(
    "model:op-versions", VERIFIED, "tensorflow runtime_version.cc",
    quote="{{BuiltinOperator_CONV_2D, 5}, \"2.4.0\"}, {{BuiltinOperator_CONV_2D, 6}, \"2.9.0\"}, ...",
    note="every row re-derived from runtime_version.cc (versions with a minimum runtime <= 2.5.0); all "
         "agreed with the table. The compiler-16 = TFLite-2.5 cut-off rests on the compiler error "
         "\"Didn't find op for builtin opcode 'RSQRT' version '2'\" (compiler 15) in coral issue 384.",
)
