"""Find a person by one of their episodes: an index on (provider_id, episode_id).

Operators look a person up by the provider's own episode id (`ndtms journeys show --provider P
--episode E`); the primary key starts with the client key, so without this the lookup scans.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_episodes_provider_episode", "episodes", ["provider_id", "episode_id"])


def downgrade() -> None:
    op.drop_index("ix_episodes_provider_episode", table_name="episodes")
