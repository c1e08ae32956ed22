"""The datasets (sources) one prepared set is cut from: format, root, class map, and whether it only trains.

One dataset comes from ``--format F --root R``; several from repeated ``--source [NAME=]FORMAT:ROOT``
(``--training-only NAME``) or from a small YAML file (``--sources FILE``)::

    sources:
      - name: riders                 # optional: default the root folder's name
        format: voc
        root: ../shared/data/helmet-kaggle-voc     # relative to this file
      - format: yolo
        root: ../shared/data/helmet-hardhat-yolo
        class_map: {nohelmet: no_helmet}           # optional, on top of the defaults
        training_only: true          # its crops only ever train: the test (and val) split stays the others'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from data.annotations import FORMATS, ClassMap, normalise_class_name
from data.errors import DataError
from data.yaml_files import read_section

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class Dataset:
    format: str
    root: Path
    name: str = ""
    class_map: Mapping[str, str] = field(default_factory=dict)   # on top of the default spellings
    training_only: bool = False
    names: tuple[str, ...] | None = None                          # YOLO class names by id, if not in data.yaml

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))
        object.__setattr__(self, "name", self.name or self.root.resolve().name)
        if self.format not in FORMATS:
            raise DataError(f"dataset {self.name}: unknown format {self.format!r} (expected one of {', '.join(FORMATS)})")
        if not _NAME.match(self.name):
            raise DataError(f"dataset name {self.name!r}: use letters, digits, '.', '_' and '-' only")
        if self.names is not None and self.format != "yolo":
            raise DataError(f"dataset {self.name}: class names by id (--names) only apply to YOLO")
        try:
            self.classes()
        except ValueError as e:
            raise DataError(f"dataset {self.name}: {e}") from e

    def classes(self) -> ClassMap:
        return ClassMap(self.class_map)

    def describe(self) -> dict:
        return {"name": self.name, "format": self.format, "root": str(self.root.resolve()),
                "class_map": dict(self.class_map), "training_only": self.training_only}


def parse_source(entry: str, training_only: Iterable[str] = ()) -> Dataset:
    """``[NAME=]FORMAT:ROOT`` (the ``--source`` form) -> a Dataset; ``training_only`` lists dataset names."""
    head, sep, root = entry.partition(":")
    name, _, fmt = head.rpartition("=")
    if not sep or not root or not fmt:
        raise DataError(f"--source {entry!r} must look like [NAME=]FORMAT:ROOT, e.g. yolo:data/hardhat")
    name = name or Path(root).resolve().name
    return Dataset(fmt, Path(root), name, training_only=name in set(training_only))


def load_sources_file(path: str | Path) -> list[Dataset]:
    """The datasets of a sources YAML file; relative roots are relative to the file."""
    path = Path(path)
    entries = read_section(path, "sources", list, DataError, "list of {format, root} entries")
    datasets = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not {"format", "root"} <= set(entry):
            raise DataError(f"{path}: sources[{i}] needs 'format' and 'root', got {entry!r}")
        unknown = set(entry) - {"name", "format", "root", "class_map", "training_only", "names"}
        if unknown:
            raise DataError(f"{path}: sources[{i}] has unknown keys {sorted(unknown)}")
        class_map = entry.get("class_map") or {}
        if not isinstance(class_map, dict):
            raise DataError(f"{path}: sources[{i}].class_map must be a mapping NAME: LABEL")
        root = Path(str(entry["root"]))
        names = entry.get("names")
        datasets.append(Dataset(str(entry["format"]), root if root.is_absolute() else path.parent / root,
                                str(entry.get("name") or ""), {str(k): str(v) for k, v in class_map.items()},
                                bool(entry.get("training_only", False)),
                                tuple(map(str, names)) if names is not None else None))
    return datasets


def check_datasets(datasets: Sequence[Dataset]) -> None:
    """Names unique, at least one dataset that is not training-only."""
    if not datasets:
        raise DataError("no dataset to prepare")
    seen: dict[str, Path] = {}
    for d in datasets:
        if d.name in seen:
            raise DataError(f"two datasets are named {d.name!r} ({seen[d.name]} and {d.root}): give them names")
        seen[d.name] = d.root
    if all(d.training_only for d in datasets):
        raise DataError("every dataset is training-only: at least one must provide the val and test splits")


def check_class_maps(declared: Mapping[str, Sequence[str]], datasets: Sequence[Dataset]) -> None:
    """One class name must mean one label across the prepared set: a name that two datasets declare and
    map to different labels is an error (the user's per-dataset class maps clash)."""
    meaning: dict[str, tuple[str, str]] = {}
    for d in datasets:
        classes = d.classes()
        for name in declared.get(d.name, ()):
            label = classes.get(name)
            key = normalise_class_name(name)
            if label is None:
                continue
            if key in meaning and meaning[key][0] != label:
                other_label, other = meaning[key]
                raise DataError(f"class {name!r} means {label!r} in dataset {d.name} but {other_label!r} in "
                                f"dataset {other}: fix the class maps so one name means one label")
            meaning.setdefault(key, (label, d.name))
