"""The app's webhook subscriptions (`shopify.app.toml`) and docs/DEPLOY.md's topic list come from the intake's
topics (`services.webhooks.TOPICS`): a topic added there is subscribed on install and documented, or this fails."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from backinstock.services.webhooks import TOPICS
from backinstock_tools import shopify_app

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_app_configuration_is_the_generated_one() -> None:
    committed = (ROOT / "shopify.app.toml").read_text()
    assert committed == shopify_app.render(), (
        "shopify.app.toml drifted from the intake's topics: run `make shopify-app`"
    )


def test_every_topic_the_intake_handles_is_subscribed_once_to_the_webhook_endpoint() -> None:
    config = tomllib.loads(shopify_app.render("https://api.example.com/prod/api/v2/external/webhooks/shopify"))
    subscriptions = config["webhooks"]["subscriptions"]
    subscribed = [t for s in subscriptions for t in s.get("topics", []) + s.get("compliance_topics", [])]
    assert sorted(subscribed) == sorted(TOPICS)
    assert {s["uri"] for s in subscriptions} == {"https://api.example.com/prod/api/v2/external/webhooks/shopify"}
    compliance = next(s for s in subscriptions if "compliance_topics" in s)["compliance_topics"]
    assert set(compliance) == {"customers/data_request", "customers/redact", "shop/redact"}  # Shopify's mandatory
    assert config["access_scopes"]["scopes"].split(",") == list(shopify_app.SCOPES)


def test_the_deploy_guide_lists_every_topic_and_no_other() -> None:
    text = (ROOT / "docs" / "DEPLOY.md").read_text()
    section = text.split("### Connecting a Shopify shop", 1)[1].split("\n### ", 1)[0]
    listed = set(re.findall(r"`([a-z_]+/[a-z_]+)`", section))
    assert listed == set(TOPICS), f"missing {sorted(set(TOPICS) - listed)}, unknown {sorted(listed - set(TOPICS))}"
