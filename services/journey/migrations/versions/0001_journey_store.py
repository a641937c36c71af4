"""The journey store: episodes, consumed offsets, outbox, and the query read model.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "episodes",
        sa.Column("client_key", sa.String(32), primary_key=True),
        sa.Column("provider_id", sa.String(40), primary_key=True),
        sa.Column("episode_id", sa.String(40), primary_key=True),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("span", sa.JSON(), nullable=True),
    )
    op.create_table(
        "consumer_offsets",
        sa.Column("topic", sa.String(200), primary_key=True),
        sa.Column("partition", sa.Integer(), primary_key=True),
        sa.Column("next_offset", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("client_key", sa.String(32), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=True),
    )
    op.create_table(
        "people",
        sa.Column("client_key", sa.String(32), primary_key=True),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "journeys",
        sa.Column("client_key", sa.String(32), primary_key=True),
        sa.Column("journey_id", sa.String(100), primary_key=True),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("discharge_date", sa.Date(), nullable=True),
        sa.Column("discharge_reason", sa.String(60), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
    )
    op.create_index("ix_journeys_status_start", "journeys", ["status", "start_date"])
    op.create_table(
        "journey_providers",
        sa.Column("client_key", sa.String(32), primary_key=True),
        sa.Column("journey_id", sa.String(100), primary_key=True),
        sa.Column("provider_id", sa.String(40), primary_key=True),
    )
    op.create_index("ix_journey_providers_provider", "journey_providers", ["provider_id"])


def downgrade() -> None:
    for table in ("journey_providers", "journeys", "people", "outbox", "consumer_offsets", "episodes"):
        op.drop_table(table)
