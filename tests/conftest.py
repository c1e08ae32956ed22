"""Shared fixtures: one tiny trained run and its export, built once per test session."""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
from pathlib import Path
from unittest import mock

import pytest
import yaml

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
REAL_DATASET = REPO.parent / "shared" / "data" / "helmet-kaggle-voc"

# Small enough to train in ~20 s on 2 cores, large enough for a model that is clearly better than chance.
TINY_COUNTS = {"train": 1600, "val": 128, "test": 128}
TINY_SIZE = 96


def fit_tiny(run_root: Path, arch: str = "slim_mobilenet", epochs: int = 8, overrides: dict | None = None,
             extra: list[str] | None = None) -> Path:
    """Train through the training API (the command line's own code path); returns the run directory.

    ``overrides`` is a nested config dict merged over the tiny settings. ``extra`` (command-line strings) is
    kept only for the callers not moved to ``overrides`` yet: those runs go through the command line with the
    same settings as a config file.
    """
    from lightning_modules.fit import deep_merge, fit, load_config, main

    tiny = {
        "model": {"arch": arch},
        "data": {"image_size": TINY_SIZE, "synthetic_counts": dict(TINY_COUNTS)},
        "trainer": {"max_epochs": epochs, "enable_model_summary": False,
                    "logger": {"init_args": {"save_dir": str(run_root)}}},
        "progress_bar": {"refresh_rate": 0},
    }
    config = load_config(overrides=deep_merge(tiny, overrides or {}))
    if extra:
        with tempfile.TemporaryDirectory() as tmp:
            settings = Path(tmp) / "tiny.yaml"
            settings.write_text(yaml.safe_dump(config))
            return Path(main(["--config", str(settings), *extra]))
    return fit(config).run_dir


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    return fit_tiny(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_run) -> Path:
    best = tiny_run / "checkpoints" / "best.ckpt"
    assert best.is_file(), f"no best checkpoint in {tiny_run}: {sorted((tiny_run / 'checkpoints').iterdir())}"
    return best


@contextlib.contextmanager
def network_blocked():
    """Refuse (and record) every outgoing connection and DNS lookup made inside the block."""
    attempts: list[str] = []

    def refuse(what):
        def fail(*args, **kwargs):
            attempts.append(f"{what}{args[1:] if what == 'connect' else args[:1]}")
            raise OSError(f"network access blocked in tests: {what}")
        return fail

    with mock.patch.object(socket.socket, "connect", refuse("connect")), \
            mock.patch.object(socket.socket, "connect_ex", refuse("connect")), \
            mock.patch.object(socket, "getaddrinfo", refuse("getaddrinfo")), \
            mock.patch.object(socket, "create_connection", refuse("create_connection")):
        yield attempts


@pytest.fixture(scope="session")
def tiny_export(tiny_checkpoint, tmp_path_factory):
    """The full export of the tiny run (an ExportResult), made with the network blocked and to a
    *relative* output path, as a user types it; ``.network_attempts`` lists any connection it tried."""
    from export.to_tflite import export_checkpoint

    where = tmp_path_factory.mktemp("export")
    previous = os.getcwd()
    os.chdir(where)
    try:
        with network_blocked() as attempts:
            result = export_checkpoint(tiny_checkpoint, Path("artifacts"), calib_samples=100)
    finally:
        os.chdir(previous)
    assert result.out == where / "artifacts"
    result.network_attempts = list(attempts)
    return result
