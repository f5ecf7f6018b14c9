"""Export download links: valid as long as the file (7 days), redirecting to a short-lived pre-signed URL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from backinstock.errors import NotFound
from backinstock.services import downloads

pytestmark = pytest.mark.unit
KEY = b"k" * 32
DONE = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
STATUS = "https://api.example.com/api/v2/external/back_in_stock/reports/exports/exp_00000000000000aa"


def signed(key: str, seconds: int) -> str:
    return f"https://bucket.s3.amazonaws.com/{key}?X-Amz-Expires={seconds}"


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


def test_a_link_sits_next_to_the_status_url_and_redirects_to_the_file_for_seven_days() -> None:
    url = downloads.link(KEY, STATUS, "shop1", "exp_00000000000000aa", "back_in_stock_summary.csv", DONE)
    assert url.startswith(STATUS + "/download?token=")
    for moment in (DONE, DONE + timedelta(days=6, hours=23)):
        target = downloads.redirect(KEY, "exp_00000000000000aa", token_of(url), signed, moment)
        assert target == signed("exports/shop1/exp_00000000000000aa/back_in_stock_summary.csv", 300)
    assert downloads.expires_at(DONE) == DONE + timedelta(days=7)


@pytest.mark.parametrize(
    ("job_id", "moment", "key"),
    [
        ("exp_00000000000000bb", DONE, KEY),  # another job's path
        ("exp_00000000000000aa", DONE + timedelta(days=7, seconds=1), KEY),  # the file is gone
        ("exp_00000000000000aa", DONE, b"x" * 32),  # signed with another key
    ],
)
def test_a_link_for_another_job_expired_or_forged_is_404(job_id: str, moment: datetime, key: bytes) -> None:
    url = downloads.link(KEY, STATUS, "shop1", "exp_00000000000000aa", "f.csv", DONE)
    with pytest.raises(NotFound, match="invalid or has expired"):
        downloads.redirect(key, job_id, token_of(url), signed, moment)
