"""Model registry: architectures are built by name, so checkpoints hold only plain data."""

from .common import GapLinearClassifier, count_parameters
from .mobilenet_v2 import WEIGHT_SOURCES, MobileNetV2
from .slim_mobilenet import SlimMobileNet

ARCHITECTURES = {"slim_mobilenet": SlimMobileNet, "mobilenet_v2": MobileNetV2}


def build_model(arch: str, **kwargs) -> GapLinearClassifier:
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {sorted(ARCHITECTURES)}")
    try:
        return ARCHITECTURES[arch](**kwargs)
    except TypeError as e:
        raise ValueError(f"bad arguments for {arch}: {e}") from e


__all__ = ["ARCHITECTURES", "WEIGHT_SOURCES", "GapLinearClassifier", "MobileNetV2", "SlimMobileNet", "build_model", "count_parameters"]
