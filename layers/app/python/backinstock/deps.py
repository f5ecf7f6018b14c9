"""The factory: real repositories and providers, built once per container, on first use."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from backinstock import aws, config
from backinstock.repositories.shops import ShopRepository

if TYPE_CHECKING:
    from backinstock.queue import SendQueue
    from backinstock.repositories.catalog import CatalogRepository
    from backinstock.repositories.notifications import NotificationRepository
    from backinstock.repositories.shop_secrets import ShopSecrets
    from backinstock.repositories.signups import SignupRepository
    from backinstock.services.sending import Sender
    from backinstock.services.signups import Waitlist


@cache
def shops() -> ShopRepository:
    return ShopRepository(config.table_name())


@cache
def signups() -> SignupRepository:
    from backinstock.repositories.signups import SignupRepository

    return SignupRepository(config.table_name())


@cache
def catalog() -> CatalogRepository:
    from backinstock.repositories.catalog import CatalogRepository

    return CatalogRepository(config.table_name())


@cache
def notifications() -> NotificationRepository:
    from backinstock.repositories.notifications import NotificationRepository

    return NotificationRepository(config.table_name())


@cache
def shop_secrets() -> ShopSecrets:
    from backinstock.repositories.shop_secrets import ShopSecrets

    return ShopSecrets()


@cache
def queue() -> SendQueue:
    from backinstock.queue import SendQueue

    return SendQueue()


def waitlist() -> Waitlist:
    """Repositories and the queue for the waitlist service. The queue URL is read only when something is queued:
    read-only actions need no queue in their environment."""
    from backinstock.services.signups import Waitlist

    return Waitlist(signups=signups(), catalog=catalog(), shops=shops(), queue=queue())


@cache
def sender() -> Sender:
    from backinstock.providers import Providers, SesEmail, SnsPush, SnsSms
    from backinstock.services import links
    from backinstock.services.sending import Sender

    env = config.load(config.WorkerEnv)
    return Sender(
        signups=signups(),
        notifications=notifications(),
        shops=shops(),
        providers=Providers(email=SesEmail(env.SENDER_EMAIL), sms=SnsSms(), push=SnsPush()),
        link_key=links.signing_key(),
        public_base_url=env.PUBLIC_BASE_URL,
    )


def reset() -> None:
    """Forget built dependencies, clients and the loaded environment (tests change them between cases)."""
    for factory in (shops, signups, catalog, notifications, shop_secrets, queue, sender):
        factory.cache_clear()
    from backinstock.services import links

    links.signing_key.cache_clear()
    config.load.cache_clear()
    aws.reset()
