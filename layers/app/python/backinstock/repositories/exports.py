"""Export jobs: `SHOP#<id> / EXPORT#<job_id>`. Every DynamoDB expression for them lives here.

The row is the job's truth: the API reads it (strongly consistent) to answer a poll; the workflow's task writes its
progress under the condition that it is still `running`, so a cancelled job is never brought back, and learns from a
failed condition that it must stop. It expires through `expires_at` (the table's TTL): a day after completion, or
two days after creation when a workflow never finishes.
"""

from __future__ import annotations

from typing import Any

from backinstock.repositories.base import Repository, from_item, key, serialize, to_item

EXPORT = "EXPORT#"


def export_key(shop_id: str, job_id: str) -> dict[str, Any]:
    return key(f"SHOP#{shop_id}", EXPORT + job_id)


class JobNotRunning(Exception):
    """The job is no longer running (cancelled, failed, ready) or has expired."""


class ExportRepository(Repository):
    def create(self, job: dict[str, Any]) -> None:
        self.client.put_item(
            TableName=self.table_name,
            Item={**export_key(job["shop_id"], job["job_id"]), **to_item({"entity": "export_job", **job})},
            ConditionExpression="attribute_not_exists(PK)",
        )

    def get(self, shop_id: str, job_id: str) -> dict[str, Any] | None:
        return self.read(f"SHOP#{shop_id}", EXPORT + job_id)

    def update_running(self, shop_id: str, job_id: str, values: dict[str, Any], remove: tuple[str, ...] = ()) -> None:
        """SET `values` (and REMOVE `remove`) while the job is running; raises JobNotRunning otherwise."""
        self._update(shop_id, job_id, values, remove, condition_status="running")

    def finish(self, shop_id: str, job_id: str, values: dict[str, Any]) -> dict[str, Any]:
        """Move a running job to its final state (`values` holds `status`). Raises JobNotRunning."""
        return self._update(shop_id, job_id, values, (), condition_status="running")

    def _update(
        self, shop_id: str, job_id: str, values: dict[str, Any], remove: tuple[str, ...], condition_status: str
    ) -> dict[str, Any]:
        sets = [f"#{name} = :{name}" for name in values]
        names = {f"#{name}": name for name in (*values, *remove)}
        names["#status_now"] = "status"
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(f"#{n}" for n in remove) if remove else "")
        try:
            response = self.client.update_item(
                TableName=self.table_name,
                Key=export_key(shop_id, job_id),
                UpdateExpression=expression,
                ConditionExpression="attribute_exists(PK) AND #status_now = :expected",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={
                    **{f":{name}": serialize(value) for name, value in values.items()},
                    ":expected": {"S": condition_status},
                },
                ReturnValues="ALL_NEW",
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            raise JobNotRunning(job_id) from None
        return from_item(response["Attributes"])
