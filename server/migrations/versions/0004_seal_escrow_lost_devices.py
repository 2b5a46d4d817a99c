"""Seal on idle: escrowed device keys, per-device seal timeline, devices reported lost (issue 6).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# Column types as the models declare them (server.storage.base), spelled out so this
# revision never changes when the models do.
UTC = sa.DateTime(timezone=True)
JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "device_escrows",
        sa.Column("device_id", sa.String(length=36), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("recipient", sa.String(length=64), nullable=False),
        sa.Column("blob", sa.Text(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("last_uploaded_at", UTC, nullable=False),
        sa.Column("uploads", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"],
                                name=op.f("fk_device_escrows_device_id_devices")),
        sa.PrimaryKeyConstraint("device_id", "key_id", "recipient",
                                name=op.f("pk_device_escrows")),
    )
    op.create_table(
        "seal_timeline",
        sa.Column("device_id", sa.String(length=36), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("occurred_at", UTC, nullable=False),
        sa.Column("received_at", UTC, nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("session", sa.String(length=64), nullable=True),
        sa.Column("files", sa.Integer(), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=True),
        sa.Column("remaining_files", sa.Integer(), nullable=True),
        sa.Column("remaining_bytes", sa.BigInteger(), nullable=True),
        sa.Column("busy_files", sa.Integer(), nullable=True),
        sa.Column("failed_files", sa.Integer(), nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("interrupted", sa.Boolean(), nullable=True),
        sa.Column("detail", JSON_TYPE, nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"],
                                name=op.f("fk_seal_timeline_device_id_devices")),
        sa.PrimaryKeyConstraint("device_id", "event_id", name=op.f("pk_seal_timeline")),
    )
    with op.batch_alter_table("seal_timeline", schema=None) as batch_op:
        batch_op.create_index("ix_seal_timeline_device_occurred", ["device_id", "occurred_at"],
                              unique=False)
    op.create_table(
        "device_losses",
        sa.Column("device_id", sa.String(length=36), nullable=False),
        sa.Column("reported_at", UTC, nullable=False),
        sa.Column("reported_by", sa.String(length=320), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"],
                                name=op.f("fk_device_losses_device_id_devices")),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_device_losses")),
    )


def downgrade() -> None:
    op.drop_table("device_losses")
    with op.batch_alter_table("seal_timeline", schema=None) as batch_op:
        batch_op.drop_index("ix_seal_timeline_device_occurred")
    op.drop_table("seal_timeline")
    op.drop_table("device_escrows")
