"""Fleet scheduling: the registry of what each ComfyUI backend can run (comfy_backends), the jobs waiting for a
slot (comfy_slot_waiters), and on each job its queue wait and whether its backend had to load a model.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "comfy_backends",
        sa.Column("url", sa.String(512), nullable=False),
        sa.Column("task_queue", sa.String(255), nullable=False),
        sa.Column("up", sa.Boolean(), nullable=False),
        sa.Column("version", sa.String(64), nullable=True),
        sa.Column("node_classes", JSON, nullable=False),
        sa.Column("models", JSON, nullable=False),
        sa.Column("loaded_checkpoint", sa.String(512), nullable=True),
        sa.Column("refreshed_at", TIMESTAMP, nullable=True),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("url", name=op.f("pk_comfy_backends")),
    )
    op.create_table(
        "comfy_slot_waiters",
        sa.Column("job_id", sa.String(36), nullable=False),
        sa.Column("backends", JSON, nullable=False),
        sa.Column("checkpoint", sa.String(512), nullable=True),
        sa.Column("since", TIMESTAMP, nullable=False),
        sa.Column("passed_at", TIMESTAMP, nullable=True),
        sa.Column("seen_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_comfy_slot_waiters")),
    )
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("queue_wait_ms", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("model_load", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("model_load")
        batch.drop_column("queue_wait_ms")
    op.drop_table("comfy_slot_waiters")
    op.drop_table("comfy_backends")
