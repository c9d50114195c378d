"""Creator product under faults: a file version's edition (its output's name apart from its other versions'),
the `waiting` status of photos caught by a revoked grant, and email attempts recorded before sending.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
OLD_FILE_STATUSES = "status IN ('processing', 'succeeded', 'failed', 'skipped')"
FILE_STATUSES = "status IN ('processing', 'succeeded', 'failed', 'skipped', 'waiting')"


def upgrade() -> None:
    # Batch mode: SQLite alters a table by copying it, which also replaces its CHECK constraint.
    with op.batch_alter_table("drive_files") as batch:
        batch.add_column(sa.Column("edition", sa.Integer(), nullable=True))
        batch.create_unique_constraint(op.f("uq_drive_files_user_id_file_id_edition"),
                                       ["user_id", "file_id", "edition"])
        batch.drop_constraint(op.f("ck_drive_files_status"), type_="check")
        batch.create_check_constraint(op.f("ck_drive_files_status"), FILE_STATUSES)
    # Rows written before attempts were recorded are emails the SMTP server accepted.
    with op.batch_alter_table("sent_emails") as batch:
        batch.add_column(sa.Column("status", sa.String(16), nullable=False, server_default="sent"))
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("last_attempt_at", TIMESTAMP, nullable=True))
        batch.alter_column("sent_at", existing_type=TIMESTAMP, nullable=True)
        batch.create_check_constraint(op.f("ck_sent_emails_status"), "status IN ('sending', 'not_sent', 'sent')")


def downgrade() -> None:
    op.execute("DELETE FROM sent_emails WHERE status != 'sent'")
    with op.batch_alter_table("sent_emails") as batch:
        batch.drop_constraint(op.f("ck_sent_emails_status"), type_="check")
        batch.alter_column("sent_at", existing_type=TIMESTAMP, nullable=False)
        batch.drop_column("last_attempt_at")
        batch.drop_column("attempts")
        batch.drop_column("status")
    op.execute("UPDATE drive_files SET status = 'processing' WHERE status = 'waiting'")
    with op.batch_alter_table("drive_files") as batch:
        batch.drop_constraint(op.f("ck_drive_files_status"), type_="check")
        batch.create_check_constraint(op.f("ck_drive_files_status"), OLD_FILE_STATUSES)
        batch.drop_constraint(op.f("uq_drive_files_user_id_file_id_edition"), type_="unique")
        batch.drop_column("edition")
