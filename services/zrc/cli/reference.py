"""Commands of the reference toolkit that scripts rely on: ``version``, ``user:clear``, ``datasets:rm`` and
``datasets:pull``. Same names and meaning; where the meaning cannot apply (this toolkit never downloads),
one sentence says what to do instead.
"""

from __future__ import annotations

import os
import platform
import sys

from . import credentials, output

DOWNLOADS = "https://download.zerospeech.com"
PACKAGES = ("zrc-service", "numpy", "scipy", "grpcio", "protobuf", "PyYAML", "rich")


def _version(pkg: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(pkg)
    except PackageNotFoundError:
        return None


def cmd_version(a) -> int:
    from zrc import __version__

    info = {"zrc-service": __version__, **{p: _version(p) for p in PACKAGES[1:]},
            "python": platform.python_version(), "platform": platform.platform(aliased=True),
            "scorer_version": _scorer_version(), "server": os.environ.get("ZRC_SERVER") or None}
    if a.json:
        output.print_json(info)
    else:
        output.table("zrc version", ["component", "version"],
                     [[k, v if v is not None else "(embedded)" if k == "server" else "-"] for k, v in info.items()])
    return 0


def _scorer_version() -> str:
    from zrc.core import SCORER_VERSION

    return SCORER_VERSION


def cmd_user_clear(a) -> int:
    """Forget the saved token(s): of ZRC_SERVER, or of every server with --all."""
    from .main import UsageError

    server = os.environ.get("ZRC_SERVER", "").strip()
    if not server and not a.all:
        raise UsageError("no server configured (ZRC_SERVER is unset): nothing to clear; --all forgets every "
                         "saved token")
    if not a.yes and sys.stdin.isatty():
        what = "every saved token" if a.all else f"the saved token for {server}"
        if input(f"forget {what}? [y/N] ").strip().lower() not in ("y", "yes"):
            output.note("nothing was changed")
            return 1
    removed = credentials.clear(None if a.all else server)
    if a.json:
        output.print_json({"ok": True, "cleared": removed})
    else:
        output.say(f"forgot the token of {', '.join(removed)}" if removed else "no saved token to clear")
    return 0


def cmd_datasets_rm(a) -> int:
    from .main import session

    with session(scoring=False) as client:
        info = client.delete_dataset(a.name)
    if a.json:
        output.print_json({"ok": True, "name": info.name, "benchmark": info.benchmark})
    else:
        output.say(f"removed the {info.benchmark} dataset {info.name}")
    return 0


def cmd_datasets_pull(a) -> int:
    """This toolkit never downloads: say where the dataset comes from and how to import it."""
    from zrc.core.benchmarks import BENCHMARKS

    from .main import UsageError

    known = {b.dataset: b.name for b in BENCHMARKS.values()}
    name = a.name.removesuffix(".zip")
    what = f"the {known[name]} dataset {name}" if name in known else f"{a.name}"
    raise UsageError(f"zrc-service does not download datasets (it works offline): get {what} from {DOWNLOADS} "
                     f"(or with the reference toolkit's `zrc datasets:pull {a.name}`), then run "
                     f"`zrc datasets:import /path/to/{name if name in known else 'the-dataset'}.zip`; "
                     f"known datasets: {', '.join(known)}")


def add_parsers(add) -> None:
    """Register the commands with main's ``add(name, fn, help)``."""
    from .main import cmd_whoami

    add("version", cmd_version, "versions of zrc-service, its libraries and Python")
    add("user", cmd_whoami, "who you are and today's quota (the reference's name for user:whoami)")
    sp = add("user:clear", cmd_user_clear, "forget the token saved by user:login for ZRC_SERVER")
    sp.add_argument("--all", action="store_true", help="forget the tokens of every server")
    sp.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    sp = add("datasets:rm", cmd_datasets_rm, "remove an imported dataset (admin on a server)")
    sp.add_argument("name")
    sp = add("datasets:pull", cmd_datasets_pull, "(offline) say where to download a dataset and how to import it")
    sp.add_argument("name")
    sp.add_argument("-u", "--skip-verification", action="store_true", help="accepted for the reference's scripts")
    sp.add_argument("-q", "--quiet", action="store_true")
