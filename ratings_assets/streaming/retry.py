"""Writing a micro-batch again when a Cassandra node went away under it.

Rows are upserts by primary key, so writing a batch twice stores it once: a
write that failed because a node died, restarted or was shutting down (a
driver error, or the connector giving up a task) is tried again after a short
pause, while the ring's other replicas take over. Anything else fails the
batch at once, as before.

Only with several Cassandra hosts: a lone node that is down has no replica to
take over, so the job fails instead and its supervisor starts it again, as it
always did.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
ATTEMPTS = 4
FIRST_PAUSE_S = 2.0
# What the Java side says when the ring, not the data, failed: the DataStax driver's exceptions, and the
# connector's own "Failed to write statements" once a task's writes failed (the driver's error is its cause).
TRANSIENT_MARKERS = ("com.datastax.oss.driver.api.core.", "com.datastax.oss.driver.internal.core.",
                     "Failed to write statements to")


def write_attempts(hosts: str) -> int:
    """How many times a batch write may run: ATTEMPTS with several contact points, once with one."""
    return ATTEMPTS if len([h for h in hosts.split(",") if h.strip()]) > 1 else 1


def is_transient(error: BaseException) -> bool:
    """True for an error that a node going away explains (seen in the error's text, Java stack included)."""
    text = str(error)
    return any(marker in text for marker in TRANSIENT_MARKERS)


def with_retries(action: Callable[[], T], what: str, attempts: int = ATTEMPTS, first_pause_s: float = FIRST_PAUSE_S,
                 transient: Callable[[BaseException], bool] = is_transient,
                 sleep: Callable[[float], None] = time.sleep, before_retry: Callable[[], None] = lambda: None) -> T:
    """Run `action`; on a transient error, `before_retry()` and again after 2, 4, 8 s, up to `attempts` runs."""
    pause = first_pause_s
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except Exception as exc:
            if attempt == attempts or not transient(exc):
                raise
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            log.warning("%s failed (attempt %d of %d), trying again in %.0f s: %s", what, attempt, attempts, pause,
                        first_line[:300])
            sleep(pause)
            before_retry()
            pause *= 2
    raise AssertionError("unreachable")
