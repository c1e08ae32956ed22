"""Resuming an interrupted fit: a fit SIGKILLed after its first epoch and resumed with --ckpt_path ends with the
optimizer steps, weights and metrics of an uninterrupted fit of the same seed; Ctrl-C stops cleanly with a hint;
a --ckpt_path that cannot be resumed gets one error line.

The interrupted fits run as subprocesses of the command line (``python -m lightning_modules.fit``); the
uninterrupted fit and the resumptions run in this process through ``fit()`` and ``main()``, the same code path.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
import yaml

from conftest import REPO
from lightning_modules.checkpoint import load_classifier
from lightning_modules.fit import fit, load_config, main

COUNTS = {"train": 256, "val": 64, "test": 64}
BATCH = 32
STEPS_PER_EPOCH = COUNTS["train"] // BATCH
EPOCHS = 3
TIMING_KEYS = {"fit_seconds", "train_images_per_second", "resumed_from", "fit_seconds_before_resume", "best_checkpoint"}


def settings(save_dir: Path) -> dict:
    """A tiny fit with the EMA of the weights (its state is resumed too) and a wall-clock budget it never reaches."""
    return load_config(overrides={
        "data": {"image_size": 64, "batch_size": BATCH, "synthetic_counts": COUNTS},
        "trainer": {"max_epochs": EPOCHS, "max_time": "00:01:00:00", "enable_model_summary": False,
                    "logger": {"init_args": {"save_dir": str(save_dir)}},
                    "callbacks": [{"class_path": "lightning_modules.callbacks.EMAWeights", "init_args": {"decay": 0.9}}]},
        "progress_bar": {"refresh_rate": 0},
    })


def arguments(save_dir: Path) -> list[str]:
    """The same settings as command-line arguments (a config file)."""
    path = save_dir / "settings.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(settings(save_dir)))
    return ["--config", str(path)]


def run_dir_of(save_dir: Path) -> Path:
    return save_dir / "slim_mobilenet" / "version_0"


class Interruption:
    """The fit started on the command line, sent ``sig`` (to its process group) as soon as its first last.ckpt
    appears. Started at once and watched from a thread, so several run beside the in-process fits."""

    def __init__(self, save_dir: Path, sig: signal.Signals):
        self.save_dir, self.sig = save_dir, sig
        self.last = run_dir_of(save_dir) / "checkpoints" / "last.ckpt"
        self._out, self._err = save_dir / "stdout.txt", save_dir / "stderr.txt"
        env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}  # the same arithmetic as this process
        with self._out.open("w") as stdout, self._err.open("w") as stderr:
            # SIGINT back to its default: a shell starts background jobs with it ignored, and Python then never
            # raises KeyboardInterrupt (CI run as `.ci/run &` would otherwise see the fit ignore the Ctrl-C)
            self._proc = subprocess.Popen([sys.executable, "-m", "lightning_modules.fit", *arguments(save_dir)],
                                          cwd=REPO, env=env, stdout=stdout, stderr=stderr, start_new_session=True,
                                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        self._watcher = threading.Thread(target=self._signal_after_first_epoch, daemon=True)
        self._watcher.start()

    def _signal_after_first_epoch(self) -> None:
        deadline = time.monotonic() + 600
        while not self.last.exists() and self._proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        if self._proc.poll() is None:
            os.killpg(self._proc.pid, self.sig)

    def stop(self) -> None:
        """End the fit if a failed test left it running."""
        if self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()

    def result(self) -> subprocess.CompletedProcess:
        self._watcher.join()
        self._proc.wait(timeout=120)
        stderr = self._err.read_text()
        assert self.last.exists(), f"the fit wrote no last.ckpt (exit {self._proc.returncode}): {stderr[-3000:]}"
        return subprocess.CompletedProcess(self._proc.args, self._proc.returncode, self._out.read_text(), stderr)


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


@pytest.fixture(scope="module")
def interruptions(tmp_path_factory):
    started = {"kill": Interruption(tmp_path_factory.mktemp("killed"), signal.SIGKILL),
               "ctrl_c": Interruption(tmp_path_factory.mktemp("ctrl_c"), signal.SIGINT)}
    yield started
    for interruption in started.values():
        interruption.stop()


@pytest.fixture(scope="module")
def uninterrupted(interruptions, tmp_path_factory):  # runs while the interrupted fits start
    return fit(settings(tmp_path_factory.mktemp("uninterrupted")))


@pytest.fixture(scope="module")
def interrupted_by_ctrl_c(interruptions) -> tuple[Path, subprocess.CompletedProcess]:
    interruption = interruptions["ctrl_c"]
    return interruption.save_dir, interruption.result()


def test_killed_fit_resumes_to_the_same_steps_weights_and_metrics(interruptions, uninterrupted):
    killed = interruptions["kill"].result()
    assert killed.returncode == -signal.SIGKILL
    save_dir = interruptions["kill"].save_dir
    run_dir = run_dir_of(save_dir)
    last = run_dir / "checkpoints" / "last.ckpt"
    at_kill = load(last)
    assert 0 < at_kill["global_step"] < EPOCHS * STEPS_PER_EPOCH, "the kill came too late to test resuming"
    assert not list(run_dir.glob("checkpoints/.*.partial")), "a kill must not leave a half-written checkpoint"

    assert main([*arguments(save_dir), "--ckpt_path", str(last)]) == str(run_dir)

    assert sorted(p.name for p in run_dir.parent.iterdir()) == ["version_0"]  # the same TensorBoard run
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["ckpt_path"] is None  # as the run started
    for name in ["best.ckpt", "last.ckpt"]:
        expected, resumed = load(uninterrupted.run_dir / "checkpoints" / name), load(run_dir / "checkpoints" / name)
        assert resumed["global_step"] == expected["global_step"], name
        for weights in ["state_dict", "current_model_state"]:  # the EMA weights, and the raw ones under them
            assert resumed[weights].keys() == expected[weights].keys()
            different = [k for k in expected[weights] if not torch.allclose(resumed[weights][k], expected[weights][k])]
            assert not different, f"{name} {weights}: {len(different)} tensors differ, e.g. {different[:3]}"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert {k: v for k, v in metrics.items() if k not in TIMING_KEYS} == \
        {k: v for k, v in uninterrupted.metrics.items() if k not in TIMING_KEYS}
    assert metrics["schedule"]["steps"] == EPOCHS * STEPS_PER_EPOCH and metrics["schedule"]["completed"]
    assert metrics["resumed_from"] == str(last.resolve())
    assert metrics["fit_seconds_before_resume"] == pytest.approx(at_kill["callbacks"]["RunArtifacts"]["fit_seconds"])
    assert metrics["fit_seconds"] > metrics["fit_seconds_before_resume"]


def test_ctrl_c_stops_at_an_epoch_end_and_says_how_to_resume(interrupted_by_ctrl_c):
    save_dir, stopped = interrupted_by_ctrl_c
    run_dir = run_dir_of(save_dir)
    last = run_dir / "checkpoints" / "last.ckpt"
    assert stopped.returncode == 130, stopped.stderr[-3000:]
    assert "Traceback" not in stopped.stderr
    assert error_lines(stopped.stderr) == [
        "error: training interrupted; resume from the end of its last completed epoch with "
        f"`python -m lightning_modules.fit <the same arguments> --ckpt_path {last}`"]
    checkpoint = load(last)  # plain tensors, numbers and lists only
    assert checkpoint["global_step"] > 0 and checkpoint["global_step"] % STEPS_PER_EPOCH == 0  # an epoch's end
    assert checkpoint["random_state"]["train_loaders"], "the train loader's shuffling state is missing"
    assert load_classifier(last).arch == "slim_mobilenet"
    assert not list(run_dir.glob("checkpoints/.*.partial")) and not (run_dir / "metrics.json").exists()


def test_a_wall_clock_budget_counts_the_time_before_the_interruption(interrupted_by_ctrl_c, tmp_path):
    """Resumed with a budget (1 microsecond) already spent before the interruption, the fit takes no further step;
    had the Timer's elapsed time not been restored, it would take one step before noticing."""
    shutil.copytree(interrupted_by_ctrl_c[0] / "slim_mobilenet", tmp_path / "slim_mobilenet")  # leave the fixture as is
    last = run_dir_of(tmp_path) / "checkpoints" / "last.ckpt"
    at_interrupt = load(last)
    assert at_interrupt["callbacks"]["Timer"]["time_elapsed"]["train"] > 0
    config = settings(tmp_path)
    config["trainer"]["max_time"] = {"microseconds": 1}
    resumed = fit(config, ckpt_path=last)
    assert resumed.run_dir == run_dir_of(tmp_path)
    assert resumed.metrics["schedule"]["stopped_by"] == "max_time"
    assert resumed.metrics["schedule"]["steps"] == at_interrupt["global_step"]


