"""allocation sites, the capacity ledger, site health; proposal languages

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 19:00:00
"""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa
from alembic import op

import fabriek.db.base

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def _weeks(start: date, end: date) -> list[date]:
    week, out = start - timedelta(days=start.weekday()), []
    while week <= end:
        out.append(week)
        week += timedelta(days=7)
    return out


def upgrade() -> None:
    op.create_table('allocation_sites',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('allocation_id', sa.Integer(), nullable=False),
    sa.Column('factory', sa.String(length=60), nullable=False),
    sa.Column('partition', sa.String(length=60), nullable=False),
    sa.Column('gpu_hours_committed', sa.Float(), nullable=False),
    sa.Column('committed_from', sa.Date(), nullable=False),
    sa.Column('home', sa.Boolean(), nullable=False),
    sa.Column('provisioned_at', fabriek.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', fabriek.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['allocation_id'], ['allocations.id'], name=op.f('fk_allocation_sites_allocation_id_allocations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_allocation_sites')),
    sa.UniqueConstraint('allocation_id', 'factory', 'partition', name=op.f('uq_allocation_sites_allocation_id'))
    )
    with op.batch_alter_table('allocation_sites', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_allocation_sites_allocation_id'), ['allocation_id'], unique=False)
    op.create_table('capacity_ledger',
    sa.Column('factory', sa.String(length=60), nullable=False),
    sa.Column('partition', sa.String(length=60), nullable=False),
    sa.Column('week', sa.Date(), nullable=False),
    sa.Column('committed_gpu_hours', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('factory', 'partition', 'week', name=op.f('pk_capacity_ledger'))
    )
    op.create_table('site_health',
    sa.Column('factory', sa.String(length=60), nullable=False),
    sa.Column('partition', sa.String(length=60), nullable=False),
    sa.Column('reachable', sa.Boolean(), nullable=False),
    sa.Column('checked_at', fabriek.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('since', fabriek.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('factory', 'partition', name=op.f('pk_site_health'))
    )
    with op.batch_alter_table('allocations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('placement_reason', sa.Text(), nullable=False, server_default=''))
    with op.batch_alter_table('proposals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('languages', sa.JSON(), nullable=False, server_default='[]'))

    # Existing allocations: their one partition becomes their home site, and what they hold
    # goes into the ledger, spread over their days as new ones are.
    bind = op.get_bind()
    allocations = bind.execute(sa.text(
        "SELECT id, factory, partition, gpu_hours, start_on, end_on, state, provisioned_at, "
        "closed_at FROM allocations")).all()
    ledger: dict[tuple[str, str, date], float] = {}
    for a in allocations:
        holds = a.state in ('scheduled', 'active')
        bind.execute(sa.text(
            "INSERT INTO allocation_sites (allocation_id, factory, partition, "
            "gpu_hours_committed, committed_from, home, provisioned_at, closed_at) "
            "VALUES (:a, :f, :p, :h, :cf, :t, :pa, :ca)"),
            {"a": a.id, "f": a.factory, "p": a.partition, "cf": a.start_on,
             "h": float(a.gpu_hours) if holds else 0.0, "t": True, "pa": a.provisioned_at,
             "ca": a.closed_at})
        if not holds:
            continue
        start = a.start_on if isinstance(a.start_on, date) else date.fromisoformat(a.start_on)
        end = a.end_on if isinstance(a.end_on, date) else date.fromisoformat(a.end_on)
        days = (end - start).days + 1
        for week in _weeks(start, end):
            first, last = max(start, week), min(end, week + timedelta(days=6))
            share = a.gpu_hours * ((last - first).days + 1) / days
            key = (a.factory, a.partition, week)
            ledger[key] = ledger.get(key, 0.0) + share
    for (factory, partition, week), hours in ledger.items():
        bind.execute(sa.text(
            "INSERT INTO capacity_ledger (factory, partition, week, committed_gpu_hours) "
            "VALUES (:f, :p, :w, :h)"), {"f": factory, "p": partition, "w": week, "h": hours})
    # Set-up at the scheduler is per site now.
    with op.batch_alter_table('allocations', schema=None) as batch_op:
        batch_op.drop_column('closed_at')
        batch_op.drop_column('provisioned_at')


def downgrade() -> None:
    with op.batch_alter_table('allocations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('provisioned_at', fabriek.db.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('closed_at', fabriek.db.base.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('proposals', schema=None) as batch_op:
        batch_op.drop_column('languages')
    with op.batch_alter_table('allocations', schema=None) as batch_op:
        batch_op.drop_column('placement_reason')
    op.drop_table('site_health')
    with op.batch_alter_table('allocation_sites', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_allocation_sites_allocation_id'))
    op.drop_table('allocation_sites')
    op.drop_table('capacity_ledger')
