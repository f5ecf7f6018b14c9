"""Signups, the waitlist (reference 004), its row-level CSV export, and the customer-facing links of its emails
(opt-in, unsubscribe)."""

from __future__ import annotations

from backinstock.models import signups as m
from backinstock.models.links import LinkQuery
from backinstock.models.reporting import ExportAccepted
from backinstock.registry import V1, Access, Action, Auth, Export, Sample
from backinstock.reporting import EXPORT_ACCESS, export_note

RESOURCE = "signups"
_PREFIX = "/back_in_stock/signups"
_READ = frozenset({Access.TABLE_READ})
_QUEUE = frozenset({Access.TABLE_READ, Access.SEND_QUEUE, Access.IDEMPOTENCY})
_IDEMPOTENCY_NOTE = (
    "Send an Idempotency-Key header to make retries safe: the same key and body replay the first response "
    "(Idempotent-Replayed: true) without a second effect; the same key with another body is a 422."
)
_LIST_NOTE = (
    "Newest first. Pages are stable: pass meta.as_of back as `as_of` with the next pages and rows created since "
    "are left out. per_page defaults to 50, at most 200; out-of-range values are a 422."
)

LIST = Action(
    name="list_signups",
    v1=V1("GET", "/intents"),
    method="GET",
    path=_PREFIX,
    resource=RESOURCE,
    description="List the waitlist: who is waiting for which variant, filtered and paginated",
    handler="signups.list_signups",
    access=_READ,
    aliases=("waitlist", "show the waitlist", "notify me list", "who's waiting", "customers waiting for restock"),
    query_model=m.SignupListQuery,
    response_model=m.SignupList,
    sample=Sample(f"{_PREFIX}?variant_id=101&status=pending&email=a"),
    notes=(_LIST_NOTE, "status accepts pending, notified and unsubscribed; blocked sends are in the notification log."),
)

GET = Action(
    name="get_signup",
    v1=V1("GET", "/intents/:id"),
    method="GET",
    path=f"{_PREFIX}/:id",
    resource=RESOURCE,
    description="Read one signup: status, contact, variant, customer, opt-in and send counts",
    handler="signups.get_signup",
    access=_READ,
    aliases=("show signup", "read a waitlist entry"),
    response_model=m.Signup,
    sample=Sample(f"{_PREFIX}/{{signup_id}}"),
)

CREATE = Action(
    name="create_signup",
    v1=V1("POST", "/intents"),
    method="POST",
    path=_PREFIX,
    resource=RESOURCE,
    description="Add a customer to a variant's waitlist (finds or creates the customer)",
    handler="signups.create_signup",
    access=_QUEUE | {Access.TABLE_WRITE},
    aliases=("add to waitlist", "sign up for restock alert", "create signup"),
    body_model=m.SignupCreate,
    response_model=m.Signup,
    sample=Sample(_PREFIX, {"channel": "email", "shopify_variant_id": 102, "email": "n@example.com"}),
    success_status=201,
    idempotent=True,
    notes=(
        "409 when a pending signup already exists for the same contact, variant and channel, or a blocked one (a "
        "send to it was stopped; it stays on the waitlist for the next restock): the message says which.",
        "shopify_product_id is resolved from the shop's catalog when omitted; an unknown variant needs it.",
        "When the shop requires double opt-in, the customer gets a confirmation message.",
        _IDEMPOTENCY_NOTE,
    ),
)

DELETE = Action(
    name="delete_signup",
    method="DELETE",
    path=f"{_PREFIX}/:id",
    resource=RESOURCE,
    description="Remove a signup from the waitlist (pending signups only)",
    handler="signups.delete_signup",
    access=frozenset({Access.TABLE_READ, Access.TABLE_WRITE}),
    aliases=("remove from waitlist", "cancel restock alert", "take customer off the notify me list"),
    response_model=m.Deleted,
    sample=Sample(f"{_PREFIX}/{{pending_signup_id}}"),
    notes=(
        "Pending signups only: 409 for a notified, blocked or unsubscribed signup (history is immutable: its sends "
        "stay in the notification log pointing at it); the message names its status.",
    ),
)

