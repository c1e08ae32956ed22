"""One cross-validation row: its recipe and name, and how one fold of it is trained, exported and scored."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from data.manifest import read_manifest
from data.prepare import DEFAULT_MARGIN
from export.to_tflite import export_checkpoint
from pipeline import Training, run_pipeline, train

from .cv_pool import pooled_predictions
from .report import REPO, relative

RIDERS = "riders"  # the dataset every row is tested on (helmet-kaggle-voc)
FOLD_FILE = "fold.json"
PREDICTIONS_FILE = "real_cv_predictions.json"  # beside real_cv.json


def parse_settings(entries: list[str]) -> dict:
    """``["trainer.max_epochs=40", "model.lr=1e-3"]`` -> {"trainer": {"max_epochs": 40}, "model": {"lr": 0.001}}."""
    out: dict = {}
    for entry in entries:
        key, sep, value = entry.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set {entry!r} must look like KEY=VALUE, e.g. trainer.max_epochs=40")
        *parents, last = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = _value(value)
    return out


def _value(text: str):
    """A YAML value, with numbers in exponent form (1e-3, which YAML 1.1 reads as text) as numbers."""
    value = yaml.safe_load(text)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    return value


def folds_suffix(margin: float, split_seed: int, duplicate_distance: int | None) -> str:
    """What every row name on other crops or folds than the default ones ends with."""
    parts = [f"margin{margin:g}" if margin != DEFAULT_MARGIN else "", f"split{split_seed}" if split_seed else "",
             "photo_split" if duplicate_distance is None else ""]
    return "".join(f"_{p}" for p in parts if p)


def reference_row(reference: str, settings: dict) -> str:
    """The row a variant is compared with: the reference model, default recipe, on the variant's folds."""
    return reference + folds_suffix(DEFAULT_MARGIN, settings["split_seed"], settings["duplicate_distance"])


@dataclass(frozen=True)
class RowSpec:
    model: str
    teacher: str | None = None
    init: str = "synthetic"
    label: str = ""
    overrides: dict = field(default_factory=dict)
    add_source: list[str] = field(default_factory=list)
    margin: float = DEFAULT_MARGIN
    split_seed: int = 0
    folds: int = 5
    duplicate_distance: int | None = 8
    recipe: str | None = None    # a recipe file (relative to the repository): the row runs exactly it
    weights: str | None = None   # the pretrained features file its ``weights: true`` stages start from

    @classmethod
    def from_settings(cls, settings: dict) -> "RowSpec":
        known = {k: settings[k] for k in cls.__dataclass_fields__ if k in settings}
        known.setdefault("model", settings.get("model"))
        return cls(**known)

    @property
    def recipe_name(self) -> str:
        """``<model>[_distilled_<teacher>][_scratch][_<label>][_plus_<dataset>...]``: the default recipe is the model."""
        init = {"synthetic": "", "scratch": "scratch"}.get(self.init, f"from_{self.init}")
        parts = [f"distilled_{self.teacher}" if self.teacher else "", init,
                 self.label, *(f"plus_{d}" for d in self.add_source)]
        return "_".join([Path(self.recipe).stem if self.recipe else self.model, *filter(None, parts)])

    @property
    def name(self) -> str:
        return self.recipe_name + folds_suffix(self.margin, self.split_seed, self.duplicate_distance)

    def settings(self) -> dict:
        return asdict(self)


def synthetic_checkpoint(arch: str, runs: Path, shape: dict | None = None) -> Path:
    """The model's best checkpoint on the built-in synthetic data (configs/<arch>.yaml), reused from
    ``runs/<name>`` or trained there. ``shape`` ({"arch_kwargs": ..., "image_size": ...}) changes the
    network's width or input size: the synthetic run must have the same shape as the real one it starts."""
    shape = {k: v for k, v in (shape or {}).items() if v}
    name = arch + "".join(f"_{k}{_slug(v)}" for k, v in sorted(_flat(shape).items()))
    found = sorted((runs / name).glob("version_*/metrics.json"))
    if found:
        return Path(json.loads(found[-1].read_text())["best_checkpoint"])
    overrides = {"trainer": {"logger": {"init_args": {"save_dir": str(runs), "name": name}}},
                 "model": {"arch_kwargs": shape.get("arch_kwargs", {})}, "data": {}}
    if "image_size" in shape:
        overrides["data"]["image_size"] = shape["image_size"]
    _, best, _ = train(Training(configs=[REPO / "configs" / f"{arch}.yaml"], overrides=overrides), runs)
    return best


def _slug(value) -> str:
    """A value as part of a directory name: a block table [[1, 16, 1, 1], ...] becomes 1-16-1-1-..."""
    return re.sub(r"[^\w.]+", "-", str(value)).strip("-") if isinstance(value, (list, tuple)) else str(value)


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}".split(".")[-1]: v})
    return out


def fold_predictions(parity: dict, crops: Path) -> dict:
    """Per-crop labels, photo groups, datasets and PyTorch / int8 predictions on a fold's test crops, from the
    export's parity report (the same images, already run through every artifact)."""
    manifest = read_manifest(crops / "manifest.csv")
    names = [Path(p).resolve().relative_to(crops.resolve()).as_posix() for p in parity["per_image"]["paths"]]
    return {"crops": names, "groups": [manifest[c]["photo_group"] for c in names],
            "datasets": [manifest[c]["dataset"] for c in names], "labels": parity["per_image"]["labels"],
            **{a: parity["per_image"]["predicted"][a] for a in ("pytorch", "tflite_int8")}}


