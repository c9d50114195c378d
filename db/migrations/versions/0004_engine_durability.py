"""Jobs count how often their ComfyUI prompt was queued again after a server lost it, and keep what starting
their workflow takes until they end (an outbox in the row), so a start a crash cut short is finished later.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# Migrations do not import the models (they change); this is the models' JSON type as of this revision.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("prompt_requeues", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("start_payload", JSON, nullable=True))
    op.create_index("ix_jobs_awaiting_start", "jobs", ["created_at"],
                    postgresql_where=sa.text("start_payload IS NOT NULL"),
                    sqlite_where=sa.text("start_payload IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_jobs_awaiting_start", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("start_payload")
        batch.drop_column("prompt_requeues")
