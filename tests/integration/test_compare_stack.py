"""Integration: ``CompareScores`` over the multi-process stack, with users: entries are public, jobs are not."""

from __future__ import annotations

import shutil

import grpc
import pytest

from zrc.pb.gateway.v1 import gateway_pb2

from .conftest import running_stack

pytestmark = pytest.mark.timeout(300)
OK = gateway_pb2.JOB_STATE_SUCCEEDED


@pytest.fixture(scope="module")
def stack(tmp_path_factory, slm21_case, prosaudit_case):
    with running_stack(tmp_path_factory.mktemp("cmpstack"), {}, slm21_case, prosaudit_case) as st:
        yield st


def test_compare_published_entries_and_own_jobs_only(stack, prosaudit_case, tmp_path):
    with stack.client(token=stack.admin_token) as admin:
        tokens = {u: admin.create_token(u) for u in ("alice", "bob", "carol")}
    mine_sub = tmp_path / "alice"   # an entry is published under the token's user: meta.yaml must say so
    shutil.copytree(prosaudit_case[1], mine_sub)
    meta = mine_sub / "meta.yaml"
    meta.write_text(meta.read_text().replace("username: demo", "username: alice"))
    worse = tmp_path / "worse"
    shutil.copytree(prosaudit_case[1], worse)
    lines = (worse / "english_test.txt").read_text().splitlines()
    lines = [f"{ln.split()[0]} {-float(ln.split()[1])}" if i % 3 == 0 else ln for i, ln in enumerate(lines)]
    (worse / "english_test.txt").write_text("\n".join(lines) + "\n")
    with stack.client(token=tokens["alice"]) as alice, stack.client(token=tokens["bob"]) as bob, \
            stack.client(token=tokens["carol"]) as carol:
        up = alice.upload_folder(mine_sub)
        entry_job = alice.wait(alice.evaluate(up.digest, "prosAudit", publish=True))
        private_job = alice.wait(alice.evaluate(up.digest, "prosAudit"))
        assert entry_job.state == OK and private_job.state == OK
        mine = bob.wait(bob.evaluate(bob.upload_folder(worse).digest, "prosAudit"))
        assert mine.state == OK

        rows = bob.compare_scores(entry_job.job_id, mine.job_id)   # a public entry vs bob's own job
        assert {(r["set"], r["metric"]) for r in rows} == {(s, m) for s in ("dev", "test")
                                                           for m in ("lexical", "protosyntax")}
        test_rows = [r for r in rows if r["set"] == "test"]
        assert all(r["diff"] == r["b"] - r["a"] and r["p_value"] is not None for r in test_rows)
        assert any(r["diff"] < 0 and r["ci_high"] < 0 for r in test_rows)   # a third of the items flipped
        assert all(r["diff"] == 0 for r in rows if r["set"] == "dev")

        def code(fn) -> grpc.StatusCode:
            with pytest.raises(grpc.RpcError) as exc:
                fn()
            return exc.value.code()

        # another user's unpublished job is not comparable by anyone else, in either position
        assert code(lambda: bob.compare_scores(private_job.job_id, mine.job_id)) == grpc.StatusCode.PERMISSION_DENIED
        assert code(lambda: carol.compare_scores(entry_job.job_id, mine.job_id)) == grpc.StatusCode.PERMISSION_DENIED
        assert code(lambda: carol.compare_scores("0" * 32, entry_job.job_id)) == grpc.StatusCode.NOT_FOUND
        # two public entries: anyone
        assert carol.compare_scores(entry_job.job_id, entry_job.job_id)