def read_fold(path: Path) -> dict:
    result = json.loads(path.read_text())
    result.setdefault("datasets", [c.split("/")[-1].split("__")[0] for c in result["crops"]])  # before sources
    return result


def row_dir(row: dict) -> Path:
    """Where a row of real_cv.json keeps its folds (``<work>/<row>``; results written before ``row_dir`` name a
    predictions file there instead)."""
    return REPO / row["row_dir"] if "row_dir" in row else (REPO / row["predictions_file"]).parent


def folds_on_disk(row: dict) -> bool:
    """Whether every fold a row of real_cv.json pooled is still on this machine (not on a fresh clone)."""
    return all((row_dir(row) / f"fold{k}" / FOLD_FILE).is_file() for k in row["folds"])


def stored_predictions(results: Path) -> dict:
    """Every row's pooled per-crop predictions as real_cv stored them beside real_cv.json (``PREDICTIONS_FILE``),
    so a clone without the fold runs can still pair rows and count errors."""
    path = results / PREDICTIONS_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def row_folds(name: str, row: dict) -> list[dict]:
    """The fold.json of each fold a row of real_cv.json pooled."""
    folds = []
    for k in row["folds"]:
        path = row_dir(row) / f"fold{k}" / FOLD_FILE
        if not path.is_file():
            raise SystemExit(f"{name}: fold {k} has no {path}; re-run its real_cv command")
        folds.append(read_fold(path))
    return folds


def row_predictions(name: str, row: dict, stored: dict | None = None) -> dict:
    """A row's per-crop predictions, pooled from its folds' fold.json, so a later run of other folds
    (--only-folds) of the same row cannot change what this row pairs; without the fold runs, the copy
    ``stored`` when the row was pooled (``stored_predictions``)."""
    if not folds_on_disk(row) and name in (stored or {}):
        return stored[name]
    return pooled_predictions(row_folds(name, row))


class FoldRunner:
    def __init__(self, spec: RowSpec, work: Path, synthetic_runs: Path):
        self.spec, self.work = spec, work
        shape = {"arch_kwargs": spec.overrides.get("model", {}).get("arch_kwargs"),
                 "image_size": spec.overrides.get("data", {}).get("image_size")}
        # a recipe trains its own starting stages (kept once for every fold in ``synthetic_runs``)
        self.init = synthetic_checkpoint(spec.model, synthetic_runs, shape) if spec.init == "synthetic" and not spec.recipe else None
        self.init_row = spec.init if spec.init not in ("synthetic", "scratch") else None
        self.shared_stages = synthetic_runs / "recipe_stages"

    def run(self, k: int, crops: Path, reexport: bool = False) -> dict:
        """Train, export and score fold ``k``; kept in ``<row>/fold<k>/fold.json`` so a re-run resumes.
        ``reexport``: a finished fold keeps its training and is exported again (today's export and checks)."""
        where = self.work / self.spec.name / f"fold{k}"
        done = where / FOLD_FILE
        if done.is_file():
            result = read_fold(done)
            if not reexport:
                return result
            run_dir, fit_seconds = REPO / result["run_dir"], result["fit_seconds"]
            summary = next(run_dir / f for f in ("metrics.json", "recipe.json") if (run_dir / f).is_file())
            export = export_checkpoint(Path(json.loads(summary.read_text())["best_checkpoint"]), where / "export", force=True)
        else:
            run = run_pipeline(self._training(k, crops), where, explain=None, latency=False)
            run_dir, export = run.run_dir, run.export
            fit_seconds = run.training.get("fit_seconds", run.training.get("fit_seconds_total"))
        artifacts = export.parity["artifacts"]
        result = {"fold": k, "run_dir": relative(run_dir), "export_dir": relative(export.out), "fit_seconds": fit_seconds,
                  "balanced_accuracy": {a: artifacts[a]["balanced_accuracy"] for a in ("pytorch", "tflite_int8")},
                  "int8_agreement": artifacts["tflite_int8"]["agreement_with_pytorch"],
                  "tflm": {k: export.parity["tflm"].get(k) for k in ("vs_litert_reference", "vs_litert_default")},
                  **fold_predictions(export.parity, crops)}
        done.write_text(json.dumps(result, indent=1) + "\n")
        return result

    def _training(self, k: int, crops: Path) -> Training:
        if self.spec.recipe:
            return Training(recipe=REPO / self.spec.recipe, data=crops, shared_stages=self.shared_stages,
                            weights=self.spec.weights)
        return Training(configs=[REPO / "configs" / f"real_{self.spec.model}.yaml"], overrides=self._overrides(k),
                        data=crops)

    def _overrides(self, k: int) -> dict:
        model = {}
        if self.init is not None:
            model["init_checkpoint"] = str(self.init)
        if self.init_row:
            model["init_checkpoint"] = str(self._fold_export(self.init_row, k, "--init"))
        if self.spec.teacher:
            model["teacher_checkpoint"] = str(self._fold_export(self.spec.teacher, k, "--teacher"))
        return {**self.spec.overrides, "model": {**self.spec.overrides.get("model", {}), **model}}

    def _fold_export(self, row: str, k: int, option: str) -> Path:
        """Fold ``k``'s exported model of another row on the same folds (named without its folds suffix)."""
        spec = self.spec
        path = self.work / (row + folds_suffix(spec.margin, spec.split_seed, spec.duplicate_distance)) / f"fold{k}" / "export" / "model.pt"
        if not path.is_file():
            raise SystemExit(f"{option} {row}: fold {k} has no {path}; run that row first")
        return path
