"""Billing: accounts own API keys (keys made before get a placeholder account an operator can reassign), a Stripe
customer per account, subscriptions as last read from Stripe, the inbox of Stripe events, and the meter reports
of API jobs billed by use.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
# The account API keys made before accounts existed belong to; `comfy-platform keys reassign` moves them.
PLACEHOLDER_ACCOUNT_ID = "00000000000000000000000000000000"
PLACEHOLDER_EMAIL = "unassigned-keys@accounts.invalid"


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.alter_column("subject", existing_type=sa.String(255), nullable=True)
        batch.add_column(sa.Column("stripe_customer_id", sa.String(64), nullable=True))
        batch.create_unique_constraint(op.f("uq_users_stripe_customer_id"), ["stripe_customer_id"])
        batch.create_index(op.f("ix_users_email"), ["email"])

    keys = sa.table("api_keys", sa.column("id", sa.String))
    has_keys = op.get_bind().execute(sa.select(sa.func.count()).select_from(keys)).scalar()
    if has_keys:
        users = sa.table("users", sa.column("id", sa.String), sa.column("email", sa.String),
                         sa.column("name", sa.String), sa.column("drive_status", sa.String),
                         sa.column("created_at", TIMESTAMP))
        op.execute(users.insert().values(id=PLACEHOLDER_ACCOUNT_ID, email=PLACEHOLDER_EMAIL,
                                         name="Keys made before accounts (reassign them)",
                                         drive_status="not_connected", created_at=datetime.now(UTC)))
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("account_id", sa.String(36), nullable=True))
    if has_keys:
        op.execute(f"UPDATE api_keys SET account_id = '{PLACEHOLDER_ACCOUNT_ID}'")
    with op.batch_alter_table("api_keys") as batch:
        batch.alter_column("account_id", existing_type=sa.String(36), nullable=False)
        batch.create_foreign_key(op.f("fk_api_keys_account_id_users"), "users", ["account_id"], ["id"],
                                 ondelete="CASCADE")
        batch.create_index(op.f("ix_api_keys_account_id"), ["account_id"])

    op.create_table(
        "subscriptions",
        sa.Column("account_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE",
                                                             name=op.f("fk_subscriptions_account_id_users")),
                  nullable=False),
        sa.Column("stripe_subscription_id", sa.String(64), nullable=False),
        sa.Column("plan", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("current_period_start", TIMESTAMP, nullable=True),
        sa.Column("current_period_end", TIMESTAMP, nullable=True),
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False),
        sa.Column("past_due_since", TIMESTAMP, nullable=True),
        sa.Column("synced_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint("stripe_subscription_id", name=op.f("uq_subscriptions_stripe_subscription_id")),
    )
    op.create_table(
        "stripe_events",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("account_id", sa.String(36), nullable=True),
        sa.Column("received_at", TIMESTAMP, nullable=False),
        sa.Column("handled_at", TIMESTAMP, nullable=True),
        sa.Column("outcome", sa.String(256), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_events")),
    )
    op.create_table(
        "meter_reports",
        sa.Column("job_id", sa.String(36), nullable=False),
        sa.Column("account_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE",
                                                             name=op.f("fk_meter_reports_account_id_users")),
                  nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("images", sa.Integer(), nullable=False),
        sa.Column("gpu_seconds", sa.Float(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(512), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("sent_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_meter_reports")),
        sa.CheckConstraint("status IN ('pending', 'sent', 'not_billed')", name=op.f("ck_meter_reports_status")),
    )
    op.create_index(op.f("ix_meter_reports_status_created_at"), "meter_reports", ["status", "created_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_meter_reports_status_created_at"), table_name="meter_reports")
    op.drop_table("meter_reports")
    op.drop_table("stripe_events")
    op.drop_table("subscriptions")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_index(op.f("ix_api_keys_account_id"))
        batch.drop_constraint(op.f("fk_api_keys_account_id_users"), type_="foreignkey")
        batch.drop_column("account_id")
    op.execute(f"DELETE FROM users WHERE id = '{PLACEHOLDER_ACCOUNT_ID}'")
    op.execute("DELETE FROM users WHERE subject IS NULL")
    with op.batch_alter_table("users") as batch:
        batch.drop_index(op.f("ix_users_email"))
        batch.drop_constraint(op.f("uq_users_stripe_customer_id"), type_="unique")
        batch.drop_column("stripe_customer_id")
        batch.alter_column("subject", existing_type=sa.String(255), nullable=False)
