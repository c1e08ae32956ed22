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
PROGRAM = re.compile(r"(?:\./)?(?:\.venv/bin/)?(?:python3?|pip|torchrun|" + "|".join(map(re.escape, SCRIPTS)) + r")(?=\s|$)")
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
