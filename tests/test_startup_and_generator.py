"""What makes every `zrc` command start fast, and the generator's embedding shape options."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from zrc.core.generate import main as generate_main


def test_cli_import_does_not_load_scipy():
    """scipy takes ~1.6 s to import; only semantic scoring needs it, so `zrc` must not import it up front."""
    code = "import sys, zrc.cli.main, zrc.embedded; print('scipy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_generator_dim_and_dtype(tmp_path, capsys):
    generate_main([str(tmp_path), "--scale", "0.002", "--dim", "7", "--dtype", "float32"])
    files = sorted((tmp_path / "submission" / "semantic").rglob("*.npy"))
    assert files
    arrays = [np.load(f) for f in files[:20]]
    assert {a.shape[1] for a in arrays} == {7} and {a.dtype for a in arrays} == {np.dtype(np.float32)}
