"""The per-client request limit of WAYMARK_RATE_LIMIT, e.g. `600/minute` (`off` disables it).

A token bucket per client and per gateway process: bursts up to the limit, then the rate."""

import math
import time

from waymark_kernel.problems import Problem

PERIODS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}


class RateLimiter:
    def __init__(self, limit: int, period_seconds: float) -> None:
        if limit < 1 or period_seconds <= 0:
            raise ValueError("a rate limit needs a positive count and period")
        self.capacity = float(limit)
        self.refill_per_second = limit / period_seconds
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, updated at)

    @classmethod
    def from_setting(cls, value: str) -> "RateLimiter | None":
        if value.strip().lower() == "off":
            return None
        count, _, period = value.strip().partition("/")
        if not count.isdigit() or period.strip().lower() not in PERIODS:
            raise ValueError(
                f"WAYMARK_RATE_LIMIT must look like 600/minute or be off, not {value!r}"
            )
        return cls(int(count), PERIODS[period.strip().lower()])

    def take(self, client: str) -> None:
        """Counts one request of `client`; 429 when its bucket is empty."""
        now = time.monotonic()
        tokens, updated = self._buckets.get(client, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - updated) * self.refill_per_second)
        if tokens < 1:
            self._buckets[client] = (tokens, now)
            wait = math.ceil((1 - tokens) / self.refill_per_second)
            raise Problem(
                429, "This client has made too many requests; retry after the Retry-After delay.",
                kind="rate-limited", headers={"Retry-After": str(wait)},
            )
        self._buckets[client] = (tokens - 1, now)
