"""Typed wire messages round-trip what the core produces exactly (zrc.common.convert): crossing a process
boundary changes no score, entry, job record or printed timestamp."""

from __future__ import annotations

import json

import pytest

from zrc.common import convert
from zrc.core import jobs
from zrc.core.dataset import load_dataset
from zrc.core.findings import Finding
from zrc.core.leaderboard import summarize
from zrc.core.params import Params, SemanticParams
from zrc.core.pipeline import evaluate
from zrc.core.sources import DirTree
from zrc.pb.gateway.v1 import gateway_pb2
from zrc.pb.validation.v1 import validation_pb2


def _wire(msg):
    """Through bytes, as a message crosses gRPC."""
    return type(msg).FromString(msg.SerializeToString())


def test_summaries_of_every_task_round_trip_at_full_precision(slm21_case, prosaudit_case):
    for (dataset_dir, sub), bench in ((slm21_case, "sLM21"), (prosaudit_case, "prosAudit")):
        ds = load_dataset(str(dataset_dir))
        for result in evaluate(ds, DirTree(sub), bench).results:
            d = summarize(result, ds)
            back = convert.summary_py(_wire(convert.summary_pb(d)))
            assert json.dumps(back, sort_keys=True) == json.dumps(d, sort_keys=True), (result.task, result.set)
            assert list(back) == list(d)


def test_summary_none_nan_and_absent_parts():
    d = {"task": "lexical", "set": "dev", "all": None,
         "by_frequency": {"frequency": ["oov", "1-5"], "n": [0, 3], "score": [None, 0.1 + 0.2], "std": [None, 1e-300]},
         "confidence": [], "in_vocab": ""}
    back = convert.summary_py(_wire(convert.summary_pb(d)))
    assert back == d and back["by_frequency"]["score"][1] == 0.1 + 0.2
    assert convert.summary_py(convert.summary_pb({"task": "semantic", "set": "test"})) == {"task": "semantic",
                                                                                         "set": "test"}


def test_meta_keeps_keys_order_and_types():
    meta = {"username": 12, "model_info": {"model_id": None, "gpu_budget": 1.5}, "open_source": True,
            "publication": {"publication_year": 2023, "authors": ["a", "b"], "DOI": 2023.0},
            "zzz": {"nested": [1, {"x": None}], 2: "a", False: "b", None: "c"}, "big": 2 ** 70}
    back = convert.meta_py(_wire(validation_pb2.ValidateResponse(meta=convert.meta_pb(meta))))
    assert json.dumps(back) == json.dumps({**meta, "big": float(2 ** 70)})   # as JSON records name keys
    assert isinstance(back["publication"]["publication_year"], int)
    assert isinstance(back["publication"]["DOI"], float)


def test_absent_meta_stays_absent():
    assert convert.meta_py(_wire(validation_pb2.ValidateResponse(meta=convert.meta_pb(None)))) is None


def test_params_round_trip():
    for p in (Params(benchmark="prosAudit", quiet=True),
              Params(semantic=SemanticParams(metric="cosine", pooling="max", librispeech=False, n_jobs=-3),
                     score_files_type=".txt")):
        back = convert.params_py(_wire(convert.params_pb(p)))
        assert back == p and back.to_json() == p.to_json()


def test_job_record_round_trips_to_the_same_stored_bytes():
    job = jobs.Job.new({"submission_digest": "a" * 64, "benchmark": "sLM21", "dataset": "", "sets": ["dev"],
                        "tasks": []}, False, owner="ann", publish=True)
    job.move(jobs.VALIDATING, "validating")
    job.findings = [Finding("warning", "meta_recommended", "add a URL", "meta.yaml", 3).to_dict(),
                    Finding("error", "bad_score", "no", None, None).to_dict()]
    job.params_json = Params().to_json()
    job.meta_json = json.dumps({"username": "ann", "publication": {"publication_year": 2024}})
    job.parts = [["lexical", "dev"], ["semantic", "dev"]]
    job.part_done("semantic", "dev", "k" * 64, False)
    job.part_done("lexical", "dev", "j" * 64, True)
    job.take_lease("gw-1", 1_790_000_000.123456, 30.0)
    job.starts = {"scoring lexical": 2, "validation": 1}   # a proto map has no order: they come back sorted
    job.revision = 7
    d = job.to_dict()
    back = convert.job_py(_wire(convert.job_pb(d)))
    assert json.dumps(back) == json.dumps(d)
    again = convert.job_py(_wire(convert.job_pb(back)))
    assert json.dumps(again) == json.dumps(back)   # a retried write stores the very same bytes
    fresh = jobs.Job.new({"submission_digest": "b" * 64, "benchmark": "sLM21"}, True).to_dict()
    fresh["selection"] = {"submission_digest": "b" * 64, "benchmark": "sLM21", "dataset": "", "sets": [], "tasks": []}
    assert convert.job_py(_wire(convert.job_pb(fresh))) == fresh   # no params, meta "null", no lease


def test_summaries_of_job_records_carry_counts():
    d = jobs.Job.new({"submission_digest": "c" * 64, "benchmark": "sLM21", "dataset": "", "sets": [],
                      "tasks": []}, False).to_dict()
    d.pop("events"), d.pop("findings")
    d.update(findings_count=0, events_count=1)
    back = convert.job_py(_wire(convert.job_pb(d)))
    assert back["findings_count"] == 0 and back["events_count"] == 1 and back["events"] == []


