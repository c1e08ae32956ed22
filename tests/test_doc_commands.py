"""The commands the docs give work as written: each runs (shrunk to smoke size, in a scratch copy of the repository,
on the session's tiny run and export where it only needs "a checkpoint" or "an export"), or is listed with the reason
it cannot run here; and every repository path the docs mention exists. How each command is run: tests/doc_commands.py.
"""

from __future__ import annotations

import os
import re
import runpy
import shlex
import shutil
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path

import pytest
import torch
import yaml

from conftest import REAL_DATASET, REPO, real_subset
from doc_commands import (CONFIG_SMOKE, INPUTS, OUTPUT_OPTIONS, PLACEHOLDERS, SCRIPTS, DocCommand, Name, NotRun, Run,
                          RunIn, doc_files, documented_commands, rule_for)

COMMANDS = documented_commands()


@dataclass
class Invocation:
    """A documented command made runnable: placeholders replaced, its inputs to put in place, its smoke options."""

    rule: Run
    args: list[str]
    inputs: dict[str, str]  # path relative to the scratch repository -> resource
    key: str  # the command with its inputs replaced by their kinds, its outputs left out: one run per key
    where: list[str] = field(default_factory=list)


def _substitute(value: str) -> str:
    head, _, rest = value.partition("/")
    return PLACEHOLDERS[head] + ("/" + rest if rest else "") if head in PLACEHOLDERS else value


def invocation(command: DocCommand, rule: Run) -> Invocation:
    args = shlex.split(re.sub(r"\[-[^\]]*\]", "", command.normalized))  # optional [--parts] left out
    args = [f"{a.split('=', 1)[0]}={_substitute(a.split('=', 1)[1])}" if a.startswith("--") and "=" in a
            else _substitute(a) for a in args]
    inputs: dict[str, str] = {}
    key = []
    for i, arg in enumerate(args):
        if arg in OUTPUT_OPTIONS or i > 0 and args[i - 1] in OUTPUT_OPTIONS:
            continue  # where a command writes does not make it another command
        for pattern, resource in INPUTS.items():
            for match in re.finditer(pattern, arg):
                inputs[match.group(0)] = resource
            arg = re.sub(pattern, f"<{resource}>", arg)
        key.append(arg)
    for path in rule.needs:
        inputs[path] = next(r for p, r in INPUTS.items() if re.fullmatch(p, path))
    return Invocation(rule, args + list(rule.smoke), inputs, " ".join(key))


def planned_runs() -> dict[str, Invocation]:
    runs: dict[str, Invocation] = {}
    for command in COMMANDS:
        rule = rule_for(command)
        if isinstance(rule, Run):
            planned = invocation(command, rule)
            runs.setdefault(planned.key, planned).where.extend(command.where)
    return runs


RUNS = planned_runs()


