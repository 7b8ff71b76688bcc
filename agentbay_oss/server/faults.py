"""Fault injection and counters: what a reliability test dials in and reads back.

Decisions come from one `random.Random(seed)` drawn a fixed number of times per
request, in arrival order, so the same seed and the same request sequence give
the same faults whatever the rates are changed to in between.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field


@dataclass
class FaultConfig:
    """Fault rates (0..1) and latency; mutable while the server runs (`srv.faults.fail_rate = .05`)."""

    fail_rate: float = 0.0  # 503 ServiceUnavailable with OSS error XML
    reset_rate: float = 0.0  # connection dropped in the middle of a request or response body
    latency_ms: int = 0  # added before every response
    seed: int | None = None  # reproducible decisions
    corrupt_rate: float = 0.0  # one byte of a GET body flipped, headers unchanged
    bad_crc_rate: float = 0.0  # wrong x-oss-hash-crc64ecma on GET/PUT/UploadPart responses
    throttle_rate: float = 0.0  # 503 with x-oss-qos-delay-time
    throttle_delay_ms: int = 100  # the x-oss-qos-delay-time value
    clock_offset_s: float = 0.0  # added to the server's clock when it checks request times
    # Only these operations (e.g. {"UploadPart"}) get faults; None: every operation. Lets a test
    # break one kind of request for sure without depending on the order requests arrive in.
    operations: frozenset[str] | None = None
    # Bumped on every assignment to `seed`, so setting a seed (even the same one) restarts it.
    seed_epoch: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "seed_epoch", 0)

    def __setattr__(self, name: str, value: object) -> None:
        if name == "seed" and "seed_epoch" in self.__dict__:
            object.__setattr__(self, "seed_epoch", self.__dict__["seed_epoch"] + 1)
        object.__setattr__(self, name, value)

    def validate(self) -> None:
        for name in ("fail_rate", "reset_rate", "corrupt_rate", "bad_crc_rate", "throttle_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if self.latency_ms < 0 or self.throttle_delay_ms < 0:
            raise ValueError("latency_ms and throttle_delay_ms must be >= 0")


class InjectedReset(Exception):
    """The fault injector decided to drop this connection here."""


@dataclass(frozen=True)
class Decision:
    """What happens to one request."""

    throttle: bool = False
    fail: bool = False
    reset: bool = False
    reset_fraction: float = 0.5  # where in the body the connection drops
    corrupt: bool = False
    corrupt_fraction: float = 0.5  # which byte flips
    bad_crc: bool = False

    @property
    def any(self) -> bool:
        return self.throttle or self.fail or self.reset or self.corrupt or self.bad_crc


NO_FAULT = Decision()


class FaultInjector:
    def __init__(self, config: FaultConfig) -> None:
        self._lock = threading.Lock()
        self.config = config

    @property
    def config(self) -> FaultConfig:
        return self._config

    @config.setter
    def config(self, config: FaultConfig) -> None:
        with self._lock:
            self._config = config
            self._epoch = config.seed_epoch
            self._rng = random.Random(config.seed)

    def applies_to(self, op: str) -> bool:
        ops = self._config.operations
        return ops is None or op in ops

    def decide(self) -> Decision:
        c = self._config
        quiet = not (
            c.fail_rate or c.reset_rate or c.corrupt_rate or c.bad_crc_rate or c.throttle_rate
        )
        if quiet and c.seed is None:
            return NO_FAULT  # unseeded draws are not replayable anyway: skip them
        with self._lock:
            if c.seed_epoch != self._epoch:  # a seed set at runtime restarts the sequence
                self._epoch = c.seed_epoch
                self._rng = random.Random(c.seed)
            # Always seven draws, so one rate never shifts the decisions of another.
            r = [self._rng.random() for _ in range(7)]
        if quiet:
            return NO_FAULT
        return Decision(
            throttle=r[0] < c.throttle_rate,
            fail=r[1] < c.fail_rate,
            reset=r[2] < c.reset_rate,
            reset_fraction=0.1 + 0.8 * r[3],
            corrupt=r[4] < c.corrupt_rate,
            corrupt_fraction=r[5],
            bad_crc=r[6] < c.bad_crc_rate,
        )


@dataclass
class ServerStats:
    """Counters a test reads: requests per operation, body bytes received, faults injected."""

    requests: Counter[str] = field(default_factory=Counter)
    bytes_received: int = 0
    bytes_sent: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    # (time.monotonic() at arrival, operation, injected fault or ""): lets a test check that a
    # client waited between a throttled request and its retry. Bounded: old entries drop off.
    events: deque[tuple[float, str, str]] = field(default_factory=lambda: deque(maxlen=100_000))

    def record(self, op: str, fault: str = "") -> None:
        self.events.append((time.monotonic(), op, fault))

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    def reset(self) -> None:
        self.requests.clear()
        self.faults.clear()
        self.events.clear()
        self.bytes_received = 0
        self.bytes_sent = 0
