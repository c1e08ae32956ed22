"""Data-parallel training as configs/ddp.yaml documents it: the CPU command (2 processes, gloo, Lightning's own
launcher) and the torchrun form (2 processes on one node) run as written, shrunk to smoke size by the options every
documented fit gets (tests/doc_commands.py), and leave the run directory of a single-process fit, written by rank 0
alone; a torchrun fit killed mid-run resumes with --ckpt_path to the weights of an uninterrupted one. Settings that
cannot run are one ``error:`` line and exit 2.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import torch

from conftest import REPO
from doc_commands import FIT_SMOKE, documented
from lightning_modules.fit import main

CPU_FORM = r"python -m lightning_modules\.fit --config configs/slim_mobilenet\.yaml --config configs/ddp\.yaml --trainer\.accelerator=cpu"
TORCHRUN_FORM = r"torchrun --standalone --nproc-per-node=2 -m lightning_modules\.fit .*"
RESUME_COUNTS = "--data.synthetic_counts={train: 128, val: 32, test: 32}"  # 4 steps an epoch on each of 2 processes
RESUME_EPOCHS = 3
VENV_BIN = Path(sys.executable).parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def command(pattern: str, save_dir: Path, *extra: str) -> list[str]:
    """The documented command matching ``pattern`` as written, plus the smoke options and a run root in ``save_dir``."""
    args = shlex.split(documented(pattern).normalized)
    if args[0] == "python":
        args[0] = sys.executable
    return [*args, *FIT_SMOKE, f"--trainer.logger.init_args.save_dir={save_dir}", *extra]


def run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=900)


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
    assert "self.log('val/loss'" not in out.stderr, "the validation loss is rank 0's share, not the whole split's"
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


def descendants(pid: int) -> list[int]:
    """Every process under ``pid`` (torchrun starts its workers in sessions of their own)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        below = children.get(todo.pop(), [])
        found += below
        todo += below
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def kill_when(proc: subprocess.Popen, ready: Path, timeout: float = 600) -> list[int]:
    """SIGKILL ``proc`` and every process under it as soon as ``ready`` exists, as a machine that loses power would
    stop them; returns the processes killed."""
    deadline = time.monotonic() + timeout
    while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    killed = [*descendants(proc.pid), proc.pid]
    for pid in killed:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=60)
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in killed) and time.monotonic() < deadline:
        time.sleep(0.1)
    return killed


@pytest.fixture(scope="module")
def torchrun_fits(tmp_path_factory):
    """The documented torchrun command three times, shrunk alike: once to its end, once killed by SIGKILL (torchrun
    and both workers) as soon as the first epoch's last.ckpt is written, then that run resumed with --ckpt_path."""
    extra = (RESUME_COUNTS, f"--trainer.max_epochs={RESUME_EPOCHS}")
    whole_dir, killed_dir = tmp_path_factory.mktemp("torchrun_whole"), tmp_path_factory.mktemp("torchrun_killed")
    whole = run(command(TORCHRUN_FORM, whole_dir, *extra))
    killed_args = command(TORCHRUN_FORM, killed_dir, *extra)
    with (killed_dir / "killed.log").open("w") as log:
        proc = subprocess.Popen(killed_args, cwd=REPO, env=ENV, stdout=log, stderr=subprocess.STDOUT)
        last = killed_dir / "slim_mobilenet" / "version_0" / "checkpoints" / "last.ckpt"
        killed = kill_when(proc, last)
    at_kill = torch.load(last, map_location="cpu", weights_only=True) if last.exists() else None
    survivors = [pid for pid in killed if alive(pid)]
    resumed = run([*killed_args, "--ckpt_path", str(last)])
    return {"whole": (whole_dir, whole), "killed": (killed_dir, proc.returncode, at_kill, survivors),
            "resumed": (killed_dir, resumed)}


@pytest.mark.slow
def test_torchrun_on_one_node_leaves_the_run_directory_of_a_single_process_fit(torchrun_fits, tiny_run):
    save_dir, out = torchrun_fits["whole"]
    assert_clean(out)
    run_dir = only_run_dir(save_dir)
    assert file_names(run_dir) == file_names(tiny_run)
    assert len(event_file_pids(run_dir)) == 1  # one process (rank 0) logged
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["schedule"] == {"planned_steps": 12, "steps": 12, "completed": True, "stopped_by": None}
    assert metrics["train_images_per_second"] > 0 and metrics["resumed_from"] is None


@pytest.mark.slow
def test_a_killed_torchrun_fit_resumes_to_the_weights_of_an_uninterrupted_one(torchrun_fits):
    killed_dir, returncode, at_kill, survivors = torchrun_fits["killed"]
    assert returncode == -signal.SIGKILL and not survivors, f"still running after the kill: {survivors}"
    assert at_kill is not None, "the killed fit wrote no last.ckpt"
    steps = RESUME_EPOCHS * 4
    assert 0 < at_kill["global_step"] < steps, "the kill came too late to test resuming"
    _, resumed = torchrun_fits["resumed"]
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Traceback" not in resumed.stderr and "terminate called" not in resumed.stderr
    run_dir = only_run_dir(killed_dir)  # the same version_0, not a second run
    assert not list(run_dir.glob("checkpoints/.*.partial"))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["resumed_from"] == str((run_dir / "checkpoints" / "last.ckpt").resolve())
    assert metrics["schedule"]["steps"] == steps and metrics["schedule"]["completed"]
    whole_run = only_run_dir(torchrun_fits["whole"][0])
    for name in ["best.ckpt", "last.ckpt"]:
        expected = torch.load(whole_run / "checkpoints" / name, map_location="cpu", weights_only=True)
        got = torch.load(run_dir / "checkpoints" / name, map_location="cpu", weights_only=True)
        assert got["global_step"] == expected["global_step"], name
        different = [k for k in expected["state_dict"] if not torch.allclose(got["state_dict"][k], expected["state_dict"][k])]
        assert not different, f"{name}: {len(different)} tensors differ, e.g. {different[:3]}"
    whole_metrics = json.loads((whole_run / "metrics.json").read_text())
    assert metrics["test"] == pytest.approx(whole_metrics["test"])
