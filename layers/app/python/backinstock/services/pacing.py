"""The send pace: every send worker together stays within each channel's provider rate (docs/ARCHITECTURE.md,
"The send pace").

- Rates (`Rates`): email is the SES account's `MaxSendRate` (GetSendQuota), re-read every `RATE_TTL_SECONDS`
  per container; SMS and push are the stack's settings (`SMS_SEND_RATE`, `PUSH_SEND_RATE`).
- Budget: each second of each channel is a budget of `rate` tokens, split over `shards` items of the limiter's
  table (`repositories/pacing.py`) so that no item takes more than `SHARD_RATE` writes a second, whatever the
  account's rate. A worker reserves a block of tokens (up to the message's remaining sends) with one conditional
  ADD: a queue message of 50 sends costs a few calls, not one per send. Token `j` of a block may go at
  `second + (first + j) / cap`: the tokens of a second are spread over it, so the sends of all workers together
  come evenly, at the rate.
- Horizon: a worker looks `HORIZON_SLOTS` seconds ahead (the current one and the next two) and waits for its
  tokens (at most that long). When none is left in the horizon, the message's remaining sends are deferred: queued
  again with a delay (`defer_seconds`), never failed (a failure counts towards the dead-letter queue).
- Fairness: no shop may take more than `SHOP_SHARE` of a second that has not started yet; the current second is
  open to all. A shop whose restock holds the whole pace leaves a quarter of every coming second to the others, and
  takes it back when nobody else wanted it (its workers take the current second's rest). A message holds its
  worker for at most `MAX_HOLD_SECONDS` of waiting, then its rest goes back to the queue behind the others.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from aws_lambda_powertools import Logger

from backinstock.repositories.pacing import PaceBusy, PaceStore

logger = Logger(child=True)

CHANNELS = ("email", "sms", "push")
SHARD_RATE = 200  # tokens (so writes, at worst) per budget item per second
SHOP_SHARE = 0.75  # the most one shop may take of a second that has not started
HORIZON_SLOTS = 3  # seconds a worker looks ahead (and may wait) for tokens
BLOCK_MAX = 50  # tokens per reservation: a queue message's sends (queue.SENDS_PER_MESSAGE)
RATE_TTL_SECONDS = 300  # how long a container trusts the SES quota it read
DEFAULT_EMAIL_RATE = 1.0  # when the quota cannot be read: the SES sandbox's rate
MAX_DEFER_SECONDS = 120  # the longest a deferred message waits (SQS allows 900)
# How long one queue message may wait for tokens before its remaining sends go back to the queue (at once, behind
# the other shops' messages): a worker busy with a big restock's message takes the next shop's in turn.
MAX_HOLD_SECONDS = 5.0


class Clock(Protocol):
    def time(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


# The clock and the random source of every pace in this process: the chaos run (tools/) substitutes a virtual clock
# and a seeded generator, so a seed replays exactly and its provider limit is measured in virtual seconds.
clock: Clock = SystemClock()
rng = random.Random()


@dataclass
class Rates:
    """Sends per second per channel. `email_quota` reads the SES account's MaxSendRate (a provider call), cached."""

    email_quota: Callable[[], float]
    sms: float
    push: float
    ttl_seconds: float = RATE_TTL_SECONDS
    _email: float | None = None
    _read_at: float = -math.inf

    def of(self, channel: str) -> float:
        if channel == "sms":
            return self.sms
        if channel == "push":
            return self.push
        now = clock.time()
        if self._email is None or now - self._read_at >= self.ttl_seconds:
            try:
                self._email = float(self.email_quota())
            except Exception as exc:  # keep the last known rate; the most careful one before any
                logger.warning("the SES send quota could not be read", extra={"error": type(exc).__name__})
                self._email = self._email or DEFAULT_EMAIL_RATE
            self._read_at = now
        return self._email


@dataclass(frozen=True)
class Grant:
    """`count` tokens of one second's shard, the first being token `first` of the shard's `cap`."""

    channel: str
    second: int
    shard: int
    first: int
    count: int
    cap: int

    def at(self, j: int) -> float:
        """When token `j` of the grant may be used."""
        return self.second + (self.first + j) / self.cap


