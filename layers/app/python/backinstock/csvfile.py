"""CSV export files: rows written with `csv.writer` into a bounded buffer, shipped to S3 as multipart parts.

Memory holds one part (`PART_SIZE`, >= S3's 5 MiB minimum) and the row being written, whatever the file's size.
The upload's state (upload id, part ETags) is small and JSON-serialisable: an export that runs over several Lambda
invocations carries it in the workflow's state and resumes at a part boundary.

Cells are neutralised against formula injection (OWASP "CSV Injection"): a text cell that starts with `=`, `+`, `-`,
`@` (or their full-width forms), a tab or a carriage return, or with any whitespace (a space, a line feed, a no-break
space...) before one of them, gets a leading `'`, so a spreadsheet shows it as text instead of evaluating it.
Numbers are written as they are.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from backinstock import aws

PART_SIZE = 8 * 1024 * 1024
_FORMULA = ("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20")  # and their full-width forms
_TRIGGERS = (*_FORMULA, "\t", "\r")
# What a spreadsheet may skip before a formula: whitespace (a space, a line feed, a no-break space...) and a BOM.
_SKIPPED = "".join(c for c in map(chr, range(0x3001)) if c.isspace()) + "\ufeff"
_MAYBE = frozenset(_TRIGGERS) | frozenset(_SKIPPED)  # first characters of a cell that may be a formula


def _formula(text: str) -> bool:
    return text.startswith(_TRIGGERS) or text.lstrip(_SKIPPED).startswith(_FORMULA)


def neutralise(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in _MAYBE and _formula(value):
        return "'" + value
    return value


class MultipartCsv:
    """Writes rows to `s3://bucket/key`. `state` resumes an upload started by an earlier invocation."""

    def __init__(
        self,
        bucket: str,
        key: str,
        *,
        file_name: str,
        state: dict[str, Any] | None = None,
        part_size: int | None = None,
        client: Any = None,
    ) -> None:
        self.bucket = bucket
        self.key = key
        self.file_name = file_name
        self.part_size = part_size if part_size is not None else PART_SIZE
        self._client = client
        self.upload_id: str | None = (state or {}).get("upload_id")
        self.parts: list[dict[str, Any]] = list((state or {}).get("parts", []))
        # Rows are encoded to UTF-8 as they are written (a text layer over a byte buffer, written through so that
        # the buffer's size is exact): the part in memory is bytes, one per ASCII character (a StringIO that is
        # asked its size holds four bytes per character).
        self._bytes = io.BytesIO()
        self._text = io.TextIOWrapper(self._bytes, encoding="utf-8", newline="", write_through=True)
        self._writer = csv.writer(self._text, lineterminator="\r\n")

    @property
    def client(self) -> Any:
        return self._client or aws.client("s3")

    def state(self) -> dict[str, Any]:
        return {"upload_id": self.upload_id, "parts": self.parts}

    def start(self) -> str:
        if self.upload_id is None:
            self.upload_id = self.client.create_multipart_upload(
                Bucket=self.bucket,
                Key=self.key,
                ContentType="text/csv; charset=utf-8",
                ContentDisposition=f'attachment; filename="{self.file_name}"',
            )["UploadId"]
        return self.upload_id

    def write_row(self, row: list[Any]) -> bool:
        """Write one row; returns True when a part was uploaded (the buffer is empty: a safe place to stop).
        The neutralising is `neutralise`, inlined: this loop is the export's hot path."""
        self._writer.writerow(
            ["'" + c if c.__class__ is str and c[:1] in _MAYBE and _formula(c) else c for c in row]
        )  # csv.writer writes None as an empty cell
        if self._bytes.tell() >= self.part_size:
            self._flush()
            return True
        return False

    def _flush(self) -> None:
        self._text.flush()
        data = self._bytes.getvalue()
        self._bytes.seek(0)
        self._bytes.truncate()
        if not data:
            return
        upload_id = self.start()
        number = len(self.parts) + 1
        etag = self.client.upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=upload_id, PartNumber=number, Body=data
        )["ETag"]
        self.parts.append({"PartNumber": number, "ETag": etag})

    def complete(self) -> None:
        """Upload what is buffered as the last part (the only part allowed under 5 MiB) and complete the file."""
        self._flush()
        upload_id = self.start()
        if not self.parts:  # nothing at all was written: an empty file still needs one part
            etag = self.client.upload_part(
                Bucket=self.bucket, Key=self.key, UploadId=upload_id, PartNumber=1, Body=b""
            )["ETag"]
            self.parts.append({"PartNumber": 1, "ETag": etag})
        self.client.complete_multipart_upload(
            Bucket=self.bucket, Key=self.key, UploadId=upload_id, MultipartUpload={"Parts": self.parts}
        )

    def abort_earlier_attempts(self) -> int:
        """Before a job's first upload: an earlier attempt of its first step may have been killed between its
        CreateMultipartUpload and the write recording the upload's id (a Lambda timeout). Nothing else knows that
        upload: abort every open one of this key (a job's own)."""
        return abort_open_uploads(self.bucket, self.key, self._client)

    def abort(self) -> None:
        if self.upload_id is not None:
            abort_upload(self.bucket, self.key, self.upload_id, self._client)

    def delete(self) -> None:
        """Remove a completed file (its job was cancelled while it was being completed)."""
        self.client.delete_object(Bucket=self.bucket, Key=self.key)


def abort_upload(bucket: str, key: str, upload_id: str, client: Any = None) -> None:
    s3 = client or aws.client("s3")
    try:
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    except s3.exceptions.NoSuchUpload:
        return


def abort_open_uploads(bucket: str, key: str, client: Any = None) -> int:
    """Abort every open multipart upload of exactly `key` (an export's key is its job's own); returns how many."""
    s3 = client or aws.client("s3")
    aborted = 0
    for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=key):
        for upload in page.get("Uploads", []):
            if upload["Key"] == key:
                abort_upload(bucket, key, upload["UploadId"], s3)
                aborted += 1
    return aborted


def download_url(bucket: str, key: str, expires_in: int, client: Any = None) -> str:
    s3 = client or aws.client("s3")
    url: str = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_in, HttpMethod="GET"
    )
    return url
