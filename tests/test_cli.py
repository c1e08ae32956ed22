"""Every command the README names starts and answers --help: the console entry points and the python forms."""

from __future__ import annotations

import importlib
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from conftest import REPO

SCRIPTS = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]


def run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_every_console_entry_point_answers_help(name, monkeypatch, capsys):
    module, function = SCRIPTS[name].split(":")
    entry = getattr(importlib.import_module(module), function)
    monkeypatch.setattr(sys, "argv", [name, "--help"])  # console scripts read sys.argv, as installed
    with pytest.raises(SystemExit) as stopped:
        entry()
    assert stopped.value.code in (0, None)
    assert "usage:" in capsys.readouterr().out.lower()


def test_an_installed_console_script_runs():
    script = Path(sys.executable).parent / "helmet-prepare"
    if not script.is_file():
        pytest.skip(f"console scripts are not installed beside {sys.executable} (pip install -e . installs them)")
    out = run([str(script), "--help"])
    assert out.returncode == 0 and "usage:" in out.stdout


def test_the_documented_export_form_answers_help():
    out = run([sys.executable, "export/to_tflite.py", "--help"])
    assert out.returncode == 0, out.stderr[-2000:]
    assert "usage:" in out.stdout


def test_the_documented_fit_form_answers_help_without_importing_tensorflow():
    """TensorBoard would load TensorFlow into every training process (seconds, half a gigabyte) if let."""
    out = run([sys.executable, "-X", "importtime", "-m", "lightning_modules.fit", "--help"])
    assert out.returncode == 0, out.stderr[-2000:]
    assert "usage:" in out.stdout
    imported = [line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if line.startswith("import time:")]
    assert "torch" in imported and "tensorflow" not in imported


def test_usage_errors_exit_2_with_one_line():
    out = run([sys.executable, "-m", "data.prepare", "--out", "/tmp/x", "--format", "voc"])
    assert out.returncode == 2
    assert [line for line in out.stderr.splitlines() if line.startswith("error:")] == [
        "error: --format and --root go together"]