class Resources:
    """What commands read that the docs expect earlier commands to have made, each made once per session."""

    def __init__(self, root: Path, tiny_run: Path, tiny_export: Path):
        self.root, self.tiny_run, self.tiny_export = root, tiny_run, tiny_export
        self._prepared: Path | None = None

    def put(self, resource: str, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        if resource == "run":
            shutil.copytree(self.tiny_run, target)
        elif resource == "export":
            shutil.copytree(self.tiny_export, target)
        elif resource == "prepared":
            shutil.copytree(self.prepared(), target)
        elif resource == "dataset":
            source = REAL_DATASET.parent / target.name
            if not source.is_dir():
                pytest.skip(f"the command reads the shared dataset {target.name}, not found at {source}")
            target.symlink_to(source)
        elif resource == "photo":
            from PIL import Image

            from data.synthetic import generate
            Image.fromarray(generate(1, seed=0, size=160, start=1)[0][0]).save(target, quality=90)
        elif resource == "garbage":
            target.write_bytes(b"\x00 not a checkpoint " * 64)
        elif resource == "keras_weights":
            shutil.copy(self.keras_weights(target.name), target)
        else:
            raise AssertionError(f"tests/doc_commands.py names a resource this test cannot make: {resource}")

    def keras_weights(self, name: str) -> Path:
        """A Keras MobileNetV2 weights file (no top) of the width the name gives, randomly initialised: the format of
        Keras's published ImageNet files, which a test cannot download."""
        path = self.root / name
        if not path.exists():
            import tf_keras

            alpha, size = re.search(r"_([\d.]+)_(\d+)_no_top", name).groups()
            tf_keras.applications.MobileNetV2(alpha=float(alpha), include_top=False, weights=None,
                                              input_shape=(int(size), int(size), 3)).save_weights(str(path))
        return path

    def prepared(self) -> Path:
        """A small prepared set: helmet-kaggle-voc through data.prepare, then a few crops of each split and class."""
        if self._prepared is None:
            if not (REAL_DATASET / "annotations").is_dir():
                pytest.skip(f"the command reads a prepared set of real crops; no dataset at {REAL_DATASET}")
            from data.prepare import prepare_dataset

            prepare_dataset(REAL_DATASET, self.root / "crops", fmt="voc", seed=0)
            self._prepared = real_subset(self.root / "crops", self.root / "prepared")
        return self._prepared


@pytest.fixture(scope="session")
def resources(tmp_path_factory, tiny_run, tiny_export) -> Resources:
    return Resources(tmp_path_factory.mktemp("doc_resources"), tiny_run, tiny_export.out)


@lru_cache(maxsize=1)
def repository_files() -> tuple[str, ...]:
    """The working tree's files as git sees them (tracked, and untracked but not ignored: new files count)."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True,
                            check=True).stdout.decode()
    return tuple(f for f in listed.split("\0") if f and (REPO / f).is_file())


def scratch_repository(tmp_path: Path, config_smoke: bool) -> Path:
    """A copy of the repository to run in (what a command writes stays there), at tmp_path/main, so that
    ../shared/data is tmp_path/shared/data as it is beside the real one."""
    root = tmp_path / "main"
    for name in repository_files():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, root / name)
    if config_smoke:
        from lightning_modules.fit import deep_merge

        for config in (root / "configs").glob("*.yaml"):
            config.write_text(yaml.safe_dump(deep_merge(yaml.safe_load(config.read_text()) or {}, CONFIG_SMOKE)))
    return root


def run_here(args: list[str], cwd: Path, monkeypatch, capfd) -> tuple[int, str]:
    """``python -m MODULE ARGS`` or ``python SCRIPT ARGS`` in this process: the module or script runs as __main__
    with that command line, from ``cwd``; its exit status and everything it wrote to stdout and stderr."""
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "path", list(sys.path))  # a script run puts its folder first
    if args[1] == "-m":
        monkeypatch.setattr(sys, "argv", [args[2], *args[3:]])
        main = lambda: runpy.run_module(args[2], run_name="__main__", alter_sys=True)  # noqa: E731
    else:
        monkeypatch.setattr(sys, "argv", args[1:])
        main = lambda: runpy.run_path(str(cwd / args[1]), run_name="__main__")  # noqa: E731
    capfd.readouterr()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as OMP_NUM_THREADS=1 does for the subprocesses: two threads on a busy core crawl
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*found in sys.modules after import of package", category=RuntimeWarning)
            main()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        torch.set_num_threads(threads)
    out = capfd.readouterr()
    return code, out.out + out.err


def run_subprocess(args: list[str], cwd: Path) -> tuple[int, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    out = subprocess.run([sys.executable, *args[1:]] if args[0] == "python" else args, cwd=cwd, env=env,
                         capture_output=True, text=True, timeout=1200)
    return out.returncode, out.stdout + out.stderr


def test_every_documented_command_is_run_or_listed():
    unhandled = [f"{c.text}  ({', '.join(c.where)})" for c in COMMANDS if rule_for(c) is None]
    assert not unhandled, ("documented commands that tests/doc_commands.py neither runs nor lists with a reason:\n  "
                           + "\n  ".join(unhandled))
    from doc_commands import RULES

    used = {id(rule_for(c)) for c in COMMANDS}
    stale = [rule.pattern for rule in RULES if id(rule) not in used]
    assert not stale, f"rules of tests/doc_commands.py that no documented command matches any more: {stale}"
    for rule in RULES:
        if isinstance(rule, RunIn):
            path, function = rule.test.split("::")
            assert f"def {function}(" in (REPO / path).read_text(), f"{rule.test} does not exist"
        if isinstance(rule, NotRun):
            assert rule.reason.strip(), rule.pattern


def test_every_command_named_in_a_table_exists():
    named = [c for c in COMMANDS if isinstance(rule_for(c), Name)]
    assert named
    bin_dir = Path(sys.executable).parent
    for command in named:
        args = command.normalized.split()
        if args[0] in SCRIPTS:
            assert (bin_dir / args[0]).is_file() or shutil.which(args[0]), f"{args[0]} is not installed"
        elif args[1] == "-m":
            spec = find_spec(args[2])
            assert spec is not None, f"no module {args[2]}"
            assert spec.submodule_search_locations is None or find_spec(args[2] + ".__main__"), \
                f"python -m {args[2]}: the package has no __main__"
        else:
            assert (REPO / args[1]).is_file(), args[1]


@pytest.mark.parametrize("key", [pytest.param(key, marks=[pytest.mark.slow] if run.rule.slow else [])
                                 for key, run in RUNS.items()])
def test_documented_command_runs(key, resources, tmp_path, monkeypatch, capfd):
    run = RUNS[key]
    root = scratch_repository(tmp_path, run.rule.config_smoke)
    for path, resource in run.inputs.items():
        resources.put(resource, root / path)
    started = time.time() - 1  # file systems that keep whole seconds
    if run.rule.subprocess or run.args[0] != "python":
        code, output = run_subprocess(run.args, root)
    else:
        code, output = run_here(run.args, root, monkeypatch, capfd)
    shown = f"{shlex.join(run.args)} (as written at {', '.join(run.where)}) exited {code}:\n{output[-4000:]}"
    assert code == run.rule.exit_code, shown
    assert "Traceback" not in output, shown
    if run.rule.exit_code == 2:
        assert len([line for line in output.splitlines() if line.startswith("error:")]) == 1, shown
    assert re.search(run.rule.expect, output), f"no {run.rule.expect!r} in the output of {shown}"
    if run.rule.writes:
        written = [p for p in root.parent.glob(f"main/{run.rule.writes}") if p.stat().st_mtime >= started]
        assert written, f"no {run.rule.writes} written by {shown}"


# ---------------------------------------------------------------------------------------------------------------------
# Repository paths
# ---------------------------------------------------------------------------------------------------------------------
TOP_LEVEL = ("configs", "benchmarks", "docs", "export", "data", "lightning_modules", "explain", "pipeline", "tests", ".ci")
PATH_PLACEHOLDER = re.compile(r"\b(?:NAME|N|PATH|" + "|".join(map(re.escape, PLACEHOLDERS)) + r")\b|<[^>]*>")
REPO_PATH = re.compile(r"(?<![\w./~-])(?:" + "|".join(map(re.escape, TOP_LEVEL)) + r")/[\w.*<>/-]*[\w*>/]")


def mentioned_paths() -> dict[str, list[str]]:
    """Repository paths the doc files mention (``configs/...``, ``docs/...``, ...; markdown links relative to their
    page), each with where: outputs that commands make (git-ignored places such as data/prepared/) left out."""
    found: dict[str, list[str]] = {}
    for path in doc_files():
        text = path.read_text()
        if path.suffix == ".yaml":  # only what a human reads: the comments
            text = "\n".join(line.split("#", 1)[1] if "#" in line else "" for line in text.splitlines())
        for match in REPO_PATH.finditer(text):
            found.setdefault(match.group(0), []).append(f"{path.relative_to(REPO)}:{text.count(chr(10), 0, match.start()) + 1}")
        if path.suffix == ".md":
            for link in re.finditer(r"\]\(([^)#\s]+)", text):
                if not re.match(r"[a-z]+:", link.group(1)):
                    target = os.path.relpath(os.path.normpath(path.parent / link.group(1)), REPO)
                    found.setdefault(target, []).append(f"{path.relative_to(REPO)}:{text.count(chr(10), 0, link.start()) + 1}")
    ignored = subprocess.run(["git", "check-ignore", "--no-index", "--stdin"], cwd=REPO, input="\n".join(found),
                             capture_output=True, text=True).stdout.split()
    return {p: where for p, where in found.items() if p not in ignored}


def test_every_repository_path_in_the_docs_exists():
    paths = mentioned_paths()
    assert "configs/ddp.yaml" in paths and "docs/results.md" in paths, "the path finder found nothing it should"
    missing = []
    for path, where in sorted(paths.items()):
        if (REPO / path).exists():
            continue
        pattern = re.sub(PATH_PLACEHOLDER, "*", path.rstrip("/"))
        if not any(REPO.glob(pattern)):
            missing.append(f"{path}  ({', '.join(where)})")
    assert not missing, "repository paths in the docs that do not exist:\n  " + "\n  ".join(missing)
