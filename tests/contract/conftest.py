"""The contract fuzzer's local run: a fresh `backinstock serve` of its own (never the session's `server`, whose shops
other tests own), a shop, and one object of every kind an operation takes an id or a token of.

`fuzz_run` is the one place the fuzzer's server and shop are made: a shop-level setting every fuzz request depends
on (a rate limit plan, say) belongs here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from backinstock import ids
from backinstock.services import links
from tests.local_server import local_run
from tests.security.conftest import PRODUCT, call, link_secret, new_shop, populate


def seed(server: dict[str, Any]) -> dict[str, str]:
    """The fuzz shop and its objects: the values the config's ${FUZZ_*} placeholders take."""
    shop = new_shop(server, "fuzz")
    values = populate(server, shop)
    status, job, _ = call(shop, "POST", "/preorders/reports/summary/export", {})
    assert status == 202, job
    token = links.make_token(link_secret(server), shop["shop_id"], job["job_id"], "download", ids.now(), file="f.csv")
    return {
        "FUZZ_API_KEY": shop["api_key"],
        "FUZZ_VARIANT_ID": str(shop["variant_id"]),
        "FUZZ_PRODUCT_ID": str(PRODUCT),
        "FUZZ_SIGNUP_ID": values["signup_id"],
        "FUZZ_PENDING_SIGNUP_ID": values["pending_signup_id"],
        "FUZZ_NOTIFICATION_ID": values["notification_id"],
        "FUZZ_OFFER_ID": values["offer_id"],
        "FUZZ_RESTOCK_ID": values["restock_id"],
        "FUZZ_JOB_ID": values["job_id"],
        "FUZZ_DOWNLOAD_TOKEN": values["download_token"],
        "FUZZ_PREORDER_JOB_ID": job["job_id"],
        "FUZZ_PREORDER_DOWNLOAD_TOKEN": token,
        "FUZZ_OPTIN_TOKEN": values["optin_token"],
        "FUZZ_UNSUBSCRIBE_TOKEN": values["unsubscribe_token"],
    }


@pytest.fixture(scope="session")
def fuzz_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], dict[str, str]]]:
    """(the server's info, the seeded values)."""
    with local_run(tmp_path_factory.mktemp("fuzz")) as server:
        yield server, seed(server)
