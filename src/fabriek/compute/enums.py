"""States of a job on the platform; imports nothing else from fabriek."""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    pending_submit = "pending-submit"  # admitted; a worker hands it to the executor
    queued = "queued"  # the scheduler has it and waits for resources
    running = "running"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"
    timeout = "timeout"

    @classmethod
    def active_states(cls) -> frozenset[JobState]:
        """Jobs whose worst case still counts against their allocation."""
        return frozenset({cls.pending_submit, cls.queued, cls.running})

    @classmethod
    def final_states(cls) -> frozenset[JobState]:
        return frozenset({cls.completed, cls.failed, cls.cancelled, cls.timeout})


class ExternalState(StrEnum):
    """What an executor reports, mapped from its own vocabulary."""

    queued = "queued"
    running = "running"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"
    timeout = "timeout"
    preempted = "preempted"  # stopped for a higher class and put back in the queue
