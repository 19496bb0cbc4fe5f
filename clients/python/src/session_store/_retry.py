"""The retry layer: which failures a call is sent again for, and how often.

A call is retried only when its connection failed (``connection_lost``), never
for an answer of the server, and only when the store owns the choice of
connection (a DSN or a pool): on a connection the caller passed in the call
may be part of the caller's transaction, and a dead connection cannot be
retried on.  What makes sending a write again safe is chosen by the method
before the first attempt (an idempotency key, a session id) and sent with
every attempt; this module only counts attempts and time.
"""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from time import monotonic
from typing import Any, Optional, Union

from ._errors import ConnectionLost, connection_lost, translate

logger = logging.getLogger("session_store")


@dataclass(frozen=True)
class RetryPolicy:
    """How a call whose connection failed is sent again: at most
    ``max_attempts`` attempts in all, none started later than ``max_elapsed``
    seconds after the first; before attempt n+1 a pause drawn uniformly from
    0 to min(max_delay, base_delay * 2**(n-1)) seconds ("full jitter")."""
    max_attempts: int = 10
    max_elapsed: float = 30.0
    base_delay: float = 0.05
    max_delay: float = 5.0

    def __post_init__(self):
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.max_elapsed <= 0 or self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("max_elapsed must be positive, the delays not negative")

    def delay(self, attempt: int) -> float:
        """The pause after failed attempt number ``attempt`` (1-based)."""
        return random.uniform(0, min(self.max_delay,
                                     self.base_delay * 2 ** (attempt - 1)))


def policy_of(retry: Union[RetryPolicy, bool, None]) -> Optional[RetryPolicy]:
    """The store's policy from its ``retry`` argument: True is the default
    policy, False or None no retries."""
    if retry is True:
        return RetryPolicy()
    if retry is False or retry is None:
        return None
    if isinstance(retry, RetryPolicy):
        return retry
    raise TypeError("retry takes a RetryPolicy, True or False")


class Attempts:
    """The budget of one call: made before its first attempt, asked after
    each failed one whether and when to try again."""
    __slots__ = ("policy", "start", "number")

    def __init__(self, policy: Optional[RetryPolicy]):
        self.policy = policy
        self.start = monotonic()
        self.number = 1

    def wait_limit(self, pool_timeout: float) -> float:
        """How long this attempt may wait for a pooled connection: the
        pool's own timeout, cut to what is left of the budget."""
        if self.policy is None:
            return pool_timeout
        left = self.policy.max_elapsed - (monotonic() - self.start)
        return max(0.001, min(pool_timeout, left))

    def pause_after(self, err: Exception, name: str) -> float:
        """The pause before the next attempt after err; raises instead when
        err is not retried (the server's answer, translated) or the budget
        is spent (ConnectionLost)."""
        policy = self.policy
        if policy is None or not connection_lost(err):
            _raise(err)
        delay = policy.delay(self.number)
        elapsed = monotonic() - self.start
        if self.number >= policy.max_attempts or elapsed + delay >= policy.max_elapsed:
            raise ConnectionLost(
                f"the connection failed on each of {self.number} attempts of "
                f"{name}, over {elapsed:.1f} s: the outcome of the call is unknown",
                cause=err, attempts=self.number) from err
        logger.info("session_store: %s: attempt %d failed (%s), retrying in %.3f s",
                    name, self.number, str(err).strip().split("\n", 1)[0], delay)
        self.number += 1
        return delay


_OLD_SERVER_HINT = (
    "The database's session_store is older than 1.2, which this call's "
    "idempotency_key needs (with retries on, the client sends one): run "
    "ALTER EXTENSION session_store UPDATE, or make the store with retry=False.")


def _raise(err: Exception) -> Any:
    out = translate(err) if hasattr(err, "sqlstate") else err
    if out is err:
        raise err
    if out.sqlstate == "42883" and "idempotency_key =>" in out.message:
        out.hint = _OLD_SERVER_HINT
    raise out from err
