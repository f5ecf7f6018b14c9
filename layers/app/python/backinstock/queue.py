"""The SQS queues the code enqueues to, one type each: `SendQueue` (what API actions and campaigns enqueue for the
send worker) and `WebhookQueue` (verified Shopify webhooks for the webhook worker). SendMessageBatch, 10 entries per
call.

Send queue message bodies (JSON), by `kind`:
- `send`: `{shop_id, sends: [{send_id, signup_id, allow_resend}]}`: several sends per message (bulk notify packs
  `SENDS_PER_MESSAGE`), each with its own claim, so a redelivered message never sends twice.
- `optin`: `{shop_id, signup_id, committed_at}`: the double opt-in confirmation message, queued by the table's
  stream once the signup is written (`services.optin`); a signup the worker cannot find was deleted since, and the
  message is acknowledged. Messages of the earlier shape `{shop_id, signup_id, queued_at}` were queued before the
  signup's write: the worker retries one whose signup it cannot see while it is young, and acknowledges it after.
- `transfer`: `{shop_id, transfer_id, from_variant_id, target, scope, start_key}`: one page of a waitlist transfer;
  the worker enqueues the next page itself.
"""

from __future__ import annotations

import json
from typing import Any

from backinstock import aws, config

BATCH_LIMIT = 10
SENDS_PER_MESSAGE = 50
# An opt-in message of the earlier shape (queued before its signup's write) younger than this whose signup is missing
# is retried (the write may still be in flight); an older one is acknowledged (the write was refused or failed).
OPTIN_WAIT_SECONDS = 60


def group(message: dict[str, Any]) -> dict[str, str]:
    """The message's group on a standard queue: its shop. SQS fair queues keep the dwell time of the shops that
    have little queued low while one shop has a big backlog (a restock of 100,000): the quota is the account's, and
    one shop's restock must not hold back another's (docs/ARCHITECTURE.md, "The send pace")."""
    shop_id = message.get("shop_id")
    return {"MessageGroupId": str(shop_id)} if shop_id else {}


class Queue:
    """One SQS queue. Its URL is read from the environment only when something is sent (`default_url`), so a
    function that never enqueues needs no queue variable."""

    def __init__(self, url: str | None = None, client: Any = None) -> None:
        self._url = url
        self._client = client

    @staticmethod
    def default_url() -> str:
        raise NotImplementedError

    @property
    def url(self) -> str:
        return self._url or self.default_url()

    @property
    def client(self) -> Any:
        return self._client or aws.client("sqs")

    def send(self, message: dict[str, Any], delay_seconds: int = 0) -> None:
        self.client.send_message(
            QueueUrl=self.url,
            MessageBody=json.dumps(message, separators=(",", ":")),
            DelaySeconds=delay_seconds,
            **group(message),
        )

    def send_many(self, messages: list[dict[str, Any]]) -> list[int]:
        """Enqueue every message, 10 per SendMessageBatch. Returns the indexes of the messages SQS refused."""
        failed: list[int] = []
        for start in range(0, len(messages), BATCH_LIMIT):
            chunk = messages[start : start + BATCH_LIMIT]
            entries = [
                {"Id": str(start + i), "MessageBody": json.dumps(m, separators=(",", ":")), **group(m)}
                for i, m in enumerate(chunk)
            ]
            try:
                response = self.client.send_message_batch(QueueUrl=self.url, Entries=entries)
            except Exception:  # the whole call failed: every message of the chunk is reported, none is lost silently
                failed.extend(range(start, start + len(chunk)))
                continue
            failed.extend(int(f["Id"]) for f in response.get("Failed", []))
        return failed


class SendQueue(Queue):
    """The send worker's input: sends, opt-in mail, transfer pages (the kinds above)."""

    @staticmethod
    def default_url() -> str:
        return config.queue_url()


class WebhookQueue(Queue):
    """The webhook worker's input: one verified Shopify webhook per message (`services.webhooks`)."""

    @staticmethod
    def default_url() -> str:
        return config.webhook_queue_url()
