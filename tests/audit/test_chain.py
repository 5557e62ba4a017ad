"""The audit log is hash-chained: any edit, deletion or cut-off tail is detected."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select, update

from fabriek.audit.models import AuditEvent, AuditHead
from fabriek.audit.service import record, verify_chain
from fabriek.identity.principal import SYSTEM

pytestmark = pytest.mark.integration


def _write(database, n: int) -> None:  # type: ignore[no-untyped-def]
    for i in range(n):
        with database.unit_of_work() as s:
            record(s, SYSTEM, "test.event", subject_type="thing", subject_id=i,
                   reason=f"event {i}", data={"i": i, "nested": {"ok": True}})


def _verify(database):  # type: ignore[no-untyped-def]
    with database.unit_of_work(readonly=True) as s:
        return verify_chain(s)


def test_verify_chain_intact(database):
    _write(database, 5)
    report = _verify(database)
    assert (report.ok, report.entries, report.head_seq, report.problems) == (True, 5, 5, [])


def test_record_in_a_rolled_back_transaction_leaves_no_entry(database):
    _write(database, 2)
    with pytest.raises(RuntimeError), database.unit_of_work() as s:
        record(s, SYSTEM, "test.event", subject_type="thing", subject_id=99)
        raise RuntimeError("the change failed")
    with database.unit_of_work(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == 2
    assert _verify(database).ok


@pytest.mark.parametrize(("column", "value"), [
    ("reason", "nothing to see"), ("actor", "someone-else"), ("data", {"i": 1, "forged": True}),
    ("to_state", "accepted")])
def test_verify_chain_detects_an_edit(database, column, value):
    _write(database, 4)
    with database.unit_of_work() as s:
        s.execute(update(AuditEvent).where(AuditEvent.seq == 2).values({column: value}))
    report = _verify(database)
    assert not report.ok
    assert report.problems == ["entry seq 2: content was changed after it was written"]


def test_verify_chain_detects_a_deletion_in_the_middle(database):
    _write(database, 4)
    with database.unit_of_work() as s:
        s.execute(delete(AuditEvent).where(AuditEvent.seq == 2))
    report = _verify(database)
    assert not report.ok
    assert any("sequence 3, expected 2" in p for p in report.problems)
    assert any("does not link" in p for p in report.problems)


def test_verify_chain_detects_a_cut_off_tail(database):
    _write(database, 4)
    with database.unit_of_work() as s:
        s.execute(delete(AuditEvent).where(AuditEvent.seq == 4))
    report = _verify(database)
    assert not report.ok
    assert any("chain head says seq 4" in p for p in report.problems)


def test_verify_chain_detects_a_rewritten_hash(database):
    _write(database, 3)
    with database.unit_of_work() as s:
        s.execute(update(AuditEvent).where(AuditEvent.seq == 3).values(hash="f" * 64))
        s.execute(update(AuditHead).values(hash="f" * 64))
    assert not _verify(database).ok


def test_concurrent_writers_keep_one_contiguous_chain(database):
    from concurrent.futures import ThreadPoolExecutor

    def work(i: int) -> None:
        with database.unit_of_work() as s:
            record(s, SYSTEM, "test.event", subject_type="thing", subject_id=i)
            record(s, SYSTEM, "test.event2", subject_type="thing", subject_id=i)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(40)))
    report = _verify(database)
    assert (report.ok, report.entries) == (True, 80)


def test_split_at_seq_rebuilds_the_canonical_json():
    from datetime import UTC, datetime

    from fabriek.audit.chain import canonical, split_at_seq

    fields = {"at": datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC), "actor": "a\"seq\":1",
              "reason": "é \u2028", "data": {"seq": 7, "nested": [1, "seq"]}, "subject_id": 3}
    before, after = split_at_seq(fields)
    assert before + "12345" + after == canonical({**fields, "seq": 12345})