NOTIFY = Action(
    name="notify_signup",
    v1=V1("POST", "/intents/:id/notify_intent"),
    method="POST",
    path=f"{_PREFIX}/:id/notify",
    resource=RESOURCE,
    description="Send the back-in-stock notification for one signup now, regardless of stock",
    handler="signups.notify_signup",
    access=_QUEUE | {Access.TABLE_WRITE},  # marks the signup's outstanding send (resends coalesce)
    aliases=("send the restock email", "notify this customer", "resend restock notification"),
    body_model=m.NotifyBody,
    body_optional=True,
    response_model=m.Queued,
    sample=Sample(f"{_PREFIX}/{{signup_id}}/notify", {"allow_resend": True}),
    success_status=202,
    idempotent=True,
    notes=(
        "409 when the signup was already notified and allow_resend is not set.",
        "At most one send per signup is queued or in flight: a notify while one is outstanding joins it and "
        'answers 202 with `"coalesced": true` (one message, not two).',
        "Delivery runs through the send pipeline; its outcome (sent or blocked, with the reason) is in the "
        "notification log.",
        _IDEMPOTENCY_NOTE,
    ),
)

BULK_NOTIFY = Action(
    name="bulk_notify_signups",
    v1=V1("POST", "/intents/bulk_notify_intent"),
    method="POST",
    path=f"{_PREFIX}/bulk_notify",
    resource=RESOURCE,
    description="Queue restock notifications for up to 1000 signups",
    handler="signups.bulk_notify_signups",
    access=_QUEUE,
    aliases=("notify the waitlist", "notify everyone waiting", "send restock emails to the whole waitlist"),
    body_model=m.BulkNotifyBody,
    response_model=m.BulkNotifyResult,
    statuses=((207, "Multi-Status: some sends did not queue; each is listed in failed with why"),),
    sample=Sample(f"{_PREFIX}/bulk_notify", {"signup_ids": ["{signup_id}"], "allow_resend": True}),
    idempotent=True,
    notes=(
        "200 when every send queues, 207 Multi-Status with the same body on partial failure: always check failed.",
        "Unknown ids land in failed as not found; already-notified ones unless allow_resend is set.",
        _IDEMPOTENCY_NOTE,
    ),
)

BULK_DELETE = Action(
    name="bulk_delete_signups",
    v1=V1("DELETE", "/intents/bulk_destroy"),
    method="POST",
    path=f"{_PREFIX}/bulk_delete",
    resource=RESOURCE,
    description="Delete up to 1000 pending signups, all or nothing",
    handler="signups.bulk_delete_signups",
    access=frozenset({Access.TABLE_READ, Access.TABLE_WRITE}),
    aliases=("clear the waitlist", "purge pending restock signups"),
    body_model=m.BulkDeleteBody,
    response_model=m.BulkDeleted,
    sample=Sample(f"{_PREFIX}/bulk_delete", {"signup_ids": ["{spare_signup_id}"]}),
    notes=(
        "All or nothing: if any id is not pending (notified, blocked or unsubscribed, each named with its status), "
        "or is not a signup of this shop (unknown, or another shop's), the request fails with 422 listing those ids "
        "(each unknown one as `Signup not found`, as bulk notify reports it) and nothing is deleted.",
    ),
)

TRANSFER = Action(
    name="transfer_signups",
    v1=V1("POST", "/intents/transfer_signups"),
    method="POST",
    path=f"{_PREFIX}/transfer",
    resource=RESOURCE,
    description="Move signups from one variant to another (variant merges or replacements)",
    handler="signups.transfer_signups",
    access=_QUEUE,
    aliases=("move the waitlist", "merge waitlists", "shift restock signups to a new variant"),
    body_model=m.TransferBody,
    response_model=m.TransferAccepted,
    sample=Sample(
        f"{_PREFIX}/transfer",
        {"from_shopify_variant_id": 201, "to_shopify_variant_id": 102, "to_shopify_product_id": 10},
    ),
    success_status=202,
    idempotent=True,
    notes=(
        "Runs asynchronously, a page at a time, so waitlists of any size move; watch the list with variant_id.",
        "scope pending (the default) moves the signups whose status is pending (a blocked one is not: use all), "
        "notified those that were notified, all every one.",
        "Signups that would duplicate a pending signup on the target variant are dropped rather than moved.",
        _IDEMPOTENCY_NOTE,
    ),
)

