"""The factory: real repositories and providers, built once per container, on first use.

This module wires and computes nothing: each factory builds one dependency from config and other factories, and
imports what it builds inside its body, so a handler imports only the code of the dependencies it uses. Every
factory is `@factory`: cached (one instance per container) and registered, so `reset()` forgets all of them.
Services never import this module; handlers, workers and the tools do.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, TypeVar

from backinstock import aws, config
from backinstock.repositories.shops import ShopRepository

if TYPE_CHECKING:
    from backinstock.providers.shopify import ShopifyAdmin
    from backinstock.providers.workflows import StepFunctionsWorkflow
    from backinstock.queue import SendQueue, WebhookQueue
    from backinstock.repositories.catalog import CatalogRepository
    from backinstock.repositories.notifications import NotificationRepository
    from backinstock.repositories.privacy import PrivacyRepository
    from backinstock.repositories.restocks import RestockRepository
    from backinstock.repositories.rollups import RollupRepository
    from backinstock.repositories.shop_secrets import ShopSecrets
    from backinstock.repositories.shops import Shop
    from backinstock.repositories.signups import SignupRepository
    from backinstock.services.attribution import Attribution
    from backinstock.services.campaigns import Campaigns
    from backinstock.services.exports import Exports
    from backinstock.services.merchant_alerts import MerchantAlerts
    from backinstock.services.migration import KeyMigration
    from backinstock.services.offers import Offers
    from backinstock.services.pacing import Pace
    from backinstock.services.preorder_ledger import Ledger
    from backinstock.services.preorder_reports import PreorderReportSources
    from backinstock.services.privacy import Privacy
    from backinstock.services.ratelimits import Limiter
    from backinstock.services.reports import ReportSources
    from backinstock.services.restocks import RestockBook, Restocks
    from backinstock.services.sending import Sender
    from backinstock.services.signups import Waitlist
    from backinstock.services.webhooks import Intake

T = TypeVar("T")
_FACTORIES: list[Callable[[], object]] = []


def factory(build: Callable[[], T]) -> Callable[[], T]:
    """Cache `build` for the container's life and register it, so `reset()` cannot miss it."""
    cached = cache(build)
    _FACTORIES.append(cached)
    return cached


@factory
def shops() -> ShopRepository:
    return ShopRepository(config.table_name())


@factory
def signups() -> SignupRepository:
    from backinstock.repositories.signups import SignupRepository

    return SignupRepository(config.table_name())


@factory
def catalog() -> CatalogRepository:
    from backinstock.repositories.catalog import CatalogRepository

    return CatalogRepository(config.table_name())


@factory
def notifications() -> NotificationRepository:
    from backinstock.repositories.notifications import NotificationRepository

    return NotificationRepository(config.table_name())


@factory
def offers() -> Offers:
    """Preorder offers and the catalog (variant titles)."""
    from backinstock.repositories.offers import OfferRepository
    from backinstock.services.offers import Offers

    return Offers(offers=OfferRepository(config.table_name()), catalog=catalog())


@factory
def preorder_reports() -> PreorderReportSources:
    """Rollups, offers (names, attached variants), the catalog (titles), the shop (currency) and the customers'
    profiles for the preorder report reads."""
    from backinstock.repositories.offers import OfferRepository
    from backinstock.repositories.preorders import PreorderRepository
    from backinstock.services.preorder_reports import PreorderReportSources

    return PreorderReportSources(
        rollups=rollups(),
        offers=OfferRepository(config.table_name()),
        catalog=catalog(),
        shops=shops(),
        ledger=PreorderRepository(config.table_name()),
    )


@factory
def ledger() -> Ledger:
    """The preorder order ledger (orders, their events, customer profiles) and the offers' selling plans."""
    from backinstock.repositories.offers import OfferRepository
    from backinstock.repositories.preorders import PreorderRepository
    from backinstock.services.preorder_ledger import Ledger

    return Ledger(orders=PreorderRepository(config.table_name()), offers=OfferRepository(config.table_name()))


@factory
def rollups() -> RollupRepository:
    from backinstock.repositories.rollups import RollupRepository

    return RollupRepository(config.table_name())


