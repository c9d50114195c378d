"""Creator product: users and their encrypted Google tokens, browser sessions, sign-ins in flight, watched
Drive folders, the files seen in them, and sent emails.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 02:12:26.566971
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('oauth_states',
    sa.Column('state', sa.String(length=128), nullable=False),
    sa.Column('code_verifier', sa.String(length=128), nullable=False),
    sa.Column('nonce', sa.String(length=128), nullable=False),
    sa.Column('next_path', sa.String(length=512), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('state', name=op.f('pk_oauth_states'))
    )
    op.create_table('users',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('access_token_encrypted', sa.String(length=4096), nullable=True),
    sa.Column('refresh_token_encrypted', sa.String(length=4096), nullable=True),
    sa.Column('token_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('token_scopes', sa.String(length=1024), nullable=True),
    sa.Column('drive_status', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("drive_status IN ('not_connected', 'connected', 'reconnect_needed', 'disconnected')", name=op.f('ck_users_drive_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('subject', name=op.f('uq_users_subject'))
    )
    op.create_table('creator_sessions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_creator_sessions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_creator_sessions'))
    )
    with op.batch_alter_table('creator_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_creator_sessions_user_id'), ['user_id'], unique=False)

    op.create_table('drive_files',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('file_id', sa.String(length=256), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=1024), nullable=False),
    sa.Column('mime_type', sa.String(length=255), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=2048), nullable=True),
    sa.Column('job_id', sa.String(length=36), nullable=True),
    sa.Column('output_file_id', sa.String(length=256), nullable=True),
    sa.Column('output_name', sa.String(length=1024), nullable=True),
    sa.Column('sync_workflow_id', sa.String(length=256), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('processing', 'succeeded', 'failed', 'skipped')", name=op.f('ck_drive_files_status')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_drive_files_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_drive_files')),
    sa.UniqueConstraint('user_id', 'file_id', 'version', name=op.f('uq_drive_files_user_id_file_id_version'))
    )
    with op.batch_alter_table('drive_files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_drive_files_sync_workflow_id'), ['sync_workflow_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_drive_files_user_id_updated_at'), ['user_id', 'updated_at'], unique=False)

    op.create_table('drive_watches',
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('folder_id', sa.String(length=256), nullable=False),
    sa.Column('folder_name', sa.String(length=1024), nullable=False),
    sa.Column('output_folder_id', sa.String(length=256), nullable=False),
    sa.Column('preset', sa.String(length=128), nullable=False),
    sa.Column('page_token', sa.String(length=256), nullable=True),
    sa.Column('paused_reason', sa.String(length=1024), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_drive_watches_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_drive_watches'))
    )
    op.create_table('sent_emails',
    sa.Column('key', sa.String(length=256), nullable=False),
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.Column('subject', sa.String(length=512), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_sent_emails_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_sent_emails'))
    )
    with op.batch_alter_table('sent_emails', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sent_emails_user_id_sent_at'), ['user_id', 'sent_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('sent_emails', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sent_emails_user_id_sent_at'))

    op.drop_table('sent_emails')
    op.drop_table('drive_watches')
    with op.batch_alter_table('drive_files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_drive_files_user_id_updated_at'))
        batch_op.drop_index(batch_op.f('ix_drive_files_sync_workflow_id'))

    op.drop_table('drive_files')
    with op.batch_alter_table('creator_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_creator_sessions_user_id'))

    op.drop_table('creator_sessions')
    op.drop_table('users')
    op.drop_table('oauth_states')
