"""Data-parallel training as configs/ddp.yaml documents it: the CPU command (2 processes, gloo, Lightning's own
launcher) runs as written, shrunk to smoke size by the options every documented fit gets (tests/doc_commands.py),
and leaves the run directory of a single-process fit, written by rank 0 alone. Settings that cannot run are one
``error:`` line and exit 2.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch

from conftest import REPO
from doc_commands import FIT_SMOKE, documented
from lightning_modules.fit import main

CPU_FORM = r"python -m lightning_modules\.fit --config configs/slim_mobilenet\.yaml --config configs/ddp\.yaml --trainer\.accelerator=cpu"
VENV_BIN = Path(sys.executable).parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def command(pattern: str, save_dir: Path, *extra: str) -> list[str]:
    """The documented command matching ``pattern`` as written, plus the smoke options and a run root in ``save_dir``."""
    args = shlex.split(documented(pattern).normalized)
    if args[0] == "python":
        args[0] = sys.executable
    return [*args, *FIT_SMOKE, f"--trainer.logger.init_args.save_dir={save_dir}", *extra]


def only_run_dir(save_dir: Path) -> Path:
    runs = [p.parent for p in save_dir.rglob("config.yaml")]
    assert len(runs) == 1, f"expected one run directory under {save_dir}, found {runs}"
    return runs[0]


def file_names(run_dir: Path) -> Counter:
    """The run directory's files, TensorBoard's event files (one per logger session, named by time, host and pid)
    counted under one name."""
    return Counter(re.sub(r"^events\.out\.tfevents\..*", "events.out.tfevents.*", str(p.relative_to(run_dir)))
                   for p in run_dir.rglob("*") if p.is_file())


def event_file_pids(run_dir: Path) -> set[int]:
    """The processes that wrote the run's TensorBoard files (events.out.tfevents.TIME.HOST.PID.N)."""
    return {int(p.name.split(".")[-2]) for p in run_dir.glob("events.out.tfevents.*")}


def lines(text: str, prefix: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(prefix)]


def assert_clean(out: subprocess.CompletedProcess) -> None:
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Traceback" not in out.stderr and "terminate called" not in out.stderr, out.stderr[-3000:]
    assert "Starting with 2 processes" in out.stdout + out.stderr
    assert len(lines(out.stderr, "note: sync_batchnorm off")) == 1, "rank 0 alone says what it did about sync BN"
    assert len(lines(out.stdout, "run directory:")) == 1


@pytest.mark.slow
def test_the_documented_cpu_command_trains_on_two_processes(tmp_path, tiny_run):
    """configs/ddp.yaml's CPU form, as written: sync_batchnorm switched off with one note instead of torch's
    "SyncBatchNorm layers only work with GPU modules"; the run directory holds what a single-process fit's holds."""
    proc = subprocess.Popen(command(CPU_FORM, tmp_path), cwd=REPO, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    stdout, stderr = proc.communicate(timeout=900)
    assert_clean(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr))
    run_dir = only_run_dir(tmp_path)
    assert file_names(run_dir) == file_names(tiny_run)
    assert event_file_pids(run_dir) == {proc.pid}  # Lightning's launcher keeps rank 0 in the process it started
    config = (run_dir / "config.yaml").read_text()
    assert "sync_batchnorm: false" in config and "strategy: ddp" in config and "devices: 2" in config
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["schedule"]["completed"] and metrics["schedule"]["steps"] == 2  # 64 images / (16 x 2 processes)


@pytest.mark.parametrize("setting,message", [
    (["--trainer.sync_batchnorm=true", "--trainer.accelerator=cpu"],
     "--trainer.sync_batchnorm=true needs CUDA GPUs (torch's SyncBatchNorm), but this run is on cpu"),
    (["--trainer.accelerator=gpu"], "--trainer.accelerator=gpu: no GPU is available here"),
    (["--trainer.accelerator=cuda"], "`CUDAAccelerator` can not run on your system"),
    (["--trainer.strategy=fsdp", "--trainer.devices=2"], "The strategy `fsdp` requires a GPU accelerator"),
], ids=["sync_batchnorm_on_cpu", "gpu", "cuda", "fsdp_on_cpu"])
def test_a_combination_that_cannot_run_is_one_error_line(tmp_path, capsys, setting, message):
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU: these combinations can run")
    with pytest.raises(SystemExit) as stopped:
        main(["--config", str(REPO / "configs" / "ddp.yaml"), *setting, *FIT_SMOKE,
              f"--trainer.logger.init_args.save_dir={tmp_path}"])
    err = capsys.readouterr().err
    assert stopped.value.code == 2
    assert len(lines(err, "error:")) == 1 and message in lines(err, "error:")[0] and "Traceback" not in err
    assert not list(tmp_path.iterdir())


def test_launched_processes_that_do_not_match_the_devices_are_one_error_line(tmp_path, capsys, monkeypatch):
    """What torchrun --nproc-per-node=2 sets for a fit left at one device: refused before any process group forms
    (Lightning would raise it at the first step, with a traceback from every process)."""
    for name, value in {"TORCHELASTIC_RUN_ID": "test", "WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0",
                        "GROUP_RANK": "0", "LOCAL_WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29599"}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as stopped:
        main(["--trainer.strategy=ddp", *FIT_SMOKE, f"--trainer.logger.init_args.save_dir={tmp_path}"])
    err = capsys.readouterr().err
    assert stopped.value.code == 2
    assert lines(err, "error:") == ["error: trainer: You set `devices=1` and `num_nodes=1` in Lightning, but the product "
                                    "(1 * 1) does not match the world size (2). (the launcher's processes per node and "
                                    "nodes must equal --trainer.devices and --trainer.num_nodes)"]
