"""Request limits: token buckets per client (by role), and on signing in.

Signing in (a client's token request, a person's sign-in: each a `kind`) is limited twice.
Failures count per subject (client id, email) *at one address* and per address, so that a
caller guessing someone's secret slows only himself: the right secret from another address is
never refused. Successes count per subject and per address, since each costs a password hash.
An IPv6 address counts as its /64: a host is given at least that much, and one guessing from
each of its addresses in turn would otherwise never be slowed.
Any sign-in route follows the same four steps (see `RateLimits.check_failures`).

A bucket holds up to `limit` requests and refills at limit/period, so a client may burst up to
its limit and then keeps the rate. The buckets live in Redis when WAYMARK_REDIS_URL is set (every
replica shares them) and in this process otherwise. When Redis fails the gateway fails open:
the request is served, the failure logged and counted.

Headers follow draft-ietf-httpapi-ratelimit-headers-10 (the syntax of drafts 08 to 10):
`RateLimit-Policy: "caseworker";q=600;w=60` and `RateLimit: "caseworker";r=599;t=1`, where `t`
is the number of seconds until the bucket is full again."""

import hashlib
import ipaddress
import logging
import math
import time
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import Counter
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from waymark_gateway.settings import GatewaySettings
from waymark_kernel.auth import Identity
from waymark_kernel.problems import Problem

log = logging.getLogger("waymark.gateway.ratelimit")
PERIODS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}
REJECTIONS = Counter(
    "waymark_gateway_rate_limit_rejections_total", "Requests refused by a rate limit", ["policy"]
)
STORE_FAILURES = Counter(
    "waymark_gateway_rate_limit_store_failures_total",
    "Rate-limit checks served without a limit because the shared store failed",
)
# Seconds the gateway stops asking a failed Redis before trying it again.
STORE_PAUSE_SECONDS = 1.0
# The in-process store forgets buckets that are full again once it holds this many (a full
# bucket is the same as none), so callers inventing subjects or addresses cannot grow it.
MEMORY_BUCKETS_PRUNED_FROM = 10_000
TOKEN_REQUESTS = "token"  # the sign-in kind of POST /v1/auth/token
PERSON_SIGN_INS = "person"  # the sign-in kind of POST /v1/auth/sessions (subject: the email's hash)
IPV6_HOST_PREFIX = 64  # the least a network gives one IPv6 host (RFC 6177)


@dataclass(frozen=True)
class Policy:
    name: str
    limit: int
    period_seconds: float

    @classmethod
    def parse(cls, name: str, value: str, setting: str) -> "Policy | None":
        """`600/minute` (or `off`: None) as the policy called `name`."""
        if value.strip().lower() == "off":
            return None
        count, _, period = value.strip().partition("/")
        period = period.strip().lower()
        if not count.isdigit() or int(count) < 1 or period not in PERIODS:
            raise ValueError(f"{setting} must look like 600/minute or be off, not {value!r}")
        return cls(name, int(count), PERIODS[period])

    @property
    def refill_per_second(self) -> float:
        return self.limit / self.period_seconds

    def header(self) -> str:
        return f'"{self.name}";q={self.limit};w={math.ceil(self.period_seconds)}'


