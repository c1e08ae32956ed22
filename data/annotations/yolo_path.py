"""Which folder data.yaml's ``path:`` names: the folder its train/val/test entries are relative to.

Ultralytics (``check_det_dataset`` in ultralytics/data/utils.py, 8.3) takes a relative ``path:`` from the
current directory when it exists there, else from ``DATASETS_DIR`` (a folder set in its settings file,
``~/.config/Ultralytics/settings.json``); without ``path:`` it takes the YAML's folder. Here:

1. no ``path:``: the YAML's folder;
2. a relative ``path:``: from the YAML's folder, then from the current directory (Ultralytics' first place);
   ``DATASETS_DIR`` is not searched: there is no Ultralytics settings file here, and a folder chosen by
   one would make a prepare depend on the machine it runs on;
3. an absolute ``path:``: as written;
4. none of these is a folder, but the YAML's own folder holds every train/val/test entry: the YAML's
   folder, with a note (a dataset folder moved or copied elsewhere, a YAML written on another machine);
5. else a DataError naming every place tried.

A folder found outside the dataset root is refused, like every other path of the dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from data.errors import DataError

from .checks import within

NO_PATH = "the YAML's folder (no path:)"
FROM_YAML_FOLDER = "from the YAML's folder"
FROM_CURRENT_DIRECTORY = "from the current directory"
AS_WRITTEN = "as written"
MOVED = "the YAML's folder, as path: is not a folder"


@dataclass(frozen=True)
class DatasetDir:
    folder: Path                    # resolved
    written: str | None             # path: as written, None when data.yaml has none
    found: str                      # how: one of the constants above
    tried: tuple[Path, ...] = ()    # the places path: led to before the one used: not folders
    note: str = ""                  # one line for the user when path: is written

    def record(self) -> dict:
        return {"path": self.written, "folder": str(self.folder), "found": self.found,
                "tried": [str(p) for p in self.tried], "note": self.note}


def dataset_dir(yaml_path: Path, written: object, entries: Sequence[tuple[str, str]], root: Path) -> DatasetDir:
    """The folder ``path:`` (``written``) names; ``entries`` are data.yaml's (key, entry) pairs as written."""
    yaml_dir = yaml_path.parent.resolve()
    if written is None or written == "":
        return DatasetDir(yaml_dir, None, NO_PATH)
    if not isinstance(written, str):
        raise DataError(f"{yaml_path}: path: expected a folder, got {written!r}")
    places = _places(yaml_path.parent, written)
    folders = [(where, how) for where, how in places if where.is_dir()]
    tried = tuple(where for where, _ in places[:places.index(folders[0]) if folders else None])
    if folders:
        where, how = folders[0]
        if not within(where, root):
            raise DataError(f"{yaml_path}: path: {written!r} resolves ({how}) to {where}, outside the dataset root "
                            f"{root}")
        note = f"{yaml_path.name} path: {written!r} -> {where} ({how})"
        if len(folders) > 1:
            note += f"; Ultralytics, run from here, would use {folders[1][0]} (it tries the current directory first)"
        return DatasetDir(where, written, how, tried, note)
    shown = ", ".join(f"{where} ({how})" for where, how in places)
    missing = [f"{key}: {item!r}" for key, item in entries if not entry_place(yaml_dir, item).exists()]
    if missing:
        raise DataError(f"{yaml_path}: path: {written!r} is not a folder at any place tried: {shown}, nor the YAML's "
                        f"folder {yaml_dir} (it lacks {', '.join(missing)}); Ultralytics' DATASETS_DIR is not "
                        "searched (no Ultralytics settings here): correct path: or remove it")
    note = (f"{yaml_path.name} path: {written!r} is not a folder ({shown}): using the YAML's folder {yaml_dir}, "
            "which holds its train/val/test entries (a moved or copied dataset)")
    return DatasetDir(yaml_dir, written, MOVED, tried, note)


def entry_place(dataset_dir: Path, item: str) -> Path:
    """A train/val/test entry resolved from ``dataset_dir``; when that does not exist and it starts with
    ``../``, without it, as Ultralytics retries it (Roboflow writes ``train: ../train/images``)."""
    where = (dataset_dir / item).resolve()
    if not where.exists() and item.startswith("../"):
        where = (dataset_dir / item[3:]).resolve()
    return where


def _places(yaml_dir: Path, written: str) -> list[tuple[Path, str]]:
    """Where ``written`` may lead, in the order tried, each once: (resolved place, how it was found)."""
    if Path(written).is_absolute():
        bases = [(None, AS_WRITTEN)]
    else:
        bases = [(yaml_dir, FROM_YAML_FOLDER)]
        try:
            bases.append((Path.cwd(), FROM_CURRENT_DIRECTORY))
        except OSError:  # the current directory was deleted: nothing to find there
            pass
    places: dict[Path, str] = {}
    for base, how in bases:
        try:
            where = (Path(written) if base is None else base / written).resolve()
        except (OSError, RuntimeError):  # a symlink loop: not a folder
            continue
        places.setdefault(where, how)
    return list(places.items())
