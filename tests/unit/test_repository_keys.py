"""The keys the repositories own (CONTRIBUTING: only repositories spell or parse keys): the shapes services used to
build themselves, pinned so that moving them changed nothing."""

from __future__ import annotations

import zlib

import pytest

from backinstock.repositories.privacy import customer_contact
from backinstock.repositories.rollups import rollup_key, row_key
from backinstock.repositories.shards import SHARDS, shard_of
from backinstock.repositories.signups import index_keys, signup_key, signup_partitions, signup_pk

pytestmark = pytest.mark.unit


def test_a_signup_is_listed_under_its_variant_and_its_product_by_its_id() -> None:
    signup = {"shop_id": "s1", "signup_id": "0190-abc", "variant_id": 101, "product_id": 7}
    assert index_keys(signup) == {
        "GSI3PK": "SHOP#s1#VARIANT#101",
        "GSI3SK": "SIGNUP#0190-abc",
        "GSI4PK": "SHOP#s1#PRODUCT#7",
        "GSI4SK": "SIGNUP#0190-abc",
    }


def test_a_signup_lives_in_the_shard_of_its_id() -> None:
    ids = [f"0190-{n:04d}" for n in range(200)]
    pks = {i: signup_pk("s1", i) for i in ids}
    assert all(pk == f"SHOP#s1#SIGNUP#{shard_of(i)}" for i, pk in pks.items())
    assert set(pks.values()) == set(signup_partitions("s1"))  # 200 ids reach all 16 partitions
    assert len(signup_partitions("s1")) == SHARDS == 16
    assert signup_key("s1", "0190-abc") == {"PK": {"S": signup_pk("s1", "0190-abc")}, "SK": {"S": "SIGNUP#0190-abc"}}
    assert shard_of("0190-abc") == f"{zlib.crc32(b'0190-abc') % 16:02d}"  # stable across processes


def test_a_customer_item_names_its_channel_and_contact_even_when_the_contact_holds_the_separator() -> None:
    assert customer_contact({"SK": "CUSTOMER#email#ann@example.com"}) == ("email", "ann@example.com")
    assert customer_contact({"SK": "CUSTOMER#push#https://push.example/a#b"}) == ("push", "https://push.example/a#b")


def test_a_rollup_rows_plain_key_is_its_stored_key() -> None:
    stored = rollup_key("s1", "pcuv:101", "d#2026-12-07#c1")
    assert row_key("s1", "pcuv:101", "d#2026-12-07#c1") == {"PK": stored["PK"]["S"], "SK": stored["SK"]["S"]}