@dataclass(frozen=True)
class Decision:
    policy: Policy
    allowed: bool
    tokens: float

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil((1 - self.tokens) / self.policy.refill_per_second))

    def headers(self) -> dict[str, str]:
        full_in = math.ceil((self.policy.limit - self.tokens) / self.policy.refill_per_second)
        headers = {
            "RateLimit-Policy": self.policy.header(),
            "RateLimit": f'"{self.policy.name}";r={max(0, math.floor(self.tokens))};t={full_in}',
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


class RateLimited(Problem):
    """429: a limit is used up; `Retry-After` says for how long."""


class BucketStore(Protocol):
    async def take(self, key: str, policy: Policy, cost: int) -> Decision:
        """Allowed when the bucket holds a whole token; then `cost` tokens (0 or 1) are taken."""
        ...

    async def close(self) -> None: ...


class MemoryBuckets:
    def __init__(self) -> None:
        # key -> (tokens, updated at, full again at)
        self._buckets: dict[str, tuple[float, float, float]] = {}
        self._prune_at = MEMORY_BUCKETS_PRUNED_FROM

    async def take(self, key: str, policy: Policy, cost: int) -> Decision:
        now = time.monotonic()
        tokens, updated, _ = self._buckets.get(key, (float(policy.limit), now, now))
        tokens = min(policy.limit, tokens + (now - updated) * policy.refill_per_second)
        allowed = tokens >= 1
        if allowed:
            tokens -= cost
        full_at = now + (policy.limit - tokens) / policy.refill_per_second
        self._buckets[key] = (tokens, now, full_at)
        if len(self._buckets) >= self._prune_at:
            self._forget_full_buckets(now)
        return Decision(policy, allowed, tokens)

    def _forget_full_buckets(self, now: float) -> None:
        self._buckets = {key: state for key, state in self._buckets.items() if state[2] > now}
        self._prune_at = max(MEMORY_BUCKETS_PRUNED_FROM, 2 * len(self._buckets))

    async def close(self) -> None:
        self._buckets.clear()


# The same bucket in one atomic step on the Redis server, timed by the server's clock so that
# replicas with drifting clocks agree.
TAKE_SCRIPT = """
local limit, rate, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = tonumber(state[1]) or limit
local updated = tonumber(state[2]) or now
tokens = math.min(limit, tokens + math.max(0, now - updated) * rate)
local allowed = 0
if tokens >= 1 then
  allowed = 1
  tokens = tokens - cost
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((limit - tokens) / rate * 1000) + 1000)
return {allowed, tostring(tokens)}
"""


class RedisBuckets:
    def __init__(self, url: str, *, prefix: str, timeout: float) -> None:
        self.prefix = prefix
        self.redis = Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0), health_check_interval=0,
        )
        self.script = self.redis.register_script(TAKE_SCRIPT)

    async def take(self, key: str, policy: Policy, cost: int) -> Decision:
        allowed, tokens = await self.script(
            keys=[self.prefix + key], args=[policy.limit, policy.refill_per_second, cost]
        )
        return Decision(policy, bool(allowed), float(tokens))

    async def close(self) -> None:
        await self.redis.aclose()


@dataclass(frozen=True)
class SignInLimits:
    """The limits of one kind of sign-in; None leaves that count unlimited."""

    attempts: str  # what the refusal calls the attempts, e.g. "token requests"
    failures_per_subject: Policy | None  # failures for one subject from one address
    failures_per_address: Policy | None  # failures for any subject from one address
    successes_per_subject: Policy | None  # successes of one subject from anywhere
    successes_per_address: Policy | None  # successes of any subject from one address
    # Each failure counted for the subject from one address delays the next answer this much,
    # up to `max_delay_seconds`: guessing slows before it locks.
    delay_per_failure_seconds: float = 0.0
    max_delay_seconds: float = 0.0
    # Attempts refused while locked are audited, but at most this often per subject and address
    # and per address, so that a locked-out guesser cannot flood the audit log.
    refusals_audited_per_subject: Policy | None = None
    refusals_audited_per_address: Policy | None = None


def _bucket_key(kind: str, count: str, *parts: str) -> str:
    """A key of bounded length that does not hold the subject (an email is personal data)."""
    digest = hashlib.blake2b("\0".join(parts).encode(), digest_size=16).hexdigest()
    return f"{kind}:{count}:{digest}"


def counted_address(address: str) -> str:
    """The address as limits count it: IPv4 as it is (also when written as IPv4-mapped IPv6),
    IPv6 as the /64 network holding it."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv4Address):
        return str(parsed)
    if parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return str(ipaddress.IPv6Network((parsed, IPV6_HOST_PREFIX), strict=False))


def _buckets(
    kind: str, count: str, subject: str | None, per_subject: Policy | None,
    address: str | None, per_address: Policy | None, *, subject_at_address: bool,
) -> list[tuple[str, Policy]]:
    """The buckets a sign-in counts in: the subject's (None: not known), from anywhere or from
    this address only, and the address's."""
    counted = counted_address(address) if address else None
    buckets = []
    if subject and per_subject:
        place = (counted or "",) if subject_at_address else ()
        buckets.append((_bucket_key(kind, count, subject, *place), per_subject))
    if counted and per_address:
        buckets.append((_bucket_key(kind, f"address-{count}", counted), per_address))
    return buckets


