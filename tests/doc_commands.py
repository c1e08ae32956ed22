"""The commands the documentation gives, and the one table that says how the suite runs each of them.

Collected from README.md, docs/*.md (fenced code blocks and `inline code`) and the comment lines of
configs/*.yaml and configs/recipes/*.yaml: a line or code span that starts with a program (``python``,
``python3``, ``pip``, ``torchrun`` or a ``helmet-*`` console script, each possibly under ``.venv/bin/``), with
``\\`` continuations joined and trailing ``# comments`` dropped. In a YAML comment only a line that starts
with the program counts (commands are indented under the sentence that introduces them).

Every collected command must match one rule of ``RULES`` (the first that matches, by ``re.fullmatch`` on the
command with ``.venv/bin/`` dropped):

- ``Run``: run as written in a scratch copy of the repository (``tests/test_doc_commands.py``), with the rule's
  smoke options appended, placeholders replaced (``PLACEHOLDERS``) and the inputs the docs expect an earlier
  command to have made put where the command reads them (``INPUTS``: the session's tiny run and export, a small
  prepared set, the shared datasets). Commands that differ only in those paths run once.
- ``RunIn``: run as written by another test (the DDP ones: two processes each, and a kill and a resume).
- ``Name``: a command named without arguments in a table or sentence; it must exist (tests/test_cli.py runs
  each one's --help).
- ``NotRun``: cannot run on this machine or in a test; the reason says why, once.

Supporting a new documented command is one entry here.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = tuple(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"])
# A console script is any one-word helmet-* (so one the docs name but pyproject.toml lacks is caught); the datasets'
# names (helmet-kaggle-voc) have two words.
PROGRAM = re.compile(r"(?:\./)?(?:\.venv/bin/)?(?:python3?|pip|torchrun|helmet-[a-z]+)(?=\s|$)")
ENV_ASSIGNMENTS = re.compile(r"^(?:[A-Z_][A-Z0-9_]*=\S*\s+)+")  # OMP_NUM_THREADS=1 python ...


# The smoke size of a fit: options appended to a documented ``lightning_modules.fit`` command (later options win).
FIT_SMOKE = ("--trainer.max_epochs=1", "--data.synthetic_counts={train: 64, val: 32, test: 32}", "--data.image_size=64",
             "--data.batch_size=16", "--trainer.enable_model_summary=false", "--progress_bar.refresh_rate=0")


def doc_files() -> list[Path]:
    """The files whose commands are collected (globbed each time: a new config or page is picked up)."""
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted((REPO / "configs").glob("*.yaml")),
            *sorted((REPO / "configs" / "recipes").glob("*.yaml"))]


@dataclass
class DocCommand:
    text: str  # as written, continuations joined, whitespace collapsed
    where: list[str] = field(default_factory=list)  # "file:line" of each place it is written

    @property
    def normalized(self) -> str:
        return re.sub(r"(?<!\S)(?:\./)?\.venv/bin/", "", self.text)


def is_command(text: str) -> bool:
    return bool(PROGRAM.match(ENV_ASSIGNMENTS.sub("", text)))


def _drop_comment(line: str) -> str:
    """``cmd args  # comment`` -> ``cmd args`` (a ``#`` inside quotes is kept)."""
    quote = None
    for i, ch in enumerate(line):
        if ch in "'\"" and quote in (None, ch):
            quote = None if quote else ch
        elif ch == "#" and quote is None and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line


