"""Every command the README names starts and answers --help: the console entry points and the python -m forms."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from conftest import REPO

SCRIPTS = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
MODULE_FORMS = [["-m", "data.prepare"], ["-m", "lightning_modules.fit"], ["-m", "lightning_modules.recipe"],
                ["export/to_tflite.py"], ["-m", "export.to_tflite"], ["-m", "export.parity"], ["-m", "export.predict"],
                ["-m", "export.edgetpu"], ["-m", "explain"]]


def run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_console_entry_point_answers_help(name):
    script = Path(sys.executable).parent / name
    if not script.is_file():
        pytest.skip(f"{name} is not installed beside {sys.executable} (pip install -e . installs it)")
    out = run([str(script), "--help"])
    assert out.returncode == 0, out.stderr[-2000:]
    assert "usage:" in out.stdout


@pytest.mark.parametrize("form", MODULE_FORMS, ids=" ".join)
def test_python_forms_answer_help(form):
    out = run([sys.executable, *form, "--help"])
    assert out.returncode == 0, out.stderr[-2000:]
    assert "usage:" in out.stdout


def test_usage_errors_exit_2_with_one_line():
    out = run([sys.executable, "-m", "data.prepare", "--out", "/tmp/x", "--format", "voc"])
    assert out.returncode == 2
    assert [line for line in out.stderr.splitlines() if line.startswith("error:")] == [
        "error: --format and --root go together"]
