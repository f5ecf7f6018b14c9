"""Settings (reference 003): the shop-level singleton. GET and PATCH on the whole object and on each capability."""

from __future__ import annotations

from backinstock.models import settings as m
from backinstock.registry import Access, Action, Sample

RESOURCE = "settings"
_PREFIX = "/back_in_stock/settings"
_READ = frozenset({Access.TABLE_READ})
_WRITE = frozenset({Access.TABLE_READ, Access.TABLE_WRITE})

_DESCRIPTIONS = {
    "channels": ("Which notification channels send (email, SMS, push)", ("enable sms", "disable email")),
    "delivery": (
        "Batching, stock threshold, location filter and any-variant behaviour of sends",
        ("batch notifications", "set stock threshold", "filter locations"),
    ),
    "compliance": ("GDPR double opt-in", ("require double opt-in",)),
    "tagging": ("The tag applied to Shopify orders attributed to a back-in-stock alert", ("tag recovered orders",)),
    "alerts": (
        "Merchant alerts (per-variant signup threshold) and scheduled report emails",
        ("weekly report", "signup threshold alert"),
    ),
}

_PATCH_NOTES = (
    "Deep partial: send only the keys to change, at any depth; omitted keys keep their value.",
    "location_ids and product_ids are replaced wholesale when present.",
    "Unknown keys, null values and values of the wrong type are rejected with 422; nothing is written then.",
)

GET_SETTINGS = Action(
    name="get_settings",
    method="GET",
    path=_PREFIX,
    resource=RESOURCE,
    description="All five settings blocks (channels, delivery, compliance, tagging, alerts) in one response",
    handler="settings.get_settings",
    access=_READ,
    aliases=("show settings", "read settings"),
    response_model=m.Settings,
    sample=Sample(_PREFIX),
)

UPDATE_SETTINGS = Action(
    name="update_settings",
    method="PATCH",
    path=_PREFIX,
    resource=RESOURCE,
    description="Deep-partial update of any combination of capability blobs; returns all five blocks",
    handler="settings.update_settings",
    access=_WRITE,
    aliases=("change settings", "configure back in stock"),
    body_model=m.SettingsPatch,
    response_model=m.Settings,
    sample=Sample(_PREFIX, {"compliance": {"optin_required": False}}),
    notes=(*_PATCH_NOTES, "Validation errors of every blob are reported together in one 422."),
)


def _capability_actions(capability: str) -> tuple[Action, Action]:
    full, patch = m.CAPABILITIES[capability]
    description, aliases = _DESCRIPTIONS[capability]
    get = Action(
        name=f"get_{capability}_settings",
        method="GET",
        path=f"{_PREFIX}/{capability}",
        resource=RESOURCE,
        description=f"Read the {capability} settings block: {description}",
        handler=f"settings.get_{capability}_settings",
        access=_READ,
        aliases=(f"show {capability} settings",),
        response_model=full,
        sample=Sample(f"{_PREFIX}/{capability}"),
    )
    update = Action(
        name=f"update_{capability}_settings",
        method="PATCH",
        path=f"{_PREFIX}/{capability}",
        resource=RESOURCE,
        description=f"Deep-partial update of the {capability} settings block: {description}; returns the full block",
        handler=f"settings.update_{capability}_settings",
        access=_WRITE,
        aliases=aliases,
        body_model=patch,
        response_model=full,
        sample=Sample(f"{_PREFIX}/{capability}", {}),  # an empty patch changes nothing and answers the block
        notes=_PATCH_NOTES
        + (
            (
                "Enabling SMS for the first time starts a restricted-content verification: SMS sends may be held "
                "until the shop is verified (see sms.verification).",
            )
            if capability == "channels"
            else ()
        ),
    )
    return get, update


GET_CHANNELS, UPDATE_CHANNELS = _capability_actions("channels")
GET_DELIVERY, UPDATE_DELIVERY = _capability_actions("delivery")
GET_COMPLIANCE, UPDATE_COMPLIANCE = _capability_actions("compliance")
GET_TAGGING, UPDATE_TAGGING = _capability_actions("tagging")
GET_ALERTS, UPDATE_ALERTS = _capability_actions("alerts")

ACTIONS = (
    GET_SETTINGS,
    UPDATE_SETTINGS,
    GET_CHANNELS,
    UPDATE_CHANNELS,
    GET_DELIVERY,
    UPDATE_DELIVERY,
    GET_COMPLIANCE,
    UPDATE_COMPLIANCE,
    GET_TAGGING,
    UPDATE_TAGGING,
    GET_ALERTS,
    UPDATE_ALERTS,
)
