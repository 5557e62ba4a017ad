"""installation.federation_revision, moved by triggers on every federation write

The catalogue (factories, partitions, maintenance windows) is read on every submission and
changes rarely. Each process keeps it in memory and reloads it when this stamp differs from the
one it loaded with (see fabriek.federation.service.current_federation). Triggers rather than
application code set it, so a write from any path (a service, a seed script, plain SQL) is
seen. The stamp is unique, not a counter: a counter moved by a transaction that then rolled
back would be reused by the next write, and a process could keep what the rolled-back
transaction had read.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-21 23:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

TABLES = ("factories", "partitions", "maintenance_windows")


def upgrade() -> None:
    with op.batch_alter_table('installation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('federation_revision', sa.BigInteger(), nullable=False,
                                      server_default='0'))
    if op.get_bind().dialect.name == "postgresql":
        # txid_current(): the writing transaction's id, never handed out twice.
        op.execute("""
            CREATE FUNCTION fabriek_federation_changed() RETURNS trigger AS $$
            BEGIN
                UPDATE installation SET federation_revision = txid_current() WHERE id = 1;
                RETURN NULL;
            END $$ LANGUAGE plpgsql""")
        for table in TABLES:
            op.execute(f"""
                CREATE TRIGGER {table}_federation_changed
                AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}
                FOR EACH STATEMENT EXECUTE FUNCTION fabriek_federation_changed()""")
        return
    # SQLite: row-level triggers only; random() is 64 random bits.
    for table in TABLES:
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(f"""
                CREATE TRIGGER {table}_{event.lower()}_federation_changed
                AFTER {event} ON {table}
                BEGIN
                    UPDATE installation SET federation_revision = random() WHERE id = 1;
                END""")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER {table}_federation_changed ON {table}")
        op.execute("DROP FUNCTION fabriek_federation_changed()")
    else:
        for table in TABLES:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER {table}_{event}_federation_changed")
    with op.batch_alter_table('installation', schema=None) as batch_op:
        batch_op.drop_column('federation_revision')
