"""The README is tested: its blocks marked ``<!-- docs-test -->`` run against a generated case, and every other
``zrc`` command line it shows must parse with the real CLI parser (a renamed command or flag fails here)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from zrc.cli.main import build_parser

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
FENCE = re.compile(r"```(\w+)\n(.*?)```", re.S)


def marked_blocks() -> list[tuple[str, str]]:
    """(language, code) of each fenced block right after a ``<!-- docs-test -->`` line, in README order."""
    return [(m.group(1), m.group(2)) for m in re.finditer(r"<!-- docs-test -->\n" + FENCE.pattern, README, re.S)]


def zrc_lines() -> list[str]:
    """Every `zrc ...` command the README shows: in shell blocks and in the commands table's example column."""
    lines = [ln.strip() for lang, code in FENCE.findall(README) if lang == "bash" for ln in code.splitlines()]
    lines += [m.group(1) for row in README.splitlines() if row.startswith("| `zrc")
              for m in [re.search(r"\| `([^`]*)` \|\s*$", row)] if m]
    out = []
    for ln in lines:
        for part in re.split(r"&&|\|(?!\|)|;", ln):
            part = part.strip()
            if part.startswith("zrc "):
                out.append(part)
    return out


def test_the_readme_marks_blocks_for_testing():
    langs = [lang for lang, _ in marked_blocks()]
    assert "bash" in langs and "python" in langs


@pytest.mark.parametrize("line", zrc_lines())
def test_every_zrc_line_in_the_readme_parses(line):
    tokens = shlex.split(line, comments=True)
    for stop in (">", "<", "2>"):
        if stop in tokens:
            tokens = tokens[:tokens.index(stop)]
    try:
        build_parser().parse_args(tokens[1:])
    except SystemExit as exc:
        pytest.fail(f"README shows `{line}`, which the CLI rejects (exit {exc.code})")


@pytest.mark.integration
def test_readme_blocks_run_against_a_generated_case(slm21_case, tmp_path):
    """What a new user would type: the dataset zip in ~/Downloads, their submission in ./my-submission."""
    dataset_dir, sub = slm21_case
    home = tmp_path / "home"
    (home / "Downloads").mkdir(parents=True)
    shutil.make_archive(str(home / "Downloads" / "sLM21-dataset"), "zip", dataset_dir.parent, dataset_dir.name)
    work = tmp_path / "work"
    work.mkdir()
    shutil.copytree(sub, work / "my-submission")
    env = {k: v for k, v in os.environ.items() if k not in ("ZRC_SERVER", "ZRC_TOKEN")}
    env.update(HOME=str(home), ZRC_HOME=str(tmp_path / "zrc-home"),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
    for lang, code in marked_blocks():
        cmd = ["bash", "-euo", "pipefail", "-c", code] if lang == "bash" else [sys.executable, "-c", code]
        p = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, f"README {lang} block failed:\n{code}\n--- stderr:\n{p.stderr}\n--- stdout:\n{p.stdout}"
    assert (work / "my-submission" / "scores" / "score_lexical_dev_by_pair.csv").is_file()
    assert (work / "my-new-submission" / "meta.yaml").is_file()
    assert (work / "scores" / "score_lexical_dev_by_pair.csv").is_file(), "the Python block's r.write('scores')"
