"""`make stack-up` picks free ports that each service binds a moment later; when something takes one in between
(an outgoing connection may get it), the service is started again on new ports instead of the stack failing
after a minute (seen once in CI: "Failed to bind to address")."""

from __future__ import annotations

import socket

import pytest

from zrc import stack as stack_mod
from zrc.stack import Stack

pytestmark = pytest.mark.timeout(300)


@pytest.fixture()
def taken():
    """A port someone holds (listening), as an outgoing connection or another program may between our pick and
    the bind."""
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen()
    yield held.getsockname()[1]
    held.close()


def test_a_port_taken_before_the_service_binds_it_is_replaced(tmp_path, monkeypatch, taken):
    real, calls = stack_mod.free_port, []

    def free_port() -> int:   # the results service's address is a port someone holds
        calls.append(1)
        return taken if len(calls) == 1 else real()

    st = Stack(tmp_path / "stack")
    try:
        st.start_s3()
        monkeypatch.setattr(stack_mod, "free_port", free_port)
        st.start_services()
        assert st.addrs["results"] != f"127.0.0.1:{taken}"
        assert "bind" in (tmp_path / "stack" / "logs" / "results.log").read_text().lower()
        with st.client(token=st.admin_token) as c:   # the gateway was given the new address
            assert c.whoami().admin
            assert c.list_datasets() == [] and c.leaderboard("sLM21") == []   # through results
    finally:
        st.down()


def test_an_s3_port_taken_before_seaweedfs_binds_it_is_replaced(tmp_path, monkeypatch, taken):
    """The same for the S3 server (seen in CI: SeaweedFS exits "bind: address already in use")."""
    real, calls = stack_mod.free_port, []

    def free_port() -> int:   # the S3 API port (the fourth picked) is one someone holds
        calls.append(1)
        return taken if len(calls) == 4 else real()

    monkeypatch.setattr(stack_mod, "free_port", free_port)
    st = Stack(tmp_path / "stack")
    try:
        st.start_s3()
        assert st.s3["endpoint"] != f"127.0.0.1:{taken}"
        assert "address already in use" in (tmp_path / "stack" / "logs" / "s3.log").read_text()
        from zrc.storage.s3 import S3Storage
        S3Storage(st.s3["endpoint"], st.s3["access_key"], st.s3["secret_key"]).ping()
    finally:
        st.down()
