"""Generate the Python gRPC code for protos/ into services/zrc/pb/ (or check it is up to date).

Why a script and not a bare protoc call: the wire packages stay `zrc.<service>.v1` (the contract in DESIGN.md),
but the generated modules live in their own Python package, `zrc.pb.<service>.v1`, so that a client imports the
stubs without importing any server package. protoc names modules after the .proto path, so the generated
`from zrc.<svc>.v1 import ...` lines are rewritten to `from zrc.pb.<svc>.v1 import ...` here.

    python tools/protogen.py          # write services/zrc/pb
    python tools/protogen.py --check  # exit 1 and name the stale files
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[1]
PROTOS = ROOT / "protos"
OUT = ROOT / "services" / "zrc" / "pb"
_IMPORT = re.compile(r"^(\s*)from zrc\.(\w+)\.v1 import", re.M)


def generate() -> dict[str, str]:
    """Relative path under zrc/pb -> generated text."""
    files = sorted(str(p.relative_to(PROTOS)) for p in PROTOS.glob("zrc/*/v1/*.proto"))
    with tempfile.TemporaryDirectory() as tmp:
        # the well-known types (google/protobuf/timestamp.proto, ...) ship with grpc_tools
        wkt = Path(protoc.__file__).parent / "_proto"
        args = ["protoc", f"-I{PROTOS}", f"-I{wkt}", f"--python_out={tmp}", f"--grpc_python_out={tmp}", f"--pyi_out={tmp}"]
        if protoc.main(args + files) != 0:
            sys.exit("protoc failed")
        out: dict[str, str] = {}
        for path in sorted(Path(tmp, "zrc").rglob("*.py*")):
            text = _IMPORT.sub(r"\1from zrc.pb.\2.v1 import", path.read_text())
            out[str(path.relative_to(Path(tmp, "zrc")))] = text
    for rel in list(out):  # packages for every generated directory
        parts = Path(rel).parent.parts
        for i in range(1, len(parts) + 1):
            out.setdefault(str(Path(*parts[:i], "__init__.py")), "")
    out.setdefault("__init__.py", '"""Generated gRPC code (tools/protogen.py); never edit by hand."""\n')
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if services/zrc/pb differs from protos/")
    args = ap.parse_args()
    want = generate()
    # sources only: the interpreter's __pycache__/*.pyc next to them are not generated code (and not text)
    have = {str(p.relative_to(OUT)): p.read_text() for p in OUT.rglob("*.py*")
            if p.suffix in (".py", ".pyi")} if OUT.exists() else {}
    if args.check:
        stale = sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))
        for k in stale:
            print(f"stale generated code: services/zrc/pb/{k} (run make proto)")
        return 1 if stale else 0
    for k in set(have) - set(want):
        (OUT / k).unlink()
    for k, text in want.items():
        (OUT / k).parent.mkdir(parents=True, exist_ok=True)
        (OUT / k).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
