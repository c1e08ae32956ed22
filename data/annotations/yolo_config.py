"""YOLO ``data.yaml``: the class names and the split entries, resolved the way Ultralytics resolves them.

* the dataset directory is the folder ``path:`` names (see ``yolo_path``: from the yaml's folder, then the
  current directory, else the yaml's folder when it holds the entries), else the yaml's folder;
* ``train:``/``val:``/``test:`` are each a folder, a .txt file listing images, or a list of these;
* an entry is ``(dataset_dir / entry).resolve()``; when that does not exist and the entry starts with
  ``../``, ``(dataset_dir / entry[3:]).resolve()`` (Roboflow writes ``train: ../train/images`` for the
  export's own ``train/images``).

Unlike Ultralytics, nothing may resolve outside the dataset root (such an entry is a DataError), and
``path:`` is also looked for from the yaml's folder, never from Ultralytics' ``DATASETS_DIR``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import yaml

from data.errors import DataError

from .checks import within
from .yolo_path import DatasetDir, dataset_dir, entry_place

DATA_YAML = "data.yaml"
SPLIT_KEYS: tuple[str, ...] = ("train", "val", "test")


@dataclass(frozen=True)
class SplitEntry:
    key: str        # train / val / test
    written: str    # as written in data.yaml
    path: Path      # resolved: a folder or a .txt image list inside the dataset root

    @property
    def is_list(self) -> bool:
        return self.path.is_file()

    def describe(self) -> str:
        return f"{self.key}: {self.written!r} ({self.path})"


def read_data_yaml(root: Path) -> tuple[Path, dict] | None:
    """``(path, content)`` of ``root/data.yaml``, None when there is none. Raises DataError if unreadable."""
    path = root / DATA_YAML
    if not path.is_file():
        return None
    if not within(path.resolve(), root.resolve()):  # not read: a YAML error would quote the foreign file
        raise DataError(f"{path} resolves to {path.resolve()}, outside the dataset root {root} "
                        "(path escapes dataset root)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, OSError, UnicodeError) as e:
        raise DataError(f"cannot read {path}: {e}") from e
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise DataError(f"cannot read {path}: expected a mapping of keys (names:, train:, ...), "
                        f"got a {type(data).__name__}")
    return path, data


def class_names(names: Iterable[str] | None, config: tuple[Path, dict] | None, root: Path) -> list[str]:
    """Class names by id: ``names`` if given, else data.yaml's ``names:`` (a list or {id: name})."""
    if names is not None:
        names = [str(n).strip() for n in names]
        if not names or not all(names):
            raise DataError(f"--names must be a non-empty comma-separated list, got {names}")
        return names
    if config is None:
        raise DataError(f"no class names: give --names or provide {root / DATA_YAML} with a 'names:' entry")
    path, data = config
    found = _names_from_yaml(path, data.get("names"))
    nc = data.get("nc")
    if nc is not None and (isinstance(nc, bool) or nc != len(found)):
        raise DataError(f"{path}: nc is {nc!r} but names lists {len(found)} classes {found}")
    return found


def _names_from_yaml(path: Path, raw: object) -> list[str]:
    if isinstance(raw, list) and raw:
        return [str(n) for n in raw]
    if isinstance(raw, dict) and raw:
        try:
            by_id = {int(k): str(v) for k, v in raw.items()}
        except (TypeError, ValueError) as e:
            raise DataError(f"{path}: names keys must be integer class ids: {e}") from e
        if sorted(by_id) != list(range(len(by_id))):
            raise DataError(f"{path}: names ids must be 0..N-1, got {sorted(by_id)}")
        return [by_id[i] for i in range(len(by_id))]
    raise DataError(f"{path} has no usable 'names:' list or mapping")


def split_entries(config: tuple[Path, dict], root: Path) -> tuple[list[SplitEntry], DatasetDir | None]:
    """Every train/val/test entry of data.yaml, resolved and checked, and the folder ``path:`` led to;
    ``([], None)`` when it has none (flat layout: ``path:`` places nothing then)."""
    path, data = config
    root = root.resolve()
    written: list[tuple[str, str]] = []
    for key in SPLIT_KEYS:
        value = data.get(key)
        if value is None or value == "" or value == []:
            continue
        for item in value if isinstance(value, list) else [value]:
            if not isinstance(item, str) or not item.strip():
                raise DataError(f"{path}: {key}: expected a folder, a .txt image list or a list of them, "
                                f"got {item!r}")
            written.append((key, item))
    if not written:
        return [], None
    where = dataset_dir(path, data.get("path"), written, root)
    return [SplitEntry(key, item, _resolve_entry(path, key, item, where.folder, root)) for key, item in written], where


def _resolve_entry(yaml_path: Path, key: str, item: str, folder: Path, root: Path) -> Path:
    where = entry_place(folder, item)
    if not within(where, root):
        raise DataError(f"{yaml_path}: {key}: {item!r} resolves to {where}, outside the dataset root {root}")
    if not where.exists():
        raise DataError(f"{yaml_path}: {key}: {item!r} resolves to {where}, which does not exist")
    if not where.is_dir() and where.suffix.lower() != ".txt":
        raise DataError(f"{yaml_path}: {key}: {item!r} resolves to {where}, which is neither a folder "
                        "nor a .txt image list")
    return where
