"""Where the embedded mode keeps its state: ``ZRC_HOME`` (default ``~/.zrc``).

``ZRC_HOME/store`` holds the local-directory object storage (datasets, submission
archives, results, job records), ``ZRC_HOME/logs`` the embedded services' logs,
``ZRC_HOME/tmp`` upload spool files.
"""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    return Path(os.environ.get("ZRC_HOME") or Path.home() / ".zrc")
