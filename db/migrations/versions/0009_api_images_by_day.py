"""The period's API images that admit each API job on a plan refusing use past its included images, without
reading every usage record of the period: an account's API images per UTC day (api_images_by_day, filled here
from the records so far, then added to with each record), and an index that holds what the period's first,
partial day is summed from (user_id, product, created_at, images).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_index(op.f("ix_usage_records_user_id_product_created_at_images"), "usage_records",
                    ["user_id", "product", "created_at", "images"])
    op.create_table(
        "api_images_by_day",
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("images", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "day", name=op.f("pk_api_images_by_day")),
    )
    records = sa.table("usage_records", sa.column("user_id", sa.String), sa.column("product", sa.String),
                       sa.column("images", sa.Integer), sa.column("created_at", TIMESTAMP))
    # The UTC day of each record: PostgreSQL keeps an instant, SQLite the naive UTC time as text.
    if op.get_bind().dialect.name == "postgresql":
        day = sa.func.date(sa.func.timezone("UTC", records.c.created_at))
    else:
        day = sa.func.date(records.c.created_at)
    days = sa.table("api_images_by_day", sa.column("user_id", sa.String), sa.column("day", sa.Date),
                    sa.column("images", sa.Integer))
    totals = (sa.select(records.c.user_id, day, sa.func.sum(records.c.images))
              .where(records.c.product == "api", records.c.user_id.is_not(None), records.c.images > 0)
              .group_by(records.c.user_id, day))
    op.execute(days.insert().from_select(["user_id", "day", "images"], totals))


def downgrade() -> None:
    op.drop_table("api_images_by_day")
    op.drop_index(op.f("ix_usage_records_user_id_product_created_at_images"), table_name="usage_records")
