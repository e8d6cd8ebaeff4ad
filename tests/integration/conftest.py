"""Helpers shared by the integration tests: a stack with both generated datasets imported."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from zrc.stack import Stack


@contextlib.contextmanager
def running_stack(root: Path, extra_env: dict[str, str], slm21_case, prosaudit_case=None,
                  **topology: int) -> Iterator[Stack]:
    """Every service as its own process over SeaweedFS (``gateways=``, ``replicas=`` for the Kubernetes
    topology), with the generated datasets imported; stopped (and checked stopped) on exit."""
    st = Stack(root, extra_env=extra_env, **topology)
    try:
        st.up()
        with st.client(token=st.admin_token) as c:
            c.import_dataset(slm21_case[0], "sLM21-dataset")
            if prosaudit_case is not None:
                c.import_dataset(prosaudit_case[0], "prosaudit-dataset")
        yield st
    finally:
        st.down()
        for name, proc in st.procs.items():
            assert proc.poll() is not None, f"{name} still running"
