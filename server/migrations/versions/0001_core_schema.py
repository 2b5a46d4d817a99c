"""Core schema: people, devices, agent protocol, rules, console users, API tokens, audit.

Revision ID: 0001
Revises:
Create Date: 2026-11-25 20:56:27.289253
"""

# ruff: noqa: E501  (Alembic-generated table definitions, kept one column per line)

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# Column types as the models declare them (server.storage.base), spelled out so this
# revision never changes when the models do.
UTC = sa.DateTime(timezone=True)
JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('api_tokens',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('scopes', sa.String(length=500), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=True),
    sa.Column('created_at', UTC, nullable=False),
    sa.Column('created_by', sa.String(length=320), nullable=False),
    sa.Column('last_used_at', UTC, nullable=True),
    sa.Column('revoked_at', UTC, nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    op.create_table('audit_log',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('at', UTC, nullable=False),
    sa.Column('actor', sa.String(length=320), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target', sa.String(length=320), nullable=True),
    sa.Column('source_ip', sa.String(length=45), nullable=True),
    sa.Column('details', JSON_TYPE, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_at', ['at'], unique=False)

    op.create_table('console_users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('created_at', UTC, nullable=False),
    sa.Column('disabled_at', UTC, nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_console_users')),
    sa.UniqueConstraint('email', name=op.f('uq_console_users_email'))
    )
    op.create_table('employees',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('home_country', sa.String(length=2), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=True),
    sa.Column('created_at', UTC, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_employees')),
    sa.UniqueConstraint('email', name=op.f('uq_employees_email'))
    )
    op.create_table('login_attempts',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('ip', sa.String(length=45), nullable=False),
    sa.Column('attempted_at', UTC, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_attempts'))
    )
    with op.batch_alter_table('login_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_login_attempts_key', ['email', 'ip', 'attempted_at'], unique=False)

    op.create_table('rule_bundles',
    sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('envelope', sa.Text(), nullable=False),
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('publisher', sa.String(length=320), nullable=False),
    sa.Column('published_at', UTC, nullable=False),
    sa.PrimaryKeyConstraint('version', name=op.f('pk_rule_bundles'))
    )
    op.create_table('console_sessions',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('csrf_token', sa.String(length=64), nullable=False),
    sa.Column('created_at', UTC, nullable=False),
    sa.Column('expires_at', UTC, nullable=False),
    sa.Column('ip', sa.String(length=45), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['console_users.id'], name=op.f('fk_console_sessions_user_id_console_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_console_sessions'))
    )
    with op.batch_alter_table('console_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_console_sessions_user_id'), ['user_id'], unique=False)

    op.create_table('devices',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('employee_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('os', sa.String(length=32), nullable=False),
    sa.Column('os_version', sa.String(length=200), nullable=True),
    sa.Column('agent_version', sa.String(length=64), nullable=False),
    sa.Column('hardware_id', sa.String(length=200), nullable=True),
    sa.Column('enrolled_at', UTC, nullable=False),
    sa.Column('enrollment_token_id', sa.String(length=36), nullable=True),
    sa.Column('revoked_at', UTC, nullable=True),
    sa.Column('revoked_by', sa.String(length=320), nullable=True),
    sa.ForeignKeyConstraint(['employee_id'], ['employees.id'], name=op.f('fk_devices_employee_id_employees')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_devices'))
    )
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_devices_employee_id'), ['employee_id'], unique=False)

    op.create_table('employee_aliases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('employee_id', sa.Integer(), nullable=False),
    sa.Column('alias', sa.String(length=320), nullable=False),
    sa.Column('alias_normalised', sa.String(length=320), nullable=False),
    sa.ForeignKeyConstraint(['employee_id'], ['employees.id'], name=op.f('fk_employee_aliases_employee_id_employees'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_employee_aliases')),
    sa.UniqueConstraint('alias_normalised', name=op.f('uq_employee_aliases_alias_normalised'))
    )
    with op.batch_alter_table('employee_aliases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_employee_aliases_employee_id'), ['employee_id'], unique=False)

    op.create_table('enrollment_tokens',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('employee_id', sa.Integer(), nullable=False),
    sa.Column('created_at', UTC, nullable=False),
    sa.Column('created_by', sa.String(length=320), nullable=False),
    sa.Column('expires_at', UTC, nullable=False),
    sa.Column('used_at', UTC, nullable=True),
    sa.Column('used_by_device_id', sa.String(length=36), nullable=True),
    sa.Column('revoked_at', UTC, nullable=True),
    sa.ForeignKeyConstraint(['employee_id'], ['employees.id'], name=op.f('fk_enrollment_tokens_employee_id_employees')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_enrollment_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_enrollment_tokens_token_hash'))
    )
    with op.batch_alter_table('enrollment_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_enrollment_tokens_employee_id'), ['employee_id'], unique=False)

    op.create_table('notifications',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('employee_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('data', JSON_TYPE, nullable=False),
    sa.Column('created_at', UTC, nullable=False),
    sa.Column('acked_at', UTC, nullable=True),
    sa.Column('acked_by_device_id', sa.String(length=36), nullable=True),
    sa.Column('response', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['employee_id'], ['employees.id'], name=op.f('fk_notifications_employee_id_employees')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_pending', ['employee_id', 'acked_at', 'created_at'], unique=False)

    op.create_table('agent_events',
    sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
    sa.Column('device_id', sa.String(length=36), nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('batch_id', sa.String(length=36), nullable=True),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('occurred_at', UTC, nullable=False),
    sa.Column('received_at', UTC, nullable=False),
    sa.Column('data', JSON_TYPE, nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_agent_events_device_id_devices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agent_events')),
    sa.UniqueConstraint('device_id', 'event_id', name='uq_agent_events_device_event')
    )
    with op.batch_alter_table('agent_events', schema=None) as batch_op:
        batch_op.create_index('ix_agent_events_type_occurred', ['type', 'occurred_at'], unique=False)

    op.create_table('device_credentials',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.String(length=36), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', UTC, nullable=False),
    sa.Column('revoked_at', UTC, nullable=True),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_device_credentials_device_id_devices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_credentials'))
    )
    with op.batch_alter_table('device_credentials', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_credentials_device_id'), ['device_id'], unique=False)

    op.create_table('device_states',
    sa.Column('device_id', sa.String(length=36), nullable=False),
    sa.Column('last_checkin_at', UTC, nullable=True),
    sa.Column('state', JSON_TYPE, nullable=True),
    sa.Column('last_ip', sa.String(length=45), nullable=True),
    sa.Column('last_country_code', sa.String(length=2), nullable=True),
    sa.Column('checkins', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_device_states_device_id_devices')),
    sa.PrimaryKeyConstraint('device_id', name=op.f('pk_device_states'))
    )


def downgrade() -> None:
    op.drop_table('device_states')
    with op.batch_alter_table('device_credentials', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_credentials_device_id'))

    op.drop_table('device_credentials')
    with op.batch_alter_table('agent_events', schema=None) as batch_op:
        batch_op.drop_index('ix_agent_events_type_occurred')

    op.drop_table('agent_events')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_pending')

    op.drop_table('notifications')
    with op.batch_alter_table('enrollment_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_enrollment_tokens_employee_id'))

    op.drop_table('enrollment_tokens')
    with op.batch_alter_table('employee_aliases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_employee_aliases_employee_id'))

    op.drop_table('employee_aliases')
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_devices_employee_id'))

    op.drop_table('devices')
    with op.batch_alter_table('console_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_console_sessions_user_id'))

    op.drop_table('console_sessions')
    op.drop_table('rule_bundles')
    with op.batch_alter_table('login_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_login_attempts_key')

    op.drop_table('login_attempts')
    op.drop_table('employees')
    op.drop_table('console_users')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_at')

    op.drop_table('audit_log')
    op.drop_table('api_tokens')
