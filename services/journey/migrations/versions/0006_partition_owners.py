"""Partition-owned journey instances: an owner and epoch per input partition, outbox by partition.

`journey_partitions` has a row per partition of `ndtms.episodes.valid`: the epoch its latest
owner claimed it with, who that is, and the next erasure-ledger offset not yet swept for that
partition's people. `outbox.partition` is the partition a publication belongs to (its person's),
so each owner publishes its own; rows older than the column get theirs at the next start.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "journey_partitions",
        sa.Column("partition", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("owner", sa.String(100), nullable=True),
        sa.Column("erasure_position", sa.BigInteger(), nullable=False),
    )
    with op.batch_alter_table("outbox", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.add_column(sa.Column("partition", sa.Integer(), nullable=True))
        batch.create_index("ix_outbox_partition_id", ["partition", "id"])


def downgrade() -> None:
    with op.batch_alter_table("outbox", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_index("ix_outbox_partition_id")
        batch.drop_column("partition")
    op.drop_table("journey_partitions")