@factory
def key_migration() -> KeyMigration:
    """`backinstock migrate keys`: the moves of the rows of the layout before issue 23, and the shops."""
    from backinstock.repositories.migration import KeyMigrationRepository
    from backinstock.services.migration import KeyMigration

    return KeyMigration(records=KeyMigrationRepository(config.table_name()), shops=shops())


@factory
def reports() -> ReportSources:
    """Rollups, the catalog (titles) and the shop (currency) for the report reads."""
    from backinstock.services.reports import ReportSources

    return ReportSources(rollups=rollups(), catalog=catalog(), shops=shops())


def exports() -> Exports:
    """Export jobs. What their rows come from is each export's own declared factory (`Export.context`)."""
    from backinstock.repositories.exports import ExportRepository
    from backinstock.services.exports import Exports

    return Exports(jobs=ExportRepository(config.table_name()))


def export_workflow() -> StepFunctionsWorkflow:
    """The export state machine's executions (start, stop)."""
    from backinstock.providers.workflows import StepFunctionsWorkflow

    return StepFunctionsWorkflow(config.export_state_machine())


def sign_export(object_key: str, seconds: int) -> str:
    """A pre-signed GET URL of an export file (signed with this function's credentials)."""
    from backinstock.csvfile import download_url

    return download_url(config.export_bucket(), object_key, seconds)


def abort_export(object_key: str, upload_id: str) -> None:
    from backinstock.csvfile import abort_upload

    abort_upload(config.export_bucket(), object_key, upload_id)


@factory
def shop_secrets() -> ShopSecrets:
    from backinstock.repositories.shop_secrets import ShopSecrets

    return ShopSecrets()


@factory
def queue() -> SendQueue:
    from backinstock.queue import SendQueue

    return SendQueue()


@factory
def webhook_queue() -> WebhookQueue:
    from backinstock.queue import WebhookQueue

    return WebhookQueue()


@factory
def intake() -> Intake:
    from backinstock.repositories.webhooks import WebhookRepository
    from backinstock.services.webhooks import Intake

    return Intake(
        shops=shops(), secrets=shop_secrets(), markers=WebhookRepository(config.table_name()), queue=webhook_queue()
    )


@factory
def restocks() -> Restocks:
    from backinstock.repositories.restocks import RestockRepository
    from backinstock.services.restocks import Restocks

    return Restocks(catalog=catalog(), restocks=RestockRepository(config.table_name()), campaigns=campaigns())


@factory
def campaigns() -> Campaigns:
    from backinstock.providers.workflows import StepFunctionsWorkflow
    from backinstock.repositories.restocks import RestockRepository
    from backinstock.services.campaigns import Campaigns

    env = config.load(config.CampaignRunEnv)
    return Campaigns(
        restocks=RestockRepository(config.table_name()),
        shops=shops(),
        queue=queue(),
        workflow=StepFunctionsWorkflow(env.CAMPAIGN_STATE_MACHINE_ARN),
        seconds_per_hour=env.CAMPAIGN_SECONDS_PER_HOUR,
        rollups=rollups(),
    )


@factory
def restock_book() -> RestockBook:
    from backinstock.repositories.restocks import RestockRepository
    from backinstock.services.restocks import RestockBook

    return RestockBook(
        restocks=RestockRepository(config.table_name()),
        rollups=rollups(),
        catalog=catalog(),
        shops=shops(),
        campaigns=campaigns,
    )


@factory
def campaign_records() -> RestockRepository:
    """The campaigns' records alone: the send worker's paused / cancelled check."""
    from backinstock.repositories.restocks import RestockRepository

    return RestockRepository(config.table_name())


def shopify_admin(shop: Shop) -> ShopifyAdmin | None:
    """The shop's Admin API client, or None when the shop has no stored access token."""
    from backinstock.providers.shopify import ShopifyAdmin

    credentials = shop_secrets().get(shop.shop_id)
    if credentials is None:
        return None
    return ShopifyAdmin(shop.domain, credentials.access_token, base_url=shop.admin_api_url)


