"""Shared fixtures: one tiny trained run and its export, built once per test session."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
from pathlib import Path
from unittest import mock

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
REAL_DATASET = REPO.parent / "shared" / "data" / "helmet-kaggle-voc"

# Small enough to train in ~20 s on 2 cores, large enough for a model that is clearly better than chance.
TINY_COUNTS = {"train": 1600, "val": 128, "test": 128}
TINY_SIZE = 96
REAL_SUBSET = {"train": 120, "val": 30, "test": 40}  # crops per split of a prepared set, for fits of seconds


def real_subset(prepared: Path, out: Path) -> Path:
    """The first crops of each split and class of a prepared set (sorted by name, REAL_SUBSET in all), with the manifest
    that describes them."""
    for split, n in REAL_SUBSET.items():
        for label in ("helmet", "no_helmet"):
            target = out / split / label
            target.mkdir(parents=True)
            for crop in sorted((prepared / split / label).glob("*.png"))[: n // 2]:
                shutil.copy(crop, target / crop.name)
    shutil.copy(prepared / "manifest.csv", out / "manifest.csv")
    return out


def tiny_settings(run_root: Path, arch: str = "slim_mobilenet", epochs: int = 8) -> dict:
    """The tiny synthetic run's settings as a nested config dict (the training API's input)."""
    return {
        "model": {"arch": arch},
        "data": {"image_size": TINY_SIZE, "synthetic_counts": dict(TINY_COUNTS)},
        "trainer": {"max_epochs": epochs, "enable_model_summary": False,
                    "logger": {"init_args": {"save_dir": str(run_root)}}},
        "progress_bar": {"refresh_rate": 0},
    }


def fit_tiny(run_root: Path, arch: str = "slim_mobilenet", epochs: int = 8, overrides: dict | None = None) -> Path:
    """Train through the training API (the command line's own code path); returns the run directory.
    ``overrides`` is a nested config dict merged over the tiny settings."""
    from lightning_modules.fit import deep_merge, fit, load_config

    return fit(load_config(overrides=deep_merge(tiny_settings(run_root, arch, epochs), overrides or {}))).run_dir


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory):
    """The whole chain once per session through ``pipeline.run_pipeline``: the tiny synthetic run, its export
    (calibrated on 100 images) and Grad-CAM parity on 16 synthetic test images, made with the network blocked
    and into a *relative* work directory, as a user types it; ``.network_attempts`` lists any connection tried."""
    from pipeline import Training, run_pipeline

    where = tmp_path_factory.mktemp("pipeline")
    previous = os.getcwd()
    os.chdir(where)
    try:
        with network_blocked() as attempts:
            run = run_pipeline(Training(overrides=tiny_settings(Path("runs"))), Path("work"), explain="synthetic",
                               explain_n=16, latency=False, calib_samples=100)
    finally:
        os.chdir(previous)
    run.network_attempts = list(attempts)
    run.where = where
    return run


@pytest.fixture(scope="session")
def tiny_run(tiny_pipeline) -> Path:
    return tiny_pipeline.where / tiny_pipeline.run_dir


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_run) -> Path:
    best = tiny_run / "checkpoints" / "best.ckpt"
    assert best.is_file(), f"no best checkpoint in {tiny_run}: {sorted((tiny_run / 'checkpoints').iterdir())}"
    return best


@pytest.fixture(scope="session", autouse=True)
def no_network():
    """Every test runs with sockets blocked; a connection attempted anywhere fails the session."""
    with network_blocked() as attempts:
        yield attempts
    assert not attempts, f"tests tried to reach the network: {attempts}"


@contextlib.contextmanager
def network_blocked():
    """Refuse (and record) every outgoing connection and DNS lookup made inside the block."""
    attempts: list[str] = []

    def refuse(what, original=None):
        def fail(*args, **kwargs):
            if original is not None and args[0].family == socket.AF_UNIX:  # local IPC is not the network
                return original(*args, **kwargs)
            attempts.append(f"{what}{args[1:] if what == 'connect' else args[:1]}")
            raise OSError(f"network access blocked in tests: {what}")
        return fail

    with mock.patch.object(socket.socket, "connect", refuse("connect", socket.socket.connect)), \
            mock.patch.object(socket.socket, "connect_ex", refuse("connect", socket.socket.connect_ex)), \
            mock.patch.object(socket, "getaddrinfo", refuse("getaddrinfo")), \
            mock.patch.object(socket, "create_connection", refuse("create_connection")):
        yield attempts


@pytest.fixture(scope="session")
def tiny_export(tiny_pipeline):
    """The full export of the tiny run (an ExportResult); ``.network_attempts`` lists any connection tried."""
    result = tiny_pipeline.export
    assert result.out == tiny_pipeline.where / "work" / "export"
    result.network_attempts = tiny_pipeline.network_attempts
    return result
