"""Retention: abandoned uploads and invalid or unused archives are deleted once old; the rest is kept."""

from __future__ import annotations

import os
import time

from zrc.core import jobs
from zrc.gateway.sweeper import RetentionSettings, Sweeper
from zrc.storage import SUBMISSIONS
from zrc.storage.local import LocalStorage


def _age(storage: LocalStorage, key: str, hours: float) -> None:
    p = storage._path(SUBMISSIONS, key)
    t = time.time() - hours * 3600
    os.utime(p, (t, t))


def test_sweeper_deletes_only_what_retention_allows(tmp_path):
    st = LocalStorage(tmp_path)
    st.ensure_buckets()
    a, b, c, d, e = (ch * 64 for ch in "abcde")
    objects = {
        f"uploads/{a}/0000000000000000-0000000000000010": 30,   # abandoned upload: swept
        f"uploads/{b}/0000000000000000-0000000000000010": 30,   # resumed recently (newer segment): kept
        f"uploads/{b}/0000000000000010-0000000000000010": 1,
        f"archives/{c}.zip": 200,                              # only INVALID jobs, old: swept
        f"derived/{c}/pooled-x.npz": 200,
        f"archives/{d}.zip": 200,                              # a succeeded job: kept
        f"archives/{e}.zip": 10,                               # invalid but recent: kept
    }
    for key, hours in objects.items():
        st.put_bytes(SUBMISSIONS, key, b"x")
        _age(st, key, hours)
    summaries = [{"selection": {"submission_digest": c}, "state": jobs.INVALID},
                 {"selection": {"submission_digest": d}, "state": jobs.SUCCEEDED},
                 {"selection": {"submission_digest": e}, "state": jobs.INVALID}]
    crashed, parked = st.parts(SUBMISSIONS, f"archives/{a}.zip"), st.parts(SUBMISSIONS, f"archives/{b}.zip")
    for w, hours in ((crashed, 49), (parked, 30)):   # a gateway died mid-upload 49 h ago; one parked 30 h ago
        w.put(b"part")
        w.settle()
        t = time.time() - hours * 3600
        os.utime(w.tmp, (t, t))
    out = Sweeper(st, lambda: summaries, RetentionSettings(upload_hours=24, invalid_hours=168)).sweep()
    left = set(st.list(SUBMISSIONS))
    # job records kept by default; an unfinished upload goes after retention + the parked time (24 + 24 h)
    assert out == {"upload_segments": 1, "unfinished_uploads": 1, "archives": 1, "derived": 1, "jobs": 0}
    assert not os.path.exists(crashed.tmp) and os.path.exists(parked.tmp)
    assert left == set(objects) - {f"uploads/{a}/0000000000000000-0000000000000010", f"archives/{c}.zip",
                                   f"derived/{c}/pooled-x.npz"}


def test_finished_job_records_are_kept_for_the_configured_days(tmp_path):
    from zrc.storage import RESULTS

    st = LocalStorage(tmp_path)
    st.ensure_buckets()
    old = "2020-01-01T00:00:00.000+00:00"
    new = jobs.now()
    summaries = [{"job_id": "1" * 32, "state": jobs.SUCCEEDED, "updated_at": old},              # swept
                 {"job_id": "2" * 32, "state": jobs.INVALID, "updated_at": old},                # swept
                 {"job_id": "3" * 32, "state": jobs.SUCCEEDED, "updated_at": old, "publish": True},  # on a board
                 {"job_id": "4" * 32, "state": jobs.SCORING, "updated_at": old},                # running
                 {"job_id": "5" * 32, "state": jobs.FAILED, "updated_at": new}]                 # recent
    for d in summaries:
        st.put_bytes(RESULTS, f"jobs/{d['job_id']}.json", b"{}")
    sweeper = Sweeper(st, lambda: summaries, RetentionSettings(job_days=30))
    assert sweeper.sweep()["jobs"] == 2
    assert sorted(st.list(RESULTS, "jobs/")) == [f"jobs/{c * 32}.json" for c in "345"]
    assert Sweeper(st, lambda: summaries, RetentionSettings()).sweep()["jobs"] == 0   # default: forever
