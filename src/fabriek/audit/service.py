"""Record audit events in the caller's transaction; verify the chain.

Events are buffered on the session and chained in `before_commit`, after every other write of
the transaction, so the lock on the chain head is held only for the last moment of a
transaction and never while it waits on other rows (no lock-order deadlocks on PostgreSQL).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from fabriek.audit.chain import GENESIS, entry_hash
from fabriek.audit.models import AuditEvent, AuditHead
from fabriek.audit.schemas import ChainReport
from fabriek.identity.principal import Principal
from fabriek.kit.clock import utcnow

_PENDING = "fabriek_audit_pending"


def record(
    session: Session,
    principal: Principal,
    action: str,
    *,
    subject_type: str,
    subject_id: int,
    organisation_id: int | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
    reason: str = "",
    data: dict[str, Any] | None = None,
) -> None:
    """Queue one event; it is written, chained, in the same transaction as the change."""
    session.info.setdefault(_PENDING, []).append(
        {
            "at": utcnow(),
            "actor_id": principal.user_id,
            "actor": principal.label,
            "action": action,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "organisation_id": organisation_id,
            "from_state": from_state,
            "to_state": to_state,
            "reason": reason,
            "data": data or {},
        }
    )


def _hashed_fields(e: AuditEvent | dict[str, Any]) -> dict[str, Any]:
    get = e.get if isinstance(e, dict) else lambda k: getattr(e, k)
    keys = ("seq", "at", "actor_id", "actor", "action", "subject_type", "subject_id",
            "organisation_id", "from_state", "to_state", "reason", "data")
    return {k: get(k) for k in keys}


@event.listens_for(Session, "before_commit")
def _append_pending(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    # Everything else the transaction changed goes out first, so the chain head below is
    # locked only for the few statements that append to it.
    session.flush()
    head = session.execute(
        select(AuditHead).where(AuditHead.id == 1).with_for_update()
    ).scalar_one_or_none()
    if head is None:
        head = AuditHead(id=1, seq=0, hash=GENESIS)
        session.add(head)
    for fields in pending:
        fields["seq"] = head.seq + 1
        digest = entry_hash(head.hash, _hashed_fields(fields))
        session.add(AuditEvent(**fields, prev_hash=head.hash, hash=digest))
        head.seq, head.hash = fields["seq"], digest
    session.flush()


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


def verify_chain(session: Session, *, batch: int = 5000) -> ChainReport:
    """Walk the whole log: recompute every hash, check links, contiguity and the head."""
    problems: list[str] = []
    prev_hash, expected_seq, count = GENESIS, 1, 0
    last_id = 0
    while True:
        rows = session.execute(
            select(AuditEvent).where(AuditEvent.id > last_id).order_by(AuditEvent.id).limit(batch)
        ).scalars().all()
        if not rows:
            break
        for e in rows:
            count += 1
            if e.seq != expected_seq:
                problems.append(f"entry id {e.id}: sequence {e.seq}, expected {expected_seq} "
                                "(an entry was deleted or inserted)")
            if e.prev_hash != prev_hash:
                problems.append(f"entry seq {e.seq}: does not link to the entry before it")
            if entry_hash(e.prev_hash, _hashed_fields(e)) != e.hash:
                problems.append(f"entry seq {e.seq}: content was changed after it was written")
            prev_hash, expected_seq = e.hash, e.seq + 1
            last_id = e.id
        session.expunge_all()
    head = session.get(AuditHead, 1)
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS)
    if head_seq != expected_seq - 1 or head_hash != prev_hash:
        problems.append(f"chain head says seq {head_seq}, the log ends at {expected_seq - 1} "
                        "(entries at the end were deleted, or the head was edited)")
    return ChainReport(ok=not problems, entries=count, head_seq=head_seq, head_hash=head_hash,
                       problems=problems)
