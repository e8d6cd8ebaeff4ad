"""``zrc jobs`` and ``zrc jobs:scores``: a user's evaluations, and the files of a finished one.

A run whose terminal went away (laptop closed, connection lost) still finishes on the server; these two
commands find it again and fetch its score files without evaluating anything a second time.
"""

from __future__ import annotations

from pathlib import Path

from zrc.lazy import lazy_module

from . import output

convert = lazy_module("zrc.common.convert")

STATE_NAMES = {0: "unknown", 1: "queued", 2: "validating", 3: "scoring", 4: "succeeded", 5: "invalid", 6: "failed"}


def job_dict(j) -> dict:
    """One job as plain data (what --json prints)."""
    return {"job_id": j.job_id, "state": STATE_NAMES.get(j.state, str(j.state)), "benchmark": j.selection.benchmark,
            "dataset": j.selection.dataset, "sets": list(j.selection.sets), "tasks": list(j.selection.tasks),
            "parts_done": j.parts_done, "parts_total": j.parts_total, "created_at": convert.stamp_text(j, "created_at"),
            "updated_at": convert.stamp_text(j, "updated_at"), "published": j.publish, "model_id": j.model_id,
            "owner": j.owner, "failure_reason": j.failure_reason}


def cmd_jobs(a) -> int:
    from .main import session

    with session(scoring=False) as client:
        rows = sorted((job_dict(j) for j in client.list_jobs()), key=lambda r: r["created_at"], reverse=True)
    if a.json:
        output.print_json(rows)
    elif not rows:
        output.say("no jobs yet: `zrc benchmarks:run NAME DIR` starts one")
    else:
        output.table("Jobs (newest first)", ["job", "state", "benchmark", "sets", "tasks", "parts", "created", "note"],
                     [[r["job_id"], r["state"], r["benchmark"], " ".join(r["sets"]) or "all",
                       " ".join(r["tasks"]) or "all", f"{r['parts_done']}/{r['parts_total']}", r["created_at"],
                       r["failure_reason"] or ("published" if r["published"] else "")] for r in rows])
    return 0


def cmd_jobs_scores(a) -> int:
    from .main import UsageError, _write_scores, check_output_dir, session

    out = Path(a.output) if a.output else Path(f"scores-{a.job}")
    check_output_dir(out)
    with session(scoring=False) as client:
        job = client.get_job(a.job)
        state = STATE_NAMES.get(job.state, str(job.state))
        if state in ("queued", "validating", "scoring"):
            raise UsageError(f"job {a.job} is still {state} ({job.parts_done}/{job.parts_total} parts): "
                             "try again when it has finished (`zrc jobs` shows its state)")
        if state != "succeeded":
            why = job.failure_reason or "the submission is invalid (`zrc submission:verify` lists why)"
            if a.json:
                output.print_json({"ok": False, "job_id": a.job, "state": state, "reason": why})
            else:
                output.error(f"job {a.job} {state}: {why}; it has no scores")
            return 1
        res = client.get_scores(a.job)
    files = {f.name: f.content for f in res.files}
    _write_scores(files, out)
    if a.json:
        output.print_json({"ok": True, "job_id": a.job, "output": str(out), "files": sorted(files)})
    else:
        output.say(f"{len(files)} score files of job {a.job} written to {out}")
    return 0


def add_parsers(add) -> None:
    """Register the commands with main's ``add(name, fn, help)``."""
    add("jobs", cmd_jobs, "your evaluation jobs, newest first, with their state")
    sp = add("jobs:scores", cmd_jobs_scores, "write the score files of a finished job")
    sp.add_argument("job", help="a job id (see `zrc jobs`)")
    sp.add_argument("-o", "--output", help="where to write them (default ./scores-JOB)")
