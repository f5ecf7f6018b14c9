"""One chaos run: its own moto, a seeded clock, the virtual time of the provider limit, the set-up of two shops,
then the drivers until everything drains, then the invariants.
"""

from __future__ import annotations

import contextlib
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from backinstock_tools.chaos.drivers import _drive, _queue_tick, _shard, _stream_arn
from backinstock_tools.chaos.faults import Faults
from backinstock_tools.chaos.invariants import _check
from backinstock_tools.chaos.model import (
    BASE_RATES,
    POISON,
    START,
    WEBHOOK_SECRET,
    Config,
    Result,
    Run,
    ShopRun,
    Signup,
    VirtualClock,
)
from backinstock_tools.chaos.operations import _webhook
from backinstock_tools.chaos.seeded import seeded, shop_id


def run(config: Config, progress: Callable[[str], None] | None = None) -> Result:
    """One chaos run in its own moto, the process environment restored afterwards. `progress` gets a line now and
    then (the CLI prints them on stderr)."""
    saved = dict(os.environ)
    try:
        return _run(config, progress)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        from backinstock import deps

        deps.reset()


def _run(config: Config, progress: Callable[[str], None] | None) -> Result:
    from backinstock_tools.local import backend

    env = backend.local_environment("http://unused")
    env.pop("AWS_ENDPOINT_URL")
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.update(env)
    os.environ["CAMPAIGN_SECONDS_PER_HOUR"] = "0"
    from moto import mock_aws

    from backinstock import deps

    deps.reset()
    started, cpu = time.monotonic(), time.process_time()
    rng = random.Random(config.seed)
    faults = Faults(rng, config.fault_rate, config.seed)
    with (
        mock_aws(),
        _parsed_once(),
        _seeded_clock(config.seed),
        seeded(config.seed, faults.clock),  # ids, keys and the clocks that steer code paths: any process replays
        contextlib.ExitStack() as stack,
    ):  # moto does not execute the state machines: this driver runs their tasks
        backend.create_resources()
        stack.enter_context(_virtual_time(faults.clock, config))
        r = Run(config, rng, faults)
        if progress is not None:
            r.progress = progress
        r.say("setting up: two shops, their catalogs and waitlists")
        _setup(r)
        r.say(f"{len(r.signups)} signups waiting; the run starts")
        faults.install()
        _drive(r)
        r.say("drained; checking the invariants")
        invariants, dead = _check(r)
    return Result(
        config,
        Counter({k: faults.counts.get(k, 0) for k in BASE_RATES}),
        invariants,
        dead,
        r.stream_failures,
        dict(r.figures),
        time.monotonic() - started,
        time.process_time() - cpu,
    )


@contextlib.contextmanager
def _seeded_clock(seed: int) -> Iterator[None]:
    """The application's clock (`ids.now`) and the random bits of its ids (`ids.uuid7`) from the seed: a logical
    clock from START, one millisecond a reading. Ids order as they would (by time, then random bits), and the
    same seed gives the same ids in the same order, so a run replays exactly."""
    from unittest import mock

    from backinstock import ids

    bits = random.Random(seed ^ 0x5EED)
    ticks = iter(range(1, 1 << 62))

    def now() -> datetime:
        return START + timedelta(milliseconds=next(ticks))

    with (
        mock.patch.object(ids, "now", now),
        mock.patch.object(ids, "secrets", SimpleNamespace(randbits=bits.getrandbits)),
    ):
        yield


@contextlib.contextmanager
def _virtual_time(clock: VirtualClock, config: Config) -> Iterator[None]:
    """The sustained provider limit on the virtual clock: SES and SNS refuse beyond `provider_rate` a second (SES's
    quota reads the same), the worker's SMS rate setting is the same; the send pace waits and moto's SQS delays on
    the virtual clock; the pace's random choices from the seed."""
    from unittest import mock

    import moto.sqs.models as sqs_models

    from backinstock.services import pacing
    from backinstock_tools.local import provider_limits

    rate = config.provider_rate
    provider_limits.install(rate, rate, clock=clock.time)
    os.environ["SMS_SEND_RATE"] = str(rate)
    with (
        mock.patch.object(pacing, "clock", clock),
        mock.patch.object(pacing, "rng", random.Random(config.seed ^ 0xACE)),
        mock.patch.object(sqs_models, "unix_time", clock.time),
        mock.patch.object(sqs_models, "unix_time_millis", lambda: clock.time() * 1000),
    ):
        try:
            yield
        finally:
            provider_limits.install()