def test_timestamps_come_back_in_their_record_text():
    ms = jobs.now()
    z = "2026-12-03T00:00:00Z"
    user = gateway_pb2.UserInfo(**convert.stamps({"name": "a", "created_at": ms}, "created_at"))
    token = gateway_pb2.TokenInfo(**convert.stamps({"id": "x", "created_at": ms, "expires_at": ""},
                                                   "created_at", "expires_at"))
    me = gateway_pb2.WhoAmIResponse(quota_resets_at=convert.stamp_pb(z))
    assert convert.stamp_text(_wire(user), "created_at") == ms
    assert convert.stamp_text(_wire(token), "expires_at", convert.SECONDS_Z) == ""
    assert convert.stamp_text(_wire(me), "quota_resets_at", convert.SECONDS_Z) == z


def test_leaderboard_entries_come_back_byte_identical(slm21_case, prosaudit_case):
    from zrc.core.analysis import confidence_rows
    from zrc.core.leaderboard import build_entry, dumps
    from zrc.core.meta import template
    from zrc.core.params import default_params

    for (dataset_dir, sub), bench in ((slm21_case, "sLM21"), (prosaudit_case, "prosAudit")):
        ds = load_dataset(str(dataset_dir))
        results = evaluate(ds, DirTree(sub), bench).results
        meta = template(bench)
        meta["publication"].update(authors="A, B", paper_title="T <i>x</i>", publication_year=2024, DOI=None)
        meta["model_info"]["gpu_budget"] = 12.5
        for m in (meta, None):
            entry = build_entry(ds, results, default_params(bench), m)
            assert dumps(convert.entry_py(_wire(convert.entry_pb(entry)))) == dumps(entry), bench
        entry["zrc"] = {"entry_id": "e" * 32, "job_id": "j" * 32, "owner": "ann", "baseline": False,
                        "scorer_version": "v", "submission_digest": "d" * 64, "dataset": "", "published_at": jobs.now(),
                        "intervals": confidence_rows([summarize(r, ds) for r in results], entry)}
        assert entry["zrc"]["intervals"]
        assert dumps(convert.entry_py(_wire(convert.entry_pb(entry)))) == dumps(entry), bench


def test_a_partial_entry_keeps_its_nulls(slm21_case):
    from zrc.core.leaderboard import build_entry, dumps
    from zrc.core.params import default_params

    dataset_dir, sub = slm21_case
    ds = load_dataset(str(dataset_dir))
    entry = build_entry(ds, evaluate(ds, DirTree(sub), "sLM21", sets=["dev"], tasks=["lexical"]).results,
                        default_params("sLM21"), {"username": 7, "model_info": {"gpu_budget": 3}})
    assert entry["scores"]["syntactic"] == {"dev": None, "test": None}
    assert dumps(convert.entry_py(_wire(convert.entry_pb(entry)))) == dumps(entry)


def test_the_wire_has_no_json_text_and_every_time_is_a_timestamp():
    from zrc.pb.common.v1 import common_pb2
    from zrc.pb.results.v1 import results_pb2
    from zrc.pb.scoring.v1 import scoring_pb2

    def messages(container):
        for m in container.message_types_by_name.values() if hasattr(container, "message_types_by_name") \
                else container.nested_types:
            yield m
            yield from messages(m)

    seen = 0
    for module in (common_pb2, gateway_pb2, results_pb2, scoring_pb2, validation_pb2):
        for m in messages(module.DESCRIPTOR):
            for f in m.fields:
                seen += 1
                assert not f.name.endswith(("_json", "_yaml")), f"{m.full_name}.{f.name}"
                if f.name == "at" or f.name.endswith(("_at", "_expires")):
                    assert f.message_type and f.message_type.full_name == "google.protobuf.Timestamp", \
                        f"{m.full_name}.{f.name}"
    assert seen > 200


@pytest.mark.integration   # a reflection server on a loopback port
def test_reflection_serves_the_typed_messages():
    """What grpcurl sees: the records as messages, their well-known types resolvable from the server alone."""
    from concurrent import futures

    import grpc
    from google.protobuf.descriptor_pool import DescriptorPool
    from grpc_reflection.v1alpha import reflection
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

    from zrc.pb.results.v1 import results_pb2

    server = grpc.server(futures.ThreadPoolExecutor(1))
    reflection.enable_server_reflection(["zrc.results.v1.ResultsService", "zrc.gateway.v1.GatewayService",
                                         reflection.SERVICE_NAME], server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            pool = DescriptorPool(ProtoReflectionDescriptorDatabase(ch))
            job = pool.FindMessageTypeByName("zrc.results.v1.JobRecord")
            assert job.fields_by_name["created_at"].message_type.full_name == "google.protobuf.Timestamp"
            assert job.fields_by_name["params"].message_type.full_name == "zrc.common.v1.SubmissionParams"
            scores = pool.FindMessageTypeByName("zrc.gateway.v1.GetScoresResponse")
            assert scores.fields_by_name["entry"].message_type.full_name == "zrc.common.v1.LeaderboardEntry"
            assert "leaderboard_json" not in scores.fields_by_name
            assert len(job.fields) == len(results_pb2.JobRecord.DESCRIPTOR.fields)
    finally:
        server.stop(0)
