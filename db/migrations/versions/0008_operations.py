"""Operations at scale: per-key request rates and job admissions shared by every API replica, and ComfyUI slot
leases shared by every comfy worker.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-14
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "rate_limit_buckets",
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("allowed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_rate_limit_buckets")),
    )
    op.create_table(
        "job_admissions",
        sa.Column("job_id", sa.String(36), nullable=False),
        sa.Column("api_key_id", sa.String(64), nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_job_admissions")),
    )
    op.create_index(op.f("ix_job_admissions_api_key_id"), "job_admissions", ["api_key_id"])
    op.create_table(
        "comfy_slot_leases",
        sa.Column("job_id", sa.String(36), nullable=False),
        sa.Column("backend", sa.String(512), nullable=False),
        sa.Column("worker", sa.String(255), nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_comfy_slot_leases")),
    )
    op.create_index(op.f("ix_comfy_slot_leases_backend_expires_at"), "comfy_slot_leases", ["backend", "expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_comfy_slot_leases_backend_expires_at"), table_name="comfy_slot_leases")
    op.drop_table("comfy_slot_leases")
    op.drop_index(op.f("ix_job_admissions_api_key_id"), table_name="job_admissions")
    op.drop_table("job_admissions")
    op.drop_table("rate_limit_buckets")
