"""Annotation class names -> project labels, with the spellings of different sources treated as one.

Matching ignores case and treats every run of spaces, ``_`` and ``-`` as one separator, so
``NO-Hardhat``, ``no_hardhat`` and ``No  hardhat`` are the same name. ``nohelmet`` (no separator)
is a different key and is listed explicitly.
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping

from data.preprocessing import LABELS

from .records import ParseResult, Problem

_SEPARATORS = re.compile(r"[\s_\-]+")

# One spelling per matching key; every other spelling of the key matches it.
DEFAULT_CLASS_MAP: dict[str, str] = {
    "helmet": "helmet",
    "With Helmet": "helmet",
    "hardhat": "helmet",
    "hard hat": "helmet",
    "with hardhat": "helmet",
    "no helmet": "no_helmet",
    "nohelmet": "no_helmet",
    "Without Helmet": "no_helmet",
    "head": "no_helmet",
    "bare head": "no_helmet",
    "no hardhat": "no_helmet",
    "nohardhat": "no_helmet",
    "no hard hat": "no_helmet",
    "without hardhat": "no_helmet",
}


def normalise_class_name(name: str) -> str:
    """Class-name matching key: case-insensitive; runs of spaces, '_' and '-' are one separator."""
    return _SEPARATORS.sub(" ", str(name)).strip().casefold()


def unknown_class_reason(name: str) -> str:
    return f"unknown class {name!r}"


class ClassMap:
    """Annotation class name -> project label (one of ``LABELS``), matched by ``normalise_class_name``."""

    def __init__(self, mapping: Mapping[str, str] | None = None, *, defaults: bool = True):
        self._map: dict[str, str] = {}
        self._shown: dict[str, str] = {}
        for source in ((DEFAULT_CLASS_MAP if defaults else {}), (mapping or {})):
            for name, label in source.items():
                if label not in LABELS:
                    raise ValueError(f"class map entry {name!r} -> {label!r}: label must be one of {LABELS}")
                key = normalise_class_name(name)
                if not key:
                    raise ValueError(f"class map entry with an empty class name -> {label!r}")
                self._map[key] = label
                self._shown[key] = name

    @classmethod
    def from_entries(cls, entries: Iterable[str] | None, *, defaults: bool = True) -> "ClassMap":
        """Build from CLI entries like ``"With Helmet=helmet"``; user entries override the defaults."""
        mapping: dict[str, str] = {}
        for entry in entries or ():
            if "=" not in entry:
                raise ValueError(f"class map entry {entry!r} must look like 'NAME=LABEL'")
            name, label = entry.rsplit("=", 1)
            mapping[name.strip()] = label.strip()
        return cls(mapping, defaults=defaults)

    def get(self, name: str) -> str | None:
        return self._map.get(normalise_class_name(name))

    def to_dict(self) -> dict[str, str]:
        return {self._shown[k]: v for k, v in self._map.items()}


def apply_class_map(result: ParseResult, class_map: ClassMap) -> None:
    """Set ``label`` on every object; objects whose class is not in the map become problems."""
    for record in result.records:
        kept = []
        for obj in record.objects:
            obj.label = class_map.get(obj.name)
            if obj.label is None:
                record.problems.append(Problem(unknown_class_reason(obj.name),
                                               f"not in the class map (use --class-map '{obj.name}=LABEL')",
                                               obj.index))
            else:
                kept.append(obj)
        record.objects = kept
