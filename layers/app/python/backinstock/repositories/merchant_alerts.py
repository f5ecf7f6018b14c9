"""Merchant alert bookkeeping: `SHOP#<id> / ALERT#SIGNUPS#<variant>` exists while a variant's pending count is at or
above the shop's `signups_threshold.count` and the merchant was alerted for this crossing. Created with a conditional
put (one alert per crossing, whatever the concurrency), deleted when the count drops below the threshold again
(the next crossing alerts again). `SHOP#<id> / REPORT#<period>#<period start>` records a scheduled report sent."""

from __future__ import annotations

from backinstock.repositories.base import Repository, key, to_item


class MerchantAlertRepository(Repository):
    def claim_crossing(self, shop_id: str, variant_id: int, count: int, at: str) -> bool:
        values = {"entity": "threshold_alert", "variant_id": variant_id, "count": count, "alerted_at": at}
        return self.put_if({**key(f"SHOP#{shop_id}", f"ALERT#SIGNUPS#{variant_id}"), **to_item(values)})

    def release_crossing(self, shop_id: str, variant_id: int) -> None:
        self.client.delete_item(TableName=self.table_name, Key=key(f"SHOP#{shop_id}", f"ALERT#SIGNUPS#{variant_id}"))

    def claim_report(self, shop_id: str, period: str, start: str, at: str) -> bool:
        values = {"entity": "scheduled_report", "period": period, "period_start": start, "sent_at": at}
        return self.put_if({**key(f"SHOP#{shop_id}", f"REPORT#{period}#{start}"), **to_item(values)})

    def release_report(self, shop_id: str, period: str, start: str) -> None:
        self.client.delete_item(TableName=self.table_name, Key=key(f"SHOP#{shop_id}", f"REPORT#{period}#{start}"))
