"""A training recipe: the stages one documented command runs, leaving one run directory to export.

    python -m lightning_modules.recipe configs/recipes/real_slim_mobilenet.yaml --data PREPARED [--out RUN]
    python -m lightning_modules.recipe configs/recipes/imagenet_mobilenet_v2.yaml --data PREPARED --weights W.h5

A recipe file names its stages in order; each stage is a fit of one or more configs (LightningCLI YAML,
merged in order) plus overrides, and may start from an earlier stage's weights (``init_from``) or
distil from an earlier stage (``teacher_from``)::

    stages:
      synthetic: {configs: [configs/slim_mobilenet.yaml]}              # the built-in data
      teacher:   {configs: [configs/real_slim_mobilenet.yaml], data: true, init_from: synthetic}
      student:   {configs: [configs/real_slim_mobilenet.yaml], data: true, init_from: synthetic,
                  teacher_from: teacher}

``data: true`` trains that stage on ``--data``; ``weights: true`` starts its network from ``--weights`` (pretrained
features: a Keras MobileNetV2 ``.h5`` or a torchvision state_dict, as ``model.arch_kwargs.pretrained_path``). A relative config path is looked up in the recipe file's
folder and then in each folder above it (the shipped recipes name ``configs/...`` from the repository root). Stages run into ``RUN/stages/<name>/``; the last
stage's best checkpoint becomes ``RUN/checkpoints/best.ckpt`` and ``RUN/recipe.json`` records every stage
(run directory, test metrics, training seconds, whether its schedule finished) and the total training
time. A stage whose run finished before (its metrics.json exists) is reused, so an interrupted recipe
re-run with the same arguments continues where it stopped. With ``shared``, stages that do not train on
``--data`` (e.g. the synthetic start) run in, and are reused from, that directory instead: the five folds of a
cross-validation share one synthetic run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from data.errors import ConfigError, ToolchainError
from data.yaml_files import read_section

from .fit import deep_merge, fit, load_config
from .models.keras_weights import WHERE_TO_GET

RECIPE_FILE = "recipe.json"
STAGE_KEYS = {"configs", "overrides", "data", "weights", "init_from", "teacher_from"}


@dataclass(frozen=True)
class Stage:
    name: str
    configs: tuple[Path, ...]
    overrides: dict = field(default_factory=dict)
    data: bool = False
    weights: bool = False
    init_from: str | None = None
    teacher_from: str | None = None


def load_recipe(path: str | Path) -> list[Stage]:
    """The stages of a recipe file, checked: known keys, configs that exist, links to earlier stages only."""
    path = Path(path)
    stages_raw = read_section(path, "stages", dict, ConfigError, "mapping of stage name -> {configs: [...], ...}")
    stages: list[Stage] = []
    for name, spec in stages_raw.items():
        if not isinstance(spec, dict) or not spec.get("configs"):
            raise ConfigError(f"{path}: stage {name!r} needs a 'configs:' list")
        unknown = set(spec) - STAGE_KEYS
        if unknown:
            raise ConfigError(f"{path}: stage {name!r} has unknown keys {sorted(unknown)}")
        earlier = {s.name for s in stages}
        for link in ("init_from", "teacher_from"):
            if spec.get(link) is not None and spec[link] not in earlier:
                raise ConfigError(f"{path}: stage {name!r} {link} {spec[link]!r} is not an earlier stage")
        configs = tuple(_locate(Path(p), path.resolve().parent) for p in spec["configs"])
        missing = [str(p) for p in configs if not p.is_file()]
        if missing:
            raise ConfigError(f"{path}: stage {name!r} names configs that do not exist: {missing}")
        if spec.get("weights") and spec.get("init_from"):
            raise ConfigError(f"{path}: stage {name!r} starts from --weights and from stage {spec['init_from']!r}: "
                              "choose one")
        stages.append(Stage(str(name), configs, dict(spec.get("overrides") or {}), bool(spec.get("data", False)),
                            bool(spec.get("weights", False)), spec.get("init_from"), spec.get("teacher_from")))
    return stages


def _locate(config: Path, folder: Path) -> Path:
    """``config`` itself if absolute, else the first ``folder``/config or ancestor/config that exists."""
    if config.is_absolute():
        return config
    return next((d / config for d in (folder, *folder.parents) if (d / config).is_file()), folder / config)


def stage_config(stage: Stage, out: Path, data: str | None, best: dict[str, Path], weights: Path | None = None) -> dict:
    """One stage's fit config: its YAML files, its overrides, then where it writes and what it starts from."""
    model: dict = {}
    if stage.weights:
        model["arch_kwargs"] = {"pretrained_path": str(weights)}
    if stage.init_from:
        model["init_checkpoint"] = str(best[stage.init_from])
    if stage.teacher_from:
        model["teacher_checkpoint"] = str(best[stage.teacher_from])
    overrides = {"trainer": {"logger": {"init_args": {"save_dir": str(out / "stages"), "name": stage.name}}},
                 "model": model}
    if stage.data:
        overrides["data"] = {"source": str(data)}
    return load_config(*stage.configs, overrides=deep_merge(stage.overrides, overrides))