@factory
def attribution() -> Attribution:
    from backinstock.repositories.attributions import AttributionRepository
    from backinstock.services.attribution import Attribution

    return Attribution(attributions=AttributionRepository(config.table_name()), shopify=shopify_admin)


@factory
def erasures() -> PrivacyRepository:
    """When a shop's data was last erased (export download links check it)."""
    from backinstock.repositories.privacy import PrivacyRepository

    return PrivacyRepository(config.table_name())


@factory
def privacy() -> Privacy:
    """The privacy webhooks' dependencies; `shop/redact` also purges the report rollups' and the send claims'
    partitions, and the 16 signup and 16 send-log partitions."""
    from backinstock.providers import SesEmail
    from backinstock.repositories import notifications as notification_repository
    from backinstock.repositories import rollups as rollup_repository
    from backinstock.repositories import signups as signup_repository
    from backinstock.repositories.privacy import PrivacyRepository
    from backinstock.services.privacy import Privacy

    return Privacy(
        records=PrivacyRepository(config.table_name()),
        shops=shops(),
        secrets=shop_secrets(),
        email=SesEmail(config.load(config.MailEnv).SENDER_EMAIL),
        extra_partitions=(
            *rollup_repository.shop_partitions(),
            *notification_repository.send_partitions(),
            *signup_repository.purge_partitions(),
            *notification_repository.log_partitions(),
        ),
    )


@factory
def merchant_alerts() -> MerchantAlerts:
    from backinstock.providers import SesEmail
    from backinstock.repositories.merchant_alerts import MerchantAlertRepository
    from backinstock.services.merchant_alerts import MerchantAlerts, summary_totals

    return MerchantAlerts(
        records=MerchantAlertRepository(config.table_name()),
        shops=shops(),
        email=SesEmail(config.load(config.MailEnv).SENDER_EMAIL),
        catalog=catalog(),
        summary=summary_totals(reports),
    )


@factory
def waitlist() -> Waitlist:
    """Repositories and the queue for the waitlist service. The queue URL is read only when something is queued:
    read-only actions need no queue in their environment."""
    from backinstock.services.signups import Waitlist

    return Waitlist(signups=signups(), catalog=catalog(), shops=shops(), queue=queue(), rollups=rollups())


@factory
def sender() -> Sender:
    from backinstock.providers import Providers, SesEmail, SnsPush, SnsSms
    from backinstock.services.sending import Sender

    env = config.load(config.WorkerEnv)
    return Sender(
        signups=signups(),
        notifications=notifications(),
        shops=shops(),
        providers=Providers(email=SesEmail(env.SENDER_EMAIL), sms=SnsSms(), push=SnsPush()),
        link_secret=link_secret(),
        public_base_url=env.PUBLIC_BASE_URL,
        pace=pace(),
    )


@factory
def pace() -> Pace:
    """The send pace: its budget items in the limiter's table, SES's rate from the account, SNS's from the stack."""
    from backinstock.providers import ses_max_send_rate
    from backinstock.repositories.pacing import PaceStore
    from backinstock.services.pacing import Pace, Rates

    env = config.load(config.WorkerEnv)
    return Pace(
        PaceStore(env.RATE_LIMIT_TABLE_NAME),
        Rates(email_quota=ses_max_send_rate, sms=env.SMS_SEND_RATE, push=env.PUSH_SEND_RATE),
    )


@factory
def link_secret() -> bytes:
    """The HMAC key of customers' opt-in and unsubscribe links, read once per container."""
    from backinstock.repositories.link_secret import read_link_secret

    return read_link_secret(config.link_secret_arn())


@factory
def rate_limiter() -> Limiter:
    """The per-shop limiter of the API routes (`api.http.route` asks it before anything else)."""
    from backinstock.repositories.ratelimits import RateLimitStore
    from backinstock.services.ratelimits import Limiter

    return Limiter(RateLimitStore(config.load(config.RateLimitEnv).RATE_LIMIT_TABLE_NAME))


def reset() -> None:
    """Forget built dependencies, clients and the loaded environment (tests change them between cases)."""
    for built in _FACTORIES:
        built.cache_clear()  # type: ignore[attr-defined]
    config.load.cache_clear()
    aws.reset()
