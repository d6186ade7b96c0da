"""The one retry policy for the service's HTTP API: ``mri-client``, the library and the gateway.

**What is tried again**: a request that got no answer (connection refused or reset, a timeout) and
the answers of :data:`RETRY_STATUSES`: 503 (the service is loading its models, or is overloaded: its
queue or its memory budget is full; it says when with ``Retry-After``), 429 (rate limited), 502
and 504 (a proxy or load balancer in front of a service that is restarting or slow). Everything
else is final: a 4xx refuses this request and would refuse it again, and a 500 is the service's
answer to an unexpected error (a defect), which the same request would meet again: trying it again
would only delay the failure (for the gateway, by its whole retry horizon).

**When**: :func:`delay_s`, ``backoff * 2**attempt`` seconds (attempt 0: the first retry), at most
``max_backoff``, and never sooner than the service's ``Retry-After`` (asking earlier would only get
another 503). The library adds up to 10% of jitter so that concurrent requests do not come back
together; the gateway retries a job later from its job store (``MRI_GATEWAY_BACKOFF_S``,
``MRI_GATEWAY_BACKOFF_MAX_S``) with the same rule.
"""

from __future__ import annotations

from datetime import datetime, timezone  # not datetime.UTC: the client runs on Python 3.9
from email.utils import parsedate_to_datetime

#: Answers tried again (module docstring); no answer at all is tried again too.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: The library's and ``mri-client``'s defaults: retries after the first try, first delay, longest delay.
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF_S = 0.5
DEFAULT_MAX_BACKOFF_S = 30.0


def retryable(status_code: int | None) -> bool:
    """Whether a request that ended with ``status_code`` (None: no answer) is worth trying again."""
    return status_code is None or status_code in RETRY_STATUSES


def retry_after_s(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (delay-seconds or an HTTP date); None when
    absent or unreadable."""
    if not value or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)  # noqa: UP017
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())  # noqa: UP017


def delay_s(attempt: int, backoff: float, max_backoff: float, retry_after: float | None = None) -> float:
    """Seconds to wait before retry ``attempt`` (0 first): ``backoff * 2**attempt`` capped at
    ``max_backoff``, at least ``retry_after``."""
    return max(min(max_backoff, backoff * 2**attempt), retry_after or 0.0)