def _finished(out: Path, stage: Stage) -> dict | None:
    """metrics.json of a finished earlier run of this stage in ``out``, if any (the newest version)."""
    found = sorted((out / "stages" / stage.name).glob("version_*/metrics.json"), key=lambda p: int(p.parent.name[8:]))
    return json.loads(found[-1].read_text()) | {"run_dir": str(found[-1].parent)} if found else None


def check_weights(stages: list[Stage], weights: str | Path | None) -> Path | None:
    """The ``--weights`` file, resolved, when a stage starts from it; one line saying where to get it otherwise."""
    needs = [s.name for s in stages if s.weights]
    if not needs:
        if weights is not None:
            raise ConfigError(f"--weights {weights}: no stage of this recipe starts from pretrained weights")
        return None
    if weights is None:
        raise ConfigError(f"stage {needs[0]!r} starts from ImageNet weights: give --weights FILE; {WHERE_TO_GET}")
    weights = Path(weights).resolve()
    if not weights.is_file():
        raise ConfigError(f"--weights {weights}: no such file; {WHERE_TO_GET}")
    return weights


def run_recipe(recipe: str | Path, out: str | Path, data: str | Path | None = None,
               shared: str | Path | None = None, weights: str | Path | None = None) -> dict:
    """Run (or continue) every stage of ``recipe`` into ``out``; returns the summary written to recipe.json.
    ``weights``: the pretrained features file the recipe's ``weights: true`` stages start from."""
    out = Path(out).resolve()
    shared = Path(shared).resolve() if shared is not None else out
    stages = load_recipe(recipe)
    needs_data = [s.name for s in stages if s.data]
    if needs_data and data is None:
        raise ConfigError(f"stage {needs_data[0]!r} trains on real data: give --data PREPARED_DIR")
    weights = check_weights(stages, weights)
    best: dict[str, Path] = {}
    summary: dict = {"recipe": str(Path(recipe).resolve()), "data": str(Path(data).resolve()) if data else None,
                     "weights": str(weights) if weights else None, "stages": {}}
    for stage in stages:
        where = out if stage.data or stage.weights else shared
        metrics = _finished(where, stage)
        if metrics is None:
            result = fit(stage_config(stage, where, str(Path(data).resolve()) if data else None, best, weights))
            metrics = result.metrics | {"run_dir": str(result.run_dir)}
        best[stage.name] = Path(metrics["best_checkpoint"])
        summary["stages"][stage.name] = {k: metrics.get(k) for k in ("run_dir", "best_checkpoint", "test", "fit_seconds",
                                                                      "schedule", "epochs_trained")}
    summary["fit_seconds_total"] = sum(s["fit_seconds"] or 0.0 for s in summary["stages"].values())
    summary["schedules_completed"] = all((s["schedule"] or {}).get("completed", True) for s in summary["stages"].values())
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    final = out / "checkpoints" / "best.ckpt"
    shutil.copyfile(best[stages[-1].name], final.with_suffix(".tmp"))
    final.with_suffix(".tmp").replace(final)
    summary["best_checkpoint"] = str(final)
    (out / RECIPE_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lightning_modules.recipe", description=__doc__.splitlines()[0])
    parser.add_argument("recipe", type=Path, help="a recipe file, e.g. configs/recipes/real_slim_mobilenet.yaml")
    parser.add_argument("--data", type=Path, help="the prepared real dataset (python -m data.prepare ... --out DIR)")
    parser.add_argument("--out", type=Path, help="the run directory (default: runs/recipes/<recipe name>)")
    parser.add_argument("--weights", type=Path, help="pretrained features for the stages that start from them, e.g. "
                        "Keras's mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5")
    args = parser.parse_args(argv)
    out = args.out or Path("runs") / "recipes" / args.recipe.stem
    try:
        summary = run_recipe(args.recipe, out, args.data, weights=args.weights)
    except ToolchainError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    for name, stage in summary["stages"].items():
        print(f"{name:<12} {stage['fit_seconds'] or 0:7.0f} s  test balanced accuracy "
              f"{(stage['test'] or {}).get('balanced_acc', float('nan')):.3f}  {stage['run_dir']}")
    print(f"training {summary['fit_seconds_total'] / 60:.1f} min in all; export {summary['best_checkpoint']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
