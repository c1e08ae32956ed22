"""Reading the project's small YAML files (a sources list, a recipe): one section, checked, or one clear error."""

from __future__ import annotations

from pathlib import Path

import yaml

from .errors import ToolchainError


def read_section(path: str | Path, key: str, kind: type, error: type[ToolchainError], expected: str):
    """The non-empty ``key:`` section of the YAML file ``path``, of type ``kind`` (list or dict).

    Raises ``error`` naming the file when it cannot be read or the section is missing, empty or of
    another type; ``expected`` words what the section should hold."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeError, yaml.YAMLError) as e:
        raise error(f"cannot read {path}: {e}") from e
    section = data.get(key) if isinstance(data, dict) else None
    if not isinstance(section, kind) or not section:
        raise error(f"{path} needs a non-empty '{key}:' {expected}")
    return section