# Beyond the reference: the waitlist as a CSV file, one row per signup, on the report exports' job machinery (its
# job is polled and cancelled where the back-in-stock reports' are). Its rows: `services/waitlist_export.py`.
EXPORTS_STATUS_PATH = "/back_in_stock/reports/exports"
EXPORT = Action(
    name="export_signups",
    method="POST",
    path=f"{_PREFIX}/export",
    resource=RESOURCE,
    description="Export the waitlist, one row per signup, as CSV (asynchronous job)",
    handler="signups.export_signups",
    access=EXPORT_ACCESS,
    aliases=("export the waitlist", "download signups csv", "waitlist csv"),
    body_model=m.SignupExport,
    body_optional=True,
    response_model=ExportAccepted,
    success_status=202,
    idempotent=True,
    notes=("The list's filters, in a JSON body; every matching row, newest first.", export_note(EXPORTS_STATUS_PATH)),
    sample=Sample(f"{_PREFIX}/export", {"status": "pending", "variant_id": 101}),
    export=Export(
        report="waitlist",
        columns=(
            "signup_id",
            "status",
            "channel",
            "contact",
            "quantity",
            "shopify_variant_id",
            "shopify_product_id",
            "variant_title",
            "product_title",
            "customer_id",
            "customer_name",
            "customer_email",
            "customer_phone",
            "optin_required",
            "optin_confirmed_at",
            "notifications_sent",
            "last_notified_at",
            "notified_at",
            "blocked_at",
            "unsubscribed_at",
            "created_at",
        ),
        rows="backinstock.services.waitlist_export:rows",
        context="signups",
        status_path=EXPORTS_STATUS_PATH,
        file_name="back_in_stock_{report}_{today}.csv",
        window=False,  # the list's filters: an open window is the whole waitlist
        resumable=True,
    ),
)

_LINKS = frozenset({Access.TABLE_READ, Access.TABLE_WRITE, Access.LINK_SECRET})

OPTIN_PAGE = Action(
    name="optin_page",
    method="GET",
    path="/back_in_stock/optin/confirm",
    resource=RESOURCE,
    description="Customer link: the double opt-in page (a button that confirms with POST)",
    handler="links.optin_page",
    access=frozenset({Access.LINK_SECRET}),
    query_model=LinkQuery,
    sample=Sample("/back_in_stock/optin/confirm?token={optin_token}"),
    auth=Auth.PUBLIC,
    mcp_tool=False,
    html=True,
    notes=("GET changes nothing (mail security scanners open every link in a message); the page's button POSTs.",),
)

CONFIRM_OPTIN = Action(
    name="confirm_optin",
    method="POST",
    path="/back_in_stock/optin/confirm",
    resource=RESOURCE,
    description="Customer link: confirm a double opt-in (signed token from the confirmation message)",
    handler="links.confirm_optin",
    access=_LINKS,
    query_model=LinkQuery,
    sample=Sample("/back_in_stock/optin/confirm?token={optin_token}"),
    auth=Auth.PUBLIC,
    mcp_tool=False,
    html=True,
    notes=("Public, the button of the opt-in page; answers an HTML page. A bad or expired token changes nothing.",),
)

UNSUBSCRIBE_PAGE = Action(
    name="unsubscribe_page",
    method="GET",
    path="/back_in_stock/unsubscribe",
    resource=RESOURCE,
    description="Customer link: the unsubscribe page (a button that confirms with POST)",
    handler="links.unsubscribe_page",
    access=frozenset({Access.LINK_SECRET}),
    query_model=LinkQuery,
    sample=Sample("/back_in_stock/unsubscribe?token={unsubscribe_token}"),
    auth=Auth.PUBLIC,
    mcp_tool=False,
    html=True,
    notes=("GET changes nothing (mail scanners follow links); the page's button POSTs.",),
)

UNSUBSCRIBE = Action(
    name="unsubscribe",
    method="POST",
    path="/back_in_stock/unsubscribe",
    resource=RESOURCE,
    description="Customer link: unsubscribe a signup from its restock alert (also RFC 8058 one-click)",
    handler="links.unsubscribe",
    access=_LINKS,
    query_model=LinkQuery,
    sample=Sample("/back_in_stock/unsubscribe?token={unsubscribe_token}"),
    auth=Auth.PUBLIC,
    mcp_tool=False,
    html=True,
    notes=("Public; answers an HTML page. A bad or expired token changes nothing.",),
)

ACTIONS = (
    LIST,
    GET,
    CREATE,
    DELETE,
    NOTIFY,
    BULK_NOTIFY,
    BULK_DELETE,
    TRANSFER,
    EXPORT,
    OPTIN_PAGE,
    CONFIRM_OPTIN,
    UNSUBSCRIBE_PAGE,
    UNSUBSCRIBE,
)
