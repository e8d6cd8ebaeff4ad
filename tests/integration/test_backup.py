"""Backup and restore: dump a running server's store, start a fresh stack on a new S3 server, restore, and find
users, tokens, leaderboards, jobs and results intact (the documented procedure, end to end)."""

from __future__ import annotations

import os
import shutil

import pytest

from zrc import backup
from zrc.pb.gateway.v1 import gateway_pb2
from zrc.stack import Stack

pytestmark = pytest.mark.timeout(600)


def _env(st: Stack) -> dict[str, str]:
    return {"ZRC_STORAGE": "s3", "ZRC_S3_ENDPOINT": st.s3["endpoint"], "ZRC_S3_ACCESS_KEY": st.s3["access_key"],
            "ZRC_S3_SECRET_KEY": st.s3["secret_key"], "ZRC_S3_SECURE": "false",
            "ZRC_BUCKET_PREFIX": st.s3["bucket_prefix"]}


def test_a_restored_store_serves_the_same_users_leaderboard_jobs_and_scores(tmp_path, slm21_case, monkeypatch,
                                                                              capsys):
    dataset_dir, sub = slm21_case
    mine = tmp_path / "sub"
    shutil.copytree(sub, mine)
    meta = mine / "meta.yaml"
    meta.write_text(meta.read_text().replace("username: demo", "username: bob"))
    old = Stack(tmp_path / "old")
    try:
        old.up()
        with old.client(token=old.admin_token) as admin:
            admin.import_dataset(dataset_dir, "sLM21-dataset")
            admin.create_user("bob")
            token = admin.create_token("bob")
        with old.client(token=token) as bob:
            job = bob.wait(bob.evaluate(bob.upload_folder(mine).digest, "sLM21", publish=True))
            assert job.state == gateway_pb2.JOB_STATE_SUCCEEDED, job.failure_reason
            board = bob.leaderboard("sLM21")
            files = {f.name: f.content for f in bob.get_scores(job.job_id).files}
        for k, v in _env(old).items():
            monkeypatch.setenv(k, v)
        assert backup.main(["dump", str(tmp_path / "backup")]) == 0
        assert "object(s) copied" in capsys.readouterr().out
    finally:
        old.down()
    shutil.rmtree(tmp_path / "old")          # the old server and its data are gone

    new = Stack(tmp_path / "new")
    try:
        new.start_s3()
        for k, v in _env(new).items():
            monkeypatch.setenv(k, v)
        assert backup.main(["restore", str(tmp_path / "backup")]) == 0
        assert backup.main(["restore", str(tmp_path / "backup")]) == 0   # again: nothing to copy
        assert "0 object(s) copied" in capsys.readouterr().out.splitlines()[-1]
        new.start_services()
        with new.client(token=token) as bob:      # bob's token still works: users and hashed tokens came back
            assert bob.whoami().user == "bob"
            assert bob.leaderboard("sLM21") == board
            assert [j.job_id for j in bob.list_jobs()] == [job.job_id]
            assert {f.name: f.content for f in bob.get_scores(job.job_id).files} == files
    finally:
        new.down()


def test_restore_refuses_a_folder_that_is_not_a_backup(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ZRC_STORAGE", "local")
    monkeypatch.setenv("ZRC_STORAGE_DIR", str(tmp_path / "store"))
    assert backup.main(["restore", str(tmp_path)]) == 2
    assert "not a zrc backup" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "store")
