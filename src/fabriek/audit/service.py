"""Record audit events in the caller's transaction; verify the chain.

Events are buffered on the session and chained in `before_commit`, after every other write of
the transaction, so the lock on the chain head is held only for the last moment of a
transaction and never while it waits on other rows (no lock-order deadlocks on PostgreSQL).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import bindparam, event, insert, select, text, update
from sqlalchemy.orm import Session

from fabriek.audit.chain import GENESIS, entry_hash, json_default, split_at_seq
from fabriek.audit.models import AuditEvent, AuditHead
from fabriek.audit.schemas import ChainReport
from fabriek.identity.principal import Principal
from fabriek.kit.clock import as_utc, utcnow

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


_HASHED = ("seq", "at", "actor_id", "actor", "action", "subject_type", "subject_id",
           "organisation_id", "from_state", "to_state", "reason", "data")


def _hashed_fields(e: AuditEvent | dict[str, Any]) -> dict[str, Any]:
    get = e.get if isinstance(e, dict) else lambda k: getattr(e, k)
    return {k: get(k) for k in _HASHED}


@event.listens_for(Session, "before_commit")
def _append_pending(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    # Everything else the transaction changed goes out first, so the chain head below is
    # locked only for the statements that append to it.
    session.flush()
    bind = session.get_bind()
    if bind.dialect.name == "postgresql" and _append_in_one_statement(session, pending):
        return
    _append_with_orm_lock(session, pending)


# PostgreSQL: the chain head is locked, the events are hashed and inserted, and the head is
# moved on in ONE statement, so the lock is held for that statement and the COMMIT after it:
# no Python (and no wait for the GIL) runs between taking the lock and sending the COMMIT.
# Python sends each entry's canonical JSON split around its sequence number; the database
# hashes prev_hash || before || seq || after exactly as `entry_hash` does, and Python checks
# the head it returns against its own arithmetic before the transaction may commit.
#
# Under READ COMMITTED, `FOR UPDATE` waits for the writer that holds the head and then reads
# the head that writer committed; the UPDATE below follows that same row version. Event ids
# are drawn inside the lock in seq order, so id order stays seq order, as verify_chain expects.
_APPEND_SQL = text("""
WITH RECURSIVE
head AS MATERIALIZED (
    SELECT seq, CAST(hash AS text) AS hash FROM audit_head WHERE id = 1 FOR UPDATE
),
ev AS MATERIALIZED (
    SELECT * FROM json_to_recordset(CAST(:events AS json)) AS e(
        i int, before text, after text, at timestamptz, actor_id int, actor text, action text,
        subject_type text, subject_id int, organisation_id int, from_state text,
        to_state text, reason text, data json)
),
chain (i, seq, prev_hash, hash) AS (
    SELECT 0, seq, CAST(NULL AS text), hash FROM head
    UNION ALL
    SELECT ev.i, chain.seq + 1, chain.hash,
           encode(sha256(convert_to(
               chain.hash || ev.before || CAST(chain.seq + 1 AS text) || ev.after, 'UTF8')),
               'hex')
    FROM chain JOIN ev ON ev.i = chain.i + 1
),
ins AS (
    INSERT INTO audit_events (seq, at, actor_id, actor, action, subject_type, subject_id,
                              organisation_id, from_state, to_state, reason, data,
                              prev_hash, hash)
    SELECT chain.seq, ev.at, ev.actor_id, ev.actor, ev.action, ev.subject_type, ev.subject_id,
           ev.organisation_id, ev.from_state, ev.to_state, ev.reason, ev.data,
           chain.prev_hash, chain.hash
    FROM chain JOIN ev ON ev.i = chain.i
    ORDER BY chain.seq
)
UPDATE audit_head SET seq = last.seq, hash = last.hash
FROM (SELECT seq, hash FROM chain ORDER BY i DESC LIMIT 1) AS last, head
WHERE audit_head.id = 1
RETURNING head.seq, head.hash, audit_head.seq, audit_head.hash
""")


def _append_in_one_statement(session: Session, pending: list[dict[str, Any]]) -> bool:
    """Append on PostgreSQL; False (nothing written) when the head row is missing."""
    rows, parts = [], []
    for i, fields in enumerate(pending, start=1):
        before, after = split_at_seq({k: fields[k] for k in _HASHED if k != "seq"})
        parts.append((before, after))
        rows.append({**fields, "i": i, "before": before, "after": after,
                     "at": as_utc(fields["at"]).isoformat()})
    result = session.execute(_APPEND_SQL, {"events": json.dumps(rows, default=json_default)}).all()
    if not result:
        return False
    start_seq, start_hash, end_seq, end_hash = result[0]
    seq, digest = start_seq, start_hash
    for before, after in parts:
        seq += 1
        digest = hashlib.sha256(f"{digest}{before}{seq}{after}".encode()).hexdigest()
    if (seq, digest) != (end_seq, end_hash):
        raise RuntimeError("the database chained the audit events differently from "
                           "fabriek.audit.chain; nothing was committed")
    return True


def _append_with_orm_lock(session: Session, pending: list[dict[str, Any]]) -> None:
    """Append on any backend: lock the head, hash in Python, insert, move the head.

    On SQLite the transaction already holds the database's write lock (BEGIN IMMEDIATE).
    """
    head = session.execute(_HEAD_FOR_UPDATE).first()
    if head is None:
        session.add(AuditHead(id=1, seq=0, hash=GENESIS))
        session.flush()
        seq, prev = 0, GENESIS
    else:
        seq, prev = head
    events = []
    for fields in pending:
        seq += 1
        fields["seq"] = seq
        digest = entry_hash(prev, _hashed_fields(fields))
        events.append({**fields, "prev_hash": prev, "hash": digest})
        prev = digest
    # Table statements (one executemany), not ORM bulk inserts, which split the batch by the
    # columns that happen to be None.
    conn = session.connection()
    conn.execute(_INSERT_EVENTS, events)
    conn.execute(_MOVE_HEAD, {"new_seq": seq, "new_hash": prev})


# Built once (every write transaction runs them): see identity.service._PRINCIPAL_BY_TOKEN.
_HEAD_FOR_UPDATE = (select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)
                    .with_for_update())
_INSERT_EVENTS = insert(AuditEvent.__table__)
_MOVE_HEAD = (update(AuditHead.__table__).where(AuditHead.__table__.c.id == 1)
              .values(seq=bindparam("new_seq"), hash=bindparam("new_hash")))


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
