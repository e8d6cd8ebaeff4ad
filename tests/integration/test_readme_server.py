"""The README's server blocks run for real: `make stack-up` (an S3 server and every service as its own process),
then its commands against that stack, then the "point the CLI at a server" block with the stack's gateway in
place of the example address and token, then `make stack-down`. (tests/test_docs.py runs the local-mode blocks
and checks every other `zrc` line parses.)"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()

pytestmark = pytest.mark.timeout(600)


def block(tag: str) -> str:
    (code,) = re.findall(rf"<!-- docs-test: {tag} -->\n```bash\n(.*?)```", README, re.S)
    return code


def run(code: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    p = subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=400)
    assert p.returncode == 0, f"README block failed:\n{code}\n--- stderr:\n{p.stderr[-4000:]}\n--- stdout:\n{p.stdout[-2000:]}"
    return p


def test_readme_server_blocks_run_against_a_local_stack(slm21_case, tmp_path):
    dataset_dir, sub = slm21_case
    home = tmp_path / "home"
    (home / "Downloads").mkdir(parents=True)
    shutil.make_archive(str(home / "Downloads" / "sLM21-dataset"), "zip", dataset_dir.parent, dataset_dir.name)
    work = tmp_path / "work"   # a checkout as the user has it: the Makefile, and the repo's venv (VENV=...)
    work.mkdir()
    for name in ("Makefile", "pyproject.toml"):
        (work / name).symlink_to(ROOT / name)
    shutil.copytree(sub, work / "my-submission")
    # a `make test VENV=...` that runs this passes its variables down through MAKEFLAGS: the README's `make`
    # must see only the environment, as a user's shell has it (VENV below is this test's interpreter)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ZRC_") and k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    env.update(HOME=str(home), ZRC_HOME=str(tmp_path / "zrc-home"), VENV=str(Path(sys.prefix)),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
    stack = block("stack")
    up, after = stack.split("make stack-down")
    assert "make stack-up" in up and not after.strip(), "the stack block starts the stack, uses it, stops it"
    try:
        run(up, work, env)
        assert (work / "my-submission" / "scores" / "score_lexical_dev_by_pair.csv").is_file()
        shutil.rmtree(work / "my-submission" / "scores")
        # the "use a server" block, with this stack's gateway instead of the example address and token
        server = block("server")
        exports = [ln for ln in server.splitlines() if ln.startswith("export ")]
        assert [ln.split("=")[0] for ln in exports] == ["export ZRC_SERVER", "export ZRC_TOKEN"]
        rest = "\n".join(ln for ln in server.splitlines() if not ln.startswith("export "))
        p = run("set -a; . .stack/env; set +a\n" + rest, work, env)
        assert "sLM21-dataset" in p.stdout
        assert (work / "my-submission" / "scores" / "score_lexical_dev_by_pair.csv").is_file()
    finally:
        pids = (work / ".stack" / "pids.json").read_text() if (work / ".stack" / "pids.json").exists() else "{}"
        run("make stack-down", work, env)   # the block's last line
    for name, pid in json.loads(pids).items():
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text(), name