@pytest.mark.parametrize("make,message", [
    (lambda last, elsewhere: elsewhere / "missing.ckpt", "checkpoint not found"),
    (lambda last, elsewhere: _truncated_copy(last, elsewhere / "last.ckpt"), "cannot read the checkpoint"),
], ids=["missing", "truncated"])
def test_a_ckpt_path_that_cannot_be_read_gets_one_error_line(interrupted_by_ctrl_c, tmp_path, capsys, make, message):
    save_dir, _ = interrupted_by_ctrl_c
    ckpt = make(run_dir_of(save_dir) / "checkpoints" / "last.ckpt", tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main([*arguments(save_dir), "--ckpt_path", str(ckpt)])
    stderr = capsys.readouterr().err
    assert exit_.value.code == 2
    assert len(error_lines(stderr)) == 1 and message in error_lines(stderr)[0] and "Traceback" not in stderr


@pytest.mark.parametrize("setting,message", [
    ("--data.image_size=96", "model.input_size: 64 in the checkpoint, 96 now"),
    ("--model.arch=mobilenet_v2", "model.arch: 'slim_mobilenet' in the checkpoint, 'mobilenet_v2' now"),
    ("--trainer.max_epochs=5", "planned for 24 optimizer steps, these arguments plan 40"),
])
def test_a_ckpt_path_of_another_configuration_is_refused(interrupted_by_ctrl_c, capsys, setting, message):
    save_dir, _ = interrupted_by_ctrl_c
    last = run_dir_of(save_dir) / "checkpoints" / "last.ckpt"
    before = last.read_bytes()
    with pytest.raises(SystemExit) as exit_:
        main([*arguments(save_dir), setting, "--ckpt_path", str(last)])
    stderr = capsys.readouterr().err
    assert exit_.value.code == 2
    assert len(error_lines(stderr)) == 1 and message in error_lines(stderr)[0] and "Traceback" not in stderr
    assert last.read_bytes() == before


def _truncated_copy(source: Path, target: Path) -> Path:
    """What a kill during a plain (non-atomic) write leaves."""
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target
