"""The creator's settings page: which emails they get (users.email_notices: per_batch, daily_digest or off), the
values of their preset's parameters (drive_watches.preset_params) and the name of the folder edited photos go to
(drive_watches.output_folder_name; None: DRIVE_OUTPUT_FOLDER_NAME).

Revision ID: 0012
Revises: 0009
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("email_notices", sa.String(16), nullable=False, server_default="per_batch"))
    with op.batch_alter_table("drive_watches") as batch:
        batch.add_column(sa.Column("preset_params", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True))
        batch.add_column(sa.Column("output_folder_name", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("drive_watches") as batch:
        batch.drop_column("output_folder_name")
        batch.drop_column("preset_params")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("email_notices")