def plan(rate: float) -> tuple[int, int]:
    """(shards, tokens per shard and second) for a rate; at least one token a second."""
    per_second = max(1, math.floor(rate))
    shards = max(1, math.ceil(per_second / SHARD_RATE))
    return shards, max(1, per_second // shards)


@dataclass
class Pace:
    store: PaceStore
    rates: Rates
    calls: int = 0  # the store's calls (tests and benchmarks count them)
    _full: dict[tuple[str, str], int] = field(default_factory=dict)  # (channel, shop) -> horizon known to be full
    _seen: dict[tuple[str, int, int, str], tuple[int, int]] = field(default_factory=dict)  # item, shop -> used

    def reserve(self, channel: str, shop_id: str, want: int) -> Grant | None:
        """Up to `want` tokens within the horizon (the earliest second with room), or None when it is full."""
        now = clock.time()
        current = math.floor(now)
        if self._full.get((channel, shop_id), -1) >= current:
            return None  # this container found the horizon full a moment ago: no call
        shards, cap = plan(self.rates.of(channel))
        want = max(1, min(want, cap, BLOCK_MAX))
        self._seen = {k: v for k, v in self._seen.items() if k[1] >= current}
        for second in range(current, current + HORIZON_SLOTS):
            shop_cap = cap if second == current else max(1, math.floor(cap * SHOP_SHARE))
            shard = rng.randrange(shards)
            # What this container last saw of the item (0 if nothing) sizes the first ask: one call, not two, when
            # nobody else took tokens of it since. The condition decides; a wrong guess costs the second call.
            used, shop_used = self._seen.get((channel, second, shard, shop_id), (0, 0))
            count = min(want, cap - used, shop_cap - shop_used)
            for _ in range(2):  # the block, then what is left of it
                if count <= 0:
                    break
                self.calls += 1
                try:
                    slot = self.store.take(channel, second, shard, shop_id, count, cap, shop_cap)
                except PaceBusy:
                    return None  # the budget item is throttled: backpressure like a full second
                self._seen[(channel, second, shard, shop_id)] = (slot.used, slot.shop_used)
                if slot.taken:
                    return Grant(channel, second, shard, slot.used - slot.taken, slot.taken, cap)
                count = min(want, cap - slot.used, shop_cap - slot.shop_used)
        self._full[(channel, shop_id)] = current
        return None

    def give_back(self, grant: Grant, shop_id: str, unused: int) -> None:
        if unused <= 0 or grant.second + 1 <= clock.time():
            return  # its second has passed: the tokens are gone anyway
        try:
            self.calls += 1
            self.store.give_back(grant.channel, grant.second, grant.shard, shop_id, unused)
        except Exception as exc:  # best effort: a lost give-back only slows this second a little
            logger.warning("unused send tokens not given back", extra={"error": type(exc).__name__})


class Turns:
    """One queue message's tokens: `take(channel)` waits for the next token of the channel and answers True, or
    answers False when the pace has none within its horizon (the caller defers the rest of the message).
    `remaining` tells how many sends of the message may still need a token (the size of the next block)."""

    def __init__(self, pace: Pace, shop_id: str, remaining: Callable[[], int]) -> None:
        self.pace = pace
        self.shop_id = shop_id
        self.remaining = remaining
        self._grants: dict[str, tuple[Grant, int]] = {}  # channel -> (grant, tokens used)
        self.waited = 0.0
        self.last: str | None = None  # the channel of the last token taken

    def take(self, channel: str) -> bool:
        held = self._grants.get(channel)
        if held is None or held[1] >= held[0].count:
            grant = self.pace.reserve(channel, self.shop_id, self.remaining())
            if grant is None:
                return False
            held = (grant, 0)
        grant, used = held
        self._grants[channel] = (grant, used + 1)
        self.last = channel
        wait = grant.at(used) - clock.time()
        if wait > 0:
            self.waited += wait
            clock.sleep(wait)
        return True

    def unuse(self) -> None:
        """The last token taken did not become a send (the provider throttled or failed it, or the send failed
        before its call): the message's next send uses it, or `close` gives it back."""
        if self.last is not None and self.last in self._grants:
            grant, used = self._grants[self.last]
            self._grants[self.last] = (grant, max(0, used - 1))
        self.last = None

    def close(self) -> None:
        """Give back the tokens taken and not used (sends skipped, blocked or deferred)."""
        for grant, used in self._grants.values():
            self.pace.give_back(grant, self.shop_id, grant.count - used)
        self._grants.clear()


def defer_seconds(deferrals: int) -> int:
    """How long a deferred message waits: the horizon, doubled each time the same sends are deferred again (a big
    restock's backlog does not spin through the queue), jittered, at most `MAX_DEFER_SECONDS`."""
    base = min(MAX_DEFER_SECONDS, HORIZON_SLOTS * 2 ** min(deferrals, 10))
    return max(1, min(MAX_DEFER_SECONDS, round(base * (0.5 + rng.random() / 2))))