@contextlib.contextmanager
def _parsed_once() -> Iterator[None]:
    """moto parses an UpdateExpression on every call (~1.5 ms; a rollup record's transaction holds ~15 of them):
    parse each distinct expression once. The parsed tree is never changed in place (moto's validator works on a
    deep copy of it), so sharing it answers the same. moto is pinned exactly in pyproject.toml."""
    from unittest import mock

    from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]

    make = UpdateExpressionParser.make
    parsed: dict[str, Any] = {}

    def once(expression_str: str) -> Any:
        if expression_str not in parsed:
            parsed[expression_str] = make(expression_str)
        return parsed[expression_str]

    with mock.patch.object(UpdateExpressionParser, "make", staticmethod(once)):
        yield


# ---------------------------------------------------------------------------------------------------- set-up
def _setup(r: Run) -> None:
    """Two connected shops, their catalogs through products/create webhooks, the waitlists (seeded through the
    signup service, as the API creates them), one poison message. No faults yet."""
    from backinstock import deps
    from backinstock.models.signups import SignupCreate
    from backinstock.services import shops, signups
    from backinstock_tools.testkit.builders import signup_body
    from backinstock_tools.testkit.shops import new_shop

    c = r.config
    for index, (domain, waiting) in enumerate(
        (("chaos-one.myshopify.com", c.restock_signups), ("chaos-two.myshopify.com", c.side_signups))
    ):
        shop = new_shop(domain, plan="pro", shop_id=shop_id(c.seed, index))
        shops.connect_shopify(deps.shops(), deps.shop_secrets(), shop.id, WEBHOOK_SECRET, "shpat_chaos_0123")
        product = 9000 + index
        base = 100 * (index + 1)
        s = ShopRun(shop.id, domain, shop.key, base + 1, product, 70000 + base + 1)
        r.shops.append(s)
        variants = [{"id": base + i, "title": f"Size {i}", "inventory_item_id": 70000 + base + i} for i in (1, 2, 3, 4)]
        payload = {
            "id": product,
            "title": f"Chaos Tee {index}",
            "handle": f"chaos-tee-{index}",
            "updated_at": "2026-11-01T00:00:00Z",
            "variants": variants,
        }
        status, body = _webhook(r, s, "products/create", payload)
        assert status == 200, body
        _drain_webhooks_clean(r)
        counts = {s.restock_variant: waiting}
        if index == 0:
            counts.update({base + 2: c.side_signups, base + 3: c.side_signups})  # bulk notify, transfer from
        for variant, n in counts.items():
            for _ in range(n):
                contact = f"c{r.rng.getrandbits(48):012x}@example.com"
                body_model = SignupCreate.model_validate(signup_body(variant, contact))
                signup_id = signups.create_signup(deps.waitlist(), s.shop_id, body_model).id
                r.signups[signup_id] = Signup(s.shop_id, signup_id, contact, variant, 0)
    # The waitlists are history: the rollups count them through a rebuild (`reports rebuild`, services/rollup_audit),
    # not through 2,000 stream records in moto (~0.1 s each); the run's stream starts after them.
    from backinstock import ids
    from backinstock.services import rollup_audit

    r.stream_offset = len(_shard().items)
    r.stream_arn = _stream_arn()
    for s in r.shops:
        rebuilt = rollup_audit.rebuild(deps.rollups(), s.shop_id, ids.now(), settle=lambda: None)
        assert rebuilt.clean, rebuilt
    deps.queue().send({**POISON, "shop_id": r.shops[0].shop_id})


def _drain_webhooks_clean(r: Run) -> None:
    while _queue_tick(r, "webhook"):
        pass
