"""Cached task results are stored compressed (ZRC_HOME growth per evaluation), and old ones stay readable."""

from __future__ import annotations

from zrc.common.convert import summary_py
from zrc.pb.common.v1 import common_pb2
from zrc.pb.results.v1 import results_pb2
from zrc.results.server import ResultsServicer
from zrc.storage import RESULTS
from zrc.storage.local import LocalStorage


def test_results_are_compressed_and_old_ones_still_read(tmp_path):
    st = LocalStorage(tmp_path)
    st.ensure_buckets()
    svc = ResultsServicer(st)
    csv = b"id,score\n" + b"".join(b"item%05d,0.5000\n" % i for i in range(5000))
    key = "a" * 64
    svc.PutResult(results_pb2.PutResultRequest(result=results_pb2.TaskResult(
        key=key, task="lexical", set="dev", scorer_version="1",
        summary=common_pb2.ScoreSummary(task="lexical", set="dev", all=0.75, has_all=True),
        files=[common_pb2.File(name="score.csv", content=csv)])), None)
    stored = st.size(RESULTS, f"results/{key}.json.gz")
    assert stored * 3 < len(csv)
    got = svc.GetResult(results_pb2.GetResultRequest(key=key), None).result
    assert got.files[0].content == csv and got.task == "lexical"
    assert summary_py(got.summary) == {"task": "lexical", "set": "dev", "all": 0.75}
    old = "b" * 64   # written by an earlier version: plain JSON
    st.put_json(RESULTS, f"results/{old}.json", {
        "key": old, "task": "syntactic", "set": "test", "summary_json": '{"task": "syntactic", "set": "test", "all": null}',
        "scorer_version": "1", "files": {"x.csv": "a,b\n"}})
    got = svc.GetResult(results_pb2.GetResultRequest(key=old), None).result
    assert got.task == "syntactic" and got.files[0].content == b"a,b\n" and summary_py(got.summary) == {
        "task": "syntactic", "set": "test", "all": None}
