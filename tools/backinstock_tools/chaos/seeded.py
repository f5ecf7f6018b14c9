"""Every source of chance and time the run's code meets, from the seed: so a seed replays in any process.

Python randomizes `hash()` of strings per process (`PYTHONHASHSEED`), and the code under test and moto draw ids
from the operating system and read the wall clock. Within one process two runs of a seed replayed already; across
processes they did not (23 and 19 faults), because some of those values steer the run: which DynamoDB calls a request
makes, and in what order, decides which call the seeded generator faults. Here, the harness (never the code under
test) gives each of them a value from the seed, for the run's duration:

- `uuid.uuid4` (a send's id, which names its claim's partition; a customer's id; transfer ids; botocore's
  idempotency tokens), `secrets.token_hex` and `secrets.token_urlsafe` (a shop's API key, an export's job id, the
  local link secret): one seeded stream per calling module, so a module that draws more or fewer (a warm cache in
  the second run of a process) does not move another's;
- moto's own generator (`mock_random`: SQS message ids and receipt handles, stream event ids), seeded;
- the shops' ids: the run passes them to `create_shop` (`shop_id`) instead of letting it draw a `uuid4`;
- the code's thread pools (bulk notify's send slots, `SignupRepository.release_guards`, the first pages of a
  sharded listing's Queries in `repositories.shards.merged`): their tasks run in order, one at a time (`_InOrder`),
  so the order of their calls is not the scheduler's;
- the clocks that steer code paths, put on the run's virtual clock: the rate limiter's (`Limiter.clock`: which form
  of its UpdateItem it tries first, and whether a request is refused), the send path's staleness of a batch's read
  (`services.sending`: `time.monotonic`, whether it reads the claims again), the webhook secrets' cache
  (`ShopSecrets(clock=)`).

The application's own clock and uuid7 bits (`runner._seeded_clock`) and the send pace's clock and jitter
(`runner._virtual_time`) were seeded before. What is left is in docs/RELIABILITY.md ("Replaying a seed").
"""

from __future__ import annotations

import contextlib
import random
import secrets
import sys
import uuid
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

from backinstock_tools.chaos.model import VirtualClock


class _InOrder:
    """A `ThreadPoolExecutor` that runs its tasks one after the other, in order, in the calling thread: every task
    runs (as in a pool), and `map` raises the first failure when its results are read. The code under test keeps
    16 conditional writes in flight in places (bulk notify's send slots, `release_guards`); which of them reaches the
    boundary first is the scheduler's choice, and the fault hooks keep one invocation's state."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __enter__(self) -> _InOrder:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def map(self, fn: Callable[..., Any], *iterables: Any) -> Iterator[Any]:
        outcomes: list[tuple[bool, Any]] = []
        for args in zip(*iterables, strict=False):
            try:
                outcomes.append((True, fn(*args)))
            except Exception as exc:
                outcomes.append((False, exc))

        def results() -> Iterator[Any]:
            for ok, value in outcomes:
                if not ok:
                    raise value
                yield value

        return results()


class _Streams:
    """Seeded generators by name: `Random(f"{seed}:{name}")` (a string seed is hashed with SHA-512, not `hash()`)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.streams: dict[str, random.Random] = {}

    def __call__(self, name: str) -> random.Random:
        stream = self.streams.get(name)
        if stream is None:
            stream = self.streams[name] = random.Random(f"{self.seed}:{name}")
        return stream

    def uuid4(self) -> uuid.UUID:
        caller = sys._getframe(1).f_globals.get("__name__", "?")
        return uuid.UUID(int=self(f"uuid4:{caller}").getrandbits(128), version=4)

    def token_hex(self, nbytes: int | None = None) -> str:
        caller = sys._getframe(1).f_globals.get("__name__", "?")
        return self._bytes(f"token:{caller}", nbytes).hex()

    def token_urlsafe(self, nbytes: int | None = None) -> str:
        import base64

        caller = sys._getframe(1).f_globals.get("__name__", "?")
        return base64.urlsafe_b64encode(self._bytes(f"token:{caller}", nbytes)).rstrip(b"=").decode("ascii")

    def _bytes(self, name: str, nbytes: int | None) -> bytes:
        n = 32 if nbytes is None else nbytes
        return self(name).getrandbits(n * 8).to_bytes(n, "big") if n else b""


def shop_id(seed: int, index: int) -> str:
    """The id of the run's `index`-th shop (16 hex digits, as `create_shop` draws them)."""
    return f"{random.Random(f'{seed}:shop:{index}').getrandbits(64):016x}"


@contextlib.contextmanager
def seeded(seed: int, clock: VirtualClock) -> Iterator[None]:
    """For the run's duration: ids, keys and tokens from the seed, the path-steering clocks on `clock`."""
    from unittest import mock

    from moto.moto_api._internal import mock_random

    from backinstock import deps
    from backinstock.repositories import shards
    from backinstock.repositories.shop_secrets import ShopSecrets
    from backinstock.repositories.signups import SignupRepository
    from backinstock.services import sending
    from backinstock.services import signups as signup_service

    streams = _Streams(seed)
    mock_random.seed(seed)

    limiter_of = deps.rate_limiter

    def rate_limiter() -> Any:
        built = limiter_of()  # the container's one limiter (deps caches it); its clock is the run's
        built.clock = clock.time
        return built

    secrets_of: list[ShopSecrets] = []

    def shop_secrets() -> ShopSecrets:
        if not secrets_of:
            secrets_of.append(ShopSecrets(clock=clock.time))
        return secrets_of[0]

    prepare = sending.prepare

    def prepare_now(*args: Any, **kwargs: Any) -> Any:
        batch = prepare(*args, **kwargs)
        batch.read_at = clock.time()  # its default, time.monotonic, was bound when the class was made
        return batch

    def release_guards(self: SignupRepository, signups: list[dict[str, Any]]) -> None:
        list(_InOrder().map(self.release_guard, signups))

    with (
        mock.patch.object(signup_service, "ThreadPoolExecutor", _InOrder),
        mock.patch.object(shards, "ThreadPoolExecutor", _InOrder),
        mock.patch.object(SignupRepository, "release_guards", release_guards),
        mock.patch.object(uuid, "uuid4", streams.uuid4),
        mock.patch.object(secrets, "token_hex", streams.token_hex),
        mock.patch.object(secrets, "token_urlsafe", streams.token_urlsafe),
        mock.patch.object(deps, "rate_limiter", rate_limiter),
        mock.patch.object(deps, "shop_secrets", shop_secrets),
        mock.patch.object(sending, "time", SimpleNamespace(monotonic=clock.time)),
        mock.patch.object(sending, "prepare", prepare_now),
    ):
        yield
