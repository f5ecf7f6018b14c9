"""Stock levels, restock episodes and restock campaigns. Every DynamoDB expression for them lives here.

Items (all in the shop's partition):
- `STOCK#<variant>#<location>`: the available quantity at one location, with Shopify's `updated_at`. A write is
  conditional on being newer than the stored one (or the very same update), so out-of-order and repeated inventory
  webhooks change nothing.
- `RESTOCK#<variant>`: `in_stock` (at or above the shop's stock threshold), the last `total`, the `episode`
  count. The flip from out of stock to in stock is one conditional UpdateItem: of two concurrent updates (two
  locations) only one sees the flip, so a restock is detected once.
- `CAMPAIGN#<variant>`: the variant's current or last campaign (`running`, `finished`, `stopped`, `failed`,
  `cancelled`). It is claimed with a conditional put that fails while a campaign of the variant runs: one campaign
  at a time.
- `RCAMPAIGN#<campaign uuid7>`: the campaign's record, what `GET /back_in_stock/restocks/:id` shows: written with
  the claim, by each step (counts, phase) and by the merchant's pause / resume / cancel, each a conditional write
  on `status` and `control` (a step never writes those two, a control never writes the step's fields), so a
  control and a concurrently running step never undo each other.
"""

from __future__ import annotations

from typing import Any

from backinstock.repositories.base import BATCH_GET_LIMIT, Repository, from_item, key, serialize, to_item
from backinstock.repositories.signups import SIGNUP, is_pending, product_pk, variant_pk

RUNNING = "running"
CANCELLED = "cancelled"
ACTIVE, PAUSED = "active", "paused"  # a running campaign's `control`: the merchant's pause and resume
RECORD = "RCAMPAIGN#"  # one record per campaign, by id (UUIDv7: sorted by start time)


def _pk(shop_id: str) -> str:
    return f"SHOP#{shop_id}"


