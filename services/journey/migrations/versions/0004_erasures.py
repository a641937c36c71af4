"""Erasures: the people erased at their objection, and an outbox that can write to any topic.

`erasures` is the store's copy of the ledger `ndtms.erasures` (which entries it has applied,
up to which offset): kept through every rebuild, so that no replay of `ndtms.episodes.valid`
brings an erased person back. `outbox.topic` lets an erasure's receipt (on `ndtms.audit`)
go out exactly once with the journeys tombstone; NULL means `ndtms.journeys`, as before.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "erasures",
        sa.Column("client_key", sa.String(32), primary_key=True),
        sa.Column("ledger_offset", sa.BigInteger(), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("topic", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_column("topic")
    op.drop_table("erasures")
