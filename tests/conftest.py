"""Shared fixtures: small generated cases, built once per session; the ``integration`` marker."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from zrc.core.generate import GenOptions, generate

GOLDEN = Path(__file__).parent / "golden"
INTEGRATION_DIR = Path(__file__).parent / "integration"
# Fixtures that give a test a running stack: the embedded CLI's in-process servers under a private ZRC_HOME
# (``zhome`` and those built on it), a fake gateway server, an embedded stack, or a SeaweedFS S3 server.
STACK_FIXTURES = frozenset({"zhome", "imported", "two_runs", "fake", "remote", "stack", "s3"})


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """A test without the ``integration`` marker may not start a gRPC server in this process (its fixtures
    included, whatever their scope): ``make test-unit`` stays fast and serverless, and a new test that
    starts one fails until it is marked."""
    if item.get_closest_marker("integration") is not None:
        yield
        return
    import grpc

    def refuse(*args, **kwargs):
        raise AssertionError(f"{item.nodeid} starts a gRPC server: mark it @pytest.mark.integration")

    real, grpc.server = grpc.server, refuse
    try:
        yield
    finally:
        grpc.server = real


def pytest_collection_modifyitems(config, items):
    """``integration`` on every test under tests/integration (SeaweedFS and the multi-process stack) and on
    every test that starts servers through a stack fixture; tests that start one themselves carry the marker
    explicitly. ``make test-unit`` (``-m "not integration"``) runs the rest in seconds."""
    for item in items:
        if INTEGRATION_DIR in Path(item.path).parents or STACK_FIXTURES.intersection(item.fixturenames):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def slm21_case(tmp_path_factory) -> tuple[Path, Path]:
    """A small sLM21 dataset + valid submission (read-only: copy before mutating)."""
    out = tmp_path_factory.mktemp("slm21")
    return generate(out, "sLM21", GenOptions(scale=0.005, seed=3, dim=6, frames=(2, 6)))


@pytest.fixture(scope="session")
def prosaudit_case(tmp_path_factory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("prosaudit")
    return generate(out, "prosAudit", GenOptions(scale=0.02, seed=4))


@pytest.fixture()
def slm21_copy(slm21_case, tmp_path) -> tuple[Path, Path]:
    """A private copy of the sLM21 submission that a test may corrupt."""
    dataset, sub = slm21_case
    dest = tmp_path / "submission"
    shutil.copytree(sub, dest)
    return dataset, dest


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """S3Storage over a SeaweedFS server of this module's own (tests using it are ``integration``)."""
    from zrc.stack import Stack
    from zrc.storage.s3 import S3Storage

    st = Stack(tmp_path_factory.mktemp("s3only"))
    try:
        st.start_s3()
        storage = S3Storage(st.s3["endpoint"], st.s3["access_key"], st.s3["secret_key"])
        storage.ensure_buckets()
        yield storage
    finally:
        st.down()