class RestockRepository(Repository):
    # ---------------------------------------------------------------------------------------------- levels
    def set_level(
        self, shop_id: str, variant_id: int, location_id: int, available: int, updated_at: str, inventory_item_id: int
    ) -> bool:
        """Store one location's level unless a newer update, or an older one, was stored. False: stale, ignored.

        The same update again (same `updated_at`, same quantity: a redelivered message whose worker died after this
        write, before the flip or the campaign) is stored again and answers True, so that the rest of the restock
        runs; the flip and the campaign's claim are themselves conditional, so it runs once."""
        values = {
            "entity": "stock_level",
            "variant_id": variant_id,
            "location_id": location_id,
            "inventory_item_id": inventory_item_id,
            "available": available,
            "updated_at": updated_at,
        }
        return self.put_if(
            {**key(_pk(shop_id), f"STOCK#{variant_id}#{location_id}"), **to_item(values)},
            "attribute_not_exists(PK) OR updated_at < :at OR (updated_at = :at AND available = :available)",
            values={":at": {"S": updated_at}, ":available": {"N": str(available)}},
        )

    def levels(self, shop_id: str, variant_id: int) -> dict[int, int]:
        """Available quantity per location id."""
        items = self.query(
            KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
            ExpressionAttributeValues={":pk": {"S": _pk(shop_id)}, ":prefix": {"S": f"STOCK#{variant_id}#"}},
            ConsistentRead=True,
        )
        return {int(i["location_id"]["N"]): int(i["available"]["N"]) for i in items}

    # --------------------------------------------------------------------------------------------- episodes
    def state(self, shop_id: str, variant_id: int) -> dict[str, Any] | None:
        return self.read(_pk(shop_id), f"RESTOCK#{variant_id}")

    def flip_in_stock(self, shop_id: str, variant_id: int, total: int, at: str) -> int | None:
        """Out of stock (or never seen) -> in stock. Returns the new episode number, or None if it was in stock."""
        attributes = self._flip(shop_id, variant_id, total, at, in_stock=True)
        return None if attributes is None else int(attributes["episode"]["N"])

    def flip_out_of_stock(self, shop_id: str, variant_id: int, total: int, at: str) -> bool:
        """In stock -> out of stock (the episode ends). False if it was not in stock."""
        return self._flip(shop_id, variant_id, total, at, in_stock=False) is not None

    def _flip(self, shop_id: str, variant_id: int, total: int, at: str, in_stock: bool) -> dict[str, Any] | None:
        """One conditional UpdateItem from the other state to `in_stock`; None when the variant was in it already.
        Coming in stock opens an episode (`episode + 1`); a variant never seen counts as out of stock."""
        update = "SET in_stock = :to, #total = :total, changed_at = :at, entity = :e, variant_id = :v"
        values: dict[str, Any] = {
            ":to": {"BOOL": in_stock},
            ":from": {"BOOL": not in_stock},
            ":total": serialize(total),
            ":at": {"S": at},
            ":e": {"S": "restock_state"},
            ":v": serialize(variant_id),
        }
        if in_stock:
            update += " ADD episode :one"
            values[":one"] = {"N": "1"}
        try:
            response = self.client.update_item(
                TableName=self.table_name,
                Key=key(_pk(shop_id), f"RESTOCK#{variant_id}"),
                UpdateExpression=update,
                ConditionExpression=("attribute_not_exists(in_stock) OR " if in_stock else "") + "in_stock = :from",
                ExpressionAttributeNames={"#total": "total"},
                ExpressionAttributeValues=values,
                ReturnValues="UPDATED_NEW",
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return None
        return dict(response["Attributes"])

    # -------------------------------------------------------------------------------------------- campaigns
    def campaign(self, shop_id: str, variant_id: int) -> dict[str, Any] | None:
        return self.read(_pk(shop_id), f"CAMPAIGN#{variant_id}")

    def claim_campaign(self, shop_id: str, variant_id: int, campaign: dict[str, Any]) -> bool:
        """Make `campaign` the variant's running campaign, unless one runs, and write its record (the resource
        `/back_in_stock/restocks/:id`): one transaction. False: one runs."""
        lock = {
            **key(_pk(shop_id), f"CAMPAIGN#{variant_id}"),
            **to_item({**campaign, "entity": "campaign", "status": RUNNING}),
        }
        record = {
            **key(_pk(shop_id), RECORD + campaign["campaign_id"]),
            **to_item(
                {
                    "phase": "scheduled",
                    **campaign,
                    "entity": "restock_campaign",
                    "status": RUNNING,
                    "control": ACTIVE,
                    "queued": campaign.get("queued", 0),
                }
            ),
        }
        try:
            self.transact(
                [
                    {
                        "Put": {
                            "Item": lock,
                            "ConditionExpression": "attribute_not_exists(PK) OR #s <> :running",
                            "ExpressionAttributeNames": {"#s": "status"},
                            "ExpressionAttributeValues": {":running": {"S": RUNNING}},
                        }
                    },
                    {"Put": {"Item": record, "ConditionExpression": "attribute_not_exists(PK)"}},
                ]
            )
        except self.client.exceptions.TransactionCanceledException as exc:
            if self.cancellation_codes(exc)[0] == "ConditionalCheckFailed":
                return False
            raise
        return True

    def record_batch(
        self,
        shop_id: str,
        variant_id: int,
        campaign_id: str,
        queued: int,
        at: str,
        new_batch: bool = True,
        progress: dict[str, Any] | None = None,
    ) -> None:
        """A step queued `queued` sends: the variant's lock (its cooldown runs from `last_batch_at`) and the
        campaign's record (counts, and `progress`: the phase it is in, when its next batch is due...) in one
        transaction. The record's `control` and `status` are the merchant's (pause, cancel): never written here."""
        sets, removes = ["last_batch_at = :at"], []
        values: dict[str, Any] = {
            ":at": {"S": at},
            ":b": {"N": "1" if new_batch else "0"},
            ":n": serialize(queued),
            ":id": {"S": campaign_id},
        }
        for i, (name, value) in enumerate(sorted((progress or {}).items())):
            if value is None:
                removes.append(name)
            else:
                sets.append(f"{name} = :p{i}")
                values[f":p{i}"] = serialize(value)
        sets.append("first_batch_at = if_not_exists(first_batch_at, :at)")
        record_update = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        self.transact(
            [
                {
                    "Update": {
                        "Key": key(_pk(shop_id), f"CAMPAIGN#{variant_id}"),
                        "UpdateExpression": "SET last_batch_at = :at ADD batches :b, queued :n",
                        "ConditionExpression": "campaign_id = :id",
                        "ExpressionAttributeValues": {k: values[k] for k in (":at", ":b", ":n", ":id")},
                    }
                },
                {
                    "Update": {
                        "Key": key(_pk(shop_id), RECORD + campaign_id),
                        "UpdateExpression": record_update + " ADD batches :b, queued :n",
                        "ConditionExpression": "attribute_exists(PK)",
                        "ExpressionAttributeValues": {k: v for k, v in values.items() if k != ":id"},
                    }
                },
            ]
        )

    def close_campaign(
        self,
        shop_id: str,
        variant_id: int,
        campaign_id: str,
        status: str,
        reason: str,
        at: str,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Close the campaign if it is still the variant's running one (the lock and the record: one transaction;
        `extra`: more of the record's fields). Returns the lock after the update, or None when it was closed
        already (finished, or cancelled by the merchant)."""
        values: dict[str, Any] = {
            ":status": {"S": status},
            ":at": {"S": at},
            ":reason": {"S": reason},
            ":id": {"S": campaign_id},
            ":running": {"S": RUNNING},
        }
        sets = ["#s = :status", "finished_at = :at", "outcome = :reason"]
        extra_values = dict(values)
        for i, (name, value) in enumerate(sorted((extra or {}).items())):
            sets.append(f"{name} = :e{i}")
            extra_values[f":e{i}"] = serialize(value)
        try:
            self.transact(
                [
                    {
                        "Update": {
                            "Key": key(_pk(shop_id), f"CAMPAIGN#{variant_id}"),
                            "UpdateExpression": "SET #s = :status, finished_at = :at, outcome = :reason",
                            "ConditionExpression": "campaign_id = :id AND #s = :running",
                            "ExpressionAttributeNames": {"#s": "status"},
                            "ExpressionAttributeValues": values,
                        }
                    },
                    {
                        "Update": {
                            "Key": key(_pk(shop_id), RECORD + campaign_id),
                            "UpdateExpression": "SET " + ", ".join(sets) + " REMOVE next_batch_at",
                            # a record written before campaigns had one (absent) does not hold the lock back
                            "ConditionExpression": "attribute_not_exists(PK) OR #s = :running",
                            "ExpressionAttributeNames": {"#s": "status"},
                            "ExpressionAttributeValues": {k: v for k, v in extra_values.items() if k != ":id"},
                        }
                    },
                ]
            )
        except self.client.exceptions.TransactionCanceledException as exc:
            if "ConditionalCheckFailed" in self.cancellation_codes(exc):
                return None
            raise
        return self.campaign(shop_id, variant_id)

    def release_claim(self, shop_id: str, variant_id: int, campaign_id: str) -> None:
        """Undo `claim_campaign` when its execution could not be started."""
        self.transact(
            [
                {
                    "Delete": {
                        "Key": key(_pk(shop_id), f"CAMPAIGN#{variant_id}"),
                        "ConditionExpression": "campaign_id = :id",
                        "ExpressionAttributeValues": {":id": {"S": campaign_id}},
                    }
                },
                {"Delete": {"Key": key(_pk(shop_id), RECORD + campaign_id)}},
            ]
        )

    # ------------------------------------------------------------------------------ campaign records (the API's)
    def record(self, shop_id: str, campaign_id: str, consistent: bool = True) -> dict[str, Any] | None:
        item = self.read(_pk(shop_id), RECORD + campaign_id, consistent=consistent)
        return item if item and "started_at" in item else None  # see `records`

    def records(self, shop_id: str, first_id: str, last_id: str) -> list[dict[str, Any]]:
        """The campaign records whose (UUIDv7) ids lie between the two bounds, newest first."""
        items = self.query(
            KeyConditionExpression="PK = :pk AND SK BETWEEN :lo AND :hi",
            ExpressionAttributeValues={
                ":pk": {"S": _pk(shop_id)},
                ":lo": {"S": RECORD + first_id},
                ":hi": {"S": RECORD + last_id},
            },
            ScanIndexForward=False,
        )
        # A campaign started before records existed gets, when it closes, a record of its closing fields only (the
        # close's update creates it): not a campaign to show.
        return [r for r in (from_item(i) for i in items) if "started_at" in r]

    def _control(
        self, shop_id: str, campaign_id: str, update: str, condition: str, values: dict[str, Any]
    ) -> dict[str, Any] | None:
        """One conditional UpdateItem of a running campaign's record. The record after it, or None (condition)."""
        try:
            response = self.client.update_item(
                TableName=self.table_name,
                Key=key(_pk(shop_id), RECORD + campaign_id),
                UpdateExpression=update,
                ConditionExpression="#s = :running AND " + condition,
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":running": {"S": RUNNING}, **values},
                ReturnValues="ALL_NEW",
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return None
        return from_item(response["Attributes"])

    def pause(self, shop_id: str, campaign_id: str, at: str) -> dict[str, Any] | None:
        """Running and active -> paused. None: it was not (paused already, or closed)."""
        return self._control(
            shop_id,
            campaign_id,
            "SET control = :paused, paused_at = :at",
            "control = :active",
            {":paused": {"S": PAUSED}, ":active": {"S": ACTIVE}, ":at": {"S": at}},
        )

    def park(self, shop_id: str, campaign_id: str, state: str) -> bool:
        """The workflow saw the pause: it keeps its state in the record and ends its execution (resume starts
        another). False: resumed or cancelled meanwhile."""
        return (
            self._control(
                shop_id,
                campaign_id,
                "SET parked = :state",
                "control = :paused AND attribute_not_exists(parked)",
                {":paused": {"S": PAUSED}, ":state": {"S": state}},
            )
            is not None
        )

    def resume(self, shop_id: str, campaign_id: str, parked: bool) -> dict[str, Any] | None:
        """Paused -> active. `parked`: the workflow had ended its execution (the record keeps its state, taken
        out here for the caller to start another), else its execution is still waiting and simply goes on. None:
        the record was not in that state (another resume, a cancel, or the workflow parking meanwhile)."""
        if parked:
            return self._control(
                shop_id,
                campaign_id,
                "SET control = :active ADD resumes :one REMOVE paused_at, parked",
                "control = :paused AND attribute_exists(parked)",
                {":paused": {"S": PAUSED}, ":active": {"S": ACTIVE}, ":one": {"N": "1"}},
            )
        return self._control(
            shop_id,
            campaign_id,
            "SET control = :active REMOVE paused_at",
            "control = :paused AND attribute_not_exists(parked)",
            {":paused": {"S": PAUSED}, ":active": {"S": ACTIVE}},
        )

    def unresume(self, shop_id: str, campaign_id: str, parked_state: str, at: str) -> None:
        """Undo a parked resume whose execution could not be started: paused and parked again."""
        self._control(
            shop_id,
            campaign_id,
            "SET control = :paused, parked = :state, paused_at = :at",
            "control = :active AND attribute_not_exists(parked)",
            {":paused": {"S": PAUSED}, ":active": {"S": ACTIVE}, ":state": {"S": parked_state}, ":at": {"S": at}},
        )

    def cancel(self, shop_id: str, campaign_id: str, variant_id: int, at: str) -> bool:
        """Running -> cancelled: the record and the variant's lock, one transaction. False: it was not running."""
        values = {":c": {"S": CANCELLED}, ":at": {"S": at}, ":running": {"S": RUNNING}}
        reason = {":reason": {"S": "cancelled by the merchant"}}
        try:
            self.transact(
                [
                    {
                        "Update": {
                            "Key": key(_pk(shop_id), RECORD + campaign_id),
                            "UpdateExpression": "SET #s = :c, finished_at = :at, outcome = :reason "
                            "REMOVE next_batch_at",
                            "ConditionExpression": "#s = :running",
                            "ExpressionAttributeNames": {"#s": "status"},
                            "ExpressionAttributeValues": {**values, **reason},
                        }
                    },
                    {
                        "Update": {
                            "Key": key(_pk(shop_id), f"CAMPAIGN#{variant_id}"),
                            "UpdateExpression": "SET #s = :c, finished_at = :at",
                            "ConditionExpression": "campaign_id = :id AND #s = :running",
                            "ExpressionAttributeNames": {"#s": "status"},
                            "ExpressionAttributeValues": {**values, ":id": {"S": campaign_id}},
                        }
                    },
                ]
            )
        except self.client.exceptions.TransactionCanceledException as exc:
            if "ConditionalCheckFailed" in self.cancellation_codes(exc):
                return False
            raise
        return True

    # ------------------------------------------------------------------------------------------------ picks
    def waiting_signups(
        self,
        shop_id: str,
        variant_id: int,
        product_id: int,
        whole_product: bool,
        start_key: dict[str, Any] | None,
        want: int,
        channels: list[str],
        now: int | None = None,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """A campaign's next waiting signups (`_waiting_in`): the variant's (its keys-only `GSI3` list) or, when
        any variant of the product applies (`whole_product`), the product's (its keys-only `GSI4` list)."""
        if whole_product:
            index, partition = "GSI4", product_pk(shop_id, product_id)
        else:
            index, partition = "GSI3", variant_pk(shop_id, variant_id)
        return _waiting_in(self, index, partition, start_key, want, channels, now)


KEY_PAGE = 1_000  # keys of a keys-only index Query after the first (about 200 KB: one page)


def _waiting(item: dict[str, Any], channels: list[str], now: int | None) -> bool:
    """Pending (not notified, not unsubscribed, not blocked) and eligible: its channel enabled, opt-in confirmed if
    required, and (`now`, epoch seconds) no notify holding its send slot (`send_outstanding_until`)."""
    if not is_pending(item):
        return False
    if item.get("optin_required") and "optin_confirmed_at" not in item:
        return False
    if item.get("channel") not in channels:
        return False
    return now is None or int(item.get("send_outstanding_until", 0)) <= now


def _waiting_in(
    repo: Repository,
    index: str,
    partition: str,
    start_key: dict[str, Any] | None,
    want: int,
    channels: list[str],
    now: int | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Up to `want` waiting signups (`_waiting`) of a keys-only index partition (a variant's `GSI3`, a product's
    `GSI4`), oldest first (UUIDv7 sort keys), after `start_key`. Returns them and the cursor to continue from (the
    key of the last one returned; None: no more waiting). `now` (epoch seconds): leave out signups whose send slot
    a notify holds (`send_outstanding_until`: its send is queued or in flight, or within the resend spacing
    window): they get that alert, not a second one.

    The index holds keys only, so the filter runs here, on the items read back (BatchGetItem, strongly consistent,
    `BATCH_GET_LIMIT` keys a call, only as far as it takes to find one more than wanted). Calls: the first Query
    reads `want + 1` keys (about 200 bytes each: 1,001 keys are one page), each further one `KEY_PAGE` keys (or what
    is still wanted, if more), and the keys are read back ceil(keys read back / 100) BatchGetItems. When every
    signup read is waiting, a step of 1,000 costs 1 Query + 11 BatchGetItems and a step of 10, 1 Query + 1
    BatchGetItem. Each signup of the index that is not waiting (notified, unsubscribed, blocked, opted in
    unconfirmed, another channel, a notify's slot) met before the last one wanted is one more key read back (a
    BatchGetItem per 100 of them) and, past the first page, a Query per `KEY_PAGE` of them: a variant's notified
    signups stay in its index, so a restock after a big one reads those back (a Query filter read them too).

    The cursor (`{"SK": "SIGNUP#<id>"}`) resumes by key condition (`GSI3SK > SK`), not ExclusiveStartKey, so a
    cursor of the layout before the shards (a `GSI1` key, which holds the same `SK`) resumes too."""
    if not channels or want <= 0:
        return [], None
    names = {"#pk": f"{index}PK", "#sk": f"{index}SK"}
    values: dict[str, Any] = {":pk": {"S": partition}}
    if start_key:
        condition = "#pk = :pk AND #sk > :after"
        values[":after"] = {"S": start_key["SK"]["S"]}
    else:
        condition = "#pk = :pk AND begins_with(#sk, :signup)"
        values[":signup"] = {"S": SIGNUP}
    # One more than wanted is read: its presence says whether a next batch exists, so the last batch ends the
    # campaign instead of a Wait of `wait_hours` followed by an empty step.
    found: list[tuple[dict[str, Any], dict[str, Any]]] = []
    page_start: dict[str, Any] | None = None
    limit = want + 1
    while True:
        request: dict[str, Any] = {
            "TableName": repo.table_name,
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "Limit": limit,
        }
        if page_start:
            request["ExclusiveStartKey"] = page_start
        response = repo.client.query(**request)
        keys = [{"PK": i["PK"], "SK": i["SK"]} for i in response.get("Items", [])]
        for chunk in range(0, len(keys), BATCH_GET_LIMIT):
            for raw in repo.batch_get_in_order(keys[chunk : chunk + BATCH_GET_LIMIT]):  # deleted ones left out
                if raw.get(f"{index}PK") != {"S": partition}:
                    continue  # moved to another variant since the index listed it
                item = from_item(raw)
                if not _waiting(item, channels, now):
                    continue
                found.append((item, {"SK": raw["SK"]}))
                if len(found) > want:
                    return [f[0] for f in found[:want]], found[want - 1][1]
        page_start = response.get("LastEvaluatedKey")
        if not page_start:
            return [f[0] for f in found], None
        limit = max(want + 1 - len(found), KEY_PAGE)
