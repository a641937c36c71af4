"""Treatment measures: each community episode, structured intervention and journey as the
measures need them (`services/journey/measures.py`), so that SQL counts them.

No date indexes: a period selects a large share of these rows, and scanning them is several
times faster than walking an index (benchmarks/measures.py).

Stores made before this version hold spans without the structured interventions and the local
authority, which cannot be recovered here: `measures_state.complete` is then false, and the
measures refuse to answer until `ndtms journeys rebuild` has replayed `ndtms.episodes.valid`.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "measure_episodes",
        sa.Column("client_key", sa.String(32), primary_key=True),
        sa.Column("provider_id", sa.String(40), primary_key=True),
        sa.Column("episode_id", sa.String(40), primary_key=True),
        sa.Column("local_authority", sa.String(16), nullable=False),
        sa.Column("referral_date", sa.Date(), nullable=False),
        sa.Column("first_structured_start", sa.Date(), nullable=True),
        sa.Column("wait_days", sa.Integer(), nullable=True),
        sa.Column("discharge_date", sa.Date(), nullable=True),
    )
    op.create_table(
        "measure_interventions",
        sa.Column("client_key", sa.String(32), primary_key=True),
        sa.Column("provider_id", sa.String(40), primary_key=True),
        sa.Column("episode_id", sa.String(40), primary_key=True),
        sa.Column("position", sa.Integer(), primary_key=True),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
    )
    op.create_table(
        "measure_journeys",
        sa.Column("client_key", sa.String(32), primary_key=True),
        sa.Column("journey_id", sa.String(100), primary_key=True),
        sa.Column("structured_start", sa.Date(), nullable=True),
        sa.Column("discharge_date", sa.Date(), nullable=True),
        sa.Column("discharge_reason", sa.String(60), nullable=True),
        sa.Column("provider_id", sa.String(40), nullable=False),
        sa.Column("local_authority", sa.String(16), nullable=False),
        sa.Column("next_start", sa.Date(), nullable=True),
        sa.Column("days_to_discharge", sa.Integer(), nullable=True),
        sa.Column("days_to_next", sa.Integer(), nullable=True),
    )
    state = op.create_table(
        "measures_state",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("complete", sa.Boolean(), nullable=False),
    )
    held = op.get_bind().execute(sa.text("SELECT COUNT(*) FROM episodes")).scalar_one()
    op.bulk_insert(state, [{"id": 1, "complete": held == 0}])


def downgrade() -> None:
    op.drop_table("measures_state")
    op.drop_table("measure_journeys")
    op.drop_table("measure_interventions")
    op.drop_table("measure_episodes")