def _join_continuations(lines: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """(line number, text) pairs with ``\\``-continued lines joined onto the line that starts them."""
    joined: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for number, text in lines:
        if pending is not None:
            number, text = pending[0], pending[1] + " " + text.strip()
            pending = None
        if text.rstrip().endswith("\\"):
            pending = (number, text.rstrip()[:-1].rstrip())
            continue
        joined.append((number, text))
    if pending is not None:
        joined.append(pending)
    return joined


def _markdown_commands(path: Path) -> list[tuple[int, str]]:
    text = path.read_text()
    found: list[tuple[int, str]] = []
    fence = re.compile(r"^(\s*)(```|~~~)[^\n]*\n(.*?)^\1\2\s*$", re.M | re.S)
    for block in fence.finditer(text):
        first = text.count("\n", 0, block.start(3)) + 1
        lines = [(first + i, line) for i, line in enumerate(block.group(3).splitlines())]
        found += [(n, _drop_comment(line).strip()) for n, line in _join_continuations(lines)
                  if not line.lstrip().startswith("#")]
    outside = fence.sub(lambda m: "\n" * m.group(0).count("\n"), text)  # keep line numbers, drop the blocks
    for span in re.finditer(r"(?<!`)`([^`]+)`(?!`)", outside, re.S):
        found.append((outside.count("\n", 0, span.start()) + 1, " ".join(span.group(1).split())))
    return [(n, " ".join(c.split())) for n, c in found if is_command(c.strip())]


def _yaml_comment_commands(path: Path) -> list[tuple[int, str]]:
    comments = [(n, m.group(1)) for n, line in enumerate(path.read_text().splitlines(), 1)
                if (m := re.match(r"\s*#(.*)$", line))]
    commands: list[tuple[int, str]] = []
    i = 0
    while i < len(comments):
        number, text = comments[i]
        if not is_command(text.strip()):
            i += 1
            continue
        parts = [text.strip()]
        while parts[-1].endswith("\\") and i + 1 < len(comments):
            parts[-1] = parts[-1][:-1].rstrip()
            i += 1
            parts.append(comments[i][1].strip())
        commands.append((number, " ".join(" ".join(parts).split())))
        i += 1
    return commands


def documented_commands() -> list[DocCommand]:
    """Every command of the docs, once, with every place it is written."""
    commands: dict[str, DocCommand] = {}
    for path in doc_files():
        found = _markdown_commands(path) if path.suffix == ".md" else _yaml_comment_commands(path)
        for number, text in found:
            commands.setdefault(text, DocCommand(text)).where.append(f"{path.relative_to(REPO)}:{number}")
    return list(commands.values())


def documented(pattern: str) -> DocCommand:
    """The one documented command whose text (``.venv/bin/`` dropped) matches ``pattern`` in full."""
    found = [c for c in documented_commands() if re.fullmatch(pattern, c.normalized)]
    assert len(found) == 1, f"expected one documented command matching {pattern!r}, found {[c.text for c in found]}"
    return found[0]


# ---------------------------------------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    """Run as written, in a scratch copy of the repository, with ``smoke`` appended (later options win).

    ``config_smoke``: for a command with no size options of its own (a recipe), the smoke settings are merged into
    the scratch copy's configs/*.yaml instead. ``needs``: inputs the command reads without naming them (a default
    path). ``subprocess``: a fresh interpreter (benchmarks, which write beside their own files); otherwise the
    module runs as ``__main__`` in this process, which is what ``python -m`` does after start-up.
    """

    pattern: str
    smoke: tuple[str, ...] = ()
    expect: str = ""  # a regular expression the output must contain
    writes: str = ""  # a glob, in the scratch copy, of files the command must write
    exit_code: int = 0
    config_smoke: bool = False
    needs: tuple[str, ...] = ()
    subprocess: bool = False
    slow: bool = True


@dataclass(frozen=True)
class RunIn:
    """Run as written by another test (``test``: "tests/FILE.py::FUNCTION")."""

    pattern: str
    test: str


@dataclass(frozen=True)
class Name:
    """A command named without arguments (the README's Commands table): it must be an installed console script or a
    module that ``python -m`` can run; tests/test_cli.py runs every one's --help."""

    pattern: str


@dataclass(frozen=True)
class NotRun:
    pattern: str
    reason: str


# Merged into the scratch copy's configs for a recipe (the recipe command has no options that size a fit).
CONFIG_SMOKE = {"trainer": {"max_epochs": 1, "enable_model_summary": False},
                "data": {"image_size": 64, "batch_size": 16, "synthetic_counts": {"train": 64, "val": 32, "test": 32}},
                "progress_bar": {"refresh_rate": 0}}

# A placeholder the docs write (a whole argument, or the start of a path) -> what the smoke run writes instead.
PLACEHOLDERS = {
    "PREPARED": "data/prepared/smoke",                  # a prepared set (INPUTS puts one there)
    "RUN": "runs/smoke",                                # a run directory (the session's tiny run when read)
    "RECIPE": "configs/recipes/real_slim_mobilenet.yaml",
    "MODEL": "artifacts/smoke/model_int8.tflite",
    "MODEL.tflite": "artifacts/smoke/model_int8.tflite",
    "BAD": "not_a_checkpoint.ckpt",
    "X": "refused_out",
}

# What a command reads that the docs expect an earlier command to have made: a regular expression for the part of an
# argument to put in place -> the resource put there (tests/test_doc_commands.py makes each once per session).
INPUTS = {
    r"runs/[^/\s]+(?:/version_\d+)?(?=/checkpoints/)": "run",  # the session's tiny run (tests/conftest.py)
    r"artifacts/[^/\s]+": "export",                           # the session's tiny export
    r"data/prepared/[^/\s]+": "prepared",                     # a small prepared set of real head crops
    r"\.\./shared/data/[^/\s]+": "dataset",                   # the shared dataset itself
    r"photo\.jpg": "photo",                                   # a synthetic head, as a JPEG
    r"not_a_checkpoint\.ckpt": "garbage",                     # bytes that are no checkpoint
    r"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_[\d.]+_\d+_no_top\.h5": "keras_weights",  # random, Keras's format
}
OUTPUT_OPTIONS = ("--out", "--work")  # their values are written, never put in place

CROSS_VALIDATION = ("cross-validation of the rider photos: a synthetic run and five 80-epoch fits per row (hours on "
                    "2 cores); tests/test_cv.py tests its pooling and paired comparisons on made-up folds")

RULES = [
    NotRun(r"python3 -m venv \.venv|pip install .*", "the setup itself: .ci/run runs it in a fresh venv, then the suite"),
    NotRun(r"python -m pytest", "the suite itself, which runs this test"),
    NotRun(r".*--model\.arch_kwargs\.weights=IMAGENET1K_V2.*",
           "downloads torchvision's ImageNet weights (the network); offline without the file it is one error line, "
           "tests/test_imagenet_weights.py"),
    NotRun(r"python -m lightning_modules\.fit --config \.\.\. --model\.lr \.\.\.",
           "a sketch of the syntax, `...` standing for values; its concrete forms are run"),
    NotRun(r"python -m lightning_modules\.fit --config configs/slim_mobilenet\.yaml --config configs/ddp\.yaml",
           "needs 2 CUDA GPUs (synchronised batch norm); without them accelerator: auto makes it the CPU form, which "
           "tests/test_distributed.py runs"),
    RunIn(r"python -m lightning_modules\.fit --config configs/slim_mobilenet\.yaml --config configs/ddp\.yaml "
          r"--trainer\.accelerator=cpu", "tests/test_distributed.py::test_the_documented_cpu_command_trains_on_two_processes"),
    RunIn(r"torchrun --standalone --nproc-per-node=2 -m lightning_modules\.fit .*",
          "tests/test_distributed.py::test_torchrun_on_one_node_leaves_the_run_directory_of_a_single_process_fit"),
    NotRun(r"torchrun --nnodes=2 .*", "needs two machines (--nnodes=2, a master address); docs/distributed.md says "
                                      "what was run instead"),
    Run(r"python -m lightning_modules\.fit( .*)?", smoke=FIT_SMOKE, expect=r"run directory: ", writes="runs/**/metrics.json",
        slow=False),
    Run(r"python -m lightning_modules\.recipe configs/recipes/\S+\.yaml .*", config_smoke=True,
        expect=r"training [\d.]+ min in all; export \S+best\.ckpt", writes="runs/*/recipe.json"),
    Run(r"python export/to_tflite\.py --ckpt BAD --out X", exit_code=2,
        expect=r"error: cannot read checkpoint not_a_checkpoint\.ckpt"),
    Run(r"python export/to_tflite\.py --ckpt \S+(?: --out \S+)?", smoke=("--calib-samples", "20"),
        expect=r"checks: all passed", writes="**/manifest.json"),
    Run(r"python -m explain --artifacts \S+ (?:--synthetic \d+|--images \S+) --out \S+(?: --layer \S+)?(?: --method \S+)?"
        r"(?: --quality)?", smoke=("--max-sheet", "8"),
        expect=r"explained \d+ image\(s\), skipped 0", writes="*/explain_parity.json"),
    Run(r"python -m export\.predict --model \S+ \S+", expect=r"photo\.jpg: (?:helmet|no_helmet) [01]\.\d+", slow=False),
    Run(r"python -m export\.edgetpu (?:MODEL|MODEL\.tflite)", expect=r"Result: COMPATIBLE", slow=False),
    Run(r"python -m data\.prepare --.*", expect=r"prepared \d+ crops from \d+ images", writes="data/prepared/*/manifest.csv"),
    Name(r"python -m (?:data\.prepare|lightning_modules\.recipe|export\.parity|export\.predict|explain)"
         r"|python export/to_tflite\.py|helmet-[a-z]+"),
    Run(r"python -m benchmarks\.mcu_footprint(?: --arch \S+)?(?: --conventions [a-z ]+)?(?: --widths [\d. ]+)?"
        r"(?: --sizes [\d ]+)?",
        smoke=("--arch", "slim_mobilenet", "--conventions", "torchvision", "--widths", "0.35", "--sizes", "65"), subprocess=True,
        expect=r"\| 0\.35 \| 65 \|[^\n]*\| 24,050 \|", writes="benchmarks/results/mcu_footprint.json"),
    Run(r"python -m benchmarks\.recipe_budget RECIPE", config_smoke=True, needs=("../shared/data/helmet-kaggle-voc",),
        subprocess=True, writes="benchmarks/results/recipe_budget.json"),
    NotRun(r"python -m benchmarks\.(?:real_cv|mcu_sweep) .*", CROSS_VALIDATION),
    NotRun(r"python -m benchmarks\.(?:real_pointing|real_errors|explain_quality|quantization_error|out_of_domain)(?: .*)?",
           "reads the fold runs of benchmarks.real_cv (runs/real_cv: hours on 2 cores to make)"),
    NotRun(r"python -m benchmarks\.resume", "two default fits to their end (13 epochs on 5,000 images, ~23 min each); "
                                            "its options choose when to kill, not the fit's size; tests/test_resume.py "
                                            "does the same on a tiny fit"),
    NotRun(r"python -m benchmarks\.NAME", "stands for every benchmark; those the docs name are entries of their own"),
]


def rule_for(command: DocCommand):
    """The first rule whose pattern matches the whole command (``.venv/bin/`` dropped), or None."""
    return next((rule for rule in RULES if re.fullmatch(rule.pattern, command.normalized)), None)
