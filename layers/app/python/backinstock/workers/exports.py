"""The export workflow's task: `phase` run (stream rows into the CSV) or fail (the workflow's Catch)."""

from __future__ import annotations

from typing import Any

from backinstock import config, deps, observability
from backinstock.csvfile import MultipartCsv, abort_open_uploads, abort_upload
from backinstock.services import exports

logger = observability.root_logger()
metrics = observability.metrics()


def _writer(job: dict[str, Any], state: dict[str, Any] | None) -> MultipartCsv:
    return MultipartCsv(config.export_bucket(), job["object_key"], file_name=job["file_name"], state=state)


def _dependency(factory: str) -> Any:
    """What an export's rows take first: the product of its declared factory (`Export.context`) in deps."""
    return getattr(deps, factory)()


def _abort(object_key: str, upload_id: str) -> None:
    """The failure path: the upload the job row names, and any other open one of its key (a task killed between
    starting an upload and recording its id)."""
    if upload_id:
        abort_upload(config.export_bucket(), object_key, upload_id)
    abort_open_uploads(config.export_bucket(), object_key)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    job = event.get("job") or {}
    logger.append_keys(shop_id=job.get("shop_id"), job_id=job.get("job_id"), phase=event.get("phase"))
    observability.correlate(logger, job.get("job_id"))
    try:
        if event.get("phase") == "fail":
            logger.warning("export failed", extra={"error": job.get("error")})
            failed = exports.fail(deps.exports(), job, _abort)
            observability.count(metrics, observability.EXPORTS_FAILED)
            return failed
        result = exports.run_step(deps.exports(), job, _writer, context.get_remaining_time_in_millis, _dependency)
        logger.info("export step", extra={"done": result["done"], "rows": (result.get("state") or {}).get("row_count")})
        if result["done"]:
            observability.count(metrics, observability.EXPORTS_FINISHED)
        return result
    finally:
        observability.flush(metrics)
