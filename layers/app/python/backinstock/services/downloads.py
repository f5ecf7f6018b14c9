"""Export downloads that last as long as the file: 7 days, as the reference promises.

A pre-signed S3 URL dies with the credentials that signed it, and a Lambda role's credentials last hours, not days.
So the job's `download_url` is a link to the API: `<status URL>/download?token=...`, where the token (`services.links`,
purpose `download`, HMAC-signed with the link key) names the shop, the job and the file and expires when the file
does (7 days after the export completed, the bucket's lifecycle rule). Opening it answers 302 to a fresh pre-signed
S3 URL valid for `REDIRECT_SECONDS`. The link needs no API key (it can be handed to a browser or a spreadsheet),
and it does not need the job record, which expires after about 24 hours.

Erasure: a file may hold what a privacy webhook later erased. `customers/redact` records when it finished
(`erased_since`), and every link to a file whose export started before then answers 410 with why; once `shop/redact`
has purged the shop, every link of the shop answers 410. The files themselves are never served again and the bucket's
lifecycle rule deletes them within 7 days of their export.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from urllib.parse import quote

from backinstock import ids
from backinstock.errors import Gone, NotFound
from backinstock.infra_spec import DOWNLOAD_REDIRECT_SECONDS, EXPORT_FILE_RETENTION_DAYS
from backinstock.services import links

REDIRECT_SECONDS = DOWNLOAD_REDIRECT_SECONDS  # the pre-signed S3 URL a download link redirects to
INVALID = (
    f"This download link is invalid or has expired (a link lives {EXPORT_FILE_RETENTION_DAYS} days, as the file "
    "does): run the export again for a new file"
)
ERASED = (
    "This file is no longer available: a customer's data was erased at the shop's request (Shopify privacy request) "
    "after this export started, and a file that may hold it is never served again. Run the export again for a new "
    "file without it"
)


def object_key(shop_id: str, job_id: str, file_name: str) -> str:
    """Where an export's file lives in the export bucket (`exports/` is the prefix IAM grants on)."""
    return f"exports/{shop_id}/{job_id}/{file_name}"


def link(
    key: bytes,
    status_url: str,
    shop_id: str,
    job_id: str,
    file_name: str,
    completed_at: datetime,
    started_at: datetime | None = None,
) -> str:
    """The download link of a ready export, next to its status URL; valid until `expires_at(completed_at)`, or until
    an erasure after `started_at`."""
    token = links.make_token(key, shop_id, job_id, "download", completed_at, file=file_name, started=started_at)
    return f"{status_url}/download?token={quote(token, safe='')}"


def expires_at(completed_at: datetime) -> datetime:
    return completed_at + links.LIFETIME["download"]


def redirect(
    key: bytes,
    job_id: str,
    token: str,
    sign: Callable[[str, int], str],
    now: datetime | None = None,
    erased_since: Callable[[str], datetime | None] = lambda _shop_id: None,
) -> str:
    """The fresh pre-signed URL a download link leads to. 404 for a token that is forged, expired, made for
    another job or another purpose (all alike: the link says nothing about why); 410 for a file that an erasure
    retired (`erased_since(shop_id)`: when the shop's latest erasure finished, `datetime.max` once the shop is
    purged). A link made before links carried their export's start counts from its completion, at most 7 days ago."""
    moment = now or ids.now()
    claim = links.verify_token(key, token, "download", moment)
    if claim is None or claim.signup_id != job_id or not claim.file:
        raise NotFound(INVALID)
    erased = erased_since(claim.shop_id)
    if erased is not None:
        expiry = links.expiry(token)
        started = claim.started or (expiry - links.LIFETIME["download"] if expiry else None)
        if started is None or started <= erased:
            raise Gone(ERASED)
    return sign(object_key(claim.shop_id, job_id, claim.file), REDIRECT_SECONDS)
