"""CSV exports as jobs: start (job row + workflow execution), poll, cancel, and the workflow's task that writes the
file. Generic: what a job writes is its export action's declaration (`registry.Export`: a report's, derived by its
family, the report's answer as the table its response model declares; the waitlist's, with the signups): its
columns, its rows function, its status URL and file name. The job names its action, and the task finds the
declaration in the registry; a new report needs nothing here.

The workflow (`workflows/export.asl.json`) runs `run_step` in a loop: each invocation streams rows into the
multipart upload and stops at a part boundary when its time runs short, handing the upload's state and the row
cursor to the next invocation. Any error lands in `fail`: the job becomes `failed` with a message and the partial
upload is aborted. A cancel (`cancel`) stops the execution, marks the job and aborts the upload; a task still running
learns it at its next progress write (conditional on `running`) and stops.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from pydantic import BaseModel

from backinstock import ids, registry
from backinstock.errors import Conflict, NotFound
from backinstock.infra_spec import EXPORT_FILE_RETENTION_DAYS, EXPORT_JOB_RETENTION_HOURS
from backinstock.models.reporting import ExportAccepted, ExportJob, csv_rows
from backinstock.registry import BASE_PATH, Action, Export
from backinstock.reporting import Windowed, resolve_window
from backinstock.repositories.exports import ExportRepository, JobNotRunning
from backinstock.services import downloads

JOB_RETENTION = timedelta(hours=EXPORT_JOB_RETENTION_HOURS)  # after completion: then DynamoDB's TTL deletes the row
UNFINISHED_RETENTION = timedelta(days=2)  # a job whose workflow never reported back
# A ready job -> its download link and when the link stops working (`services.downloads`: 7 days, as the file).
Link = Callable[[dict[str, Any]], tuple[str, datetime]]
FILE_RETENTION_DAYS = EXPORT_FILE_RETENTION_DAYS  # the bucket's lifecycle rule deletes export files after this
TIME_RESERVE_MS = 60_000  # an invocation stops at the next part boundary when less than this is left


class ExportFailed(Exception):
    """A failure whose message is meant for the merchant (shown as the job's `error`)."""


@dataclass(frozen=True)
class Exports:
    jobs: ExportRepository


class Workflow(Protocol):
    """The export state machine's executions (`providers.workflows.StepFunctionsWorkflow` in Lambda)."""

    def start(self, name: str, payload: dict[str, Any]) -> str: ...

    def stop(self, execution_arn: str) -> None: ...


def new_job_id() -> str:
    return "exp_" + secrets.token_hex(8)


# ------------------------------------------------------------------------------------------------ API: start
def start(
    exports: Exports,
    workflow: Workflow,
    shop_id: str,
    action: Action,
    params: BaseModel,
    now: datetime | None = None,
) -> ExportAccepted:
    """Create the job of an export action (`params`: its validated body) and start its execution. A report's window
    is resolved now (so the file covers the window the request meant, whenever it runs); an invalid one is a 422
    and starts nothing."""
    spec = declared(action)
    moment = now or ids.now()
    stored = params.model_dump(mode="json", by_alias=True)
    window: dict[str, str] = {}
    if spec.window:
        # A windowed export's body has the report filters' from/to (a unit test checks every declaration).
        start_day, end_day = resolve_window(cast(Windowed, params), moment)
        window = {"from": start_day.isoformat(), "to": end_day.isoformat()}
        stored.update(window)
    job_id = new_job_id()
    file_name = spec.file_name.format(report=spec.report, today=moment.date().isoformat(), **window)
    job = {
        "job_id": job_id,
        "shop_id": shop_id,
        "source": spec.report,
        "export": action.name,
        "status_path": spec.status_path,  # its family's: the job is read and cancelled under that path only
        "params": json.dumps(stored, separators=(",", ":")),
        "status": "running",
        "progress": 0,
        "row_count": 0,
        "file_name": file_name,
        "object_key": downloads.object_key(shop_id, job_id, file_name),
        "created_at": ids.iso(moment),
        "expires_at": int((moment + UNFINISHED_RETENTION).timestamp()),
    }
    exports.jobs.create(job)
    try:
        execution_arn = workflow.start(job_id, {"shop_id": shop_id, "job_id": job_id})
    except Exception:
        exports.jobs.finish(
            shop_id,
            job_id,
            {"status": "failed", "error": "The export could not be started; retry later", **_closing(moment)},
        )
        raise
    exports.jobs.update_running(shop_id, job_id, {"execution_arn": execution_arn})
    return ExportAccepted(job_id=job_id, status_url=f"{BASE_PATH}{spec.status_path}/{job_id}")


def declared(action: Action) -> Export:
    if action.export is None:
        raise TypeError(f"action {action.name} declares no export (Action.export)")
    return action.export


def _closing(moment: datetime) -> dict[str, Any]:
    return {"completed_at": ids.iso(moment), "expires_at": int((moment + JOB_RETENTION).timestamp())}


# --------------------------------------------------------------------------------------------- API: poll, cancel
def status_path_of(job: dict[str, Any]) -> str:
    """The exports path of the job's family (`<family prefix>/exports`). A job started before it was stored (they
    expire within a day) is placed by its export action's name: the preorder family's are `export_preorder_...`."""
    if job.get("status_path"):
        return str(job["status_path"])
    return (
        "/preorders/reports/exports"
        if str(job.get("export", "")).startswith("export_preorder_")
        else ("/back_in_stock/reports/exports")
    )


def _require(exports: Exports, shop_id: str, job_id: str, moment: datetime, status_path: str) -> dict[str, Any]:
    """The job, under its own family's exports path only: another family's job is an unknown one (404)."""
    job = exports.jobs.get(shop_id, job_id) if job_id.startswith("exp_") and len(job_id) <= 40 else None
    # DynamoDB's TTL deletes within a day or two of `expires_at`: an expired row is gone for the API already.
    if job is not None and status_path_of(job) != status_path:
        job = None
    if job is None or int(job.get("expires_at", 0)) <= int(moment.timestamp()):
        raise NotFound(
            f"Export not found: no export job {job_id} under {status_path} in this shop (jobs expire "
            f"{EXPORT_JOB_RETENTION_HOURS} hours after completion; a job is read under its own report family's "
            "path, the one its status_url names)"
        )
    return job


def view(job: dict[str, Any], link: Link | None = None) -> ExportJob:
    """The job as the API shows it; when ready and `link` is given, its download link and when that expires."""
    ready = job["status"] == "ready"
    url = expires = None
    if ready and link is not None:
        url, until = link(job)
        expires = ids.iso(until)
    return ExportJob(
        job_id=job["job_id"],
        status=job["status"],
        progress=int(job.get("progress", 0)),
        report=job["source"],
        family=status_path_of(job).removesuffix("/exports"),
        status_url=f"{BASE_PATH}{status_path_of(job)}/{job['job_id']}",
        row_count=int(job["row_count"]) if ready else None,
        file_name=job["file_name"] if ready else None,
        download_url=url,
        download_url_expires_at=expires,
        error=job.get("error"),
        created_at=job["created_at"],
        completed_at=job.get("completed_at"),
    )


def get(
    exports: Exports, shop_id: str, job_id: str, status_path: str, link: Link, now: datetime | None = None
) -> ExportJob:
    moment = now or ids.now()
    return view(_require(exports, shop_id, job_id, moment, status_path), link)


def cancel(
    exports: Exports,
    workflow: Workflow,
    shop_id: str,
    job_id: str,
    status_path: str,
    abort: Callable[[str, str], None],
    now: datetime | None = None,
) -> ExportJob:
    moment = now or ids.now()
    job = _require(exports, shop_id, job_id, moment, status_path)
    try:
        if job["status"] != "running":
            raise JobNotRunning(job_id)
        job = exports.jobs.finish(shop_id, job_id, {"status": "cancelled", **_closing(moment)})
    except JobNotRunning:
        current = exports.jobs.get(shop_id, job_id) or job
        raise Conflict(f"Export {job_id} is {current['status']}: only a running export can be cancelled") from None
    if job.get("execution_arn"):
        workflow.stop(job["execution_arn"])
    if job.get("upload_id"):
        abort(job["object_key"], job["upload_id"])
    return view(job, None)


# -------------------------------------------------------------------------------------------------- the sources
@dataclass(frozen=True)
class Opened:
    rows: Iterator[tuple[list[Any], Any]]  # (cells, cursor after this row)
    expected: int | None


def open_source(
    job: dict[str, Any], cursor: Any, now: datetime, dependency: Callable[[str], Any]
) -> tuple[tuple[str, ...], Opened]:
    """The columns and the rows (from `cursor` on) of a job, from its export action's declaration. `dependency`
    builds what the rows function takes first, from its factory's name (`Export.context`)."""
    action = registry.by_name(job["export"])
    spec = declared(action)
    assert action.body_model is not None
    params = action.body_model.model_validate(json.loads(job["params"]))
    rows = registry.resolve(spec.rows)
    context = dependency(spec.context)
    if spec.resumable:
        opened: Opened = rows(context, job["shop_id"], params, cursor)
        return spec.columns, opened
    listed = list(csv_rows(rows(context, job["shop_id"], params, now)))  # a report: its answer's table
    skip = int(cursor or 0)
    return spec.columns, Opened(((r, i + 1) for i, r in enumerate(listed) if i >= skip), len(listed))


# ----------------------------------------------------------------------------------------- the workflow's task
def run_step(
    exports: Exports,
    event: dict[str, Any],
    writer_for: Callable[[dict[str, Any], dict[str, Any] | None], Any],
    remaining_ms: Callable[[], int],
    dependency: Callable[[str], Any],
    now: datetime | None = None,
) -> dict[str, Any]:
    """One invocation of the export task. Returns the workflow state: `done`, or the state to resume from.
    `dependency` builds what the job's rows function takes first (see `open_source`)."""
    moment = now or ids.now()
    shop_id, job_id = event["shop_id"], event["job_id"]
    state = event.get("state") or {}
    out = {"shop_id": shop_id, "job_id": job_id, "done": True}
    job = exports.jobs.get(shop_id, job_id)
    if job is None:
        return out
    writer = writer_for(job, state.get("upload"))
    if job["status"] != "running":
        writer.abort()
        return out
    first = not state
    columns, opened = open_source(job, state.get("cursor"), moment, dependency)
    expected = opened.expected if first else state.get("expected")
    count = int(state.get("row_count", 0))
    try:
        if first:
            writer.abort_earlier_attempts()
            writer.start()
            try:
                exports.jobs.update_running(shop_id, job_id, {"upload_id": writer.upload_id})
            except Exception:
                # Not recorded, the upload is known to this invocation only: abort it here (found by `make chaos`).
                # A kill between the two calls is caught by the next start and by the failure path, which abort
                # every open upload of the job's key (`csvfile.abort_open_uploads`).
                writer.abort()
                raise
            writer.write_row(list(columns))
        for cells, cursor in opened.rows:
            count += 1
            if not writer.write_row(cells):
                continue
            exports.jobs.update_running(shop_id, job_id, {"progress": _progress(count, expected), "row_count": count})
            if remaining_ms() < TIME_RESERVE_MS:
                resume = {"upload": writer.state(), "cursor": cursor, "row_count": count, "expected": expected}
                return {**out, "done": False, "state": resume}
        writer.complete()
    except JobNotRunning:  # cancelled meanwhile: drop what was written
        writer.abort()
        return out
    try:
        exports.jobs.finish(
            shop_id, job_id, {"status": "ready", "progress": 100, "row_count": count, **_closing(moment)}
        )
    except JobNotRunning:
        writer.delete()
    return out


def _progress(count: int, expected: int | None) -> int:
    if not expected:
        return 50
    return max(1, min(99, count * 100 // expected))


def fail(
    exports: Exports,
    event: dict[str, Any],
    abort: Callable[[str, str], None],
    now: datetime | None = None,
) -> dict[str, Any]:
    """The workflow's Catch: mark the job failed with a message and abort the partial upload."""
    moment = now or ids.now()
    shop_id, job_id = event["shop_id"], event["job_id"]
    job = exports.jobs.get(shop_id, job_id)
    if job is not None:  # the upload the row names ("" if none was recorded) and any other open one of its key
        abort(job["object_key"], job.get("upload_id") or "")
    if job is not None and job["status"] == "running":
        failed = {"status": "failed", "error": error_message(event.get("error")), **_closing(moment)}
        with contextlib.suppress(JobNotRunning):  # cancelled meanwhile: cancelled it stays
            exports.jobs.finish(shop_id, job_id, failed)
    return {"shop_id": shop_id, "job_id": job_id, "done": True}


def error_message(error: Any) -> str:
    """The merchant-facing message of a workflow error (`{Error, Cause}`, Cause being Lambda's error JSON)."""
    cause: dict[str, Any] = {}
    if isinstance(error, dict):
        try:
            cause = json.loads(error.get("Cause") or "{}")
        except ValueError:
            cause = {}
    if cause.get("errorType") == ExportFailed.__name__ and cause.get("errorMessage"):
        return f"The export failed: {cause['errorMessage']}"
    kind = (cause.get("errorType") or error.get("Error")) if isinstance(error, dict) else None
    return (
        f"The export failed unexpectedly ({kind or 'unknown error'}); run it again, and contact support if it "
        "keeps failing"
    )