class RateLimits:
    """The gateway's limits: per client by role, and on each kind of sign-in."""

    def __init__(
        self, store: BucketStore, *, default: Policy | None, by_role: dict[str, Policy | None],
        sign_ins: dict[str, SignInLimits],
    ) -> None:
        self.store = store
        self.default = default
        self.by_role = by_role
        self.sign_ins = sign_ins
        self._paused_until = 0.0

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> "RateLimits":
        store: BucketStore = (
            RedisBuckets(
                settings.redis_url, prefix=settings.redis_key_prefix,
                timeout=settings.redis_timeout_seconds,
            ) if settings.redis_url else MemoryBuckets()
        )
        return cls(
            store,
            default=Policy.parse("default", settings.rate_limit, "WAYMARK_RATE_LIMIT"),
            by_role={
                role: Policy.parse(role, value, "WAYMARK_RATE_LIMIT_BY_ROLE")
                for role, value in settings.rate_limit_by_role.items()
            },
            sign_ins={TOKEN_REQUESTS: SignInLimits(
                "token requests",
                failures_per_subject=Policy.parse(
                    "token-failures-client", settings.token_failure_limit_per_client,
                    "WAYMARK_TOKEN_FAILURE_LIMIT_PER_CLIENT",
                ),
                failures_per_address=Policy.parse(
                    "token-failures-address", settings.token_failure_limit_per_address,
                    "WAYMARK_TOKEN_FAILURE_LIMIT_PER_ADDRESS",
                ),
                successes_per_subject=Policy.parse(
                    "tokens-client", settings.token_limit_per_client,
                    "WAYMARK_TOKEN_LIMIT_PER_CLIENT",
                ),
                successes_per_address=Policy.parse(
                    "tokens-address", settings.token_limit_per_address,
                    "WAYMARK_TOKEN_LIMIT_PER_ADDRESS",
                ),
            ), PERSON_SIGN_INS: SignInLimits(
                "sign-ins; the account is locked from this address for a while",
                failures_per_subject=Policy.parse(
                    "sign-in-failures-account", settings.sign_in_failure_limit_per_account,
                    "WAYMARK_SIGN_IN_FAILURE_LIMIT_PER_ACCOUNT",
                ),
                failures_per_address=Policy.parse(
                    "sign-in-failures-address", settings.sign_in_failure_limit_per_address,
                    "WAYMARK_SIGN_IN_FAILURE_LIMIT_PER_ADDRESS",
                ),
                successes_per_subject=None, successes_per_address=None,
                delay_per_failure_seconds=settings.sign_in_delay_per_failure_seconds,
                max_delay_seconds=settings.sign_in_max_delay_seconds,
                refusals_audited_per_subject=Policy.parse(
                    "sign-in-refusals-audited-account", settings.sign_in_refusals_audited_per_account,
                    "WAYMARK_SIGN_IN_REFUSALS_AUDITED_PER_ACCOUNT",
                ),
                refusals_audited_per_address=Policy.parse(
                    "sign-in-refusals-audited-address", settings.sign_in_refusals_audited_per_address,
                    "WAYMARK_SIGN_IN_REFUSALS_AUDITED_PER_ADDRESS",
                ),
            )},
        )

    async def close(self) -> None:
        await self.store.close()

    def policy_for(self, identity: Identity) -> Policy | None:
        """The most generous limit among the client's roles (None: unlimited)."""
        listed = [self.by_role[role] for role in identity.roles if role in self.by_role]
        if not listed:
            return self.default
        limited = [policy for policy in listed if policy is not None]
        if len(limited) < len(listed):  # one of the roles is unlimited
            return None
        return max(limited, key=lambda policy: policy.refill_per_second)

    async def check_client(self, identity: Identity) -> dict[str, str]:
        """Counts one request of the client: its RateLimit headers, or 429."""
        policy = self.policy_for(identity)
        if policy is None:
            return {}
        decision = await self._take(f"client:{identity.subject}", policy, 1)
        if decision is None:
            return {}
        if not decision.allowed:
            raise self._refusal(decision, "This client has made too many requests")
        return decision.headers()

    async def check_failures(self, kind: str, subject: str | None, address: str | None) -> None:
        """Before a secret of a sign-in of `kind` is checked: 429 when `subject` from this
        `address`, or anyone from it, has used up the failed attempts. A sign-in route calls
        this and `check_successes`, then `count_failure` or `count_success` by the outcome."""
        reason = f"Too many failed {self.sign_ins[kind].attempts}"
        await self._check(self._failure_buckets(kind, subject, address), reason)

    async def count_failure(self, kind: str, subject: str | None, address: str | None) -> None:
        for key, policy in self._failure_buckets(kind, subject, address):
            await self._take(key, policy, 1)

    async def delay_for(self, kind: str, subject: str, address: str | None) -> float:
        """Seconds to wait before answering `subject` from `address`: a step per failure counted
        there (refilled ones forgotten), capped."""
        limits = self.sign_ins[kind]
        if not limits.delay_per_failure_seconds or not limits.failures_per_subject:
            return 0.0
        [(key, policy), *_] = self._failure_buckets(kind, subject, address)
        decision = await self._take(key, policy, 0)
        if decision is None:
            return 0.0
        failures = max(0.0, policy.limit - decision.tokens)
        return min(failures * limits.delay_per_failure_seconds, limits.max_delay_seconds)

    async def may_audit_refusal(self, kind: str, subject: str, address: str | None) -> bool:
        """Whether an attempt refused while locked is audited (counted when it is)."""
        limits = self.sign_ins[kind]
        for key, policy in _buckets(
            kind, "refusals-audited", subject, limits.refusals_audited_per_subject,
            address, limits.refusals_audited_per_address, subject_at_address=True,
        ):
            decision = await self._take(key, policy, 1)
            if decision is not None and not decision.allowed:
                return False
        return True

    async def check_successes(self, kind: str, subject: str, address: str | None) -> None:
        """429 when `subject`, or `address`, has signed in as often as its limit allows."""
        reason = f"Too many {self.sign_ins[kind].attempts}"
        await self._check(self._success_buckets(kind, subject, address), reason)

    async def count_success(self, kind: str, subject: str, address: str | None) -> None:
        for key, policy in self._success_buckets(kind, subject, address):
            await self._take(key, policy, 1)

    async def _check(self, buckets: list[tuple[str, Policy]], reason: str) -> None:
        for key, policy in buckets:
            decision = await self._take(key, policy, 0)
            if decision is not None and not decision.allowed:
                raise self._refusal(decision, reason)

    def _failure_buckets(
        self, kind: str, subject: str | None, address: str | None
    ) -> list[tuple[str, Policy]]:
        limits = self.sign_ins[kind]
        return _buckets(
            kind, "failures", subject, limits.failures_per_subject,
            address, limits.failures_per_address, subject_at_address=True,
        )

    def _success_buckets(
        self, kind: str, subject: str, address: str | None
    ) -> list[tuple[str, Policy]]:
        limits = self.sign_ins[kind]
        return _buckets(
            kind, "successes", subject, limits.successes_per_subject,
            address, limits.successes_per_address, subject_at_address=False,
        )

    async def _take(self, key: str, policy: Policy, cost: int) -> Decision | None:
        """The store's decision, or None (fail open) while the store is failing."""
        if time.monotonic() < self._paused_until:
            STORE_FAILURES.inc()
            return None
        try:
            return await self.store.take(key, policy, cost)
        except (RedisError, OSError) as exc:
            self._paused_until = time.monotonic() + STORE_PAUSE_SECONDS
            STORE_FAILURES.inc()
            log.warning(
                "rate-limit store failed; serving without limits for now",
                extra={"error": f"{type(exc).__name__}: {exc}"},
            )
            return None

    @staticmethod
    def _refusal(decision: Decision, reason: str) -> "RateLimited":
        REJECTIONS.labels(decision.policy.name).inc()
        return RateLimited(
            429, f"{reason}; retry after the Retry-After delay.", kind="rate-limited",
            headers=decision.headers(),
        )
