"""Creator photos against the month's quota: when a version was admitted (admitted_at), the `waiting_for_quota`
status of versions past it, and the Drive revision a waiting version is edited from later. Versions edited before
quotas count from when they were recorded.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
OLD_FILE_STATUSES = "status IN ('processing', 'succeeded', 'failed', 'skipped', 'waiting')"
FILE_STATUSES = "status IN ('processing', 'succeeded', 'failed', 'skipped', 'waiting', 'waiting_for_quota')"


def upgrade() -> None:
    # Batch mode: SQLite alters a table by copying it, which also replaces its CHECK constraint.
    with op.batch_alter_table("drive_files") as batch:
        batch.add_column(sa.Column("admitted_at", TIMESTAMP, nullable=True))
        batch.add_column(sa.Column("revision", sa.String(256), nullable=True))
        batch.create_index(op.f("ix_drive_files_user_id_admitted_at"), ["user_id", "admitted_at"])
        batch.alter_column("status", existing_type=sa.String(16), type_=sa.String(24), existing_nullable=False)
        batch.drop_constraint(op.f("ck_drive_files_status"), type_="check")
        batch.create_check_constraint(op.f("ck_drive_files_status"), FILE_STATUSES)
    files = sa.table("drive_files", sa.column("admitted_at", TIMESTAMP), sa.column("created_at", TIMESTAMP),
                     sa.column("job_id", sa.String))
    op.execute(files.update().where(files.c.job_id.is_not(None)).values(admitted_at=files.c.created_at))


def downgrade() -> None:
    files = sa.table("drive_files", sa.column("status", sa.String))
    op.execute(files.update().where(files.c.status == "waiting_for_quota").values(status="waiting"))
    with op.batch_alter_table("drive_files") as batch:
        batch.drop_constraint(op.f("ck_drive_files_status"), type_="check")
        batch.create_check_constraint(op.f("ck_drive_files_status"), OLD_FILE_STATUSES)
        batch.alter_column("status", existing_type=sa.String(24), type_=sa.String(16), existing_nullable=False)
        batch.drop_index(op.f("ix_drive_files_user_id_admitted_at"))
        batch.drop_column("revision")
        batch.drop_column("admitted_at")
