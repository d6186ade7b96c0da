"""Job states and the transitions allowed between them: one table, enforced by the job store.

=============  ==========================================================================
state          meaning
=============  ==========================================================================
receiving      instances of the series are arriving (C-STORE)
queued         waiting for a worker: the study is quiet, or a pulled series, or a retry or
               a wait for missing instances (``next_try_at``)
running        a worker is carrying it (``phase`` says where)
sent           its SEG and SR are stored at the destination
failed         it cannot be carried, with the reason (retried on request)
skipped        not analysed, with the reason (not FLAIR, not a brain MR, a pre- or
               post-contrast input, already analysed with the same instances)
superseded     sent, then the series changed and a later job analysed it again
=============  ==========================================================================

:data:`TRANSITIONS` maps each state to the states a job may move to from it; a new job starts
``receiving`` (received) or ``queued`` (pulled). :func:`sources` gives, for a target state, the
states it may be reached from: the store's updates are ``... WHERE state IN sources(target)``, so
a move the table does not allow changes nothing and raises :class:`InvalidTransition`.
"""

from __future__ import annotations

RECEIVING, QUEUED, RUNNING = "receiving", "queued", "running"
SENT, FAILED, SKIPPED, SUPERSEDED = "sent", "failed", "skipped", "superseded"
STATES = (RECEIVING, QUEUED, RUNNING, SENT, FAILED, SKIPPED, SUPERSEDED)
#: States a job ends in (kept until the retention time).
FINISHED = (SENT, FAILED, SKIPPED, SUPERSEDED)
#: States a new job starts in.
INITIAL = (RECEIVING, QUEUED)

TRANSITIONS: dict[str, frozenset[str]] = {
    RECEIVING: frozenset({QUEUED}),  # the study is quiet
    QUEUED: frozenset({RECEIVING, RUNNING}),  # an instance arrived before analysis; a worker claims it
    RUNNING: frozenset({QUEUED, SENT, FAILED, SKIPPED}),  # retry, wait or interrupted; the outcomes
    SENT: frozenset({SUPERSEDED}),  # a changed series was analysed and sent again
    FAILED: frozenset({QUEUED}),  # retried (one job, or a re-drive)
    SKIPPED: frozenset(),
    SUPERSEDED: frozenset(),
}
#: Why a transition happens, as docs/integration.md shows the table (tests/gateway check both).
WHY = {
    (RECEIVING, QUEUED): "no instance of its study arrived for MRI_GATEWAY_STABLE_S",
    (QUEUED, RECEIVING): "an instance of the series arrived before it was analysed",
    (QUEUED, RUNNING): "a worker claims it (oldest due first)",
    (RUNNING, QUEUED): "service, destination or server unavailable; instances missing; the gateway stopped",
    (RUNNING, SENT): "SEG and SR stored at the destination",
    (RUNNING, FAILED): "a refusal that a retry would not change; retry horizon or wait passed; "
    "the gateway stopped twice while running it",
    (RUNNING, SKIPPED): "not analysed (the reason says why)",
    (SENT, SUPERSEDED): "the series changed and a later job sent new results",
    (FAILED, QUEUED): "POST /jobs/{id}/retry, POST /jobs/retry or python -m gateway retry",
}


class InvalidTransition(ValueError):
    """A state change the table does not allow (or a job that is not where the caller thought)."""


def sources(target: str) -> tuple[str, ...]:
    """The states from which a job may move to ``target``."""
    if target not in TRANSITIONS:
        raise InvalidTransition(f"no state {target!r}")
    return tuple(state for state, targets in TRANSITIONS.items() if target in targets)
