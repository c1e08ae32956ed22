"""Resuming an interrupted fit, on the default synthetic run: does a resumed run end where an uninterrupted one does?

    python -m benchmarks.resume [--work runs/resume_benchmark] [--kill-after-epochs 6] [--kill-delay 5] [--out DIR]

Runs ``python -m lightning_modules.fit`` with no arguments (slim MobileNet, built-in synthetic data, 13 epochs,
seed 0) in two working directories under --work (earlier runs of this benchmark there are deleted): once
uninterrupted, and once killed with SIGKILL --kill-delay seconds into the epoch after its --kill-after-epochs-th
epoch's last.ckpt (about half-way, mid-epoch, so that epoch is redone) and then resumed with
``--ckpt_path runs/slim_mobilenet/version_0/checkpoints/last.ckpt``. Writes resume.json and resume.md to --out:
both runs' optimizer steps, test balanced accuracy, their difference in pp (target: within 0.5 pp), and whether
the final weights (best.ckpt and last.ckpt) are allclose.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from benchmarks.report import write_results

REPO = Path(__file__).resolve().parents[1]
RUN = Path("runs") / "slim_mobilenet" / "version_0"  # the default run's directory, inside each working directory
TARGET_PP = 0.5


def fit_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "lightning_modules.fit", *args]


def child_environment() -> dict[str, str]:
    """The repository importable from the working directories (as when run from its root)."""
    paths = [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def run_to_the_end(work: Path, *args: str) -> float:
    """Wall seconds of ``python -m lightning_modules.fit *args`` in ``work`` (output in work/fit.log)."""
    started = time.perf_counter()
    with (work / "fit.log").open("a") as log:
        subprocess.run(fit_command(*args), cwd=work, env=child_environment(), stdout=log, stderr=subprocess.STDOUT,
                       check=True)
    return time.perf_counter() - started


def run_and_kill(work: Path, after_epochs: int, delay: float) -> dict:
    """Start the default fit in ``work`` and SIGKILL it ``delay`` seconds after the last.ckpt of its
    ``after_epochs``-th epoch appears; returns what that checkpoint holds."""
    last = work / RUN / "checkpoints" / "last.ckpt"
    with (work / "fit.log").open("w") as log:
        proc = subprocess.Popen(fit_command(), cwd=work, env=child_environment(), stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        seen, checkpoint = None, None
        while proc.poll() is None:
            stamp = last.stat().st_mtime_ns if last.exists() else None
            if stamp is not None and stamp != seen:
                seen, checkpoint = stamp, torch.load(last, map_location="cpu", weights_only=True)
                if checkpoint["epoch"] + 1 >= after_epochs:
                    break
            time.sleep(0.5)
        else:
            raise SystemExit(f"the fit in {work} ended (exit {proc.returncode}) before its epoch {after_epochs}; see fit.log")
        time.sleep(delay)
        if proc.poll() is not None:
            raise SystemExit(f"the fit in {work} ended before it could be killed; use a shorter --kill-delay")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return {"killed_after_epochs": checkpoint["epoch"] + 1, "global_step_at_checkpoint": checkpoint["global_step"],
            "seconds_into_next_epoch": delay}


def compare_weights(expected: Path, resumed: Path) -> dict:
    """Every tensor of the checkpoints' weights (the EMA and raw weights when there are both)."""
    a = torch.load(expected, map_location="cpu", weights_only=True)
    b = torch.load(resumed, map_location="cpu", weights_only=True)
    keys = [k for k in ("state_dict", "current_model_state") if k in a]
    if any(k not in b or b[k].keys() != a[k].keys() for k in keys):
        return {"same_tensors": False, "allclose": False, "bit_identical": False, "max_abs_difference": None}
    pairs = [(a[k][name], b[k][name]) for k in keys for name in a[k]]
    return {
        "same_tensors": True,
        "global_steps": [a["global_step"], b["global_step"]],
        "allclose": all(torch.allclose(x, y) for x, y in pairs),
        "bit_identical": all(torch.equal(x, y) for x, y in pairs),
        "max_abs_difference": max((x.double() - y.double()).abs().max().item() if x.numel() else 0.0 for x, y in pairs),
    }


def summary(work: Path, wall_seconds: float) -> dict:
    metrics = json.loads((work / RUN / "metrics.json").read_text())
    return {"optimizer_steps": metrics["schedule"]["steps"], "test_balanced_acc": metrics["test"]["balanced_acc"],
            "fit_seconds": metrics["fit_seconds"], "fit_seconds_before_resume": metrics.get("fit_seconds_before_resume"),
            "resumed_from": metrics.get("resumed_from"), "wall_seconds": wall_seconds, "run_dir": str(work / RUN)}


def markdown(results: dict) -> str:
    plain, resumed, kill = results["uninterrupted"], results["resumed"], results["kill"]
    weights = results["final_weights"]
    yes = {True: "yes", False: "no"}
    return "\n".join([
        "Resuming the default synthetic run (`python -m lightning_modules.fit`, seed 0) after a SIGKILL "
        f"{kill['seconds_into_next_epoch']:.0f} s into the epoch after epoch {kill['killed_after_epochs']}'s last.ckpt:",
        "",
        "| run | optimizer steps | test balanced acc. | training (s) |",
        "|---|---|---|---|",
        f"| uninterrupted | {plain['optimizer_steps']} | {plain['test_balanced_acc']:.4f} | {plain['fit_seconds']:.0f} |",
        f"| killed and resumed | {resumed['optimizer_steps']} | {resumed['test_balanced_acc']:.4f} | "
        f"{resumed['fit_seconds']:.0f} ({resumed['fit_seconds_before_resume']:.0f} up to the checkpoint resumed from) |",
        "",
        f"Difference: {results['balanced_acc_difference_pp']:+.2f} pp (target: within {TARGET_PP} pp: "
        f"{yes[results['within_target']]}). Final weights allclose: "
        + ", ".join(f"{name} {yes[w['allclose']]} (bit-identical {yes[w.get('bit_identical', False)]})"
                    for name, w in weights.items()) + ".",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "resume_benchmark")
    parser.add_argument("--kill-after-epochs", type=int, default=6)
    parser.add_argument("--kill-delay", type=float, default=5.0, help="seconds into the next epoch")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()
    plain_dir, resumed_dir = args.work.resolve() / "uninterrupted", args.work.resolve() / "interrupted"
    for directory in (plain_dir, resumed_dir):
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)

    plain = summary(plain_dir, run_to_the_end(plain_dir))
    started = time.perf_counter()
    kill = run_and_kill(resumed_dir, args.kill_after_epochs, args.kill_delay)
    run_to_the_end(resumed_dir, "--ckpt_path", str(RUN / "checkpoints" / "last.ckpt"))
    resumed = summary(resumed_dir, time.perf_counter() - started)

    difference = 100 * (resumed["test_balanced_acc"] - plain["test_balanced_acc"])
    results = {
        "command": "python -m lightning_modules.fit (no arguments)",
        "torch": torch.__version__, "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "kill": kill, "uninterrupted": plain, "resumed": resumed,
        "balanced_acc_difference_pp": difference, "target_pp": TARGET_PP, "within_target": abs(difference) <= TARGET_PP,
        "final_weights": {name: compare_weights(plain_dir / RUN / "checkpoints" / name, resumed_dir / RUN / "checkpoints" / name)
                          for name in ("best.ckpt", "last.ckpt")},
    }
    write_results(args.out, "resume", results, markdown(results))


if __name__ == "__main__":
    main()
